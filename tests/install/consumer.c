/* Reserves, maps a ring through the installed header and library. */
#include <stdio.h>
#include <string.h>
#include <vmplace.h>

int main(void) {
  size_t page = vmp_page_size();
  vmp_region *r;
  vmp_mem *m;
  if (vmp_reserve(4 * page, 0, &r) || vmp_split(r, 0, 2 * page) ||
      vmp_mem_create(2 * page, 0, &m) || vmp_map(r, 0, 2 * page, m, 0, VMP_PROT_RW) ||
      vmp_map(r, 2 * page, 2 * page, m, 0, VMP_PROT_RW)) {
    fprintf(stderr, "consumer: setup failed\n");
    return 1;
  }
  char *base = vmp_base(r);
  memcpy(base + 2 * page - 3, "mirror", 6);
  int ok = memcmp(base, "ror", 3) == 0;
  vmp_mem_close(m);
  vmp_release(r);
  printf("consumer (%s backend): %s\n", vmp_backend_name(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
