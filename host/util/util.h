/* util.h: table of contents of host/util/ — logging, embedded blobs,
 * hashing, the terminal. Everything here is usable from every role (CLI, VMM). */
#ifndef VOIDBOX_UTIL_H
#define VOIDBOX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* log.c: one logging API (STYLE R8). Every line carries the role prefix
 * set by log_init ("voidbox", "vm:NAME"). log_warn appends strerror(errno);
 * fatal/fatalx exit(1) and are only for the VMM role and main(). */
enum log_level { LOG_QUIET, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_init(const char *prefix, enum log_level level);
enum log_level log_get_level(void);
/* --log-format json: every line (these and log_say's) becomes one JSON
 * object {"ts","level","source","msg"}. Inherited by VMM children through
 * VOIDBOX_LOG_FORMAT. */
void log_set_json(int on);
int log_is_json(void);
/* A progress/report line from a named source ("vm:NAME", "pipeline:N"):
 * "[source] msg" or its JSON form. */
void log_say(const char *source, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write guest-produced text (a stage's output, a console tail) to f; on a
 * terminal, escape sequences and control characters but \n and \t are
 * dropped first. */
void write_guest_text(FILE *f, const char *s, size_t n);
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* embed.c: the blobs linked into the binary (blobs.S). Pointers are into
 * the read-only image: never freed, valid for the process lifetime. */
enum embed_id {
	EMBED_KERNEL, EMBED_INITRAMFS, EMBED_VERSIONS,
	/* tiny test guests for `voidbox selftest` (tests/guests/) */
	EMBED_TG_BOOTCHECK, EMBED_TG_MISBEHAVE, EMBED_TG_VSOCK_ECHO,
	EMBED_TG_VIRTIO_HOSTILE,
	EMBED_COUNT
};
struct embed_blob {
	const char *name;	/* "kernel", "initramfs", "versions" */
	const uint8_t *data;
	size_t size;
};
const struct embed_blob *embed_get(enum embed_id id);

/* trailer.c: the claude-code tools image appended to this executable
 * (full release). On success fd (caller closes) is /proc/self/exe and
 * [off, off + len) the image, its sha256 verified (once per executable
 * file; remembered in the user's cache dir when writable). -1 with err
 * when there is none or it is damaged. */
struct tools_image {
	int fd;
	uint64_t off, len;
	uint8_t sha256[32];
};
int trailer_tools(struct tools_image *t, char *err, size_t errlen);

/* datadir.c: DATA/SUB into out, DATA being $VOIDBOX_DATA_DIR, else
 * $XDG_DATA_HOME/voidbox, else ~/.local/share/voidbox. 0, -ENOENT (no
 * absolute setting nor HOME), -ENAMETOOLONG. */
int data_dir(const char *sub, char *out, size_t len);

/* log.c also keeps time: CLOCK_MONOTONIC in ns, for durations, and
 * CLOCK_REALTIME in ns since the epoch, for timestamps. */
uint64_t mono_ns(void);
uint64_t wall_ns(void);

/* sha256.c: the digest of a buffer, as bytes or as hex (65 bytes incl.
 * NUL). */
void sha256_raw(const void *data, size_t len, uint8_t out[32]);
void sha256_hex(const void *data, size_t len, char out[65]);

/* term.c: the user's terminal in an interactive session. term_raw puts
 * fd in raw mode and makes sure it is put back (term_restore, exit, the
 * signals that end us); 0 or -1 (not a terminal). term_winch_fd: a
 * non-blocking fd readable after each SIGWINCH (drain it), -1 on error.
 * term_size: fd's size; false when fd is no terminal or has none. */
int term_raw(int fd);
void term_restore(void);
int term_winch_fd(void);
bool term_size(int fd, uint16_t *rows, uint16_t *cols);
/* The TERM a guest terminal gets: ours, else xterm-256color. */
const char *term_name(void);

#endif
