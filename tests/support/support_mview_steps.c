#include "support_mview_steps.h"

#include <stdlib.h>
#include <string.h>

#include "support_check.h"
#include "support_kernel.h"

/* Far more than any of the operations makes. */
#define MAX_STEPS 300

typedef struct scenario_run {
  const mview_scenario *sc;
  vmp_mview *v;
  size_t segments, retired;
  uint64_t length;
  int have_kernel;
  kv_snapshot before;
  char *maps; /* kv_mappings_text(), or NULL */
  kv_outside *outside;
} scenario_run;

static void *range_of(vmp_mview *v, size_t *size) {
  *size = (size_t)vmp_mview_capacity(v);
  return vmp_mview_base(v);
}

static int scenario_setup(void *ctx) {
  scenario_run *run = ctx;
  if (!run->sc->prepare(&run->v, run->sc->flags)) return 1;
  vmp_mview *v = run->v;
  size_t size;
  void *base = range_of(v, &size);
  run->segments = vmp_mview_segments(v);
  run->retired = vmp_mview_retired(v);
  run->length = vmp_mview_length(v);
  run->have_kernel = kv_take(&run->before, base, size) == 0;
  run->maps = run->sc->same_pages_only ? NULL : kv_mappings_text(base, size);
  run->outside = kv_outside_take(base, size);
  return 0;
}

static int scenario_op(void *ctx) {
  scenario_run *run = ctx;
  return run->sc->operate(run->v);
}

/* After a failed attempt: everything as it was. */
static void check_unchanged(scenario_run *run, const steps_attempt *a) {
  const mview_scenario *sc = run->sc;
  vmp_mview *v = run->v;
  size_t size;
  void *base = range_of(v, &size);
  CHECK(vmp_mview_segments(v) == run->segments && vmp_mview_retired(v) == run->retired &&
            vmp_mview_length(v) == run->length,
        "%s: step %ld failing changed the view", sc->name, a->n);
  kv_snapshot after;
  if (run->have_kernel && kv_take(&after, base, size) == 0) {
    size_t i = kv_first_difference(&run->before, &after);
    char x[160], y[160];
    CHECK(i == (size_t)-1, "%s: step %ld failing (%s) changed page %zu: %s, now %s", sc->name, a->n,
          vmp_err_name(a->rc), i, i == (size_t)-1 ? "" : kv_describe(&run->before, i, x, sizeof x),
          i == (size_t)-1 ? "" : kv_describe(&after, i, y, sizeof y));
    kv_free(&after);
  }
  if (run->maps) {
    char *now = kv_mappings_text(base, size);
    CHECK(now && strcmp(now, run->maps) == 0,
          "%s: step %ld failing (%s) changed the mappings:\n%s\nnow:\n%s", sc->name, a->n,
          vmp_err_name(a->rc), run->maps, now ? now : "(unreadable)");
    free(now);
  }
  char why[4096];
  CHECK(kv_outside_compare(run->outside, 1, why, sizeof why) == 0, "%s: step %ld failing: %s",
        sc->name, a->n, why);
}

static void scenario_check(void *ctx, const steps_attempt *a) {
  scenario_run *run = ctx;
  if (a->rc == 0) {
    run->sc->verify(run->v);
  } else {
    check_unchanged(run, a);
    /* And it works once nothing fails. */
    if (CHECK_RC(run->sc->operate(run->v), 0)) run->sc->verify(run->v);
  }
  if (run->have_kernel) kv_free(&run->before);
  free(run->maps);
  kv_outside_free(run->outside);
  CHECK_RC(vmp_mview_close(run->v), 0);
}

void mview_fails_cleanly(const mview_scenario *sc, inject_kind kind, long least) {
  scenario_run run = {.sc = sc};
  steps_plan plan = {.what = sc->name,
                     .kind = kind,
                     .max_steps = MAX_STEPS,
                     .least = least,
                     .leftovers = 1,
                     STEPS_CALLBACKS(scenario, &run)};
  steps_run(&plan);
}
