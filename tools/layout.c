#include "layout.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

const char *vmp_cli_prot_name(int prot) {
  switch (prot) {
    case VMP_PROT_NONE:
      return "none";
    case VMP_PROT_READ:
      return "r";
    case VMP_PROT_RW:
      return "rw";
    case VMP_PROT_READ | VMP_PROT_EXEC:
      return "rx";
    case VMP_PROT_RW | VMP_PROT_EXEC:
      return "rwx";
    default:
      return "?";
  }
}

typedef struct print_ctx {
  FILE *out;
  const char *indent;
  size_t page;
  vmp_cli_mem_namer *namer;
  void *namer_arg;
} print_ctx;

static int print_row(const vmp_span_info *info, void *arg) {
  const print_ctx *ctx = arg;
  fprintf(ctx->out, "%s%8zu %8zu  %-11s  ", ctx->indent, info->offset / ctx->page,
          info->size / ctx->page, vmp_kind_name(info->kind));
  if (info->kind == VMP_VIEW) {
    const char *name = ctx->namer ? ctx->namer(info->mem, ctx->namer_arg) : NULL;
    fprintf(ctx->out, "%-4s  %-8s %" PRIu64, vmp_cli_prot_name(info->prot),
            name ? name : "(object)", info->mem_offset / ctx->page);
  } else {
    fputs(vmp_cli_prot_name(info->prot), ctx->out);
  }
  fputc('\n', ctx->out);
  return 0;
}

int vmp_cli_print_spans(FILE *out, vmp_region *region, const char *indent, vmp_cli_mem_namer *namer,
                        void *namer_arg) {
  print_ctx ctx = {out, indent, vmp_page_size(), namer, namer_arg};
  fprintf(out, "%s%8s %8s  %-11s  %-4s  %-8s %s\n", indent, "offset", "pages", "kind", "prot",
          "object", "obj.off");
  return vmp_foreach_span(region, print_row, &ctx);
}
