/* agent.h: the guest agent (PID 1) — table of contents of guest/agent/.
 *
 * The agent is the guest's init: it must never exit (PID 1 exiting panics
 * the kernel), so every function here reports failure by return value and
 * main() decides what is fatal enough to power off for.
 */
#ifndef VOIDBOX_GUEST_AGENT_H
#define VOIDBOX_GUEST_AGENT_H

#include <stddef.h>

/* log.c: console logging with the "voidbox-agent:" prefix. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mounts.c: /proc /sys /dev /dev/pts /dev/shm /tmp. Returns 0 or -errno of
 * the first essential mount that failed (optional ones only warn). */
int mounts_setup(void);

/* cmdline.c: read /proc/cmdline once; cmdline_get copies the value of KEY
 * (e.g. "vb.name=") into buf, NUL-terminated. Returns length or -1. */
int cmdline_load(void);
int cmdline_get(const char *key, char *buf, size_t len);

/* power.c: sync filesystems and power the VM off. Never returns. */
void power_off(void) __attribute__((noreturn));

#endif
