/*
 * The command-line tool against the programs people use for the same job:
 * `vmplace pipe` as the middle stage of a dd pipeline against `dd bs=1M`
 * and `mbuffer`, and `vmplace cat` of page-cached files against coreutils
 * cat, into a pipe and into a file. Every contender is a whole pipeline of
 * processes started with fork/exec and timed from the first fork to the
 * last wait. See bench/README.md for each line.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The tool of this build tree; NULL when the tree does not build it. A
 * variable rather than #ifdef around the code, so that every helper is
 * compiled (and used) in both configurations. */
#ifdef VMP_BENCH_TOOL
static const char *const tool_path = VMP_BENCH_TOOL;
#else
static const char *const tool_path = NULL;
#endif

#define ROUNDS 5
#define BLOCK ((size_t)1 << 20)
#define MAX_ARGS 80

/* The word at byte offset 8*i of every stream and file this bench makes:
 * known everywhere without a stored copy, and different at every offset, so a
 * lost, repeated or reordered piece shows. */
static uint64_t word_at(uint64_t i) {
  uint64_t s = i * 0x2545f4914f6cdd1du;
  return bench_rng(&s);
}

static void fill_words(unsigned char *p, uint64_t first_word, size_t bytes) {
  for (size_t i = 0; i < bytes / 8; i++) {
    uint64_t v = word_at(first_word + i);
    memcpy(p + 8 * i, &v, 8);
  }
}

/* Nonzero when `name` should run: the filter is a part of it, or the filter
 * is this group's name. */
static int tool_selected(const bench_opts *opts, const char *name) {
  return bench_selected(opts, name) || (opts->filter && strcmp(opts->filter, "tools") == 0);
}

static int on_path(const char *program) {
  if (strchr(program, '/')) return access(program, X_OK) == 0;
  const char *path = getenv("PATH");
  char full[4096];
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(full, sizeof full, "%.*s/%s", (int)len, path, program);
    if (len > 0 && access(full, X_OK) == 0) return 1;
    path += len + (path[len] == ':');
  }
  return 0;
}

/* ---- processes ------------------------------------------------------------------------------ */

/* Starts argv with the given stdin, stdout and stderr (-1: /dev/null). All
 * the bench's own descriptors are close-on-exec, so the child holds only
 * these three and a pipe's end is closed once its last real user is gone. */
static pid_t spawn(const char *const *argv, int in, int out, int err) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int null = open("/dev/null", O_RDWR);
  if (null < 0) _exit(126);
  if (dup2(in >= 0 ? in : null, 0) < 0 || dup2(out >= 0 ? out : null, 1) < 0 ||
      dup2(err >= 0 ? err : null, 2) < 0)
    _exit(126);
  /* dd's summary is parsed: keep it in the C locale. */
  setenv("LC_ALL", "C", 1);
  execvp(argv[0], (char *const *)argv);
  _exit(127);
}

static int wait_ok(pid_t pid) {
  int status;
  if (pid <= 0) return -ECHILD;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* ---- pipe_vs_dd, pipe_vs_mbuffer --------------------------------------------------------------
 */

typedef struct pipeline_run {
  const char *line;        /* for messages */
  const char *const *argv; /* the middle stage */
  uint64_t blocks;         /* MiB through the pipeline */
  unsigned char *buffer;   /* BLOCK bytes, for the verifying sink */
} pipeline_run;

/* Reads the byte count from dd's summary ("N bytes (...) copied, ..."). */
static int dd_bytes(int fd, uint64_t *bytes) {
  char text[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, text + len, sizeof text - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof text - 1) break;
  }
  text[len] = '\0';
  for (char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
    char *end;
    unsigned long long v = strtoull(line, &end, 10);
    if (end != line && strncmp(end, " bytes", 6) == 0) {
      *bytes = v;
      return 0;
    }
  }
  return -EIO;
}

/* The timed pipeline: dd if=/dev/zero bs=1M count=N | X | dd of=/dev/null
 * bs=1M, with the last dd's summary checked for every byte. */
static int pipeline_batch(void *arg, size_t iters, uint64_t *elapsed) {
  pipeline_run *r = arg;
  (void)iters;
  char count[32];
  snprintf(count, sizeof count, "count=%llu", (unsigned long long)r->blocks);
  const char *const source[] = {"dd", "if=/dev/zero", "bs=1M", count, NULL};
  const char *const sink[] = {"dd", "of=/dev/null", "bs=1M", NULL};
  int a[2] = {-1, -1}, b[2] = {-1, -1}, e[2] = {-1, -1};
  if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
    int err = -errno;
    close_fd(&a[0]), close_fd(&a[1]), close_fd(&b[0]), close_fd(&b[1]);
    return err;
  }
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  pid_t p1 = spawn(source, -1, a[1], -1);
  pid_t p2 = p1 > 0 ? spawn(r->argv, a[0], b[1], -1) : -1;
  pid_t p3 = p2 > 0 ? spawn(sink, b[0], -1, e[1]) : -1;
  close_fd(&a[0]), close_fd(&a[1]), close_fd(&b[0]), close_fd(&b[1]), close_fd(&e[1]);
  int s1 = p1 > 0 ? wait_ok(p1) : -EAGAIN;
  int s2 = p2 > 0 ? wait_ok(p2) : -EAGAIN;
  int s3 = p3 > 0 ? wait_ok(p3) : -EAGAIN;
  *elapsed = bench_now_ns() - t0;
  uint64_t got = 0;
  int parsed = p3 > 0 ? dd_bytes(e[0], &got) : -EAGAIN;
  close_fd(&e[0]);
  if (s1 || s2 || s3) {
    fprintf(stderr, "vmplace_bench: %s: a stage of dd | %s | dd failed (%d %d %d)\n", r->line,
            r->argv[0], s1, s2, s3);
    return s1 ? s1 : s2 ? s2 : s3;
  }
  if (parsed || got != r->blocks * BLOCK) {
    fprintf(stderr, "vmplace_bench: %s: the last dd got %llu bytes of %llu through %s\n", r->line,
            (unsigned long long)got, (unsigned long long)(r->blocks * BLOCK), r->argv[0]);
    return -EIO;
  }
  return 0;
}

/* Writes `blocks` MiB of the word_at() stream to fd 1, then exits. */
__attribute__((noreturn)) static void generator(unsigned char *block, uint64_t blocks) {
  for (uint64_t b = 0; b < blocks; b++) {
    fill_words(block, b * (BLOCK / 8), BLOCK);
    for (size_t done = 0; done < BLOCK;) {
      ssize_t w = write(1, block + done, BLOCK - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) _exit(1);
      done += (size_t)w;
    }
  }
  _exit(0);
}

/* Untimed: generator | X | this process, which checks every word, so that a
 * middle stage that drops, repeats or reorders bytes cannot post a figure
 * (/dev/zero in the timed pipeline would not show it). */
static int verify_stage(pipeline_run *r, uint64_t blocks) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -errno;
  if (pipe2(out, O_CLOEXEC) != 0) {
    int err = -errno;
    close(in[0]), close(in[1]);
    return err;
  }
  fflush(NULL);
  pid_t gen = fork();
  if (gen == 0) {
    /* No exec here, so close-on-exec does not help: holding the read end
     * would hide a stage that stopped reading, and holding out[1] would
     * keep the sink from seeing the end. */
    dup2(in[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    generator(r->buffer, blocks);
  }
  pid_t mid = gen > 0 ? spawn(r->argv, in[0], out[1], -1) : -1;
  close(in[0]), close(in[1]), close(out[1]);
  int err = gen < 0 || mid < 0 ? -EAGAIN : 0;
  uint64_t got = 0; /* bytes so far */
  unsigned char carry[8];
  size_t carried = 0; /* the start of a word split between reads */
  while (!err) {
    ssize_t n = read(out[0], r->buffer, BLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = -errno;
    if (n <= 0) break;
    const unsigned char *p = r->buffer;
    size_t left = (size_t)n;
    while (left > 0 && !err) {
      size_t take = 8 - carried < left ? 8 - carried : left;
      memcpy(carry + carried, p, take);
      carried += take, p += take, left -= take;
      if (carried == 8) {
        uint64_t v;
        memcpy(&v, carry, 8);
        if (v != word_at(got / 8)) err = -EIO;
        carried = 0;
        got += 8;
      }
    }
  }
  got += carried;
  close(out[0]);
  int gen_err = gen > 0 ? wait_ok(gen) : 0;
  int mid_err = mid > 0 ? wait_ok(mid) : 0;
  if (err == -EIO || (!err && got != blocks * BLOCK)) {
    fprintf(stderr, "vmplace_bench: %s: %s delivered wrong bytes (%llu of %llu, %s)\n", r->line,
            r->argv[0], (unsigned long long)got, (unsigned long long)(blocks * BLOCK),
            err == -EIO ? "a word differs" : "short");
    return -EIO;
  }
  if (!err && (gen_err || mid_err))
    fprintf(stderr, "vmplace_bench: %s: %s or the generator failed\n", r->line, r->argv[0]);
  return err ? err : gen_err ? gen_err : mid_err;
}

static void skip(const char *name, const char *why) {
  printf("# %s: skipped (%s)\n", name, why);
  fflush(stdout);
}

static double rate_line(const char *name, size_t vmp, size_t base, const bench_contender *c) {
  double ratio = bench_round_ratio(base, vmp); /* time base / time vmp */
  bench_line_ratio(name, 1e3 / c[vmp].ns_per_op, 1e3 / c[base].ns_per_op, ratio, "MB/s");
  bench_bar(name, "ratio >= 1.0", ratio >= 1.0);
  return ratio;
}

/* One buffer size: vmplace pipe, dd and mbuffer, interleaved. The 64M size
 * gives the named lines, the others a _mSIZE suffix. */
static int run_pipe_size(const bench_opts *opts, const char *size, int named,
                         unsigned char *buffers) {
  char dd_name[64], mb_name[64];
  snprintf(dd_name, sizeof dd_name, named ? "pipe_vs_dd" : "pipe_vs_dd_m%s", size);
  snprintf(mb_name, sizeof mb_name, named ? "pipe_vs_mbuffer" : "pipe_vs_mbuffer_m%s", size);
  int want_dd = tool_selected(opts, dd_name), want_mb = tool_selected(opts, mb_name);
  if (!want_dd && !want_mb) return 0;
  if (tool_path == NULL) {
    const char *why = "vmplace_bench was built without the vmplace tool";
    if (want_dd) skip(dd_name, why);
    if (want_mb) skip(mb_name, why);
    return 0;
  }
  if (!on_path("dd")) {
    if (want_dd) skip(dd_name, "dd is not installed");
    if (want_mb) skip(mb_name, "dd is not installed");
    return 0;
  }
  if (want_mb && !on_path("mbuffer")) {
    skip(mb_name, "mbuffer is not installed");
    want_mb = 0;
    if (!want_dd) return 0;
  }
  const char *const tool_argv[] = {tool_path, "pipe", "-q", "-m", size, NULL};
  const char *const dd_argv[] = {"dd", "bs=1M", NULL};
  const char *const mb_argv[] = {"mbuffer", "-q", "-m", size, NULL};
  uint64_t blocks = opts->quick ? 64 : 4096;
  pipeline_run runs[3] = {{dd_name, tool_argv, blocks, buffers},
                          {dd_name, dd_argv, blocks, buffers},
                          {mb_name, mb_argv, blocks, buffers}};
  size_t n = 0, at_dd = 0, at_mb = 0;
  bench_contender c[3];
  c[n++] = (bench_contender){pipeline_batch, &runs[0], (size_t)(blocks * BLOCK), 0};
  if (want_dd) {
    at_dd = n;
    c[n++] = (bench_contender){pipeline_batch, &runs[1], (size_t)(blocks * BLOCK), 0};
  }
  if (want_mb) {
    at_mb = n;
    c[n++] = (bench_contender){pipeline_batch, &runs[2], (size_t)(blocks * BLOCK), 0};
  }
  /* Every contender first passes the byte-exact check on a patterned stream. */
  uint64_t check_blocks = opts->quick ? 8 : 256;
  int err = verify_stage(&runs[0], check_blocks);
  if (!err && want_dd) err = verify_stage(&runs[1], check_blocks);
  if (!err && want_mb) err = verify_stage(&runs[2], check_blocks);
  if (!err) err = bench_interleave(c, n, ROUNDS);
  if (err) return bench_error(want_dd ? dd_name : mb_name, err);
  if (want_dd) rate_line(dd_name, 0, at_dd, c);
  if (want_mb) rate_line(mb_name, 0, at_mb, c);
  return 0;
}

static int run_pipes(const bench_opts *opts) {
  /* 64M is the figure; the others stand for "whatever -m the user picks". */
  static const char *const sizes[] = {"64M", "1M", "16M"};
  unsigned char *buffer = NULL;
  int failed = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    if (buffer == NULL && (buffer = malloc(BLOCK)) == NULL)
      return bench_error("pipe_vs_dd", -ENOMEM);
    failed |= run_pipe_size(opts, sizes[i], i == 0, buffer);
  }
  free(buffer);
  return failed;
}

/* ---- cat_vs_coreutils_pipe, cat_vs_coreutils_file -------------------------------------------- */

#define CAT_MAX_FILES 64

typedef struct cat_env {
  char dir[4096];
  char paths[CAT_MAX_FILES][4200];
  char out_path[4200];
  size_t files;
  uint64_t file_bytes;
  unsigned char *buffer; /* BLOCK bytes */
} cat_env;

typedef struct cat_run {
  cat_env *env;
  const char *line;
  const char *program; /* the tool, or /bin/cat */
  int to_file;
} cat_run;

static void cat_argv(const cat_run *r, const char **argv) {
  size_t n = 0;
  argv[n++] = r->program;
  if (r->program == tool_path) argv[n++] = "cat";
  for (size_t i = 0; i < r->env->files; i++) argv[n++] = r->env->paths[i];
  argv[n] = NULL;
}

/* The files are one word_at() stream cut into pieces, so the output must
 * be that stream: checks a word at the start, middle and end of every file's
 * place in it. */
static int check_output_file(const cat_run *r, int fd) {
  const cat_env *e = r->env;
  struct stat st;
  uint64_t total = e->files * e->file_bytes;
  if (fstat(fd, &st) != 0) return -errno;
  if ((uint64_t)st.st_size != total) {
    fprintf(stderr, "vmplace_bench: %s: %s wrote %llu bytes of %llu\n", r->line, r->program,
            (unsigned long long)st.st_size, (unsigned long long)total);
    return -EIO;
  }
  for (size_t f = 0; f < e->files; f++) {
    uint64_t at[3] = {f * e->file_bytes, f * e->file_bytes + e->file_bytes / 2 + 8,
                      (f + 1) * e->file_bytes - 8};
    for (int k = 0; k < 3; k++) {
      uint64_t v;
      if (pread(fd, &v, 8, (off_t)at[k]) != 8 || v != word_at(at[k] / 8)) {
        fprintf(stderr, "vmplace_bench: %s: %s wrote a wrong word at byte %llu\n", r->line,
                r->program, (unsigned long long)at[k]);
        return -EIO;
      }
    }
  }
  return 0;
}

/* One cat of every file: into a pipe this process drains (counting, and
 * checking one word of every read), or into the output file, truncated
 * before the clock starts and checked after it stops. */
static int cat_batch(void *arg, size_t iters, uint64_t *elapsed) {
  cat_run *r = arg;
  cat_env *e = r->env;
  (void)iters;
  const char *argv[CAT_MAX_FILES + 3];
  cat_argv(r, argv);
  uint64_t total = e->files * e->file_bytes;
  int fds[2] = {-1, -1};
  int out = -1;
  if (r->to_file) {
    out = open(e->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return -errno;
  } else if (pipe2(fds, O_CLOEXEC) != 0) {
    return -errno;
  }
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  pid_t pid = spawn(argv, -1, r->to_file ? out : fds[1], -1);
  close_fd(&fds[1]);
  close_fd(&out);
  int err = pid < 0 ? -EAGAIN : 0;
  uint64_t got = 0;
  while (!err && !r->to_file) {
    ssize_t n = read(fds[0], e->buffer, BLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = -errno;
    if (n <= 0) break;
    uint64_t word = (got + 7) / 8; /* the first whole word in this piece */
    if (word * 8 + 8 <= got + (uint64_t)n) {
      uint64_t v;
      memcpy(&v, e->buffer + (word * 8 - got), 8);
      if (v != word_at(word)) err = -EIO;
    }
    got += (uint64_t)n;
  }
  close_fd(&fds[0]);
  int status = pid > 0 ? wait_ok(pid) : 0;
  *elapsed = bench_now_ns() - t0;
  if (status && !err) {
    fprintf(stderr, "vmplace_bench: %s: %s failed\n", r->line, r->program);
    return status;
  }
  if (err == -EIO || (!err && !r->to_file && got != total)) {
    fprintf(stderr, "vmplace_bench: %s: %s delivered wrong bytes (%llu of %llu)\n", r->line,
            r->program, (unsigned long long)got, (unsigned long long)total);
    return -EIO;
  }
  if (err || !r->to_file) return err;
  int check = open(e->out_path, O_RDONLY | O_CLOEXEC);
  if (check < 0) return -errno;
  err = check_output_file(r, check);
  close(check);
  return err;
}

static void remove_files(cat_env *e) {
  for (size_t i = 0; i < e->files; i++) unlink(e->paths[i]);
  unlink(e->out_path);
  rmdir(e->dir);
}

/* Writes the files, then reads each once so they are in the page cache
 * before any contender runs. */
static int make_files(cat_env *e, size_t files, uint64_t file_bytes) {
  const char *tmp = getenv("TMPDIR");
  snprintf(e->dir, sizeof e->dir, "%s/vmplace_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(e->dir) == NULL) return -errno;
  snprintf(e->out_path, sizeof e->out_path, "%s/out", e->dir);
  e->file_bytes = file_bytes;
  e->files = 0;
  for (size_t f = 0; f < files; f++) {
    snprintf(e->paths[f], sizeof e->paths[f], "%s/in%02zu", e->dir, f);
    int fd = open(e->paths[f], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    e->files = f + 1;
    for (uint64_t off = 0; off < file_bytes; off += BLOCK) {
      fill_words(e->buffer, (f * file_bytes + off) / 8, BLOCK);
      if (write(fd, e->buffer, BLOCK) != (ssize_t)BLOCK) {
        int err = errno ? -errno : -EIO;
        close(fd);
        return err;
      }
    }
    close(fd);
  }
  for (size_t f = 0; f < files; f++) {
    int fd = open(e->paths[f], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    while (read(fd, e->buffer, BLOCK) > 0) {
    }
    close(fd);
  }
  return 0;
}

static int run_cats(const bench_opts *opts) {
  static const char *const names[2] = {"cat_vs_coreutils_pipe", "cat_vs_coreutils_file"};
  int want[2] = {tool_selected(opts, names[0]), tool_selected(opts, names[1])};
  if (!want[0] && !want[1]) return 0;
  for (int k = 0; k < 2; k++) {
    if (want[k] && tool_path == NULL)
      skip(names[k], "vmplace_bench was built without the vmplace tool");
    else if (want[k] && !on_path("/bin/cat"))
      skip(names[k], "/bin/cat is not installed");
    else
      continue;
    want[k] = 0;
  }
  if (!want[0] && !want[1]) return 0;
  cat_env *e = calloc(1, sizeof *e);
  if (e == NULL || (e->buffer = malloc(BLOCK)) == NULL) {
    free(e);
    return bench_error("cat_vs_coreutils", -ENOMEM);
  }
  size_t files = opts->quick ? 16 : CAT_MAX_FILES;
  uint64_t file_bytes = opts->quick ? (uint64_t)4 << 20 : (uint64_t)16 << 20;
  int failed = 0;
  int err = make_files(e, files, file_bytes);
  if (err) {
    failed = bench_error("cat_vs_coreutils: creating the files", err);
    goto out;
  }
  printf("# cat: %zu files of %llu MiB in %s, %d rounds, median of per-round ratios\n", files,
         (unsigned long long)(file_bytes >> 20), e->dir, ROUNDS);
  fflush(stdout);
  for (int k = 0; k < 2 && !failed; k++) {
    if (!want[k]) continue;
    cat_run runs[2] = {{e, names[k], tool_path, k}, {e, names[k], "/bin/cat", k}};
    size_t bytes = (size_t)(files * file_bytes);
    bench_contender c[2] = {{cat_batch, &runs[0], bytes, 0}, {cat_batch, &runs[1], bytes, 0}};
    err = bench_interleave(c, 2, ROUNDS);
    if (err) {
      failed = bench_error(names[k], err);
      break;
    }
    rate_line(names[k], 0, 1, c);
  }
out:
  remove_files(e);
  free(e->buffer);
  free(e);
  return failed;
}

int bench_tools(const bench_opts *opts) {
  /* An ignored SIGPIPE stays ignored across exec (the ring group ignores
   * it): the pipelines run with the default action, as they do in a shell.
   * This process only reads from its pipes, so it never gets the signal. */
  void (*old)(int) = signal(SIGPIPE, SIG_DFL);
  int failed = run_pipes(opts);
  failed |= run_cats(opts);
  signal(SIGPIPE, old);
  return failed;
}
