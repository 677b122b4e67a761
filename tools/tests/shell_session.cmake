# Feeds shell_input.txt to `vmplace shell` and checks what a person would
# see: a typo and a refused call reported (by name and message) without
# stopping the session, `show` listing the spans, `help`, and `quit`
# ending the session before the last line.
# Usage: cmake -DVMPLACE=path/to/vmplace -DINPUT=shell_input.txt -P shell_session.cmake

execute_process(COMMAND ${EMULATOR} ${VMPLACE} shell
  INPUT_FILE ${INPUT}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
# Windows' text-mode stdout ends lines with CR LF.
string(REPLACE "\r" "" output "${output}")

set(problems "")
# Functions, not macros: a macro would re-read the backslashes in `regex`.
function(expect regex why)
  if(NOT output MATCHES "${regex}")
    set(problems "${problems}  missing ${why}: /${regex}/\n" PARENT_SCOPE)
  endif()
endfunction()
function(expect_not regex why)
  if(output MATCHES "${regex}")
    set(problems "${problems}  unexpected ${why}: /${regex}/\n" PARENT_SCOPE)
  endif()
endfunction()

expect("<stdin>:4: expected a command \\(type help\\), got unknown command 'commmit'\n"
  "the typo, reported with its line")
expect("<stdin>:8: expected ok, got ESTATE: [^\n]+\n" "the refused commit, with name and message")
expect("region R: base 0x[0-9a-fA-F]+, 8 pages, 2 spans\n" "show's header")
expect("\n +0 +4 +private +rw\n" "show's private row")
expect("\n +4 +4 +view +r +M +0\n" "show's view row, naming the object")
expect("reserve R SIZE \\[align=PAGES\\]" "help's list of commands")
expect("<stdin>:11: expected ok, got fault writing the first byte of page 5\n"
  "a poke on a read-only view reported, not a crash")
expect("(^|\n)5 passed, 3 failed\n$" "the closing count")
expect("^ok\nok\n" "ok after each successful command")
expect_not("<stdin>:13:" "a command after quit")
expect_not("vmplace> " "a prompt (stdin is not a terminal)")
if(NOT status STREQUAL "0")
  string(APPEND problems "  exit status '${status}', expected 0\n")
endif()

if(problems)
  message(FATAL_ERROR "vmplace shell:\n${problems}--- output ---\n${output}${errors}")
endif()
message(STATUS "shell session ok")
