/* console.h - the guest console's host side: stdio, or a unix socket that clients attach to.
 *
 * Output from the UART and the SBI console goes here. Input is buffered in a
 * small ring that the UART drains into its receive FIFO as the guest reads.
 * With `unix:PATH` the console listens on PATH; one client at a time is
 * attached, and a newly attached client first receives the last 64 KiB of
 * output (the backlog, kept in every mode), so a late client still sees the boot log.
 *
 * On a terminal, stdio is put in raw mode (restored on exit); Ctrl-A x quits.
 */
#ifndef FERRY_CONSOLE_H
#define FERRY_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "common/err.h"

struct machine;

#define CONSOLE_IN_RING 4096
#define CONSOLE_BACKLOG 65536

struct console {
	bool is_unix;
	int in_fd;	/* stdin or the attached client; -1 if none */
	int out_fd;	/* stdout or the attached client; -1 if none */
	int listen_fd;	/* unix: the listening socket */
	int in_slot;	/* the machine's pollfd slots */
	int listen_slot;
	char path[108];
	bool tty_raw;
	bool escape;	/* Ctrl-A seen on a terminal */
	bool quit;	/* Ctrl-A x */
	struct termios saved_tio;
	int saved_fl;	/* stdin's file status flags, restored on exit */
	uint8_t in[CONSOLE_IN_RING];
	size_t in_head, in_len;
	uint8_t backlog[CONSOLE_BACKLOG];
	size_t bl_head, bl_len;
	struct machine *m;
	/* called when input arrives (the UART pulls it) */
	void (*on_input)(void *opaque);
	void *opaque;
};

/* spec: "stdio", "unix:PATH", or "null" (output kept only in the backlog, no input). */
int console_init(struct console *c, struct machine *m, const char *spec, struct err *e);
void console_destroy(struct console *c);
void console_write(struct console *c, const uint8_t *buf, size_t len);
/* Next input byte, or -1 if none is buffered. */
int console_getc(struct console *c);
/* Copy the last (up to size) bytes of output, oldest first; returns how many. */
size_t console_backlog(const struct console *c, char *out, size_t size);
static inline bool console_has_input(const struct console *c)
{
	return c->in_len > 0;
}

#endif
