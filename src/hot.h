/*
 * The calls a mapping operation makes between its system calls. Every
 * system call flushes the TLB here (PTI without PCID), so each code page
 * the library runs through after one costs a page walk; marked hot, these
 * functions go to .text.hot, which the linker keeps together, so that an
 * operation runs on two or three code pages rather than eight spread over
 * the library (gcc and clang both take the attribute).
 */
#ifndef VMP_HOT_H
#define VMP_HOT_H

#define VMP__HOT __attribute__((hot))

#endif
