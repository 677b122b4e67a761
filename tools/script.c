/* Interpreter core: splitting a line into command, arguments and expected
 * result, the name tables, judging and reporting each check. */
#include "script.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "script_internal.h"

#define MAX_WORDS 16

vmp_interp *vmp_interp_new(FILE *out, vmp_interp_mode mode) {
  vmp_interp *in = calloc(1, sizeof *in);
  if (in == NULL) return NULL;
  in->out = out;
  in->mode = mode;
  in->page = vmp_page_size();
  return in;
}

void vmp_interp_free(vmp_interp *in) {
  if (in == NULL) return;
  for (size_t i = 0; i < in->region_count; i++) {
    if (in->regions[i].region == NULL) continue; /* released by the script */
    int rc = vmp_release(in->regions[i].region);
    if (rc != 0)
      fprintf(in->out, "warning: releasing region %s at the end: %s\n", in->regions[i].name,
              vmp_err_name(rc));
  }
  for (size_t i = 0; i < in->mem_count; i++) {
    int rc = vmp_mem_close(in->mems[i].mem);
    if (rc != 0)
      fprintf(in->out, "warning: closing object %s at the end: %s\n", in->mems[i].name,
              vmp_err_name(rc));
  }
  free(in->regions);
  free(in->mems);
  free(in);
}

unsigned long vmp_interp_passed(const vmp_interp *in) { return in->passed; }
unsigned long vmp_interp_failed(const vmp_interp *in) { return in->failed; }
void vmp_interp_count_failure(vmp_interp *in) { in->failed++; }

/* ---- helpers for the handlers ------------------------------------------- */

static void set_text(interp_check *chk, const char *expected, const char *got_fmt, va_list ap) {
  snprintf(chk->expected, sizeof chk->expected, "%s", expected);
  vsnprintf(chk->got, sizeof chk->got, got_fmt, ap);
}

void interp_parse_error(interp_check *chk, const char *expected, const char *got_fmt, ...) {
  va_list ap;
  va_start(ap, got_fmt);
  set_text(chk, expected, got_fmt, ap);
  va_end(ap);
  chk->parse_failed = 1;
}

void interp_mismatch(interp_check *chk, const char *expected, const char *got_fmt, ...) {
  va_list ap;
  va_start(ap, got_fmt);
  set_text(chk, expected, got_fmt, ap);
  va_end(ap);
  chk->detail_failed = 1;
}

/* The entry of that name, live or released. */
static named_region *find_entry(vmp_interp *in, const char *name) {
  for (size_t i = 0; i < in->region_count; i++)
    if (strcmp(in->regions[i].name, name) == 0) return &in->regions[i];
  return NULL;
}

static named_region *find_region(vmp_interp *in, const char *name) {
  named_region *r = find_entry(in, name);
  return r != NULL && r->region != NULL ? r : NULL;
}

/* A name taken afresh no longer stands for the released region. */
static void drop_released(vmp_interp *in, const char *name) {
  named_region *r = find_entry(in, name);
  if (r == NULL) return;
  size_t index = (size_t)(r - in->regions);
  memmove(r, r + 1, (in->region_count - index - 1) * sizeof *r);
  in->region_count--;
}

static named_mem *find_mem(vmp_interp *in, const char *name) {
  for (size_t i = 0; i < in->mem_count; i++)
    if (strcmp(in->mems[i].name, name) == 0) return &in->mems[i];
  return NULL;
}

vmp_region *interp_region(vmp_interp *in, const char *name, interp_check *chk) {
  named_region *r = find_region(in, name);
  if (r != NULL) return r->region;
  if (find_mem(in, name) != NULL)
    interp_parse_error(chk, "a region", "'%s', which is a memory object", name);
  else if (find_entry(in, name) != NULL)
    interp_parse_error(chk, "a reserved region", "'%s', which was released", name);
  else
    interp_parse_error(chk, "a reserved region", "unknown region '%s'", name);
  return NULL;
}

int interp_anchor(vmp_interp *in, const char *name, uintptr_t *base, interp_check *chk) {
  named_region *r = find_entry(in, name);
  if (r != NULL) {
    *base = r->base;
    return 0;
  }
  if (find_mem(in, name) != NULL)
    interp_parse_error(chk, "a region (reserved now or released)", "'%s', which is a memory object",
                       name);
  else
    interp_parse_error(chk, "a region (reserved now or released)", "unknown region '%s'", name);
  return -1;
}

vmp_mem *interp_mem(vmp_interp *in, const char *name, interp_check *chk) {
  named_mem *m = find_mem(in, name);
  if (m != NULL) return m->mem;
  if (find_region(in, name) != NULL)
    interp_parse_error(chk, "a memory object", "'%s', which is a region", name);
  else
    interp_parse_error(chk, "a memory object (mem or file)", "unknown object '%s'", name);
  return NULL;
}

int interp_name_available(vmp_interp *in, const char *name, interp_check *chk) {
  size_t len = strlen(name);
  int valid =
      len > 0 && len < INTERP_NAME_MAX && (isalpha((unsigned char)name[0]) || name[0] == '_');
  for (size_t i = 1; valid && i < len; i++)
    valid = isalnum((unsigned char)name[i]) || name[i] == '_';
  if (!valid) {
    interp_parse_error(chk, "a name (letters, digits, _; at most 31)", "'%s'", name);
    return 0;
  }
  if (find_region(in, name) != NULL || find_mem(in, name) != NULL) {
    interp_parse_error(chk, "an unused name", "'%s', which is already in use", name);
    return 0;
  }
  return 1;
}

/* Grows a table of `elem` bytes per entry so it has room for one more. */
static int reserve_slot(void **table, size_t count, size_t *cap, size_t elem) {
  if (count < *cap) return 0;
  size_t new_cap = *cap ? *cap * 2 : 8;
  void *grown = realloc(*table, new_cap * elem);
  if (grown == NULL) return -1;
  *table = grown;
  *cap = new_cap;
  return 0;
}

int interp_bind_region(vmp_interp *in, const char *name, vmp_region *region) {
  drop_released(in, name);
  void *table = in->regions;
  if (reserve_slot(&table, in->region_count, &in->region_cap, sizeof *in->regions) != 0) {
    vmp_release(region);
    return VMP_ENOMEM;
  }
  in->regions = table;
  named_region *slot = &in->regions[in->region_count++];
  snprintf(slot->name, sizeof slot->name, "%s", name);
  slot->region = region;
  slot->base = (uintptr_t)vmp_base(region);
  return 0;
}

int interp_bind_mem(vmp_interp *in, const char *name, vmp_mem *mem) {
  drop_released(in, name);
  void *table = in->mems;
  if (reserve_slot(&table, in->mem_count, &in->mem_cap, sizeof *in->mems) != 0) {
    vmp_mem_close(mem);
    return VMP_ENOMEM;
  }
  in->mems = table;
  named_mem *slot = &in->mems[in->mem_count++];
  snprintf(slot->name, sizeof slot->name, "%s", name);
  slot->mem = mem;
  return 0;
}

void interp_forget_region(vmp_interp *in, const char *name) {
  named_region *r = find_region(in, name);
  if (r != NULL) r->region = NULL;
}

const char *interp_mem_name(const vmp_mem *mem, void *arg) {
  const vmp_interp *in = arg;
  for (size_t i = 0; i < in->mem_count; i++)
    if (in->mems[i].mem == mem) return in->mems[i].name;
  return NULL;
}

/* ---- one line ------------------------------------------------------------ */

static const interp_command *find_command(const char *name) {
  for (size_t i = 0; i < interp_command_count; i++)
    if (strcmp(interp_commands[i].name, name) == 0) return &interp_commands[i];
  return NULL;
}

/* Splits `text` in place at blanks. Returns the number of words, or -1 when
 * there are more than `max`. */
static int split_words(char *text, char **words, int max) {
  int n = 0;
  char *p = text;
  for (;;) {
    while (*p != '\0' && isspace((unsigned char)*p)) p++;
    if (*p == '\0') return n;
    if (n == max) return -1;
    words[n++] = p;
    while (*p != '\0' && !isspace((unsigned char)*p)) p++;
    if (*p != '\0') *p++ = '\0';
  }
}

/* "ok", or an error name as vmp_err_name() spells it: a library code is E
 * followed by capitals and digits ("EACCES" is VMP_EACCES and nothing
 * else); an OS error is "OS:" and its native name or number ("OS:EACCES",
 * "OS:ERROR_ACCESS_DENIED", "OS:4000"). */
static int valid_result_name(const char *word) {
  if (strcmp(word, "ok") == 0 || strcmp(word, "OK") == 0) return 1;
  if (strncmp(word, "OS:", 3) == 0) {
    const char *p = word + 3;
    if (*p == '\0') return 0;
    for (; *p != '\0'; p++)
      if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_') return 0;
    return 1;
  }
  if (word[0] != 'E' || word[1] == '\0') return 0;
  for (const char *p = word + 1; *p != '\0'; p++)
    if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p)) return 0;
  return 1;
}

static const char *result_name(int rc) { return rc == 0 ? "ok" : vmp_err_name(rc); }

static void report_failure(vmp_interp *in, const char *where, unsigned long lineno,
                           const interp_check *chk, int error_code) {
  if (where != NULL) fprintf(in->out, "%s:%lu: ", where, lineno);
  fprintf(in->out, "expected %s, got %s", chk->expected, chk->got);
  /* The shell is for people: say what the error means. Scripts keep the
   * exact "expected X, got Y" form that tools match on. */
  if (in->mode == VMP_INTERP_SHELL && error_code != 0)
    fprintf(in->out, ": %s", vmp_strerror(error_code));
  fputc('\n', in->out);
}

/* Parses and runs the command in `text` (comment already removed) into
 * chk; *counted says whether the line is a check. */
static void run_text(vmp_interp *in, char *text, interp_check *chk, int *counted) {
  char *expect_text = strstr(text, "=>");
  const char *expected_result = "ok";
  if (expect_text != NULL) {
    *expect_text = '\0';
    char *rest[2];
    int n = split_words(expect_text + 2, rest, 2);
    if (n != 1 || !valid_result_name(rest[0])) {
      const char *what = n == 0 ? "nothing" : n < 0 ? "several words" : rest[0];
      interp_parse_error(chk,
                         "one result after => (ok or an error name such as ESTATE or OS:ENOENT)",
                         n == 1 ? "'%s'" : "%s", what);
      return;
    }
    /* vmp_err_name(0) spells it "OK"; scripts write "ok". Accept both. */
    expected_result = strcmp(rest[0], "OK") == 0 ? "ok" : rest[0];
  }

  char *words[MAX_WORDS];
  int n = split_words(text, words, MAX_WORDS);
  if (n < 0) {
    interp_parse_error(chk, "a command", "more than %d words", MAX_WORDS);
    return;
  }
  if (n == 0) {
    interp_parse_error(chk, "a command before =>", "nothing");
    return;
  }

  const interp_command *cmd = find_command(words[0]);
  if (cmd == NULL || (cmd->shell_only && in->mode != VMP_INTERP_SHELL)) {
    interp_parse_error(chk, in->mode == VMP_INTERP_SHELL ? "a command (type help)" : "a command",
                       cmd == NULL ? "unknown command '%s'" : "'%s', which only the shell knows",
                       words[0]);
    return;
  }
  *counted = cmd->is_check;
  int nargs = n - 1;
  if (nargs < cmd->min_args || nargs > cmd->max_args) {
    interp_parse_error(chk, cmd->usage, "%d argument%s", nargs, nargs == 1 ? "" : "s");
    return;
  }
  if (!cmd->is_check && expect_text != NULL) {
    interp_parse_error(chk, cmd->usage, "'=> %s' on a command that checks nothing",
                       expected_result);
    return;
  }

  cmd->run(in, words + 1, nargs, chk);
  if (chk->parse_failed || !cmd->is_check) return;

  const char *got = result_name(chk->rc);
  int ok_expected = strcmp(expected_result, "ok") == 0;
  if (strcmp(got, expected_result) != 0) {
    snprintf(chk->expected, sizeof chk->expected, "%s", expected_result);
    snprintf(chk->got, sizeof chk->got, "%s", got);
    chk->detail_failed = 1;
  } else if (!ok_expected) {
    chk->detail_failed = 0; /* the expected error happened: nothing else to look at */
  }
}

int vmp_interp_line(vmp_interp *in, const char *where, unsigned long lineno, const char *line) {
  size_t len = strlen(line);
  char *text = malloc(len + 1);
  if (text == NULL) {
    if (where != NULL) fprintf(in->out, "%s:%lu: ", where, lineno);
    fprintf(in->out, "expected memory to read the line, got none\n");
    in->failed++;
    return 0;
  }
  memcpy(text, line, len + 1);
  char *comment = strchr(text, '#');
  if (comment != NULL) *comment = '\0';

  char *probe = text;
  while (*probe != '\0' && isspace((unsigned char)*probe)) probe++;
  if (*probe == '\0') {
    free(text);
    return 0;
  }

  interp_check chk;
  memset(&chk, 0, sizeof chk);
  int counted = 1; /* a line that cannot be parsed counts as a failed check */
  run_text(in, text, &chk, &counted);
  free(text);

  int failed = chk.parse_failed || chk.detail_failed;
  if (failed) {
    /* The message of the error actually returned, when that is the news. */
    int code = !chk.parse_failed && chk.rc != 0 ? chk.rc : 0;
    report_failure(in, where, lineno, &chk, code);
  }
  if (counted || chk.parse_failed) {
    if (failed)
      in->failed++;
    else
      in->passed++;
    /* A person at the shell sees that the command was done; scripts stay
     * quiet on success so their output is only the failures. */
    if (!failed && in->mode == VMP_INTERP_SHELL)
      fprintf(in->out, "%s\n", chk.rc == 0 ? "ok" : vmp_err_name(chk.rc));
  }
  return in->quit;
}

/* Reads one line of any length into *buf (without the newline). Returns 1
 * when a line was read, 0 at end of file, -1 on error. */
static int read_line(FILE *stream, char **buf, size_t *cap) {
  size_t len = 0;
  for (;;) {
    if (*cap - len < 2) {
      size_t new_cap = *cap ? *cap * 2 : 256;
      char *grown = realloc(*buf, new_cap);
      if (grown == NULL) return -1;
      *buf = grown;
      *cap = new_cap;
    }
    if (fgets(*buf + len, (int)(*cap - len), stream) == NULL) {
      if (ferror(stream)) return -1;
      if (len == 0) return 0;
      break;
    }
    len += strlen(*buf + len);
    if (len > 0 && (*buf)[len - 1] == '\n') break;
  }
  while (len > 0 && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r')) (*buf)[--len] = '\0';
  return 1;
}

int vmp_interp_run(vmp_interp *in, FILE *stream, const char *where, const char *prompt) {
  char *buf = NULL;
  size_t cap = 0;
  unsigned long lineno = 0;
  int status = 0;
  for (;;) {
    if (prompt != NULL) {
      fputs(prompt, in->out);
      fflush(in->out);
    }
    int got = read_line(stream, &buf, &cap);
    if (got <= 0) {
      status = got;
      if (prompt != NULL) fputc('\n', in->out);
      break;
    }
    lineno++;
    if (vmp_interp_line(in, where, lineno, buf)) break;
    fflush(in->out);
  }
  free(buf);
  return status;
}

void vmp_interp_print_help(FILE *out) {
  fputs("Commands (sizes and offsets in pages; a number ending in b counts bytes):\n", out);
  int width = 0;
  for (size_t i = 0; i < interp_command_count; i++) {
    size_t len = strlen(interp_commands[i].usage);
    if (len > (size_t)width) width = (int)len;
  }
  for (size_t i = 0; i < interp_command_count; i++)
    fprintf(out, "  %-*s %s\n", width, interp_commands[i].usage, interp_commands[i].summary);
  fputs(
      "Any check may end with '=> RESULT': ok or an error name (EINVAL, EALIGN, ERANGE,\n"
      "ESTATE, EEXTENT, EBOUNDS, EACCES, EADDRINUSE, EMAPLIMIT, ENOMEM, ENOTSUP); none\n"
      "means '=> ok'. '#' starts a comment.\n"
      "A bare name is the library's own code only: '=> EACCES' is a rule violation\n"
      "(VMP_EACCES). An OS error is written with OS: and its native name, or its number\n"
      "if it has none: '=> OS:EACCES', '=> OS:ENOENT', '=> OS:ERROR_ACCESS_DENIED'.\n"
      "PROT is none, r or rw (rx, rwx add execute; w, x ask for invalid ones).\n"
      "A is a region, reserved now or released: placement counts from its base, the one\n"
      "address a script knows (reserve A, release A, then place regions in its room).\n",
      out);
}
