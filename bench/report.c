/* The output format: one line per comparison, bars at the end. */
#include "bench.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vmplace.h"

/* Three significant digits without exponent notation, so that every line
 * reads the same way whatever the magnitude (1230, 12.3, 0.0123). */
static void format3(char *buf, size_t len, double x) {
  /* Not isnan / isinf: MinGW's macros pass the double through a float
   * conversion that -Wfloat-conversion rejects. */
  if (x != x) {
    snprintf(buf, len, "nan");
    return;
  }
  if (fabs(x) > DBL_MAX) {
    snprintf(buf, len, "inf");
    return;
  }
  if (x == 0.0) {
    snprintf(buf, len, "0");
    return;
  }
  int magnitude = (int)floor(log10(fabs(x)));
  double scale = pow(10.0, 2 - magnitude);
  double rounded = round(x * scale) / scale;
  /* Rounding can carry into the next power of ten (999.7 -> 1000). */
  magnitude = (int)floor(log10(fabs(rounded)));
  int decimals = 2 - magnitude;
  if (decimals < 0) decimals = 0;
  snprintf(buf, len, "%.*f", decimals, rounded);
}

static void print_line(const char *name, const char *vmplace, const char *baseline, double ratio,
                       const char *unit) {
  char r[32];
  format3(r, sizeof r, ratio);
  printf("%s: vmplace %s %s, baseline %s %s, ratio %s\n", name, vmplace, unit, baseline, unit, r);
  fflush(stdout);
}

void bench_line(const char *name, double vmplace, double baseline, const char *unit) {
  char v[32], b[32];
  format3(v, sizeof v, vmplace);
  format3(b, sizeof b, baseline);
  print_line(name, v, b, vmplace / baseline, unit);
}

void bench_line_ratio(const char *name, double vmplace, double baseline, double ratio,
                      const char *unit) {
  char v[32], b[32];
  format3(v, sizeof v, vmplace);
  format3(b, sizeof b, baseline);
  print_line(name, v, b, ratio, unit);
}

void bench_line_counts(const char *name, unsigned long vmplace, unsigned long baseline,
                       double ratio, const char *unit) {
  char v[32], b[32];
  snprintf(v, sizeof v, "%lu", vmplace);
  snprintf(b, sizeof b, "%lu", baseline);
  print_line(name, v, b, ratio, unit);
}

#define MAX_BARS 64

static struct { char text[160]; } bars[MAX_BARS];
static size_t bar_count;

void bench_bar(const char *name, const char *condition, int met) {
  if (bar_count == MAX_BARS) return;
  snprintf(bars[bar_count].text, sizeof bars[bar_count].text, "# bar %s: %s -> %s", name, condition,
           met ? "met" : "MISSED");
  bar_count++;
}

void bench_print_bars(void) {
  for (size_t i = 0; i < bar_count; i++) printf("%s\n", bars[i].text);
  fflush(stdout);
}

int bench_error(const char *what, int err) {
  fprintf(stderr, "vmplace_bench: %s: %s (%s)\n", what, vmp_err_name(err), vmp_strerror(err));
  return 1;
}
