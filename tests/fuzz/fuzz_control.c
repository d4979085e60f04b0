/* fuzz_control.c - libFuzzer target: a control client's bytes, in process.
 *
 * One machine (16 MiB, its hart idle), its hand-over (no lease) and its control socket are
 * built once; one client slot holds one end of a socketpair. Each input is fed to that client
 * as if read from its socket (control_feed: the same line splitter, parser and commands), with
 * a newline after it, so no line survives into the next input. No socket is read and nothing
 * sleeps: thousands of inputs a second. The socket is in sandbox mode: `save` and `migrate`
 * check their arguments and stop there (no file written, no connection made).
 *
 * The oracle besides ASan and UBSan: every line the VM queued for the client (replies, events,
 * the greeting) must be one valid JSON object, and an `id` the request had comes back intact.
 * After each input the machine is put back (running, no pause point, not quitting).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/control/control.h"
#include "vmm/devices/devices.h"
#include "vmm/migrate/handover.h"

static struct machine *m;
static struct handover h;
static struct control c;
static char dir[64];
static int slot = -1, peer = -1;

static void adopt(void)
{
	int sv[2];

	if (peer >= 0)
		close(peer);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	slot = control_adopt(&c, sv[0], getpid(), getuid());
	if (slot < 0)
		abort();
	peer = sv[1];
}

static void init(void)
{
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null" };
	char spec[128];
	struct err e;

	log_set_level(LOG_ERROR);
	m = calloc(1, sizeof(*m));
	snprintf(dir, sizeof(dir), "/tmp/ferry-fuzz-control.XXXXXX");
	if (!m || !mkdtemp(dir) || devices_machine_init(m, &cfg, &e) != 0 ||
	    handover_init(&h, m, &e) != 0) {
		fprintf(stderr, "fuzz_control: %s\n", e.msg);
		abort();
	}
	snprintf(spec, sizeof(spec), "unix:%s/vm.sock", dir);
	if (control_init(&c, &h, spec, &e) != 0) {
		fprintf(stderr, "fuzz_control: %s\n", e.msg);
		abort();
	}
	c.sandbox = true;
	/* The socket's name is not needed: nobody connects. */
	unlink(c.path);
	rmdir(dir);
	c.path[0] = 0;
	adopt();
}

/* Every queued line is a JSON object. */
static void check_output(struct control_client *cl)
{
	const char *p = (const char *)cl->out.p + cl->out_off;
	size_t left = cl->out.len - cl->out_off;

	while (left) {
		const char *nl = memchr(p, '\n', left);
		struct err e;
		json_t *v;

		if (!nl) {
			fprintf(stderr, "fuzz_control: a message without its newline\n");
			abort();
		}
		v = json_parse(p, (size_t)(nl - p), &e);
		if (!v || !json_is_object(v)) {
			fprintf(stderr, "fuzz_control: the VM sent invalid JSON (%s): %.*s\n",
				v ? "not an object" : e.msg, (int)(nl - p), p);
			abort();
		}
		json_decref(v);
		left -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	buf_reset(&cl->out);
	cl->out_off = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_client *cl;

	if (!m)
		init();
	if (c.clients[slot].fd < 0)
		adopt(); /* dropped (a queue over its limit): a new connection */
	cl = &c.clients[slot];
	check_output(cl); /* the greeting */
	control_feed(&c, slot, (const char *)data, size);
	control_feed(&c, slot, "\n", 1);
	if (c.clients[slot].fd >= 0)
		check_output(cl);
	/* Put the machine back for the next input. */
	m->exit = MACHINE_RUNNING;
	m->pause_at = UINT64_MAX;
	if (m->paused)
		machine_resume(m, "fuzz");
	if (m->dirty_logging)
		machine_dirty_stop(m);
	return 0;
}
