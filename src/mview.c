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
 * Live logs add three moves to that. Refresh maps the pages a growing last
 * segment has gained since, right after the ones it had (nothing mapped is
 * touched). Retire turns the first segments back into placeholder and
 * closes their files. Optional padding is one span of private zero pages
 * after the last segment's pages, taken down and put up again around every
 * move of the end. With VMP_MVIEW_CLOSE_FILES only the last segment keeps
 * its file open (it may still grow); the others keep their path, to ask
 * the file's size again for check and the fault-safe reads.
 *
 * The view's lock serialises every call but close. Readers of the mapped
 * bytes need no lock: the base never moves, and only retire takes mapped
 * pages away, which readers must not race with (the header says so).
 */
#include <string.h>

#include "alloc.h"
#include "internal.h"

#define NO_SEGMENT ((size_t)-1)
#define OPEN_FLAGS ((unsigned)(VMP_MVIEW_WRITE | VMP_MVIEW_CLOSE_FILES))

/* The bytes scan copies at a time through the fault-safe copy. */
#define SCAN_CHUNK 32768

typedef struct segment {
  vmp_mem *mem;         /* the open file; NULL once closed (retired, or not last
                           with VMP_MVIEW_CLOSE_FILES) */
  char *path;           /* VMP_MVIEW_CLOSE_FILES: where to ask the size again */
  uint64_t file_offset; /* where the segment starts in its file */
  uint64_t length;      /* bytes, with "to the end of the file" resolved */
  uint64_t start;       /* where it starts in the view */
  int follows;          /* given as "to the end of the file": refresh grows it */
  int retired;          /* its pages are placeholder again, its file closed */
} segment;

struct vmp_mview {
  vmp__os_lock lock; /* taken by const functions too: it is never const */
  vmp_region *region;
  char *base;
  size_t capacity;    /* the region's size */
  int prot;           /* of every view */
  unsigned mem_flags; /* how files are opened and descriptors adopted */
  int close_files;    /* VMP_MVIEW_CLOSE_FILES */
  segment *segments;
  size_t count;     /* segments mapped, retired ones included */
  size_t room;      /* entries allocated in `segments` */
  size_t retired;   /* segments [0, retired) are retired */
  uint64_t length;  /* exact bytes of all segments */
  size_t pad_bytes; /* private zero pages right after the last segment's pages */
};

static vmp__os_lock *lock_of(const vmp_mview *view) { return (vmp__os_lock *)&view->lock; }

static uint64_t page_round_up(uint64_t bytes) {
  uint64_t mask = vmp_page_size() - 1;
  return (bytes + mask) & ~mask;
}

/* Where the segments' pages end: every segment but the last is whole
 * pages, and the last one's final partial page is mapped whole. */
static size_t mapped_end(const vmp_mview *v) { return (size_t)page_round_up(v->length); }

/* Step 1 for one segment: it names a file, by path when the view will not
 * keep descriptors (a descriptor cannot be found again once closed). */
static int check_names_file(const vmp_segment *s, int close_files) {
  if (close_files) return s->path ? 0 : VMP_EINVAL;
  return s->path || s->fd >= 0 ? 0 : VMP_EINVAL;
}

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
 * copy adopted, so the caller keeps theirs whatever happens. The object is
 * the view's own, and every mapping of it follows a look at its size by
 * the view (prepare, refresh): vmp_map is told not to look again, which
 * is one system call less per refresh that gains pages. A file opened
 * again from its path (file_of) is not so marked: it may be another file
 * by now. */
static int open_file(const vmp_segment *s, unsigned mem_flags, vmp_mem **out) {
  int err;
  if (s->path) {
    err = vmp_mem_open(s->path, mem_flags, out);
  } else {
    intptr_t copy;
    err = vmp__os_native_dup(s->fd, &copy);
    if (err) return err;
    err = vmp_mem_adopt(copy, mem_flags, out);
    if (err) vmp__os_native_close(copy);
  }
  if (!err) (*out)->length_checked_by_owner = 1;
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

static char *copy_path(const char *path) {
  size_t bytes = strlen(path) + 1;
  char *copy = vmp__malloc(bytes);
  if (copy) memcpy(copy, path, bytes);
  return copy;
}

/* Gives back what a segment holds open. Closing reports an error only
 * when the descriptor is already gone, so there is nothing to do with it. */
static void forget_file(segment *seg) {
  if (seg->mem) (void)vmp_mem_close(seg->mem);
  seg->mem = NULL;
}

static void forget_segment(segment *seg) {
  forget_file(seg);
  vmp__free(seg->path);
  seg->path = NULL;
}

/* Opens a segment and fills in everything but its start: one that will
 * not be last must have a page-multiple length now that it is known. With
 * close_files the path is kept, and a segment that will not be last gives
 * its descriptor back at once (it is opened again to be mapped), so that
 * opening any number of segments holds at most two descriptors. */
static int prepare(const vmp_segment *s, unsigned mem_flags, int close_files, int is_last,
                   segment *out) {
  vmp_mem *mem;
  char *path = NULL;
  if (close_files && !(path = copy_path(s->path))) return VMP_ENOMEM;
  int err = open_file(s, mem_flags, &mem);
  if (err) {
    vmp__free(path);
    return err;
  }
  uint64_t length = 0;
  err = resolve_length(mem, s, &length);
  if (!err && !is_last && length % vmp_page_size()) err = VMP_EALIGN;
  if (err) {
    vmp__undo(vmp_mem_close(mem));
    vmp__free(path);
    return err;
  }
  *out = (segment){mem, path, s->offset, length, 0, s->length == 0, 0};
  if (close_files && !is_last) forget_file(out);
  return 0;
}

/* The segment's file as an open object: its own, or (when it was closed)
 * opened again from its path, in which case *temporary is set and the
 * caller closes it. */
static int file_of(const vmp_mview *v, const segment *seg, vmp_mem **mem, int *temporary) {
  *temporary = seg->mem == NULL;
  if (seg->mem) {
    *mem = seg->mem;
    return 0;
  }
  return vmp_mem_open(seg->path, v->mem_flags, mem);
}

static void done_with(vmp_mem *mem, int temporary) {
  if (temporary) (void)vmp_mem_close(mem);
}

/* The size of the segment's file now. */
static int file_size(const vmp_mview *v, const segment *seg, uint64_t *size) {
  vmp_mem *mem;
  int temporary;
  int err = file_of(v, seg, &mem, &temporary);
  if (err) return err;
  err = vmp_mem_size(mem, size);
  done_with(mem, temporary);
  return err;
}

/* The file-dependent part of the argument order (opening, a range past the
 * end, a resolved length off the page, then the capacity), asked of the
 * system alone, with nothing allocated. The calls allocate their
 * bookkeeping before they know all of that, so when an allocation fails
 * this pass says whether an earlier step's error applies: VMP_ENOMEM is
 * step 7, and may only be returned when none does. `used` is the view's
 * bytes before the segments (append), `capacity` 0 for "no limit". */
static int judge_files(const vmp_segment *segs, size_t count, int writable, uint64_t used,
                       uint64_t capacity, size_t *bad) {
  uint64_t length = used;
  size_t first_over = NO_SEGMENT; /* the capacity is judged after every file */
  for (size_t i = 0; i < count; i++) {
    const vmp_segment *s = &segs[i];
    vmp__os_handle h;
    intptr_t copy = -1;
    unsigned traits = 0;
    int can_write = 0, err;
    if (s->path) {
      err = vmp__os_object_open(s->path, writable, &h, &traits);
    } else {
      err = vmp__os_native_dup(s->fd, &copy);
      if (!err) err = vmp__os_object_adopt(copy, writable, &can_write, &traits, &h);
      if (err && copy >= 0) vmp__os_native_close(copy);
    }
    uint64_t size = 0;
    if (!err) {
      err = vmp__os_object_size(h, &size);
      if (s->path) {
        vmp__os_object_close(h);
      } else {
        vmp__os_object_forget(h);
        vmp__os_native_close(copy);
      }
    }
    if (!err && (s->offset > size || s->length > size - s->offset)) err = VMP_EBOUNDS;
    uint64_t seg_length = s->length ? s->length : size - s->offset;
    if (!err && i + 1 < count && seg_length % vmp_page_size()) err = VMP_EALIGN;
    if (err) {
      *bad = i;
      return err;
    }
    if (seg_length > UINT64_MAX - length) return 0;
    length += seg_length;
    if (capacity != 0 && length > capacity && first_over == NO_SEGMENT) first_over = i;
  }
  if (first_over == NO_SEGMENT) return 0;
  *bad = first_over;
  return VMP_ERANGE;
}

/* ---- the end of the view: pages, padding, room ------------------------------------- */

/* Maps `bytes` of mem at mem_off at `at`, out of the placeholder that runs
 * from there to the end of the region. On failure the region is as it
 * was: the placeholder split off is merged back. */
static int map_range(vmp_region *r, size_t at, size_t bytes, vmp_mem *mem, uint64_t mem_off,
                     int prot) {
  if (bytes == 0) return 0;
  size_t size = vmp_size(r);
  int split = at + bytes < size;
  int err = split ? vmp_split(r, at, bytes) : 0;
  if (!err) err = vmp_map(r, at, bytes, mem, mem_off, prot);
  if (err && split) vmp__undo(vmp_coalesce(r, at, size - at));
  return err;
}

/* Undoes map_range (or puts the room back after padding). */
static void unmap_range(vmp_region *r, size_t at, size_t bytes) {
  if (bytes == 0) return;
  size_t size = vmp_size(r);
  int err = vmp_unmap(r, at, bytes);
  if (!err && at + bytes < size) err = vmp_coalesce(r, at, size - at);
  vmp__undo(err);
}

/* Padding: `pad` bytes of read-only zero pages at `at`, made from the room
 * placeholder that starts there; on failure the room is whole again. */
static int padding_up(vmp_region *r, size_t at, size_t pad) {
  if (pad == 0) return 0;
  size_t size = vmp_size(r);
  int split = at + pad < size;
  int err = split ? vmp_split(r, at, pad) : 0;
  if (!err) err = vmp_commit(r, at, pad, VMP_PROT_READ);
  if (err && split) vmp__undo(vmp_coalesce(r, at, size - at));
  return err;
}

/* The padding at `at` back into the room; on failure it is still there. */
static int padding_down(vmp_region *r, size_t at, size_t pad) {
  if (pad == 0) return 0;
  size_t size = vmp_size(r);
  int err = vmp_unmap(r, at, pad);
  if (!err && at + pad < size && (err = vmp_coalesce(r, at, size - at)) != 0)
    vmp__undo(vmp_commit(r, at, pad, VMP_PROT_READ));
  return err;
}

/* Maps `bytes` more of mem at the end of the pages, `at`, moving the
 * padding after them; on failure everything is where it was. */
static int extend_end(vmp_mview *v, size_t at, size_t bytes, vmp_mem *mem, uint64_t mem_off) {
  if (bytes == 0) return 0;
  int err = padding_down(v->region, at, v->pad_bytes);
  if (err) return err;
  err = map_range(v->region, at, bytes, mem, mem_off, v->prot);
  if (!err && (err = padding_up(v->region, at + bytes, v->pad_bytes)) != 0)
    unmap_range(v->region, at, bytes);
  if (err) padding_up(v->region, at, v->pad_bytes);
  return err;
}

/* Whether `bytes` more pages and the padding fit after `at`. */
static int fits(const vmp_mview *v, size_t at, uint64_t bytes) {
  return bytes <= v->capacity - at && v->pad_bytes <= v->capacity - at - bytes;
}

/* ---- open and append ---------------------------------------------------------------- */

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

static void forget_segments(segment *segments, size_t count) {
  for (size_t i = 0; i < count; i++) forget_segment(&segments[i]);
}

/* Maps a prepared segment at its start, opening its file again for the
 * time it takes when it was closed. */
static int map_segment(const vmp_mview *v, vmp_region *r, const segment *seg) {
  vmp_mem *mem;
  int temporary;
  size_t bytes = (size_t)page_round_up(seg->length);
  if (bytes == 0) return 0; /* an empty file: nothing to map */
  int err = file_of(v, seg, &mem, &temporary);
  if (err) return err;
  err = map_range(r, (size_t)seg->start, bytes, mem, seg->file_offset, v->prot);
  done_with(mem, temporary);
  return err;
}

int vmp_mview_open(const vmp_segment *segments, size_t count, uint64_t capacity, unsigned flags,
                   vmp_mview **out, size_t *bad_segment) {
  size_t ignored;
  size_t *bad = bad_segment ? bad_segment : &ignored;
  *bad = NO_SEGMENT;
  if (!out || (!segments && count > 0) || (flags & ~OPEN_FLAGS)) return VMP_EINVAL;
  int close_files = (flags & VMP_MVIEW_CLOSE_FILES) != 0;
  int err = 0;
  size_t opened = 0, region_size = 0;
  uint64_t length = 0;
  for (size_t i = 0; i < count && !err; i++)
    if ((err = check_names_file(&segments[i], close_files)) != 0) *bad = i;
  for (size_t i = 0; i < count && !err; i++)
    if ((err = check_alignment(&segments[i], i + 1 == count)) != 0) *bad = i;
  if (err) return err;

  vmp_mview *v = vmp__calloc(1, sizeof *v);
  if (!v) {
    err = VMP_ENOMEM;
    goto fail_allocation;
  }
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
  v->close_files = close_files;

  for (; opened < count; opened++) {
    segment *seg = &v->segments[opened];
    err = prepare(&segments[opened], v->mem_flags, close_files, opened + 1 == count, seg);
    if (!err && seg->length > UINT64_MAX - length) {
      forget_segment(seg);
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
    err = map_segment(v, v->region, &v->segments[i]);
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
  forget_segments(v->segments, opened);
  vmp__os_lock_destroy(&v->lock);
fail_segments:
  vmp__free(v->segments);
fail_view:
  vmp__free(v);
fail_allocation:
  if (err == VMP_ENOMEM) {
    size_t at = NO_SEGMENT;
    int earlier = judge_files(segments, count, (flags & VMP_MVIEW_WRITE) != 0, 0, capacity, &at);
    if (earlier && earlier != VMP_ENOMEM) {
      *bad = at;
      return earlier;
    }
  }
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
  int err = check_names_file(s, v->close_files);
  if (err) return err;
  err = check_alignment(s, 1);
  if (err) return err;
  vmp__os_lock_acquire(&v->lock);
  if (v->count > 0 && v->segments[v->count - 1].length % vmp_page_size()) err = VMP_EALIGN;
  if (!err) err = reserve_record(v);
  segment seg = {0};
  if (!err) err = prepare(s, v->mem_flags, v->close_files, 1, &seg);
  if (err) goto done;
  /* Every segment so far has a page-multiple length: the new one starts
   * on a page, right where the padding (if any) is now. */
  seg.start = v->length;
  uint64_t bytes = page_round_up(seg.length);
  if (seg.length > v->capacity || !fits(v, (size_t)v->length, bytes))
    err = VMP_ERANGE;
  else
    err = extend_end(v, (size_t)v->length, (size_t)bytes, seg.mem, seg.file_offset);
  if (err) {
    forget_segment(&seg);
    goto done;
  }
  /* The segment before can no longer grow: its descriptor may go. */
  if (v->close_files && v->count > 0) forget_file(&v->segments[v->count - 1]);
  v->segments[v->count++] = seg;
  v->length += seg.length;
done:
  if (err == VMP_ENOMEM) {
    size_t at;
    int earlier =
        judge_files(s, 1, (v->mem_flags & VMP_MEM_WRITE) != 0, v->length, v->capacity, &at);
    if (earlier && earlier != VMP_ENOMEM) err = earlier;
  }
  vmp__os_lock_release(&v->lock);
  return err;
}

/* ---- follow, retire, padding ---------------------------------------------------------- */

/* One size query a call, and one mapping when the file gained pages (vmp_map
 * does not ask the size again: open_file). Mapping the file ahead past its
 * end, as mmap allows, would spare that mapping, but the pages the file
 * then grows into share one span with those still past its end, and the
 * region can only unmap a view whole: an append or padding after it could
 * not take the pages past the end back without unmapping, for a moment,
 * bytes that readers may be reading without the lock. */
int vmp_mview_refresh(vmp_mview *v, uint64_t *length_out) {
  if (!v) return VMP_EINVAL;
  int err = 0;
  vmp__os_lock_acquire(&v->lock);
  segment *last = v->count ? &v->segments[v->count - 1] : NULL;
  if (last && last->follows && !last->retired) {
    uint64_t size;
    err = vmp_mem_size(last->mem, &size);
    if (!err && size < last->file_offset + last->length) err = VMP_EBOUNDS;
    if (!err && size - last->file_offset > last->length) {
      uint64_t grown = size - last->file_offset;
      uint64_t have = page_round_up(last->length), want = page_round_up(grown);
      if (grown > v->capacity - last->start || want < grown ||
          !fits(v, (size_t)(last->start + have), want - have))
        err = VMP_ERANGE;
      else
        err = extend_end(v, (size_t)(last->start + have), (size_t)(want - have), last->mem,
                         last->file_offset + have);
      if (!err) {
        v->length += grown - last->length;
        last->length = grown;
      }
    }
  }
  if (length_out) *length_out = v->length;
  vmp__os_lock_release(&v->lock);
  return err;
}

/* One view span being retired: where, and what it showed, to map it
 * again should a later one fail. */
typedef struct piece {
  size_t offset, size;
  uint64_t mem_offset;
  size_t segment;
} piece;

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

/* Maps a retired piece again, as it was. */
static void remap_piece(vmp_mview *v, const piece *p) {
  vmp_mem *mem;
  int temporary;
  int err = file_of(v, &v->segments[p->segment], &mem, &temporary);
  if (err) {
    vmp__undo(err);
    return;
  }
  vmp__undo(vmp_map(v->region, p->offset, p->size, mem, p->mem_offset, v->prot));
  done_with(mem, temporary);
}

/* Turns every view span in [from, to) into placeholder; on failure maps
 * those already done again. Refresh can have left a segment in several
 * spans, so the spans are listed first. */
static int unmap_views(vmp_mview *v, size_t from, size_t to) {
  size_t spans = 0;
  vmp_span_info info;
  for (size_t at = from; at < to; at += info.size, spans++)
    vmp_query(v->region, v->base + at, &info); /* every span counted: an upper bound */
  if (spans == 0) return 0;
  piece *pieces = vmp__malloc(spans * sizeof *pieces);
  if (!pieces) return VMP_ENOMEM;
  size_t n = 0;
  for (size_t at = from; at < to; at += info.size) {
    vmp_query(v->region, v->base + at, &info);
    if (info.kind == VMP_VIEW)
      pieces[n++] = (piece){at, info.size, info.mem_offset, find_segment(v, at)};
  }
  int err = 0;
  size_t done = 0;
  for (; done < n && !err; done++)
    err = vmp_unmap(v->region, pieces[done].offset, pieces[done].size);
  if (err)
    for (size_t i = done - 1; i-- > 0;) remap_piece(v, &pieces[i]);
  vmp__free(pieces);
  return err;
}

int vmp_mview_retire(vmp_mview *v, size_t count) {
  if (!v) return VMP_EINVAL;
  int err = 0;
  vmp__os_lock_acquire(&v->lock);
  if (count > v->count) {
    err = VMP_ERANGE;
  } else if (count > v->retired) {
    size_t from = (size_t)v->segments[v->retired].start;
    size_t to = count < v->count ? (size_t)v->segments[count].start : mapped_end(v);
    err = unmap_views(v, from, to);
    if (!err && to > 0) {
      /* One placeholder for everything retired, when it can be had; a
       * refusal leaves several, which are placeholders all the same. */
      vmp_span_info first;
      vmp_query(v->region, v->base, &first);
      if (first.size < to) (void)vmp_coalesce(v->region, 0, to);
    }
    if (!err) {
      for (size_t i = v->retired; i < count; i++) {
        forget_segment(&v->segments[i]);
        v->segments[i].retired = 1;
      }
      v->retired = count;
    }
  }
  vmp__os_lock_release(&v->lock);
  return err;
}

int vmp_mview_set_padding(vmp_mview *v, size_t bytes) {
  if (!v) return VMP_EINVAL;
  int err = 0;
  vmp__os_lock_acquire(&v->lock);
  size_t at = mapped_end(v);
  uint64_t want = page_round_up(bytes);
  if (want < bytes || want > v->capacity - at) {
    err = VMP_ERANGE;
  } else if (want != v->pad_bytes) {
    err = padding_down(v->region, at, v->pad_bytes);
    if (!err && (err = padding_up(v->region, at, (size_t)want)) != 0)
      padding_up(v->region, at, v->pad_bytes);
    if (!err) v->pad_bytes = (size_t)want;
  }
  vmp__os_lock_release(&v->lock);
  return err;
}

/* ---- accessors ---------------------------------------------------------------------- */

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

size_t vmp_mview_retired(const vmp_mview *v) {
  if (!v) return 0;
  vmp__os_lock_acquire(lock_of(v));
  size_t count = v->retired;
  vmp__os_lock_release(lock_of(v));
  return count;
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
    if (v->segments[i].retired) {
      err = VMP_ESTATE;
    } else {
      *segment_out = i;
      *file_offset = v->segments[i].file_offset + (offset - v->segments[i].start);
    }
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
    info->fd = seg->mem ? vmp_mem_fd(seg->mem) : -1;
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
  for (size_t i = v->retired; i < v->count && !err; i++) {
    const segment *seg = &v->segments[i];
    if (seg->length == 0) continue; /* maps nothing, so nothing can fault */
    uint64_t size;
    err = file_size(v, seg, &size);
    if (!err && size < seg->file_offset + seg->length) err = VMP_EBOUNDS;
    if (err) at = i;
  }
  vmp__os_lock_release(lock_of(v));
  if (segment_out) *segment_out = at;
  return err;
}

/* ---- fault-safe reads --------------------------------------------------------------- */

/* Every byte of [offset, offset+n) is still in its file: VMP_ESTATE for a
 * retired segment, VMP_EGONE for a file now too short, OS errors from
 * asking. Called with the lock held and the range inside the length. */
static int still_backed(const vmp_mview *v, uint64_t offset, uint64_t n) {
  uint64_t end = offset + n;
  for (size_t i = find_segment(v, offset); i < v->count && v->segments[i].start < end; i++) {
    const segment *seg = &v->segments[i];
    if (seg->length == 0) continue;
    if (seg->retired) return VMP_ESTATE;
    uint64_t seg_end = seg->start + seg->length;
    uint64_t needed = (end < seg_end ? end : seg_end) - seg->start;
    uint64_t size;
    int err = file_size(v, seg, &size);
    if (err) return err;
    if (size < seg->file_offset + needed) return VMP_EGONE;
  }
  return 0;
}

/* Steps 1 and 3 of the reads, then the files. */
static int enter_read(const vmp_mview *v, uint64_t offset, uint64_t n) {
  if (offset > v->length || n > v->length - offset) return VMP_ERANGE;
  return n ? still_backed(v, offset, n) : 0;
}

int vmp_mview_read(const vmp_mview *v, uint64_t offset, void *dst, size_t n) {
  if (!v || (!dst && n)) return VMP_EINVAL;
  vmp__os_lock_acquire(lock_of(v));
  int err = enter_read(v, offset, n);
  if (!err && n) err = vmp__os_read_memory(dst, v->base + offset, n);
  vmp__os_lock_release(lock_of(v));
  return err;
}

int vmp_mview_scan(const vmp_mview *v, uint64_t offset, uint64_t n, unsigned char byte,
                   uint64_t *found) {
  if (!v || !found) return VMP_EINVAL;
  vmp__os_lock_acquire(lock_of(v));
  int err = enter_read(v, offset, n);
  uint64_t at = offset + n;
  unsigned char chunk[SCAN_CHUNK];
  for (uint64_t done = 0; !err && done < n;) {
    size_t bytes = n - done < SCAN_CHUNK ? (size_t)(n - done) : SCAN_CHUNK;
    err = vmp__os_read_memory(chunk, v->base + offset + done, bytes);
    const unsigned char *hit = err ? NULL : memchr(chunk, byte, bytes);
    if (hit) {
      at = offset + done + (uint64_t)(hit - chunk);
      break;
    }
    done += bytes;
  }
  if (!err) *found = at;
  vmp__os_lock_release(lock_of(v));
  return err;
}

int vmp_mview_close(vmp_mview *v) {
  if (!v) return 0;
  /* A release that fails part-way leaves the view whole, to be closed
   * again (see vmp_release). */
  int err = vmp_release(v->region);
  if (err) return err;
  forget_segments(v->segments, v->count);
  vmp__os_lock_destroy(&v->lock);
  vmp__free(v->segments);
  vmp__free(v);
  return 0;
}
