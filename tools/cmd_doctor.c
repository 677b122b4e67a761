/* vmplace doctor: the process's address-space budget (vmp_budget_get),
 * each limit with what to do about it. Exit status 1 when something would
 * break a typical workload (an emulator's 4 GiB arena, tens of thousands
 * of mappings, shared memory of a few hundred MiB), else 0.
 *
 * `--assume FIELD=VALUE` replaces what the system said, so the judgement
 * can be checked for any machine (FIELD is a vmp_budget member name). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "vmplace.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

/* The Linux default, which programs are tested with. */
#define DEFAULT_MAP_LIMIT 65530

typedef struct verdicts {
  FILE *out;
  int failed;
} verdicts;

static void say(verdicts *v, const char *level, const char *what, const char *value,
                const char *advice) {
  fprintf(v->out, "%-5s %-22s %s\n", level, what, value);
  if (advice) fprintf(v->out, "      %s\n", advice);
  if (strcmp(level, "FAIL") == 0) v->failed = 1;
}

static const char *bytes_text(uint64_t bytes, char *buf, size_t len) {
  if (bytes == UINT64_MAX)
    snprintf(buf, len, "unlimited");
  else if (bytes >= GIB)
    snprintf(buf, len, "%.1f GiB", (double)bytes / (double)GIB);
  else
    snprintf(buf, len, "%.1f MiB", (double)bytes / (double)MIB);
  return buf;
}

static void judge_mappings(verdicts *v, const vmp_budget *b) {
  char value[96];
  if (b->map_limit < 0) {
    say(v, "ok", "mapping limit", "none known (this system has no vm.max_map_count)", NULL);
    return;
  }
  snprintf(value, sizeof value, "%" PRId64 " used of %" PRId64, b->map_count, b->map_limit);
  const char *raise =
      "raise it: sysctl -w vm.max_map_count=1048576 (and a file in "
      "/etc/sysctl.d/ to keep it)";
  if (b->map_limit < DEFAULT_MAP_LIMIT)
    say(v, "FAIL", "mapping limit", value, raise);
  else if (b->map_count >= 0 && b->map_count > b->map_limit / 10 * 9)
    say(v, "FAIL", "mapping limit", value,
        "the process is nearly out of mappings: coalesce placeholders, or raise it: "
        "sysctl -w vm.max_map_count=1048576");
  else if (b->map_limit == DEFAULT_MAP_LIMIT)
    say(v, "warn", "mapping limit", value,
        "the default: emulators and JITs with many views need more; sysctl -w "
        "vm.max_map_count=1048576");
  else
    say(v, "ok", "mapping limit", value, NULL);
}

static void judge_limits(verdicts *v, const vmp_budget *b) {
  char value[64];
  bytes_text(b->as_limit, value, sizeof value);
  if (b->as_limit < 8 * GIB)
    say(v, "FAIL", "RLIMIT_AS", value,
        "reservations of a few GiB (a 4 GiB arena) fail: ulimit -v unlimited");
  else
    say(v, "ok", "RLIMIT_AS", value, NULL);
  bytes_text(b->data_limit, value, sizeof value);
  if (b->data_limit < GIB)
    say(v, "warn", "RLIMIT_DATA", value,
        "committed private memory counts against it: ulimit -d unlimited");
  else
    say(v, "ok", "RLIMIT_DATA", value, NULL);
  static const char *const modes[] = {"0 (heuristic)", "1 (always)", "2 (never: strict)"};
  if (b->overcommit == 2)
    say(v, "warn", "overcommit", modes[2],
        "placeholders cost nothing, but every committed private page is charged at "
        "commit time: commit only what is used");
  else if (b->overcommit == 0 || b->overcommit == 1)
    say(v, "ok", "overcommit", modes[b->overcommit], NULL);
  else
    say(v, "ok", "overcommit", "not applicable here", NULL);
}

static void judge_shared_memory(verdicts *v, const vmp_budget *b) {
  char value[96], size[32], free_text[32];
  if (b->memfd == 1)
    say(v, "ok", "memfd_create", "works", NULL);
  else if (b->memfd == 0)
    say(v, "warn", "memfd_create", "refused",
        "a sandbox (seccomp) denies it: memory objects fall back to /dev/shm, which "
        "faults with SIGBUS when it fills up; allow memfd_create");
  else
    say(v, "ok", "memfd_create", "not on this system", NULL);
  if (b->shm_size < 0) {
    say(v, b->memfd == 1 ? "ok" : "warn", "/dev/shm", "absent",
        b->memfd == 1 ? NULL : "objects then come from unlinked files in $TMPDIR");
    return;
  }
  snprintf(value, sizeof value, "%s, %s free", bytes_text((uint64_t)b->shm_size, size, sizeof size),
           bytes_text((uint64_t)b->shm_free, free_text, sizeof free_text));
  int needed = b->memfd != 1;
  if (needed && (uint64_t)b->shm_free < 64 * MIB)
    say(v, "FAIL", "/dev/shm", value,
        "shared memory falls back here and will fill: in a container pass --shm-size=1g "
        "(docker run), or allow memfd_create");
  else if ((uint64_t)b->shm_size < 256 * MIB)
    say(v, "warn", "/dev/shm", value,
        "small (docker's default is 64 MB): pass --shm-size=1g to the container");
  else
    say(v, "ok", "/dev/shm", value, NULL);
}

static void judge_huge_pages(verdicts *v, const vmp_budget *b) {
  char value[96], free_text[32];
  if (b->huge_page < 0) {
    say(v, "ok", "huge pages", "not on this system", NULL);
    return;
  }
  snprintf(value, sizeof value, "%s free (page %" PRId64 " KiB)",
           bytes_text(b->huge_free < 0 ? 0 : (uint64_t)b->huge_free, free_text, sizeof free_text),
           b->huge_page / 1024);
  if (b->huge_free <= 0)
    say(v, "ok", "huge pages", value,
        "none reserved: huge-page rings need some, e.g. sysctl -w vm.nr_hugepages=64");
  else
    say(v, "ok", "huge pages", value, NULL);
}

static int assume(vmp_budget *b, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == NULL) return -1;
  size_t len = (size_t)(eq - arg);
  char *end;
  long long value = strtoll(eq + 1, &end, 10);
  if (*end != 0) return -1;
#define FIELD(name, type)                                      \
  if (len == strlen(#name) && strncmp(arg, #name, len) == 0) { \
    b->name = (type)value;                                     \
    return 0;                                                  \
  }
  FIELD(map_limit, int64_t)
  FIELD(map_count, int64_t)
  FIELD(overcommit, int)
  FIELD(memfd, int)
  FIELD(shm_size, int64_t)
  FIELD(shm_free, int64_t)
  FIELD(huge_free, int64_t)
  FIELD(huge_page, int64_t)
#undef FIELD
  /* Limits: -1 means none. */
  if (len == 8 && strncmp(arg, "as_limit", 8) == 0) {
    b->as_limit = value < 0 ? UINT64_MAX : (uint64_t)value;
    return 0;
  }
  if (len == 10 && strncmp(arg, "data_limit", 10) == 0) {
    b->data_limit = value < 0 ? UINT64_MAX : (uint64_t)value;
    return 0;
  }
  return -1;
}

int vmp_cli_doctor(int argc, char **argv) {
  vmp_budget b;
  if (vmp_budget_get(&b) != 0) {
    fputs("vmplace doctor: cannot read the budget\n", stderr);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--assume") == 0 && i + 1 < argc && assume(&b, argv[i + 1]) == 0) {
      i++;
      continue;
    }
    fputs("usage: vmplace doctor [--assume FIELD=VALUE]...\n", stderr);
    return 2;
  }
  verdicts v = {stdout, 0};
  printf("vmplace doctor (backend %s, page %zu bytes)\n", vmp_backend_name(), vmp_page_size());
  judge_mappings(&v, &b);
  judge_limits(&v, &b);
  judge_shared_memory(&v, &b);
  judge_huge_pages(&v, &b);
  puts(v.failed ? "something here would break a typical workload (FAIL above)"
                : "nothing here would break a typical workload");
  return v.failed ? 1 : 0;
}
