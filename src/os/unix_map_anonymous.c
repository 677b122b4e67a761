/*
 * MAP_ANONYMOUS for unix.c, from a file compiled with the C library's
 * extensions visible (see unix.h). Some systems spell it MAP_ANON only.
 */
#include <sys/mman.h>

#include "unix.h"

#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

const int vmp__unix_map_anonymous = MAP_ANONYMOUS;
