#include <stdio.h>

#include "internal.h"
#include "testing.h"

/* OS errors are -native with native in [1, 29999]: errno values stay below
 * 4096 and Windows system error codes below 16000. */
#define VMP__OS_ERROR_LIMIT 30000

int vmp_err_is_os(int err) { return err < 0 && err > -VMP__OS_ERROR_LIMIT; }

int vmp_err_os_code(int err) { return vmp_err_is_os(err) ? -err : 0; }

const char *vmp_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define VMP__ERR_MESSAGE(name, value, msg) \
  case VMP_##name:                         \
    return msg;
      VMP_ERRNO_MAP(VMP__ERR_MESSAGE)
#undef VMP__ERR_MESSAGE
    default:
      break;
  }
  if (vmp_err_is_os(err)) return vmp__os_error_message(-err);
  return "unknown error";
}

const char *vmp_err_name(int err) {
  switch (err) {
    case 0:
      return "OK";
#define VMP__ERR_NAME(name, value, msg) \
  case VMP_##name:                      \
    return #name;
      VMP_ERRNO_MAP(VMP__ERR_NAME)
#undef VMP__ERR_NAME
    default:
      break;
  }
  if (!vmp_err_is_os(err)) return "UNKNOWN";
  const char *known = vmp__os_error_name(-err);
  if (known) return known;
  /* A native code the backend has no name for is spelled by number, so
   * two different codes never share a name. Per thread, because the
   * spelling of one call must survive another thread's call. */
  static _Thread_local char unnamed[16];
  snprintf(unnamed, sizeof unnamed, VMP__OS_ERROR_PREFIX "%d", -err);
  return unnamed;
}

int vmp_budget_get(vmp_budget *out) {
  if (!out) return VMP_EINVAL;
  out->map_limit = out->map_count = -1;
  out->overcommit = out->memfd = -1;
  out->as_limit = out->data_limit = UINT64_MAX;
  out->shm_size = out->shm_free = out->huge_free = out->huge_page = -1;
  vmp__os_budget(out);
  return 0;
}

size_t vmp_page_size(void) { return vmp__os_caps_get()->page_size; }
size_t vmp_granularity(void) { return vmp__os_caps_get()->granularity; }
const char *vmp_backend_name(void) { return vmp__os_caps_get()->backend; }
const vmp_caps *vmp_capabilities(void) { return vmp__os_caps_get(); }

const char *vmp_kind_name(vmp_kind kind) {
  switch (kind) {
    case VMP_PLACEHOLDER:
      return "placeholder";
    case VMP_PRIVATE:
      return "private";
    case VMP_VIEW:
      return "view";
  }
  return "unknown";
}

static _Atomic long undo_failures;

void vmp__undo(int result) {
  if (result != 0) atomic_fetch_add_explicit(&undo_failures, 1, memory_order_relaxed);
}

long vmp__testing_undo_failures(void) {
  return atomic_load_explicit(&undo_failures, memory_order_relaxed);
}
