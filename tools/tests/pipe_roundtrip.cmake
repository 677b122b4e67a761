# `vmplace pipe` on every system the tool builds for (Windows under Wine
# too): inputs that wrap its first ring several times, an odd size and an
# empty one come out byte for byte, with status 0 and nothing on stderr.
# cmake -DVMPLACE=... -DEMULATOR=... -DDIR=... -P pipe_roundtrip.cmake
file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR})
string(RANDOM LENGTH 65521 ALPHABET "abcdefghijklmnopqrstuvwxyz0123456789\n" piece)
set(big "")
foreach(i RANGE 1 50)
  string(APPEND big "${piece}")
endforeach()
file(WRITE ${DIR}/big.in "${big}")
file(WRITE ${DIR}/odd.in "${piece}x")
file(WRITE ${DIR}/empty.in "")
set(failed 0)
foreach(name big odd empty)
  execute_process(COMMAND ${EMULATOR} ${VMPLACE} pipe -q
    INPUT_FILE ${DIR}/${name}.in OUTPUT_FILE ${DIR}/${name}.out ERROR_VARIABLE err
    RESULT_VARIABLE status TIMEOUT 120)
  file(SHA256 ${DIR}/${name}.in want)
  file(SHA256 ${DIR}/${name}.out got)
  # Wine may say things of its own on stderr; the tool says nothing.
  string(REGEX REPLACE "[^\n]*f[i]xme:[^\n]*\n?" "" err "${err}")
  if(NOT status EQUAL 0)
    message(SEND_ERROR "${name}: exit status ${status}: ${err}")
    set(failed 1)
  elseif(NOT want STREQUAL got)
    file(SIZE ${DIR}/${name}.out size)
    message(SEND_ERROR "${name}: output differs (${size} bytes out)")
    set(failed 1)
  elseif(NOT err STREQUAL "")
    message(SEND_ERROR "${name}: unexpected stderr: ${err}")
    set(failed 1)
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "pipe round trip failed")
endif()
message(STATUS "pipe round trip: big, odd and empty inputs came out whole")
