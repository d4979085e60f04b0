/* console.c - the guest console's host side (stdio or a unix socket). */
#include "vmm/devices/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unixsock.h"
#include "vmm/board/machine.h"

static void console_backlog_add(struct console *c, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		c->backlog[(c->bl_head + c->bl_len) % CONSOLE_BACKLOG] = buf[i];
		if (c->bl_len < CONSOLE_BACKLOG)
			c->bl_len++;
		else
			c->bl_head = (c->bl_head + 1) % CONSOLE_BACKLOG;
	}
}

static void console_detach(struct console *c)
{
	if (c->in_fd >= 0)
		close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	machine_set_pollfd(c->m, c->in_slot, -1, 0);
}

/* Write all of buf to a descriptor; a unix client that cannot keep up is dropped. */
static void console_out(struct console *c, const uint8_t *buf, size_t len)
{
	while (len > 0 && c->out_fd >= 0) {
		ssize_t n = write(c->out_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && c->is_unix) {
			struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };

			if (poll(&p, 1, 100) > 0)
				continue;
		}
		if (n <= 0) {
			if (c->is_unix) {
				log_info("console: client detached");
				console_detach(c);
			} else {
				c->out_fd = -1; /* stdout gone: keep running, drop output */
			}
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
	console_backlog_add(c, buf, len);
	console_out(c, buf, len);
}

size_t console_backlog(const struct console *c, char *out, size_t size)
{
	size_t n = c->bl_len < size ? c->bl_len : size;
	size_t skip = c->bl_len - n;

	for (size_t i = 0; i < n; i++)
		out[i] = (char)c->backlog[(c->bl_head + skip + i) % CONSOLE_BACKLOG];
	return n;
}

int console_getc(struct console *c)
{
	int ch;

	if (c->in_len == 0)
		return -1;
	ch = c->in[c->in_head];
	c->in_head = (c->in_head + 1) % CONSOLE_IN_RING;
	c->in_len--;
	if (c->in_len == 0 && c->in_fd >= 0)
		machine_set_pollfd(c->m, c->in_slot, c->in_fd, POLLIN);
	return ch;
}

static void console_push(struct console *c, uint8_t ch)
{
	if (c->tty_raw) {
		/* Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
		if (c->escape) {
			c->escape = false;
			if (ch == 'x') {
				c->quit = true;
				return;
			}
			if (ch != 1)
				return;
		} else if (ch == 1) {
			c->escape = true;
			return;
		}
	}
	if (c->in_len < CONSOLE_IN_RING) {
		c->in[(c->in_head + c->in_len) % CONSOLE_IN_RING] = ch;
		c->in_len++;
	}
}

static void console_readable(void *opaque, short revents)
{
	struct console *c = opaque;
	uint8_t buf[256];
	size_t room = CONSOLE_IN_RING - c->in_len;
	ssize_t n;

	(void)revents;
	if (room == 0) {
		/* The guest is not reading: stop polling until it drains the ring. */
		machine_set_pollfd(c->m, c->in_slot, c->in_fd, 0);
		return;
	}
	n = read(c->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->is_unix) {
			log_info("console: client detached");
			console_detach(c);
		} else {
			machine_set_pollfd(c->m, c->in_slot, -1, 0); /* EOF on stdin */
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		console_push(c, buf[i]);
	if (c->quit)
		machine_request_quit(c->m);
	if (c->on_input)
		c->on_input(c->opaque);
}

static void console_accept(void *opaque, short revents)
{
	struct console *c = opaque;
	struct unixsock_peer peer;
	struct err e = { { 0 } };
	int fd;

	(void)revents;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (unixsock_peer(fd, &peer, &e) < 0 || !unixsock_peer_allowed(&peer)) {
		static const char denied[] = "ferry-vm: permission denied\r\n";

		if (e.msg[0])
			log_warn("console: refused a client: %s", e.msg);
		else
			log_warn(
			    "console: refused a client of uid %u (pid %d): only root and uid %u "
			    "may attach",
			    (unsigned)peer.uid, (int)peer.pid, (unsigned)geteuid());
		if (send(fd, denied, sizeof(denied) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* nothing more to tell a client we are refusing */
		}
		close(fd);
		return;
	}
	if (c->in_fd >= 0) {
		static const char busy[] = "ferry-vm: console already attached\r\n";

		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* nothing more to tell a client we are refusing */
		}
		close(fd);
		return;
	}
	c->in_fd = c->out_fd = fd;
	machine_set_pollfd(c->m, c->in_slot, fd, POLLIN);
	log_info("console: client attached");
	/* Replay the backlog, oldest first. */
	size_t first = CONSOLE_BACKLOG - c->bl_head;

	if (first > c->bl_len)
		first = c->bl_len;
	console_out(c, c->backlog + c->bl_head, first);
	console_out(c, c->backlog, c->bl_len - first);
}

static void console_dev_write(void *opaque, const uint8_t *buf, size_t len)
{
	console_write(opaque, buf, len);
}

static int console_dev_getc(void *opaque)
{
	return console_getc(opaque);
}

static void console_dev_destroy(void *opaque)
{
	console_destroy(opaque);
}

static int console_open(struct console *c, struct machine *m, const char *spec, struct err *e)
{
	struct machine_pollfd p = { 0 };

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->in_fd = c->out_fd = c->listen_fd = -1;
	c->in_slot = c->listen_slot = -1;
	p.opaque = c;
	p.ready = console_readable;
	if (strcmp(spec, "stdio") == 0) {
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved_tio) == 0) {
			struct termios t = c->saved_tio;

			t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
			t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
				c->tty_raw = true;
		}
		c->saved_fl = fcntl(STDIN_FILENO, F_GETFL);
		if (c->saved_fl >= 0)
			fcntl(STDIN_FILENO, F_SETFL, c->saved_fl | O_NONBLOCK);
		p.fd = STDIN_FILENO;
		p.events = POLLIN;
		c->in_slot = machine_add_pollfd(m, &p, e);
		return c->in_slot < 0 ? -1 : 0;
	}
	if (strcmp(spec, "null") == 0)
		return 0; /* output only kept in the backlog; no input */
	if (strncmp(spec, "unix:", 5) == 0) {
		const char *path = spec + 5;

		c->is_unix = true;
		/* mode 0600, and only root or this user may attach (unixsock.h) */
		c->listen_fd = unixsock_listen(path, 4, e);
		if (c->listen_fd < 0)
			return err_prefix(e, "console socket");
		snprintf(c->path, sizeof(c->path), "%s", path);
		p.fd = -1;
		p.events = 0;
		c->in_slot = machine_add_pollfd(m, &p, e);
		if (c->in_slot < 0)
			return -1;
		p.fd = c->listen_fd;
		p.events = POLLIN;
		p.ready = console_accept;
		c->listen_slot = machine_add_pollfd(m, &p, e);
		return c->listen_slot < 0 ? -1 : 0;
	}
	return err_set(e, "unknown console '%s' (expected stdio, unix:PATH or null)", spec);
}

/* The console is the host side of the UART and of the SBI's legacy console: registered as
 * a device with no MMIO window of its own, so the machine ends it with the others. */
int console_init(struct console *c, struct machine *m, const char *spec, struct err *e)
{
	struct machine_dev dev = { .name = "console", .opaque = c, .destroy = console_dev_destroy };

	if (console_open(c, m, spec, e) < 0) {
		console_destroy(c);
		return -1;
	}
	machine_set_console(m, &(struct machine_console){ console_dev_write, console_dev_getc, c });
	return machine_add_dev(m, &dev, e);
}

void console_destroy(struct console *c)
{
	if (c->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tio);
	c->tty_raw = false;
	if (!c->is_unix && c->saved_fl >= 0 && c->in_slot >= 0)
		fcntl(STDIN_FILENO, F_SETFL, c->saved_fl);
	if (c->is_unix) {
		if (c->in_fd >= 0)
			close(c->in_fd);
		if (c->listen_fd >= 0)
			close(c->listen_fd);
		if (c->path[0])
			unlink(c->path);
	}
	c->in_fd = c->out_fd = c->listen_fd = -1;
}
