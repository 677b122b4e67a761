/* Error codes: names, messages, and OS errors keeping their native code. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "support_criterion.h"
#include "vmplace.h"

typedef struct code {
  int value;
  const char *name;
  const char *message;
} code;

static const code library_codes[] = {
#define CODE_ROW(name, value, msg) {value, #name, msg},
    VMP_ERRNO_MAP(CODE_ROW)
#undef CODE_ROW
};

Test(errors, every_library_code_has_its_name_and_message) {
  size_t n = sizeof library_codes / sizeof *library_codes;
  cr_assert_eq(n, 16, "the header lists %zu codes", n);
  for (size_t i = 0; i < n; i++) {
    const code *c = &library_codes[i];
    cr_assert_lt(c->value, 0);
    cr_assert_str_eq(vmp_err_name(c->value), c->name);
    cr_assert_str_eq(vmp_strerror(c->value), c->message);
    cr_assert_not(vmp_err_is_os(c->value), "%s counted as an OS error", c->name);
    cr_assert_eq(vmp_err_os_code(c->value), 0);
  }
}

Test(errors, names_the_spec_uses) {
  cr_assert_str_eq(vmp_err_name(VMP_EINVAL), "EINVAL");
  cr_assert_str_eq(vmp_err_name(VMP_EALIGN), "EALIGN");
  cr_assert_str_eq(vmp_err_name(VMP_ERANGE), "ERANGE");
  cr_assert_str_eq(vmp_err_name(VMP_ESTATE), "ESTATE");
  cr_assert_str_eq(vmp_err_name(VMP_EEXTENT), "EEXTENT");
  cr_assert_str_eq(vmp_err_name(VMP_EBOUNDS), "EBOUNDS");
  cr_assert_str_eq(vmp_err_name(VMP_EACCES), "EACCES");
  cr_assert_str_eq(vmp_err_name(VMP_ENOMEM), "ENOMEM");
  cr_assert_str_eq(vmp_err_name(VMP_ENOTSUP), "ENOTSUP");
  cr_assert_str_eq(vmp_err_name(VMP_EFULL), "EFULL");
}

Test(errors, codes_are_distinct) {
  size_t n = sizeof library_codes / sizeof *library_codes;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      cr_assert_neq(library_codes[i].value, library_codes[j].value);
      cr_assert_str_neq(vmp_strerror(library_codes[i].value), vmp_strerror(library_codes[j].value));
    }
}

Test(errors, zero_is_ok) {
  cr_assert_str_eq(vmp_err_name(0), "OK");
  cr_assert_not_null(vmp_strerror(0));
  cr_assert_not(vmp_err_is_os(0));
  cr_assert_eq(vmp_err_os_code(0), 0);
}

Test(errors, os_errors_keep_native_code) {
  static const int natives[] = {ENOENT, EACCES, EPERM, EMFILE, ENOSPC, EISDIR, EIO, ENOMEM};
  for (size_t i = 0; i < sizeof natives / sizeof *natives; i++) {
    int e = natives[i];
    cr_assert(vmp_err_is_os(-e), "-%d is not an OS error", e);
    cr_assert_eq(vmp_err_os_code(-e), e);
    cr_assert_str_eq(vmp_strerror(-e), strerror(e), "message of errno %d", e);
  }
  cr_assert_str_eq(vmp_err_name(-ENOENT), "OS:ENOENT");
  cr_assert_str_eq(vmp_err_name(-EACCES), "OS:EACCES");
  cr_assert_str_eq(vmp_err_name(-EISDIR), "OS:EISDIR");
  cr_assert_str_eq(vmp_err_name(-EMFILE), "OS:EMFILE");
  cr_assert_str_eq(vmp_err_name(-4000), "OS:4000");
}

/* Every code has a name no other code has: a library code and the OS
 * error of the same spelling (VMP_EACCES and -EACCES, ...) included. */
Test(errors, names_are_pairwise_distinct) {
  enum { LIBRARY = sizeof library_codes / sizeof *library_codes };
  static const int natives[] = {
      EPERM,  ENOENT, EIO,   EBADF,  EAGAIN, ENOMEM, EACCES,  EFAULT,    EBUSY,     EEXIST, EISDIR,
      EINVAL, EMFILE, EFBIG, ENOSPC, ERANGE, ENOSYS, ENOTSUP, ETIMEDOUT, EOVERFLOW, 3999,   4000};
  enum { OS = sizeof natives / sizeof *natives };
  char names[LIBRARY + OS + 1][64];
  size_t n = 0;
  snprintf(names[n++], sizeof names[0], "%s", vmp_err_name(0));
  for (size_t i = 0; i < LIBRARY; i++)
    snprintf(names[n++], sizeof names[0], "%s", vmp_err_name(library_codes[i].value));
  for (size_t i = 0; i < OS; i++) {
    const char *name = vmp_err_name(-natives[i]);
    cr_assert_eq(strncmp(name, "OS:", 3), 0, "errno %d is named %s", natives[i], name);
    snprintf(names[n++], sizeof names[0], "%s", name);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      cr_assert_str_neq(names[i], names[j], "two codes are both named %s", names[i]);
}

Test(errors, never_null) {
  static const int odd[] = {1,      42,     4096,   -4095,           -29999,
                            -30000, -30010, -99999, -2147483647 - 1, 2147483647};
  for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
    cr_assert_not_null(vmp_strerror(odd[i]), "vmp_strerror(%d)", odd[i]);
    cr_assert_not_null(vmp_err_name(odd[i]), "vmp_err_name(%d)", odd[i]);
    cr_assert_gt(strlen(vmp_strerror(odd[i])), 0);
  }
  /* An errno the system has no name for in the library's table. */
  cr_assert_not_null(vmp_err_name(-4000));
  cr_assert_not_null(vmp_strerror(-4000));
}

Test(errors, positive_and_library_values_are_not_os_errors) {
  cr_assert_not(vmp_err_is_os(5));
  cr_assert_eq(vmp_err_os_code(5), 0);
  cr_assert_not(vmp_err_is_os(VMP__ERR_MIN));
  cr_assert_not(vmp_err_is_os(-30000 - 50));
}

Test(errors, a_real_os_error_from_the_library) {
  vmp_mem *m = NULL;
  int rc = vmp_mem_open("/nonexistent/vmplace/for/sure", VMP_MEM_READ, &m);
  cr_assert(vmp_err_is_os(rc), "opening a missing file gave %s", vmp_err_name(rc));
  cr_assert_eq(vmp_err_os_code(rc), ENOENT);
  cr_assert_eq(rc, -ENOENT);
  cr_assert_str_eq(vmp_err_name(rc), "OS:ENOENT");
}

Test(errors, system_facts) {
  size_t page = vmp_page_size();
  cr_assert_gt(page, 0);
  cr_assert_eq(page & (page - 1), 0, "page size %zu is not a power of two", page);
  cr_assert_geq(vmp_granularity(), page);
  const vmp_caps *caps = vmp_capabilities();
  cr_assert_not_null(caps);
  cr_assert_eq(caps, vmp_capabilities(), "the capabilities are not one constant table");
  cr_assert_str_eq(caps->backend, vmp_backend_name());
  cr_assert_eq(caps->page_size, page);
  cr_assert_eq(caps->granularity, vmp_granularity());
  cr_assert(caps->view_offset_unit >= page && caps->view_offset_unit % page == 0,
            "view offset unit %zu", caps->view_offset_unit);
  cr_assert_str_eq(vmp_kind_name(VMP_PLACEHOLDER), "placeholder");
  cr_assert_str_eq(vmp_kind_name(VMP_PRIVATE), "private");
  cr_assert_str_eq(vmp_kind_name(VMP_VIEW), "view");
}
