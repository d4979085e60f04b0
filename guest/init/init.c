/* init.c - the guest's /init: banner, test programs, workloads, poweroff.
 *
 * A static program built against the kernel tree's nolibc (no FPU, lp64).
 * It mounts /proc and /dev, prints one banner line that the host side
 * waits for, runs the programs named by `ferry.run=a,b` from /bin (their
 * output framed by marker lines so a test can cut it out of the console
 * log), and powers the machine off when `ferry.poweroff` is on the kernel
 * command line (or reboots it, with `ferry.reboot`). Otherwise it stays up,
 * idle, so the machine can be driven from outside.
 *
 * `ferry.work=idle` prints a heartbeat line every second.
 *
 * Marker lines (one per line, on the console):
 *   ferry-init: up linux=<release> uptime=<s.ms>
 *   ferry-run: begin <name>
 *   ferry-run: end <name> status=<n>     (or signal=<n> if a signal killed it)
 *   ferry-init: poweroff
 *   ferry-init: reboot
 *   ferry-work: heartbeat <n> uptime=<s.ms>
 */
#include "../lib/rt.h"

#define CMDLINE_MAX 4096

static char cmdline[CMDLINE_MAX];

static void say(const char *a, const char *b, const char *c)
{
	rt_puts(1, a);
	if (b)
		rt_puts(1, b);
	if (c)
		rt_puts(1, c);
}

/* Read /proc/cmdline into cmdline[], without its trailing newline. */
static void read_cmdline(void)
{
	int fd = open("/proc/cmdline", O_RDONLY, 0);
	long n = 0;

	if (fd >= 0) {
		n = read(fd, cmdline, sizeof(cmdline) - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	while (n > 0 && (cmdline[n - 1] == '\n' || cmdline[n - 1] == ' '))
		n--;
	cmdline[n] = 0;
}

/* Value of `key=` on the command line (copied into out), or of a bare `key` (empty string).
 * Returns 1 if present. */
static int cmdline_get(const char *key, char *out, unsigned long outsz)
{
	unsigned long klen = rt_strlen(key);
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;

		while (*p && *p != ' ')
			p++;
		if ((unsigned long)(p - w) >= klen && memcmp(w, key, klen) == 0 &&
		    (w + klen == p || w[klen] == '=')) {
			unsigned long i = 0;
			const char *v = w + klen + (w + klen < p ? 1 : 0);

			while (v < p && i + 1 < outsz)
				out[i++] = *v++;
			if (outsz)
				out[i] = 0;
			return 1;
		}
	}
	return 0;
}

static void fmt_uint(char *buf, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*buf++ = tmp[--n];
	*buf = 0;
}

/* "12.345" from nanoseconds. */
static void fmt_secs(char *buf, long long ns)
{
	char ms[8];
	unsigned long long frac;

	if (ns < 0)
		ns = 0;
	fmt_uint(buf, (unsigned long long)ns / 1000000000ULL);
	buf += rt_strlen(buf);
	*buf++ = '.';
	frac = ((unsigned long long)ns / 1000000ULL) % 1000;
	ms[0] = (char)('0' + frac / 100);
	ms[1] = (char)('0' + frac / 10 % 10);
	ms[2] = (char)('0' + frac % 10);
	ms[3] = 0;
	memcpy(buf, ms, 4);
}

/* Run /bin/<name>, framed by marker lines. */
static void run_program(const char *name)
{
	char path[80] = "/bin/";
	char status_s[24];
	int status = 0;
	pid_t pid;

	if (rt_strlen(name) + 6 > sizeof(path))
		return;
	memcpy(path + 5, name, rt_strlen(name) + 1);
	say("ferry-run: begin ", name, "\n");
	pid = fork();
	if (pid == 0) {
		char *argv[] = { path, 0 };
		char *envp[] = { 0 };

		execve(path, argv, envp);
		say("ferry-run: cannot execute ", path, "\n");
		exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = 0x7f00;
	if ((status & 0x7f) != 0 && (status & 0x7f) != 0x7f) {
		/* Killed by a signal: say which, so a crash never reads as success. */
		fmt_uint(status_s, (unsigned long long)(status & 0x7f));
		say("ferry-run: end ", name, " signal=");
	} else {
		fmt_uint(status_s, (unsigned long long)((status >> 8) & 0xff));
		say("ferry-run: end ", name, " status=");
	}
	say(status_s, "\n", 0);
}

/* Run each program of a comma-separated list. */
static void run_programs(char *list)
{
	char *p = list;

	while (*p) {
		char *q = p;

		while (*q && *q != ',')
			q++;
		char c = *q;

		*q = 0;
		if (*p)
			run_program(p);
		if (!c)
			break;
		p = q + 1;
	}
}

/* Is word one of the comma-separated items of list? */
static int has_word(const char *list, const char *word)
{
	unsigned long n = rt_strlen(word);

	while (*list) {
		const char *end = list;

		while (*end && *end != ',')
			end++;
		if ((unsigned long)(end - list) == n && memcmp(list, word, n) == 0)
			return 1;
		list = *end ? end + 1 : end;
	}
	return 0;
}

/* The idle workload: a heartbeat line with the uptime every second, forever. */
static void heartbeat(void)
{
	char up[32], n[24];
	unsigned long long beat = 0;

	for (;;) {
		rt_nanosleep(1000000000LL);
		fmt_secs(up, rt_now_ns(RT_CLOCK_BOOTTIME));
		fmt_uint(n, ++beat);
		say("ferry-work: heartbeat ", n, " uptime=");
		say(up, "\n", 0);
	}
}

int main(void)
{
	struct rt_utsname u;
	char uptime[32];
	char value[256];

	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	rt_mount("proc", "/proc", "proc", 0, 0);
	rt_mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
	read_cmdline();

	memset(&u, 0, sizeof(u));
	rt_uname(&u);
	fmt_secs(uptime, rt_now_ns(RT_CLOCK_BOOTTIME));
	say("ferry-init: up linux=", u.release, " uptime=");
	say(uptime, "\n", 0);

	if (cmdline_get("ferry.run", value, sizeof(value)))
		run_programs(value);

	if (cmdline_get("ferry.reboot", value, sizeof(value))) {
		say("ferry-init: reboot\n", 0, 0);
		rt_sync();
		reboot(LINUX_REBOOT_CMD_RESTART);
		say("ferry-init: reboot failed\n", 0, 0);
	}
	if (cmdline_get("ferry.poweroff", value, sizeof(value))) {
		say("ferry-init: poweroff\n", 0, 0);
		rt_sync();
		reboot(LINUX_REBOOT_CMD_POWER_OFF);
		say("ferry-init: poweroff failed\n", 0, 0);
	}
	if (cmdline_get("ferry.work", value, sizeof(value)) && has_word(value, "idle"))
		heartbeat();
	for (;;)
		rt_nanosleep(3600LL * 1000000000LL);
	return 0;
}
