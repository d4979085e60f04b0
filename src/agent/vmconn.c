/* vmconn.c - a kept connection to a VM's control socket (vmconn.h).
 *
 * Lines are read into a buffer of VMCONN_LINE_MAX bytes; a line that does not fit is an error
 * (the VM never writes one: its own limit is the same). Requests carry increasing integer ids,
 * so a late reply to an earlier request that timed out is recognised and dropped.
 */
#include "agent/vmconn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"

static int64_t vmconn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line (without its newline) into a new JSON value, by the deadline. */
static int vmconn_line(struct vmconn *c, int64_t deadline, json_t **msg, struct err *e)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);

		if (nl) {
			size_t n = (size_t)(nl - c->buf);

			*msg = json_parse(c->buf, n, e);
			memmove(c->buf, nl + 1, c->have - n - 1);
			c->have -= n + 1;
			if (!*msg)
				return err_prefix(e, "control");
			return 1;
		}
		if (c->have == sizeof(c->buf))
			return err_set(e, "control: a line longer than %d bytes", VMCONN_LINE_MAX);
		int64_t left = deadline - vmconn_now_ms();
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		if (left < 0)
			left = 0;
		int pr = poll(&p, 1, (int)left);

		if (pr < 0 && errno != EINTR)
			return err_errno(e, "control: poll");
		if (pr == 0)
			return 0;
		if (pr < 0)
			continue;
		ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return err_errno(e, "control: read");
		if (r == 0)
			return err_set(e, "control: the VM closed the connection");
		c->have += (size_t)r;
	}
}

int vmconn_open(struct vmconn *c, const char *path, int timeout_ms, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *g = NULL;

	c->fd = -1;
	c->have = 0;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "control socket path too long: %s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return err_errno(e, "control: socket");
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err_errno(e, "control: cannot connect to %s", path);
		goto fail;
	}
	int r = vmconn_line(c, vmconn_now_ms() + timeout_ms, &g, e);

	if (r == 0)
		err_set(e, "control: %s sent no greeting in %d ms", path, timeout_ms);
	if (r <= 0)
		goto fail;
	if (!json_get(g, "ferry")) {
		err_set(e, "control: %s does not greet as ferry-vm", path);
		goto fail;
	}
	json_free(g);
	return 0;
fail:
	json_free(g);
	vmconn_close(c);
	return -1;
}

void vmconn_close(struct vmconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int vmconn_next(struct vmconn *c, int timeout_ms, json_t **msg, struct err *e)
{
	if (c->fd < 0)
		return err_set(e, "control: not connected");
	return vmconn_line(c, vmconn_now_ms() + timeout_ms, msg, e);
}

int64_t vmconn_send(struct vmconn *c, const char *execute, const json_t *args, struct err *e)
{
	int64_t id = c->next_id++;

	json_t *req = json_object();
	struct buf b;

	json_set_str(req, "execute", execute);
	if (args)
		json_set(req, "arguments", json_deep_copy(args));
	json_set_int(req, "id", id);
	buf_init(&b);
	int enc = json_encode_buf(req, &b);

	json_free(req);
	buf_put(&b, "\n", 1);
	if (enc < 0 || b.oom) {
		buf_free(&b);
		return err_set(e, "out of memory");
	}
	size_t off = 0;
	int64_t deadline = vmconn_now_ms() + 2000;

	while (off < b.len) {
		ssize_t w = send(c->fd, b.p + off, b.len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EAGAIN && vmconn_now_ms() < deadline) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };

			poll(&p, 1, 100);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			buf_free(&b);
			return err_errno(e, "control: send %s", execute);
		}
		off += (size_t)w;
	}
	buf_free(&b);
	return id;
}

int vmconn_call(struct vmconn *c, const char *execute, const json_t *args, int timeout_ms,
		json_t **ret, vmconn_event_fn fn, void *arg, struct err *e)
{
	int64_t id, deadline = vmconn_now_ms() + timeout_ms;

	if (ret)
		*ret = NULL;
	if (c->fd < 0)
		return err_set(e, "control: not connected");
	id = vmconn_send(c, execute, args, e);
	if (id < 0)
		return -1;
	for (;;) {
		json_t *m = NULL;
		int r = vmconn_line(c, deadline, &m, e);

		if (r == 0)
			return err_set(e, "control: no answer to %s in %d ms", execute, timeout_ms);
		if (r < 0)
			return -1;
		const json_t *ev = json_get(m, "event");

		if (json_is_string(ev)) {
			if (fn)
				fn(arg, json_string_value(ev), json_get(m, "data"));
			json_free(m);
			continue;
		}
		int64_t rid = 0;

		if (json_get_int(m, "id", &rid, e) != 1 || rid != id) {
			json_free(m); /* a late reply to an earlier request */
			continue;
		}
		const json_t *er = json_get(m, "error");

		if (er) {
			const char *desc = "(no description)";

			json_get_str(er, "desc", &desc, e);
			err_set(e, "%s: %s", execute, desc);
			json_free(m);
			return -1;
		}
		if (ret) {
			*ret = json_get(m, "return");
			if (*ret)
				json_incref(*ret);
		}
		json_free(m);
		return 0;
	}
}
