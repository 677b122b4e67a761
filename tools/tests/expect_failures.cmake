# Runs `vmplace script SCRIPT` on a script with deliberately wrong
# expectations and checks that the runner noticed exactly those:
#   - a line ending in "# FAIL: TEXT" must produce the output line
#     "SCRIPT:LINE: TEXT", and no other line may fail;
#   - a "# SUMMARY: N passed, M failed" line gives the exact last line;
#   - the exit status must be 1 (not 0, and not a crash).
# Usage: cmake -DVMPLACE=path/to/vmplace -DSCRIPT=file.vmps -P expect_failures.cmake

if(NOT VMPLACE OR NOT SCRIPT)
  message(FATAL_ERROR "VMPLACE and SCRIPT must be set")
endif()

execute_process(COMMAND ${EMULATOR} ${VMPLACE} script ${SCRIPT}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)

# Lines as list elements; ';' would split an element, so hide it.
function(split_lines text out_var)
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "\r" "" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(${out_var} "${lines}" PARENT_SCOPE)
endfunction()

split_lines("${output}" output_lines)
file(READ ${SCRIPT} script_text)
split_lines("${script_text}" script_lines)

set(problems "")
set(expected_failures 0)
set(summary "")
set(lineno 0)
foreach(line IN LISTS script_lines)
  math(EXPR lineno "${lineno} + 1")
  # Only after a command: a comment line that mentions the marker is prose.
  if(line MATCHES "^[^#]*[^#\t ][^#]*# FAIL: (.*)$")
    set(want "${SCRIPT}:${lineno}: ${CMAKE_MATCH_1}")
    math(EXPR expected_failures "${expected_failures} + 1")
    list(FIND output_lines "${want}" found)
    if(found EQUAL -1)
      string(APPEND problems "  missing line: ${want}\n")
    endif()
  elseif(line MATCHES "# SUMMARY: (.*)$")
    set(summary "${CMAKE_MATCH_1}")
  endif()
endforeach()

set(reported_failures 0)
foreach(line IN LISTS output_lines)
  string(FIND "${line}" "${SCRIPT}:" at)
  if(at EQUAL 0)
    math(EXPR reported_failures "${reported_failures} + 1")
  endif()
endforeach()
if(NOT reported_failures EQUAL expected_failures)
  string(APPEND problems
    "  ${reported_failures} failure lines printed, ${expected_failures} announced by # FAIL:\n")
endif()

if(summary STREQUAL "")
  string(APPEND problems "  the script has no '# SUMMARY:' line\n")
else()
  list(GET output_lines -1 last_line)
  if(NOT last_line STREQUAL summary)
    string(APPEND problems "  last line is '${last_line}', expected '${summary}'\n")
  endif()
endif()

if(NOT status STREQUAL "1")
  string(APPEND problems "  exit status '${status}', expected 1\n")
endif()

if(problems)
  message(FATAL_ERROR "vmplace script ${SCRIPT}:\n${problems}--- output ---\n${output}${errors}")
endif()
message(STATUS "ok: ${expected_failures} expected failures reported, exit status 1")
