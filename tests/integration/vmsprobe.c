/* vmsprobe.c - a driver for the VM supervisor (src/agent/vms.c) in tests/integration/vms.sh.
 *
 *   vmsprobe --run DIR --logs DIR --vm BIN [--bridge BR] [--nice N] [--cgroup DIR] CMD...
 *
 * opens a struct vms (adopting what runs), then runs the commands in order:
 *
 *   start NAME --kernel K [--initrd I] [--memory SIZE] [--append ARGS] [--disk D] [--mac M]
 *   stop NAME        hard power-off
 *   get NAME         one VM as JSON
 *   list             every VM as a JSON array
 *   wait SECONDS     run the poll loop until an event (printed as JSON) or the time is up
 *   sleep SECONDS    just wait (holding the set), so that a test can kill the probe
 *
 * Exit status: 0, 1 when a command failed (the error on stderr), 2 bad usage, 3 a wait
 * ended without an event.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/vms.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"

static json_t *probe_info(const struct vm_info *i)
{
	json_t *o = json_object();

	json_set_str(o, "name", i->spec.name);
	json_set_int(o, "pid", i->pid);
	json_set_str(o, "run", vm_run_name(i->run));
	json_set_bool(o, "adopted", i->adopted);
	json_set_int(o, "exit_status", i->exit_status);
	json_set_int(o, "started_ms", i->started_ms);
	json_set_str(o, "control", i->control);
	json_set_str(o, "mac", i->spec.mac);
	return o;
}

static void probe_print(json_t *o)
{
	char *t = json_encode(o, NULL);

	if (t)
		printf("%s\n", t);
	fflush(stdout);
	free(t);
	json_free(o);
}

static int probe_events;

static void probe_event(void *arg, const struct vm_info *vm, const char *what)
{
	json_t *o = probe_info(vm);

	(void)arg;
	json_set_str(o, "event", what);
	probe_print(o);
	probe_events++;
}

static int usage(void)
{
	fprintf(stderr, "usage: vmsprobe --run DIR --logs DIR --vm BIN [--bridge BR] [--nice N] "
			"[--cgroup DIR] start|stop|get|list|wait|sleep ...\n");
	return 2;
}

static bool is_command(const char *s)
{
	static const char *const cmds[] = { "start", "stop", "get", "list", "wait", "sleep", NULL };

	for (size_t i = 0; cmds[i]; i++)
		if (strcmp(s, cmds[i]) == 0)
			return true;
	return false;
}

static int probe_wait(struct vms *v, int seconds)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	probe_events = 0;
	for (;;) {
		struct pollfd fds[64];
		size_t n = vms_pollfds(v, fds, 64);

		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = (long)seconds * 1000 -
			    ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 3;
		if (poll(fds, n, (int)left) < 0 && errno != EINTR)
			return 1;
		vms_handle(v, fds, n, probe_event, NULL);
		if (probe_events)
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct vms_cfg cfg = { .nice = 10, .bridge = "" };
	struct vms *v;
	struct err e = { { 0 } };
	int i = 1, rc = 0;

	log_set_name("vmsprobe");
	log_set_level(LOG_INFO);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--run") == 0)
			cfg.run_dir = argv[i + 1];
		else if (strcmp(argv[i], "--logs") == 0)
			cfg.log_dir = argv[i + 1];
		else if (strcmp(argv[i], "--vm") == 0)
			cfg.vm_binary = argv[i + 1];
		else if (strcmp(argv[i], "--bridge") == 0)
			cfg.bridge = argv[i + 1];
		else if (strcmp(argv[i], "--nice") == 0)
			cfg.nice = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--cgroup") == 0)
			cfg.cgroup = argv[i + 1];
		else
			return usage();
	}
	if (!cfg.run_dir || !cfg.log_dir || !cfg.vm_binary || i >= argc)
		return usage();
	if (vms_open(&v, &cfg, &e) < 0) {
		fprintf(stderr, "vmsprobe: %s\n", e.msg);
		return 1;
	}
	while (i < argc && rc == 0) {
		const char *cmd = argv[i++];

		if (strcmp(cmd, "start") == 0) {
			static struct vm_spec s;

			memset(&s, 0, sizeof(s));
			s.memory = 256ull << 20;
			s.vcpus = 1;
			if (i >= argc)
				return usage();
			snprintf(s.name, sizeof(s.name), "%s", argv[i++]);
			while (i + 1 < argc && !is_command(argv[i])) {
				const char *k = argv[i], *val = argv[i + 1];

				if (strcmp(k, "--kernel") == 0)
					snprintf(s.kernel, sizeof(s.kernel), "%s", val);
				else if (strcmp(k, "--initrd") == 0)
					snprintf(s.initrd, sizeof(s.initrd), "%s", val);
				else if (strcmp(k, "--append") == 0)
					snprintf(s.append, sizeof(s.append), "%s", val);
				else if (strcmp(k, "--disk") == 0)
					snprintf(s.disk, sizeof(s.disk), "%s", val);
				else if (strcmp(k, "--mac") == 0)
					snprintf(s.mac, sizeof(s.mac), "%s", val);
				else if (strcmp(k, "--vcpus") == 0)
					s.vcpus = (unsigned)strtoul(val, NULL, 10);
				else if (strcmp(k, "--memory") == 0) {
					if (size_parse(val, &s.memory, &e) < 0) {
						fprintf(stderr, "vmsprobe: %s\n", e.msg);
						return 2;
					}
				} else
					return usage();
				i += 2;
			}
			if (vms_start(v, &s, NULL, &e) < 0) {
				fprintf(stderr, "vmsprobe: %s\n", e.msg);
				rc = 1;
			}
		} else if (strcmp(cmd, "stop") == 0 && i < argc) {
			if (vms_stop(v, argv[i++], &e) < 0) {
				fprintf(stderr, "vmsprobe: %s\n", e.msg);
				rc = 1;
			}
		} else if (strcmp(cmd, "get") == 0 && i < argc) {
			struct vm_info info;

			if (vms_get(v, argv[i], &info) < 0) {
				fprintf(stderr, "vmsprobe: no VM '%s'\n", argv[i]);
				rc = 1;
			} else {
				probe_print(probe_info(&info));
			}
			i++;
		} else if (strcmp(cmd, "list") == 0) {
			static struct vm_info infos[64];
			size_t n = vms_list(v, infos, 64);
			json_t *a = json_array();

			for (size_t k = 0; k < n && k < 64; k++)
				json_push(a, probe_info(&infos[k]));
			probe_print(a);
		} else if (strcmp(cmd, "wait") == 0 && i < argc) {
			rc = probe_wait(v, atoi(argv[i++]));
		} else if (strcmp(cmd, "sleep") == 0 && i < argc) {
			sleep((unsigned)atoi(argv[i++]));
		} else {
			vms_close(v);
			return usage();
		}
	}
	vms_close(v);
	return rc;
}
