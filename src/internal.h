/* What the core's files share. */
#ifndef VMP_INTERNAL_H
#define VMP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "os/os.h"
#include "vmplace.h"

/* The calls of a region's common operations, and the helpers they reach,
 * are placed together (gcc and clang gather hot functions in one
 * section): where every system call empties the TLB, as under page-table
 * isolation without PCID, each distinct code page the rest of the call
 * touches afterwards costs a page walk. */
#define VMP__HOT __attribute__((hot))

/* What a live struct vmp_mem holds in `magic`; cleared when it is freed,
 * so a stale handle whose memory was not reused yet is caught. */
#define VMP__MEM_MAGIC 0x766d706du /* "vmpm" */

struct vmp_mem {
  uint32_t magic;              /* VMP__MEM_MAGIC while allocated */
  atomic_int closed;           /* the caller's handle was given back */
  atomic_size_t refs;          /* the caller's handle + one per view */
  vmp__os_handle handle;       /* closed when the caller's handle goes */
  unsigned flags;              /* VMP_MEM_READ, VMP_MEM_WRITE */
  unsigned traits;             /* VMP__OBJ_* */
  _Atomic uint64_t size_floor; /* a size the object is known to have reached;
                                  a lower bound only when it cannot shrink */
  int length_checked_by_owner; /* set by a multi-file view for the objects it opens for
                                  itself (never a caller's handle): it has just asked the
                                  size, so vmp_map need not ask again (see mview.c) */
};

void vmp__mem_ref(vmp_mem *mem);

/* Whether mem is a handle its caller still holds: not NULL, not freed as
 * far as can be told, not closed. */
int vmp__mem_usable(const vmp_mem *mem);
void vmp__mem_unref(vmp_mem *mem);

/* Anonymous shared memory backed by huge pages, for rings (size a multiple
 * of the huge page size); otherwise as vmp_mem_create. */
int vmp__mem_create_huge(uint64_t size, vmp_mem **out);

/* Steps 6 of the argument order for a view of [offset, offset+size) of mem
 * with protection prot: VMP_EBOUNDS, VMP_EACCES, or an OS error while
 * asking the object's size. */
int vmp__mem_check_view(vmp_mem *mem, uint64_t offset, uint64_t size, int prot);

/* Whether name may label an object or private pages (vmp_label). */
int vmp__name_valid(const char *name);

/* Whether prot is one of the protections the header allows. Inline: the
 * hot calls check it, and a call would reach another code page. */
static inline int vmp__prot_valid(int prot) {
  switch (prot) {
    case VMP_PROT_NONE:
    case VMP_PROT_READ:
    case VMP_PROT_RW:
    case VMP_PROT_READ | VMP_PROT_EXEC:
    case VMP_PROT_RW | VMP_PROT_EXEC:
      return 1;
    default:
      return 0;
  }
}

/* Every undo step of a failure path goes through here with its result:
 * the caller returns the error that made it undo, not this one, but an
 * undo that fails means the call may not have left everything as it was,
 * so it is counted (vmp__testing_undo_failures() in src/testing.h). */
void vmp__undo(int result);

#endif
