/* Bookkeeping allocations, through one place so tests can make them fail. */
#ifndef VMP_ALLOC_H
#define VMP_ALLOC_H

#include <stddef.h>

void *vmp__malloc(size_t size);
void *vmp__calloc(size_t count, size_t size);
void vmp__free(void *p);

#endif
