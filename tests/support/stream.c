/* The portable suites' reference stream (tests/portable/support_stream.h),
 * built into this support library as well, for the Criterion tests and the
 * plain thread programs. */
#include "../portable/support_stream.c"
