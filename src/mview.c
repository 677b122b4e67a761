/*
 * Contiguous multi-file views: files, or ranges of files, mapped back to
 * back in one region, with the rest of the region left as one placeholder
 * for segments appended later.
 *
 * Built only from the public region and memory-object calls, so it
 * inherits their guarantees (one reservation, nothing mapped outside it,
 * every failing step undone by the call that failed) and has no platform
 * code. Segment i lives at view offset start[i]; every segment but the
 * last has a page-multiple length, so each one starts on a page where the
 * one before it ends, and the last one's final partial page is mapped
 * whole.
 *
 * Each operation has the shape of region.c: check the arguments in order,
 * reserve the bookkeeping it will need, make the calls that can fail
 * (undoing them on failure), and only then record the result, which can no
 * longer fail.
 *
 * The view's lock serialises append with check, locate and the accessors.
 * Readers of the mapped bytes need no lock: the base never moves and
 * append only replaces placeholder pages past the last segment.
 */
#include <string.h>

#include "alloc.h"
#include "internal.h"

#define NO_SEGMENT ((size_t)-1)

typedef struct segment {
  vmp_mem *mem;         /* kept open: check asks the file's size now */
  uint64_t file_offset; /* where the segment starts in its file */
  uint64_t length;      /* bytes, with "to the end of the file" resolved */
  uint64_t start;       /* where it starts in the view */
} segment;

struct vmp_mview {
  vmp__os_lock lock; /* taken by const functions too: it is never const */
  vmp_region *region;
  char *base;
  size_t capacity;    /* the region's size */
  int prot;           /* of every view */
  unsigned mem_flags; /* how files are opened and descriptors adopted */
  segment *segments;
  size_t count;    /* segments mapped */
  size_t room;     /* entries allocated in `segments` */
  uint64_t length; /* exact bytes of all segments */
};

static vmp__os_lock *lock_of(const vmp_mview *view) { return (vmp__os_lock *)&view->lock; }

static uint64_t page_round_up(uint64_t bytes) {
  uint64_t mask = vmp_page_size() - 1;
  return (bytes + mask) & ~mask;
}

/* Step 1 for one segment: it names a file. */
static int check_names_file(const vmp_segment *s) { return s->path || s->fd >= 0 ? 0 : VMP_EINVAL; }

/* Step 2 for what is known before the file is opened. Views of a file
 * start at multiples of the page (of more only on a system that maps
 * nothing else, which the backend finds out); a length of 0 is checked
 * once it is resolved. */
static int check_alignment(const vmp_segment *s, int is_last) {
  if (s->offset % vmp__os_caps_get()->view_offset_unit) return VMP_EALIGN;
  if (!is_last && s->length % vmp_page_size()) return VMP_EALIGN;
  return 0;
}

/* Opens the segment's file. A caller's descriptor is duplicated and the
 * copy adopted, so the caller keeps theirs whatever happens. */
static int open_file(const vmp_segment *s, unsigned mem_flags, vmp_mem **out) {
  if (s->path) return vmp_mem_open(s->path, mem_flags, out);
  intptr_t copy;
  int err = vmp__os_native_dup(s->fd, &copy);
  if (err) return err;
  err = vmp_mem_adopt(copy, mem_flags, out);
  if (err) vmp__os_native_close(copy);
  return err;
}

/* The segment's length in bytes, from the file's size now when it was
 * given as 0; VMP_EBOUNDS when the range reaches past the end. */
static int resolve_length(vmp_mem *mem, const vmp_segment *s, uint64_t *length) {
  uint64_t size;
  int err = vmp_mem_size(mem, &size);
  if (err) return err;
  if (s->offset > size) return VMP_EBOUNDS;
  uint64_t available = size - s->offset;
  if (s->length > available) return VMP_EBOUNDS;
  *length = s->length ? s->length : available;
  return 0;
}

/* Opens a segment and fills in everything but its start: one that will
 * not be last must have a page-multiple length now that it is known. */
static int prepare(const vmp_segment *s, unsigned mem_flags, int is_last, segment *out) {
  vmp_mem *mem;
  int err = open_file(s, mem_flags, &mem);
  if (err) return err;
  uint64_t length = 0;
  err = resolve_length(mem, s, &length);
  if (!err && !is_last && length % vmp_page_size()) err = VMP_EALIGN;
  if (err) {
    vmp__undo(vmp_mem_close(mem));
    return err;
  }
  out->mem = mem;
  out->file_offset = s->offset;
  out->length = length;
  return 0;
}

/* Maps a prepared segment at its start, into the placeholder that runs
 * from there to the end of the region. On failure the region is as it
 * was: the placeholder split off for the segment is merged back. */
static int map_segment(vmp_region *r, const segment *seg, int prot) {
  size_t bytes = (size_t)page_round_up(seg->length);
  if (bytes == 0) return 0; /* an empty file: nothing to map */
  size_t start = (size_t)seg->start, size = vmp_size(r);
  int split = start + bytes < size;
  int err = split ? vmp_split(r, start, bytes) : 0;
  if (!err) err = vmp_map(r, start, bytes, seg->mem, seg->file_offset, prot);
  if (err && split) vmp__undo(vmp_coalesce(r, start, size - start));
  return err;
}

/* The region's size: the larger of what was asked and what the segments
 * need, in whole allocation units, and never zero (vmp_reserve refuses
 * that). 0 when it cannot be addressed. */
static size_t region_size_for(uint64_t capacity, uint64_t mapped) {
  uint64_t want = capacity > mapped ? capacity : mapped;
  uint64_t unit = vmp_granularity();
  if (want > UINT64_MAX - (unit - 1)) return 0;
  want = (want + unit - 1) / unit * unit;
  if (want == 0) want = unit;
  return want > SIZE_MAX ? 0 : (size_t)want;
}

/* Closes every one; the first error, if any. */
static int close_files(segment *segments, size_t count) {
  int first = 0;
  for (size_t i = 0; i < count; i++) {
    int err = vmp_mem_close(segments[i].mem);
    if (!first) first = err;
  }
  return first;
}

int vmp_mview_open(const vmp_segment *segments, size_t count, uint64_t capacity, unsigned flags,
                   vmp_mview **out, size_t *bad_segment) {
  size_t ignored;
  size_t *bad = bad_segment ? bad_segment : &ignored;
  *bad = NO_SEGMENT;
  if (!out || (!segments && count > 0) || (flags & ~(unsigned)VMP_MVIEW_WRITE)) return VMP_EINVAL;
  int err = 0;
  size_t opened = 0, region_size = 0;
  uint64_t length = 0;
  for (size_t i = 0; i < count && !err; i++)
    if ((err = check_names_file(&segments[i])) != 0) *bad = i;
  for (size_t i = 0; i < count && !err; i++)
    if ((err = check_alignment(&segments[i], i + 1 == count)) != 0) *bad = i;
  if (err) return err;

  vmp_mview *v = vmp__calloc(1, sizeof *v);
  if (!v) return VMP_ENOMEM;
  v->room = count ? count : 1;
  v->segments = vmp__calloc(v->room, sizeof *v->segments);
  if (!v->segments) {
    err = VMP_ENOMEM;
    goto fail_view;
  }
  err = vmp__os_lock_init(&v->lock);
  if (err) goto fail_segments;
  v->prot = (flags & VMP_MVIEW_WRITE) ? VMP_PROT_RW : VMP_PROT_READ;
  v->mem_flags = (flags & VMP_MVIEW_WRITE) ? VMP_MEM_RW : VMP_MEM_READ;

  for (; opened < count; opened++) {
    segment *seg = &v->segments[opened];
    err = prepare(&segments[opened], v->mem_flags, opened + 1 == count, seg);
    if (!err && seg->length > UINT64_MAX - length) {
      vmp__undo(vmp_mem_close(seg->mem));
      err = VMP_ENOMEM;
    }
    if (err) {
      *bad = opened;
      goto fail_files;
    }
    seg->start = length;
    length += seg->length;
  }
  if (capacity != 0 && capacity < length) {
    /* Name the first segment that does not fit. */
    size_t i = 0;
    while (v->segments[i].start + v->segments[i].length <= capacity) i++;
    *bad = i;
    err = VMP_ERANGE;
    goto fail_files;
  }
  region_size = region_size_for(capacity, page_round_up(length));
  if (region_size == 0 || page_round_up(length) < length) {
    err = VMP_ENOMEM;
    goto fail_files;
  }
  err = vmp_reserve(region_size, 0, &v->region);
  if (err) goto fail_files;
  for (size_t i = 0; i < count; i++) {
    err = map_segment(v->region, &v->segments[i], v->prot);
    if (err) {
      *bad = i;
      goto fail_region;
    }
  }
  v->base = vmp_base(v->region);
  v->capacity = region_size;
  v->count = count;
  v->length = length;
  *out = v;
  return 0;

fail_region:
  vmp__undo(vmp_release(v->region));
fail_files:
  vmp__undo(close_files(v->segments, opened));
  vmp__os_lock_destroy(&v->lock);
fail_segments:
  vmp__free(v->segments);
fail_view:
  vmp__free(v);
  return err;
}

/* Room for one more segment record; the old array stays valid if this
 * fails. Called with the lock held. */
static int reserve_record(vmp_mview *v) {
  if (v->count < v->room) return 0;
  if (v->room > SIZE_MAX / 2 / sizeof *v->segments) return VMP_ENOMEM;
  size_t room = v->room * 2;
  segment *bigger = vmp__malloc(room * sizeof *bigger);
  if (!bigger) return VMP_ENOMEM;
  memcpy(bigger, v->segments, v->count * sizeof *bigger);
  vmp__free(v->segments);
  v->segments = bigger;
  v->room = room;
  return 0;
}

int vmp_mview_append(vmp_mview *v, const vmp_segment *s) {
  if (!v || !s) return VMP_EINVAL;
  int err = check_names_file(s);
  if (err) return err;
  err = check_alignment(s, 1);
  if (err) return err;
  vmp__os_lock_acquire(&v->lock);
  if (v->count > 0 && v->segments[v->count - 1].length % vmp_page_size()) err = VMP_EALIGN;
  if (!err) err = reserve_record(v);
  segment seg = {0};
  if (!err) err = prepare(s, v->mem_flags, 1, &seg);
  if (err) goto done;
  /* Every segment so far has a page-multiple length: the new one starts
   * on a page, and fits when its bytes do (the capacity is whole pages). */
  seg.start = v->length;
  if (seg.length > v->capacity - v->length)
    err = VMP_ERANGE;
  else
    err = map_segment(v->region, &seg, v->prot);
  if (err) {
    vmp__undo(vmp_mem_close(seg.mem));
    goto done;
  }
  v->segments[v->count++] = seg;
  v->length += seg.length;
done:
  vmp__os_lock_release(&v->lock);
  return err;
}

void *vmp_mview_base(const vmp_mview *v) { return v ? v->base : NULL; }

uint64_t vmp_mview_length(const vmp_mview *v) {
  if (!v) return 0;
  vmp__os_lock_acquire(lock_of(v));
  uint64_t length = v->length;
  vmp__os_lock_release(lock_of(v));
  return length;
}

uint64_t vmp_mview_capacity(const vmp_mview *v) { return v ? v->capacity : 0; }

size_t vmp_mview_segments(const vmp_mview *v) {
  if (!v) return 0;
  vmp__os_lock_acquire(lock_of(v));
  size_t count = v->count;
  vmp__os_lock_release(lock_of(v));
  return count;
}

/* The last segment starting at or before `offset` (which is below the
 * view's length). Starts never decrease, and an empty segment shares its
 * start with the one after it, so the last such segment is never empty. */
static size_t find_segment(const vmp_mview *v, uint64_t offset) {
  size_t lo = 0, hi = v->count; /* the answer is in [lo, hi) */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (v->segments[mid].start <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

int vmp_mview_locate(const vmp_mview *v, uint64_t offset, size_t *segment_out,
                     uint64_t *file_offset) {
  if (!v || !segment_out || !file_offset) return VMP_EINVAL;
  int err = 0;
  vmp__os_lock_acquire(lock_of(v));
  if (offset >= v->length) {
    err = VMP_ERANGE;
  } else {
    size_t i = find_segment(v, offset);
    *segment_out = i;
    *file_offset = v->segments[i].file_offset + (offset - v->segments[i].start);
  }
  vmp__os_lock_release(lock_of(v));
  return err;
}

int vmp_mview_describe(const vmp_mview *v, size_t index, vmp_mview_segment_info *info) {
  if (!v || !info) return VMP_EINVAL;
  int err = 0;
  vmp__os_lock_acquire(lock_of(v));
  if (index >= v->count) {
    err = VMP_ERANGE;
  } else {
    const segment *seg = &v->segments[index];
    info->fd = vmp_mem_fd(seg->mem);
    info->file_offset = seg->file_offset;
    info->length = seg->length;
    info->view_offset = seg->start;
  }
  vmp__os_lock_release(lock_of(v));
  return err;
}

int vmp_mview_check(const vmp_mview *v, size_t *segment_out) {
  if (!v) return VMP_EINVAL;
  int err = 0;
  size_t at = NO_SEGMENT;
  vmp__os_lock_acquire(lock_of(v));
  for (size_t i = 0; i < v->count && !err; i++) {
    const segment *seg = &v->segments[i];
    if (seg->length == 0) continue; /* maps nothing, so nothing can fault */
    uint64_t size;
    err = vmp_mem_size(seg->mem, &size);
    if (!err && size < seg->file_offset + seg->length) err = VMP_EBOUNDS;
    if (err) at = i;
  }
  vmp__os_lock_release(lock_of(v));
  if (segment_out) *segment_out = at;
  return err;
}

int vmp_mview_close(vmp_mview *v) {
  if (!v) return 0;
  /* A release that fails part-way leaves the view whole, to be closed
   * again (see vmp_release). */
  int err = vmp_release(v->region);
  if (err) return err;
  close_files(v->segments, v->count);
  vmp__os_lock_destroy(&v->lock);
  vmp__free(v->segments);
  vmp__free(v);
  return 0;
}
