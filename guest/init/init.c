/* init.c - the guest's /init: banner, test programs, workloads, poweroff.
 *
 * A static program built against the kernel tree's nolibc (soft-float, lp64, rv64imac: it
 * runs on a hart without F and D; the fp workload's inline asm alone uses FP instructions).
 * It mounts /proc and /dev, prints one banner line that the host side
 * waits for, runs the programs named by `ferry.run=a,b` from /bin (their
 * output framed by marker lines so a test can cut it out of the console
 * log), and powers the machine off when `ferry.poweroff` is on the kernel
 * command line (or reboots it, with `ferry.reboot`). Otherwise it stays up
 * so the machine can be driven from outside.
 *
 * `ferry.work=a,b:ARGS,...` starts the workloads a migration is tested under,
 * side by side, one forked process each; init itself stays the reaper and
 * reports a workload that ends. The kernel has already configured the
 * network from `ip=`. The workloads (docs/guest.md has every line format):
 *
 *   idle              a heartbeat line with the uptime every second
 *   dirty:SIZE:RATE   dirties RATE bytes' worth of 4 KiB pages per second within
 *                     SIZE, checking each word it overwrites still holds what it
 *                     wrote last
 *   counter[:PORT]    a TCP service (port 7000): each connection receives
 *                     numbered lines every 10 ms that must never skip or repeat
 *   disklog[:MS]      numbered, checksummed records appended to /dev/vda and
 *                     synced one by one (every 100 ms); the log is verified first
 *   sink              a TCP discard service (port 7001), for throughput measurements
 *   fp                floating-point kernels in every rounding mode, single and double,
 *                     state kept in F registers, results checked against known values
 *   fp:each           the same on every online CPU, one process pinned to each, named
 *                     fp@0, fp@1, ... in its lines
 *
 * Each workload prints status lines `ferry-work: <name>: ...`; the errors a
 * test looks for say MISMATCH (dirty, fp), GAP or BADRECORD (disklog), or ERROR.
 * Every line goes out with a single write() so lines never interleave.
 *
 * `init --work NAME[:ARGS]`, run as a program rather than as PID 1, runs one workload in the
 * foreground (so the fp workload can run under qemu-riscv64 user mode).
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
#include "../lib/net.h"

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

/* The CPUs this process may run on (a bit set of at most 64), or 0. */
static unsigned long long cpu_set_all(void)
{
	unsigned long long mask = 0;
	long n = my_syscall3(__NR_sched_getaffinity, 0, sizeof(mask), &mask);

	return n > 0 ? mask : 0;
}

/* Keep this process on CPU cpu. */
static long cpu_pin(unsigned cpu)
{
	unsigned long long mask = 1ull << cpu;

	return my_syscall3(__NR_sched_setaffinity, 0, sizeof(mask), &mask);
}

/* Run /bin/<name>, framed by marker lines; <name>@each runs one copy on every online CPU, each
 * pinned there, all at once (the status is the last copy's to end badly, else 0). */
static void run_program(const char *name)
{
	char path[80] = "/bin/";
	char status_s[24];
	int status = 0;
	size_t len = rt_strlen(name);
	unsigned long long cpus = 1;
	int each = len > 5 && memcmp(name + len - 5, "@each", 5) == 0;
	unsigned copies = 0;

	if (each)
		len -= 5;
	if (len + 6 > sizeof(path))
		return;
	memcpy(path + 5, name, len);
	path[5 + len] = 0;
	if (each && !(cpus = cpu_set_all()))
		cpus = 1;
	say("ferry-run: begin ", name, "\n");
	for (unsigned cpu = 0; cpu < 64; cpu++) {
		if (!((cpus >> cpu) & 1))
			continue;
		pid_t pid = fork();

		if (pid == 0) {
			char *argv[] = { path, 0 };
			char *envp[] = { 0 };

			if (each && cpu_pin(cpu) < 0)
				say("ferry-run: cannot pin to a CPU: ", path, "\n");
			execve(path, argv, envp);
			say("ferry-run: cannot execute ", path, "\n");
			exit(127);
		}
		if (pid > 0)
			copies++;
		else
			status = 0x7f00;
	}
	while (copies > 0) {
		int st = 0;

		if (waitpid(-1, &st, 0) < 0) {
			status = 0x7f00;
			break;
		}
		copies--;
		if (st)
			status = st;
	}
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

/* ---- workloads: common ------------------------------------------------------------------ */

typedef unsigned long long u64;

#define WORK_REPORT_NS (5 * RT_NS_PER_SEC) /* progress lines */
#define WORK_MAX 16

static long long mono_ns(void)
{
	return rt_now_ns(RT_CLOCK_MONOTONIC);
}

/* Start a status line: "ferry-work: <name>: ". */
static void work_line(struct rt_line *l, const char *name)
{
	l->n = 0;
	rt_line_s(l, "ferry-work: ");
	rt_line_s(l, name);
	rt_line_s(l, ": ");
}

/* End a status line and write it. */
static void work_put(struct rt_line *l)
{
	rt_line_c(l, '\n');
	rt_line_put(l, 1);
}

/* Start a progress line: "ferry-work: <name>: t=<uptime> ". */
static void work_progress(struct rt_line *l, const char *name)
{
	work_line(l, name);
	rt_line_s(l, "t=");
	rt_line_secs(l, rt_now_ns(RT_CLOCK_BOOTTIME));
	rt_line_c(l, ' ');
}

/* "ferry-work: <name>: ERROR <what>" with ": errno <e>" when err is a negative errno. */
static void work_error(const char *name, const char *what, long err)
{
	struct rt_line l;

	work_line(&l, name);
	rt_line_s(&l, "ERROR ");
	rt_line_s(&l, what);
	if (err < 0) {
		rt_line_s(&l, ": errno ");
		rt_line_i(&l, -err);
	}
	work_put(&l);
}

/* Sleep until the monotonic clock reaches t (returns at once if it has). */
static void sleep_until(long long t)
{
	long long d = t - mono_ns();

	if (d > 0)
		rt_nanosleep(d);
}

/* A decimal number with an optional K, M or G suffix (powers of 1024); advances *sp. */
static int parse_size(const char **sp, u64 *out)
{
	const char *p = *sp;
	u64 v = 0;
	int shift = 0;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (1ULL << 40))
			return -1;
		v = v * 10 + (u64)(*p++ - '0');
	}
	switch (*p) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	if (shift) {
		p++;
		if (v > (1ULL << (62 - shift)))
			return -1;
		v <<= shift;
	}
	*sp = p;
	*out = v;
	return 0;
}

/* ---- idle ------------------------------------------------------------------------------- */

/* A heartbeat line with the uptime every second, forever. */
static int work_idle(const char *name, const char *args)
{
	struct rt_line l;
	unsigned long long beat = 0;

	(void)args;
	work_line(&l, name);
	rt_line_s(&l, "start");
	work_put(&l);
	for (;;) {
		rt_nanosleep(RT_NS_PER_SEC);
		l.n = 0;
		rt_line_s(&l, "ferry-work: heartbeat ");
		rt_line_u(&l, ++beat);
		rt_line_s(&l, " uptime=");
		rt_line_secs(&l, rt_now_ns(RT_CLOCK_BOOTTIME));
		work_put(&l);
	}
	return 0;
}

/* ---- dirty ------------------------------------------------------------------------------ *
 *
 * The memory is walked page after page, pass after pass; each step checks one word of a page
 * and writes another. Pass g writes value(g, i) into word slot(g, i) of page i, so the step
 * of pass g knows exactly what page i must hold: value(g-1, i) at slot(g-1, i). Pass 0 is the
 * initial touch that backs every page. The slot moves by one word each pass, so over 512
 * passes every word of every page gets probed. Steps are paced against the monotonic clock
 * every 10 ms; a backlog beyond 100 ms' worth (the guest was stopped, or RATE is more than
 * the machine can do) is dropped rather than written in one burst, and shows as a lower
 * measured rate in the progress lines.
 */

#define DIRTY_PAGE 4096ULL
#define DIRTY_WORDS (DIRTY_PAGE / 8)
#define DIRTY_STEP_NS (10 * RT_NS_PER_MS)
#define DIRTY_MAGIC 0xd127000000000000ULL
#define DIRTY_MAX_RATE (1ULL << 34)
#define DIRTY_MISMATCH_LINES 10 /* per progress interval; the rest are only counted */

struct dirty {
	volatile u64 *mem;
	u64 pages;
	u64 pos; /* next page of the current pass */
	u64 pass;
	u64 written, checks, mismatches;
	unsigned printed; /* MISMATCH lines in this progress interval */
};

static u64 dirty_value(u64 pass, u64 page)
{
	return DIRTY_MAGIC ^ (pass << 32) ^ page;
}

static u64 dirty_slot(u64 pass, u64 page)
{
	return (page + pass) % DIRTY_WORDS;
}

/* Check and rewrite the next page. */
static void dirty_step(struct dirty *d, const char *name)
{
	volatile u64 *page = d->mem + d->pos * DIRTY_WORDS;
	u64 want = dirty_value(d->pass - 1, d->pos);
	volatile u64 *w = page + dirty_slot(d->pass - 1, d->pos);
	u64 got = *w;

	d->checks++;
	if (got != want) {
		d->mismatches++;
		if (d->printed < DIRTY_MISMATCH_LINES) {
			struct rt_line l;

			d->printed++;
			work_line(&l, name);
			rt_line_s(&l, "MISMATCH addr=");
			rt_line_x(&l, (u64)(unsigned long)w);
			rt_line_s(&l, " page=");
			rt_line_u(&l, d->pos);
			rt_line_s(&l, " pass=");
			rt_line_u(&l, d->pass);
			rt_line_s(&l, " expected=");
			rt_line_x(&l, want);
			rt_line_s(&l, " found=");
			rt_line_x(&l, got);
			work_put(&l);
		}
	}
	page[dirty_slot(d->pass, d->pos)] = dirty_value(d->pass, d->pos);
	d->written++;
	if (++d->pos == d->pages) {
		d->pos = 0;
		d->pass++;
	}
}

/* Bytes due at `rate` bytes per second after dt nanoseconds, without overflow. */
static u64 bytes_due(long long dt, u64 rate)
{
	u64 t = dt > 0 ? (u64)dt : 0;

	return t / RT_NS_PER_SEC * rate + t % RT_NS_PER_SEC * rate / RT_NS_PER_SEC;
}

static int work_dirty(const char *name, const char *args)
{
	const char *p = args;
	struct dirty d;
	struct rt_line l;
	u64 size, rate, due, base_done, cap, last_written;
	long long base, next_report, last_t;

	if (parse_size(&p, &size) < 0 || *p++ != ':' || parse_size(&p, &rate) < 0 || *p) {
		work_error(name, "usage: dirty:SIZE:RATE (bytes, K/M/G suffixes)", 0);
		return 2;
	}
	if (size < DIRTY_PAGE || rate > DIRTY_MAX_RATE) {
		work_error(name, "SIZE below 4K or RATE above 16G", 0);
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.pages = size / DIRTY_PAGE;
	d.mem = mmap(0, d.pages * DIRTY_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (d.mem == MAP_FAILED) {
		work_error(name, "mmap", -errno);
		return 1;
	}
	/* Pass 0: back every page. */
	for (u64 i = 0; i < d.pages; i++)
		d.mem[i * DIRTY_WORDS + dirty_slot(0, i)] = dirty_value(0, i);
	d.pass = 1;

	work_line(&l, name);
	rt_line_s(&l, "start size=");
	rt_line_u(&l, d.pages * DIRTY_PAGE);
	rt_line_s(&l, " rate=");
	rt_line_u(&l, rate);
	rt_line_s(&l, " pages=");
	rt_line_u(&l, d.pages);
	rt_line_s(&l, " pages-per-sec=");
	rt_line_u(&l, rate / DIRTY_PAGE);
	work_put(&l);

	cap = rate / DIRTY_PAGE / 10 + 1;
	base = last_t = mono_ns();
	next_report = base + WORK_REPORT_NS;
	base_done = last_written = 0;
	for (;;) {
		long long t = mono_ns();

		due = base_done + bytes_due(t - base, rate) / DIRTY_PAGE;
		if (due > d.written + cap) {
			base = t;
			base_done = d.written + cap;
			due = base_done;
		}
		while (d.written < due)
			dirty_step(&d, name);
		if (t >= next_report) {
			u64 ms = (u64)(t - last_t) / RT_NS_PER_MS;

			work_progress(&l, name);
			rt_line_s(&l, "pages=");
			rt_line_u(&l, d.written);
			rt_line_s(&l, " checks=");
			rt_line_u(&l, d.checks);
			rt_line_s(&l, " passes=");
			rt_line_u(&l, d.pass - 1);
			rt_line_s(&l, " mismatches=");
			rt_line_u(&l, d.mismatches);
			rt_line_s(&l, " rate=");
			rt_line_u(&l, ms ? (d.written - last_written) * DIRTY_PAGE * 1000 / ms : 0);
			work_put(&l);
			last_t = t;
			last_written = d.written;
			d.printed = 0;
			next_report += WORK_REPORT_NS;
			if (next_report <= t)
				next_report = t + WORK_REPORT_NS;
		}
		rt_nanosleep(DIRTY_STEP_NS);
	}
	return 0;
}

/* ---- counter ---------------------------------------------------------------------------- *
 *
 * One process, one poll loop: the listening socket and every connection. Each connection has
 * its own sequence, starting at 1; every 10 ms one line
 *     SEQ <n> <CLOCK_MONOTONIC ns> <CLOCK_REALTIME ns>
 * is appended to its buffer and as much of the buffer as the socket takes is sent. A line is
 * numbered only when it enters the buffer, so nothing is ever dropped or skipped: when a slow
 * client lets the buffer fill, the stream pauses (counted as `stalled`) until the socket
 * drains. After a stop of the guest the ticks resume without a burst, so the pause shows in
 * the time stamps.
 */

#define CTR_PORT 7000
#define CTR_MAX_CLIENTS 32
#define CTR_BUF (64 * 1024)
#define CTR_LINE_MAX 80
#define CTR_TICK_NS (10 * RT_NS_PER_MS)

struct ctr_client {
	int fd; /* -1: free */
	u64 id;
	u64 seq; /* last number queued */
	char *buf;
	unsigned long head, len;
	struct net_sockaddr_in peer;
};

static struct ctr_client ctr_clients[CTR_MAX_CLIENTS];
static unsigned ctr_nclients;

static void ctr_close(struct ctr_client *c, const char *name, const char *reason, long err)
{
	struct rt_line l;

	close(c->fd);
	munmap(c->buf, CTR_BUF);
	c->fd = -1;
	ctr_nclients--;
	work_line(&l, name);
	rt_line_s(&l, "close client=");
	rt_line_u(&l, c->id);
	rt_line_s(&l, " lines=");
	rt_line_u(&l, c->seq);
	rt_line_s(&l, " reason=");
	rt_line_s(&l, reason);
	if (err < 0) {
		rt_line_s(&l, " errno=");
		rt_line_i(&l, -err);
	}
	rt_line_s(&l, " clients=");
	rt_line_u(&l, ctr_nclients);
	work_put(&l);
}

/* Send what the socket takes. Returns 0, or a negative errno if the connection failed. */
static long ctr_flush(struct ctr_client *c)
{
	while (c->len > 0) {
		long n =
		    net_send(c->fd, c->buf + c->head, c->len, NET_MSG_DONTWAIT | NET_MSG_NOSIGNAL);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return n;
		c->head += (unsigned long)n;
		c->len -= (unsigned long)n;
	}
	if (c->len == 0)
		c->head = 0;
	return 0;
}

/* Queue the next line. Returns 0, or -1 if the buffer is full (the stream waits). */
static int ctr_queue(struct ctr_client *c, long long mono, long long real)
{
	struct rt_line l;

	if (c->head + c->len + CTR_LINE_MAX > CTR_BUF) {
		memmove(c->buf, c->buf + c->head, c->len);
		c->head = 0;
		if (c->len + CTR_LINE_MAX > CTR_BUF)
			return -1;
	}
	l.n = 0;
	rt_line_s(&l, "SEQ ");
	rt_line_u(&l, ++c->seq);
	rt_line_c(&l, ' ');
	rt_line_i(&l, mono);
	rt_line_c(&l, ' ');
	rt_line_i(&l, real);
	rt_line_c(&l, '\n');
	memcpy(c->buf + c->head + c->len, l.b, l.n);
	c->len += l.n;
	return 0;
}

static void ctr_accept(int lfd, const char *name, u64 *next_id)
{
	for (;;) {
		struct net_sockaddr_in sa;
		struct ctr_client *c = 0;
		struct rt_line l;
		int fd;

		memset(&sa, 0, sizeof(sa));
		fd = net_accept4(lfd, &sa, NET_SOCK_NONBLOCK | NET_SOCK_CLOEXEC);
		if (fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0) {
			if (fd != -EAGAIN)
				work_error(name, "accept", fd);
			return;
		}
		for (unsigned i = 0; i < CTR_MAX_CLIENTS && !c; i++)
			if (ctr_clients[i].fd < 0)
				c = &ctr_clients[i];
		work_line(&l, name);
		if (!c) {
			rt_line_s(&l, "ERROR too many clients, refused from=");
			net_line_addr(&l, &sa);
			work_put(&l);
			close(fd);
			continue;
		}
		c->buf =
		    mmap(0, CTR_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c->buf == MAP_FAILED) {
			work_error(name, "mmap", -errno);
			close(fd);
			continue;
		}
		net_setsockopt_int(fd, NET_IPPROTO_TCP, NET_TCP_NODELAY, 1);
		c->fd = fd;
		c->id = ++*next_id;
		c->seq = 0;
		c->head = c->len = 0;
		c->peer = sa;
		ctr_nclients++;
		rt_line_s(&l, "open client=");
		rt_line_u(&l, c->id);
		rt_line_s(&l, " from=");
		net_line_addr(&l, &sa);
		rt_line_s(&l, " clients=");
		rt_line_u(&l, ctr_nclients);
		work_put(&l);
	}
}

/* Read and drop what the client sends; close the connection on end of file or error. */
static void ctr_input(struct ctr_client *c, const char *name, short revents)
{
	char scratch[256];

	for (;;) {
		long n = net_recv(c->fd, scratch, sizeof(scratch), NET_MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == -EINTR)
			continue;
		if (n == 0) {
			ctr_close(c, name, "eof", 0);
			return;
		}
		if (n != -EAGAIN) {
			ctr_close(c, name, "error", n);
			return;
		}
		break;
	}
	if (revents & (POLLERR | POLLHUP))
		ctr_close(c, name, "hangup", 0);
}

static int work_counter(const char *name, const char *args)
{
	struct pollfd pfd[1 + CTR_MAX_CLIENTS];
	struct ctr_client *pc[1 + CTR_MAX_CLIENTS];
	struct net_sockaddr_in sa;
	struct rt_line l;
	u64 port = CTR_PORT, next_id = 0, lines = 0, stalled = 0;
	long long next_tick, next_report;
	int lfd, r;

	if (*args && (parse_size(&args, &port) < 0 || *args || port == 0 || port > 65535)) {
		work_error(name, "usage: counter[:PORT]", 0);
		return 2;
	}
	for (unsigned i = 0; i < CTR_MAX_CLIENTS; i++)
		ctr_clients[i].fd = -1;
	lfd = net_socket(NET_AF_INET, NET_SOCK_STREAM | NET_SOCK_NONBLOCK | NET_SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		work_error(name, "socket", lfd);
		return 1;
	}
	net_setsockopt_int(lfd, NET_SOL_SOCKET, NET_SO_REUSEADDR, 1);
	memset(&sa, 0, sizeof(sa));
	sa.family = NET_AF_INET;
	sa.port = net_htons((unsigned short)port);
	sa.addr = 0; /* INADDR_ANY */
	r = net_bind(lfd, &sa);
	if (r < 0) {
		work_error(name, "bind", r);
		return 1;
	}
	r = net_listen(lfd, 16);
	if (r < 0) {
		work_error(name, "listen", r);
		return 1;
	}
	work_line(&l, name);
	rt_line_s(&l, "listening port=");
	rt_line_u(&l, port);
	work_put(&l);

	next_tick = mono_ns() + CTR_TICK_NS;
	next_report = next_tick - CTR_TICK_NS + WORK_REPORT_NS;
	for (;;) {
		unsigned n = 1;
		long long t;

		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (unsigned i = 0; i < CTR_MAX_CLIENTS; i++) {
			struct ctr_client *c = &ctr_clients[i];

			if (c->fd < 0)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = (short)(POLLIN | (c->len ? POLLOUT : 0));
			pfd[n].revents = 0;
			pc[n++] = c;
		}
		t = mono_ns();
		r = rt_ppoll(pfd, n, next_tick > t ? next_tick - t : 0);
		if (r < 0 && r != -EINTR) {
			work_error(name, "poll", r);
			rt_nanosleep(CTR_TICK_NS);
		}
		/* Connections first (a closed one frees its slot), then the tick. */
		for (unsigned k = 1; r > 0 && k < n; k++) {
			struct ctr_client *c = pc[k];
			long e;

			if (pfd[k].revents & (POLLIN | POLLERR | POLLHUP))
				ctr_input(c, name, pfd[k].revents);
			if (c->fd < 0 || !(pfd[k].revents & POLLOUT))
				continue;
			e = ctr_flush(c);
			if (e < 0)
				ctr_close(c, name, "error", e);
		}
		if (r > 0 && (pfd[0].revents & POLLIN))
			ctr_accept(lfd, name, &next_id);

		t = mono_ns();
		if (t >= next_tick) {
			long long real = rt_now_ns(RT_CLOCK_REALTIME);

			for (unsigned i = 0; i < CTR_MAX_CLIENTS; i++) {
				struct ctr_client *c = &ctr_clients[i];
				long e;

				if (c->fd < 0)
					continue;
				if (ctr_queue(c, t, real) == 0)
					lines++;
				else
					stalled++;
				e = ctr_flush(c);
				if (e < 0)
					ctr_close(c, name, "error", e);
			}
			next_tick += CTR_TICK_NS;
			if (next_tick <= t)
				next_tick = t + CTR_TICK_NS;
		}
		if (t >= next_report) {
			work_progress(&l, name);
			rt_line_s(&l, "clients=");
			rt_line_u(&l, ctr_nclients);
			rt_line_s(&l, " lines=");
			rt_line_u(&l, lines);
			rt_line_s(&l, " stalled=");
			rt_line_u(&l, stalled);
			work_put(&l);
			next_report += WORK_REPORT_NS;
			if (next_report <= t)
				next_report = t + WORK_REPORT_NS;
		}
	}
	return 0;
}

/* ---- disklog ---------------------------------------------------------------------------- *
 *
 * The raw disk is an array of 512-byte sectors; record n lives in sector n:
 *
 *   offset  size  field
 *        0     8  magic "FERRYLOG"
 *        8     8  sequence number n
 *       16     8  guest CLOCK_MONOTONIC ns when written
 *       24     8  guest CLOCK_REALTIME ns when written
 *       32     4  run: 0 for the records of the first boot, +1 at each start
 *       36     4  format version (1)
 *       40   468  payload: byte k = (n + k) & 0xff
 *      508     4  CRC-32 (IEEE) of bytes 0..507
 *
 * all little-endian. Each record is written with pwrite and made durable with fdatasync before
 * the next one, so after any stop the log on the disk is records 0..M with nothing missing.
 *
 * At start the log is read back from sector 0: every non-empty sector must be a record with a
 * good magic and checksum (else BADRECORD) whose number is its sector (else GAP). The log ends
 * at the first empty (all-zero) sector; the 1 MiB after it is read too, because a record
 * beyond an empty sector means a write was lost: that is a GAP, and the scan goes on from
 * there. Writing continues after the last non-empty sector. The disk must start zeroed.
 */

#define LOG_DEV "/dev/vda"
#define LOG_SECTOR 512
#define LOG_MAGIC 0x474f4c5952524546ULL /* "FERRYLOG" */
#define LOG_VERSION 1
#define LOG_INTERVAL_MS 100
#define LOG_LOOKAHEAD 2048 /* empty sectors read past the end of the log */
#define LOG_ERROR_LINES 20
#define LOG_CHUNK (64 * 1024)

struct log_record {
	u64 magic;
	u64 seq;
	u64 mono_ns;
	u64 real_ns;
	unsigned int run;
	unsigned int version;
	unsigned char payload[468];
	unsigned int crc;
};

_Static_assert(sizeof(struct log_record) == LOG_SECTOR, "a record is one sector");

static unsigned char log_buf[LOG_CHUNK] __attribute__((aligned(4096)));
static unsigned int crc_table[256];

static unsigned int crc32(const void *data, unsigned long len)
{
	const unsigned char *p = data;
	unsigned int c = 0xffffffffu;

	if (!crc_table[1]) {
		for (unsigned int i = 0; i < 256; i++) {
			unsigned int v = i;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
			crc_table[i] = v;
		}
	}
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static int sector_empty(const unsigned char *s)
{
	const u64 *w = (const u64 *)s;

	for (unsigned i = 0; i < LOG_SECTOR / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

struct log_scan {
	u64 records;	/* good records */
	long long last; /* number of the last good record, -1: none */
	unsigned int last_run;
	u64 end; /* one past the last non-empty sector: where writing continues */
	u64 errors;
};

/* "ferry-work: disklog: <kind> at record N: ..." for the first few errors. */
static void log_bad(struct log_scan *s, const char *name, const char *kind, u64 at,
		    const char *what, long long num, const char *what2, long long num2)
{
	struct rt_line l;

	if (s->errors++ >= LOG_ERROR_LINES)
		return;
	work_line(&l, name);
	rt_line_s(&l, kind);
	rt_line_s(&l, " at record ");
	rt_line_u(&l, at);
	rt_line_s(&l, ": ");
	rt_line_s(&l, what);
	if (num >= 0)
		rt_line_i(&l, num);
	if (what2) {
		rt_line_s(&l, what2);
		rt_line_i(&l, num2);
	}
	work_put(&l);
}

static void log_check(struct log_scan *s, const char *name, const unsigned char *sec, u64 n)
{
	const struct log_record *r = (const struct log_record *)sec;

	if (r->magic != LOG_MAGIC)
		log_bad(s, name, "BADRECORD", n, "bad magic", -1, 0, 0);
	else if (crc32(r, LOG_SECTOR - 4) != r->crc)
		log_bad(s, name, "BADRECORD", n, "bad checksum", -1, 0, 0);
	else if (r->version != LOG_VERSION)
		log_bad(s, name, "BADRECORD", n, "version ", r->version, 0, 0);
	else if (r->seq != n)
		log_bad(s, name, "GAP", n, "found record ", (long long)r->seq, 0, 0);
	else {
		s->records++;
		s->last = (long long)n;
		s->last_run = r->run;
	}
}

/* Read the log back; returns 0 or a negative errno. */
static long log_scan(int fd, const char *name, u64 nsec, struct log_scan *s)
{
	u64 n = 0, zeros = 0;
	long long hole = -1; /* first sector of the current run of empty sectors */

	memset(s, 0, sizeof(*s));
	s->last = -1;
	while (n < nsec && zeros < LOG_LOOKAHEAD) {
		u64 want = nsec - n < LOG_CHUNK / LOG_SECTOR ? nsec - n : LOG_CHUNK / LOG_SECTOR;
		long got = rt_pread(fd, log_buf, want * LOG_SECTOR, (long long)(n * LOG_SECTOR));

		if (got == -EINTR)
			continue;
		if (got < 0)
			return got;
		if (got < LOG_SECTOR)
			return -EIO;
		for (u64 i = 0; i < (u64)got / LOG_SECTOR && zeros < LOG_LOOKAHEAD; i++, n++) {
			const unsigned char *sec = log_buf + i * LOG_SECTOR;

			if (sector_empty(sec)) {
				if (hole < 0)
					hole = (long long)n;
				zeros++;
				continue;
			}
			if (hole >= 0)
				log_bad(s, name, "GAP", (u64)hole, "records ", hole, " to ",
					(long long)n - 1);
			hole = -1;
			zeros = 0;
			log_check(s, name, sec, n);
			s->end = n + 1;
		}
	}
	if (s->errors > LOG_ERROR_LINES) {
		struct rt_line l;

		work_line(&l, name);
		rt_line_u(&l, s->errors - LOG_ERROR_LINES);
		rt_line_s(&l, " more errors not shown");
		work_put(&l);
	}
	return 0;
}

static void log_fill(struct log_record *r, u64 seq, unsigned int run)
{
	r->magic = LOG_MAGIC;
	r->seq = seq;
	r->mono_ns = (u64)mono_ns();
	r->real_ns = (u64)rt_now_ns(RT_CLOCK_REALTIME);
	r->run = run;
	r->version = LOG_VERSION;
	for (unsigned k = 0; k < sizeof(r->payload); k++)
		r->payload[k] = (unsigned char)(seq + k);
	r->crc = crc32(r, LOG_SECTOR - 4);
}

static int work_disklog(const char *name, const char *args)
{
	static struct log_record rec __attribute__((aligned(LOG_SECTOR)));
	struct log_scan s;
	struct rt_line l;
	u64 interval_ms = LOG_INTERVAL_MS, nsec, seq, written = 0, max_sync = 0;
	long long size, next, next_report;
	unsigned int run;
	long r;
	int fd;

	if (*args && (parse_size(&args, &interval_ms) < 0 || *args || interval_ms == 0)) {
		work_error(name, "usage: disklog[:INTERVAL_MS]", 0);
		return 2;
	}
	fd = open(LOG_DEV, O_RDWR, 0);
	if (fd < 0) {
		work_error(name, "cannot open " LOG_DEV, -errno);
		return 1;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 0) {
		work_error(name, "size of " LOG_DEV, -errno);
		return 1;
	}
	nsec = (u64)size / LOG_SECTOR;
	work_line(&l, name);
	rt_line_s(&l, "start dev=" LOG_DEV " size=");
	rt_line_i(&l, size);
	rt_line_s(&l, " interval-ms=");
	rt_line_u(&l, interval_ms);
	work_put(&l);

	r = log_scan(fd, name, nsec, &s);
	if (r < 0) {
		work_error(name, "read " LOG_DEV, r);
		return 1;
	}
	work_line(&l, name);
	rt_line_s(&l, "found ");
	rt_line_u(&l, s.records);
	rt_line_s(&l, " records, last ");
	if (s.last >= 0)
		rt_line_i(&l, s.last);
	else
		rt_line_s(&l, "none");
	if (s.errors) {
		rt_line_s(&l, ", errors ");
		rt_line_u(&l, s.errors);
	} else {
		rt_line_s(&l, ", ok");
	}
	work_put(&l);

	seq = s.end;
	run = s.last >= 0 ? s.last_run + 1 : 0;
	work_line(&l, name);
	rt_line_s(&l, "writing from record ");
	rt_line_u(&l, seq);
	rt_line_s(&l, " run=");
	rt_line_u(&l, run);
	work_put(&l);

	next = mono_ns();
	next_report = next + WORK_REPORT_NS;
	for (;;) {
		long long t0, t1;

		if (seq >= nsec) {
			work_line(&l, name);
			rt_line_s(&l, "FULL at record ");
			rt_line_u(&l, seq);
			rt_line_s(&l, " (disk of ");
			rt_line_u(&l, nsec);
			rt_line_s(&l, " sectors), stopping");
			work_put(&l);
			close(fd);
			return 0;
		}
		sleep_until(next);
		log_fill(&rec, seq, run);
		t0 = mono_ns();
		r = rt_pwrite(fd, &rec, LOG_SECTOR, (long long)(seq * LOG_SECTOR));
		if (r == LOG_SECTOR)
			r = rt_fdatasync(fd);
		else if (r >= 0)
			r = -EIO; /* a short write of one sector */
		t1 = mono_ns();
		if (r < 0) {
			/* Never skip a number: report and retry the same record. */
			work_line(&l, name);
			rt_line_s(&l, "ERROR write record ");
			rt_line_u(&l, seq);
			rt_line_s(&l, ": errno ");
			rt_line_i(&l, -r);
			work_put(&l);
			next = t1 + RT_NS_PER_SEC;
			continue;
		}
		if ((u64)(t1 - t0) > max_sync)
			max_sync = (u64)(t1 - t0);
		written++;
		seq++;
		next += (long long)interval_ms * RT_NS_PER_MS;
		if (next <= t1)
			next = t1 + (long long)interval_ms * RT_NS_PER_MS;
		if (t1 >= next_report) {
			work_progress(&l, name);
			rt_line_s(&l, "records=");
			rt_line_u(&l, written);
			rt_line_s(&l, " last=");
			rt_line_u(&l, seq - 1);
			rt_line_s(&l, " max-sync-ms=");
			rt_line_u(&l, (max_sync + RT_NS_PER_MS - 1) / RT_NS_PER_MS);
			work_put(&l);
			max_sync = 0;
			next_report += WORK_REPORT_NS;
			if (next_report <= t1)
				next_report = t1 + WORK_REPORT_NS;
		}
	}
	return 0;
}

/* ---- sink: a TCP discard service, for throughput measurements -------------------------- */

#define SINK_PORT 7001

/* Accept connections one after another and read each to its end, discarding the bytes;
 * report per connection: `sink: done bytes=N ms=T`. */
static int work_sink(const char *name, const char *args)
{
	static char buf[65536];
	struct net_sockaddr_in sa;
	struct rt_line l;
	int lfd, r;

	(void)args;
	lfd = net_socket(NET_AF_INET, NET_SOCK_STREAM | NET_SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		work_error(name, "socket", lfd);
		return 1;
	}
	net_setsockopt_int(lfd, NET_SOL_SOCKET, NET_SO_REUSEADDR, 1);
	memset(&sa, 0, sizeof(sa));
	sa.family = NET_AF_INET;
	sa.port = net_htons(SINK_PORT);
	r = net_bind(lfd, &sa);
	if (r >= 0)
		r = net_listen(lfd, 4);
	if (r < 0) {
		work_error(name, "bind/listen", r);
		return 1;
	}
	work_line(&l, name);
	rt_line_s(&l, "listening port=");
	rt_line_u(&l, SINK_PORT);
	work_put(&l);
	for (;;) {
		int fd = net_accept4(lfd, &sa, NET_SOCK_CLOEXEC);
		unsigned long long bytes = 0;
		long long t0 = mono_ns();
		long n;

		if (fd < 0)
			continue;
		while ((n = net_recv(fd, buf, sizeof(buf), 0)) > 0)
			bytes += (unsigned long long)n;
		close(fd);
		work_line(&l, name);
		rt_line_s(&l, "done bytes=");
		rt_line_u(&l, bytes);
		rt_line_s(&l, " ms=");
		rt_line_u(&l, (unsigned long long)((mono_ns() - t0) / 1000000));
		work_put(&l);
	}
	return 0;
}

/* ---- fp --------------------------------------------------------------------------------- *
 *
 * Floating point, so that a migration carries live F and D state. Init is soft-float (it must
 * run on a hart without F and D), so every FP instruction is in the inline asm of the fp_
 * functions below, assembled with `.option arch, +f, +d`; the compiler never uses an F
 * register itself, so what the asm leaves in one stays there across C code and system calls.
 *
 * A round runs six kernels under each rounding mode RNE RTZ RDN RUP RMM, set with fsrm and used
 * dynamically. Each kernel is one asm loop of 1000 to 4096 iterations, single and double
 * interleaved, whose state lives only in f0..f15, frm and fflags until the loop ends; then
 * each result and the fflags the loop accumulated are compared with the expected bit pattern.
 * f16..f31 are loaded with fixed patterns when the workload starts and never written again:
 * they are compared after every round. The kernels:
 *
 *   sum    sums of k, k^2 (fmadd.d) and k/2 (fmadd.s), k = 1..4096: exact in every mode
 *   tie    1, -1 and 1 + ulp plus or minus half an ulp, 2048 times: every step a tie, so the
 *          result is known per mode (RNE stays even, RUP and RMM climb one ulp a step, ...)
 *   harm   sum of 1/k, k = 1..2000; RTZ must equal RDN, and RDN <= RNE <= RUP
 *   sqrt   sum of fsqrt(k*k), k = 1..2048: exactly sum k, no flag raised
 *   chaos  the logistic map x <- 3.9 x (1 - x) (fnmsub, fmul), 2000 steps from 0.3
 *   cvt    sums of fcvt.w of +-(k + 0.5), k = 0..999: known per mode
 *
 * The expected values of sum, tie, sqrt and cvt are exact arithmetic (see each table). Those
 * of harm and chaos were computed by running this code under qemu-riscv64 (user mode,
 * `/init --work fp`) and agree, for RNE RTZ RDN RUP, with the same loops in C on x86-64 under
 * fesetround (with fma for fnmsub); RMM, which x86 lacks, is from qemu alone.
 *
 * Everything is deterministic: the clock only decides when a progress line is printed.
 */

#define FP_BEGIN ".option push\n.option arch, +f, +d\n.option norvc\n"
#define FP_END "\n.option pop\n"
#define FP_ITEMS 8
#define FP_MISMATCH_LINES 20 /* per progress interval; the rest are only counted */
#define FP_REPORT_NS RT_NS_PER_SEC

#define S1(bits) (0xffffffff00000000ULL | (bits)) /* a NaN-boxed single */

static void fp_k_sum(u64 mode, u64 *o)
{
	__asm__ volatile(
	    FP_BEGIN "fsrm %[m]\nfsflags zero\n"
		     "li t0, 0x3ff0000000000000\nfmv.d.x f0, t0\n" /* 1.0 */
		     "fmv.d.x f1, zero\nfmv.d.x f2, zero\nfmv.d.x f3, t0\n"
		     "li t0, 0x3f800000\nfmv.w.x f4, t0\n" /* 1.0f */
		     "fmv.w.x f5, zero\nfmv.w.x f6, zero\nfmv.w.x f7, t0\n"
		     "li t0, 0x3f000000\nfmv.w.x f8, t0\n" /* 0.5f */
		     "li t1, 4096\n"
		     "1:\n"
		     "fadd.d f1, f1, f3\n"	/* sum k */
		     "fmadd.d f2, f3, f3, f2\n" /* sum k^2 */
		     "fadd.d f3, f3, f0\n"
		     "fadd.s f5, f5, f7\n"	/* sum k */
		     "fmadd.s f6, f7, f8, f6\n" /* sum k/2 */
		     "fadd.s f7, f7, f4\n"
		     "addi t1, t1, -1\n"
		     "bnez t1, 1b\n"
		     "fsd f1, 0(%[o])\nfsd f2, 8(%[o])\nfsd f5, 16(%[o])\nfsd f6, 24(%[o])\n"
		     "frflags t0\nsd t0, 32(%[o])" FP_END
	    :
	    : [m] "r"(mode), [o] "r"(o)
	    : "t0", "t1", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "memory");
}

static void fp_k_tie(u64 mode, u64 *o)
{
	__asm__ volatile(FP_BEGIN "fsrm %[m]\nfsflags zero\n"
				  "li t0, 0x3ff0000000000000\nfmv.d.x f0, t0\n"
				  "li t0, 0xbff0000000000000\nfmv.d.x f1, t0\n"
				  "li t0, 0x3ff0000000000001\nfmv.d.x f2, t0\n"
				  "li t0, 0x3ca0000000000000\nfmv.d.x f3, t0\n" /* 2^-53 */
				  "li t0, 0x3f800000\nfmv.w.x f4, t0\n"
				  "li t0, 0xbf800000\nfmv.w.x f5, t0\n"
				  "li t0, 0x3f800001\nfmv.w.x f6, t0\n"
				  "li t0, 0x33800000\nfmv.w.x f7, t0\n" /* 2^-24 */
				  "li t1, 2048\n"
				  "1:\n"
				  "fadd.d f0, f0, f3\n"
				  "fsub.d f1, f1, f3\n"
				  "fadd.d f2, f2, f3\n"
				  "fadd.s f4, f4, f7\n"
				  "fsub.s f5, f5, f7\n"
				  "fadd.s f6, f6, f7\n"
				  "addi t1, t1, -1\n"
				  "bnez t1, 1b\n"
				  "fsd f0, 0(%[o])\nfsd f1, 8(%[o])\nfsd f2, 16(%[o])\n"
				  "fsd f4, 24(%[o])\nfsd f5, 32(%[o])\nfsd f6, 40(%[o])\n"
				  "frflags t0\nsd t0, 48(%[o])" FP_END
			 :
			 : [m] "r"(mode), [o] "r"(o)
			 : "t0", "t1", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "memory");
}

static void fp_k_harm(u64 mode, u64 *o)
{
	__asm__ volatile(FP_BEGIN "fsrm %[m]\nfsflags zero\n"
				  "li t0, 0x3ff0000000000000\nfmv.d.x f0, t0\nfmv.d.x f1, t0\n"
				  "fmv.d.x f2, zero\n"
				  "li t0, 0x3f800000\nfmv.w.x f3, t0\nfmv.w.x f4, t0\n"
				  "fmv.w.x f5, zero\n"
				  "li t1, 2000\n"
				  "1:\n"
				  "fdiv.d f6, f0, f1\n"
				  "fadd.d f2, f2, f6\n"
				  "fadd.d f1, f1, f0\n"
				  "fdiv.s f7, f3, f4\n"
				  "fadd.s f5, f5, f7\n"
				  "fadd.s f4, f4, f3\n"
				  "addi t1, t1, -1\n"
				  "bnez t1, 1b\n"
				  "fsd f2, 0(%[o])\nfsd f5, 8(%[o])\n"
				  "frflags t0\nsd t0, 16(%[o])" FP_END
			 :
			 : [m] "r"(mode), [o] "r"(o)
			 : "t0", "t1", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "memory");
}

static void fp_k_sqrt(u64 mode, u64 *o)
{
	__asm__ volatile(FP_BEGIN "fsrm %[m]\nfsflags zero\n"
				  "li t0, 0x3ff0000000000000\nfmv.d.x f0, t0\nfmv.d.x f1, t0\n"
				  "fmv.d.x f2, zero\n"
				  "li t0, 0x3f800000\nfmv.w.x f5, t0\nfmv.w.x f6, t0\n"
				  "fmv.w.x f7, zero\n"
				  "li t1, 2048\n"
				  "1:\n"
				  "fmul.d f3, f1, f1\n"
				  "fsqrt.d f4, f3\n"
				  "fadd.d f2, f2, f4\n"
				  "fadd.d f1, f1, f0\n"
				  "fmul.s f8, f6, f6\n"
				  "fsqrt.s f9, f8\n"
				  "fadd.s f7, f7, f9\n"
				  "fadd.s f6, f6, f5\n"
				  "addi t1, t1, -1\n"
				  "bnez t1, 1b\n"
				  "fsd f2, 0(%[o])\nfsd f7, 8(%[o])\n"
				  "frflags t0\nsd t0, 16(%[o])" FP_END
			 :
			 : [m] "r"(mode), [o] "r"(o)
			 : "t0", "t1", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9",
			   "memory");
}

static void fp_k_chaos(u64 mode, u64 *o)
{
	__asm__ volatile(FP_BEGIN "fsrm %[m]\nfsflags zero\n"
				  "li t0, 0x400f333333333333\nfmv.d.x f0, t0\n" /* 3.9 */
				  "li t0, 0x3fd3333333333333\nfmv.d.x f1, t0\n" /* 0.3 */
				  "li t0, 0x4079999a\nfmv.w.x f3, t0\n"		/* 3.9f */
				  "li t0, 0x3e99999a\nfmv.w.x f4, t0\n"		/* 0.3f */
				  "li t1, 2000\n"
				  "1:\n"
				  "fnmsub.d f2, f1, f1, f1\n" /* x - x^2 */
				  "fmul.d f1, f0, f2\n"
				  "fnmsub.s f5, f4, f4, f4\n"
				  "fmul.s f4, f3, f5\n"
				  "addi t1, t1, -1\n"
				  "bnez t1, 1b\n"
				  "fsd f1, 0(%[o])\nfsd f4, 8(%[o])\n"
				  "frflags t0\nsd t0, 16(%[o])" FP_END
			 :
			 : [m] "r"(mode), [o] "r"(o)
			 : "t0", "t1", "f0", "f1", "f2", "f3", "f4", "f5", "memory");
}

static void fp_k_cvt(u64 mode, u64 *o)
{
	__asm__ volatile(FP_BEGIN
			 "fsrm %[m]\nfsflags zero\n"
			 "li t0, 0x3ff0000000000000\nfmv.d.x f0, t0\n"
			 "li t0, 0x3fe0000000000000\nfmv.d.x f1, t0\n" /* 0.5 */
			 "li t0, 0xbfe0000000000000\nfmv.d.x f2, t0\n" /* -0.5 */
			 "li t0, 0x3f800000\nfmv.w.x f3, t0\n"
			 "li t0, 0x3f000000\nfmv.w.x f4, t0\n"
			 "li t0, 0xbf000000\nfmv.w.x f5, t0\n"
			 "li t1, 1000\nli t3, 0\nli t4, 0\nli t5, 0\nli t6, 0\n"
			 "1:\n"
			 "fcvt.w.d t2, f1\nadd t3, t3, t2\n"
			 "fcvt.w.d t2, f2\nadd t4, t4, t2\n"
			 "fadd.d f1, f1, f0\n"
			 "fsub.d f2, f2, f0\n"
			 "fcvt.w.s t2, f4\nadd t5, t5, t2\n"
			 "fcvt.w.s t2, f5\nadd t6, t6, t2\n"
			 "fadd.s f4, f4, f3\n"
			 "fsub.s f5, f5, f3\n"
			 "addi t1, t1, -1\n"
			 "bnez t1, 1b\n"
			 "sd t3, 0(%[o])\nsd t4, 8(%[o])\nsd t5, 16(%[o])\nsd t6, 24(%[o])\n"
			 "frflags t0\nsd t0, 32(%[o])" FP_END
			 :
			 : [m] "r"(mode), [o] "r"(o)
			 : "t0", "t1", "t2", "t3", "t4", "t5", "t6", "f0", "f1", "f2", "f3", "f4",
			   "f5", "memory");
}

/* f16..f31: set once, compared after every round. */
static const u64 fp_canary[16] = {
	0x0123456789abcdefULL, 0x7ff0000000000001ULL, S1(0x7f800001),	     0xfff8000000000000ULL,
	S1(0x3f800000),	       0x8000000000000000ULL, 0x0000000000000001ULL, S1(0x00000001),
	0x7fefffffffffffffULL, S1(0xff7fffff),	      0xdeadbeefcafef00dULL, 0x3ff0000000000000ULL,
	0x00000000ffffffffULL, 0xffffffff00000000ULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL,
};

#define FP_CANARY_SET(i) "fld f" #i ", (" #i "-16)*8(%0)\n"
#define FP_CANARY_GET(i) "fsd f" #i ", (" #i "-16)*8(%0)\n"
/* clang-format off */
#define FP_CANARY_REGS(X)                                                                          \
	X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30)  \
	X(31)
/* clang-format on */
#define FP_CANARY_CLOB(i) "f" #i,

static void fp_canary_set(void)
{
	__asm__ volatile(FP_BEGIN FP_CANARY_REGS(FP_CANARY_SET) FP_END
			 :
			 : "r"(fp_canary)
			 : FP_CANARY_REGS(FP_CANARY_CLOB) "memory");
}

static void fp_canary_get(u64 *o)
{
	__asm__ volatile(FP_BEGIN FP_CANARY_REGS(FP_CANARY_GET) FP_END : : "r"(o) : "memory");
}

static u64 fp_get_frm(void)
{
	u64 m;

	__asm__ volatile(FP_BEGIN "frrm %0" FP_END : "=r"(m)::"memory");
	return m;
}

/* Expected results, [mode RNE RTZ RDN RUP RMM][item]. */
static const u64 fp_want_sum[5][FP_ITEMS] = {
#define FP_SUM_ROW                                                                                 \
	{                                                                                          \
		0x4160010000000000ULL /* 8390656 = 4096 * 4097 / 2 */,                             \
		    0x4215575560000000ULL /* 22914881536 = 4096 * 4097 * 8193 / 6 */,              \
		    S1(0x4b000800) /* 8390656 */, S1(0x4a800800) /* 4195328 */, 0 /* no flag */    \
	}
	FP_SUM_ROW, FP_SUM_ROW, FP_SUM_ROW, FP_SUM_ROW, FP_SUM_ROW,
#undef FP_SUM_ROW
};

/* After 2048 ties: x = 1 + ulp/2 ..., y = -1 - ulp/2 ..., z = (1 + ulp) + ulp/2 ...; inexact. */
static const u64 fp_want_tie[5][FP_ITEMS] = {
	/* RNE: stays even (z climbs once to 1 + 2 ulp) */
	{ 0x3ff0000000000000ULL, 0xbff0000000000000ULL, 0x3ff0000000000002ULL, S1(0x3f800000),
	  S1(0xbf800000), S1(0x3f800002), 1 },
	/* RTZ: never moves */
	{ 0x3ff0000000000000ULL, 0xbff0000000000000ULL, 0x3ff0000000000001ULL, S1(0x3f800000),
	  S1(0xbf800000), S1(0x3f800001), 1 },
	/* RDN: only the negative one moves, one ulp a step */
	{ 0x3ff0000000000000ULL, 0xbff0000000000800ULL, 0x3ff0000000000001ULL, S1(0x3f800000),
	  S1(0xbf800800), S1(0x3f800001), 1 },
	/* RUP: the positive ones move */
	{ 0x3ff0000000000800ULL, 0xbff0000000000000ULL, 0x3ff0000000000801ULL, S1(0x3f800800),
	  S1(0xbf800000), S1(0x3f800801), 1 },
	/* RMM: away from zero, all move */
	{ 0x3ff0000000000800ULL, 0xbff0000000000800ULL, 0x3ff0000000000801ULL, S1(0x3f800800),
	  S1(0xbf800800), S1(0x3f800801), 1 },
};

/* sum 1/k, k = 1..2000 (about 8.1783681036102885); inexact. From qemu-riscv64, checked on
 * x86-64 with fesetround for all but RMM (see above). */
static const u64 fp_want_harm[5][FP_ITEMS] = {
	{ 0x40205b5310674fb9ULL, S1(0x4102da99), 1 }, /* RNE */
	{ 0x40205b5310674da0ULL, S1(0x4102d86a), 1 }, /* RTZ */
	{ 0x40205b5310674da0ULL, S1(0x4102d86a), 1 }, /* RDN */
	{ 0x40205b531067521fULL, S1(0x4102dceb), 1 }, /* RUP */
	{ 0x40205b5310674fb9ULL, S1(0x4102da99), 1 }, /* RMM (qemu-riscv64 only) */
};

static const u64 fp_want_sqrt[5][FP_ITEMS] = {
#define FP_SQRT_ROW                                                                                \
	{                                                                                          \
		0x4140020000000000ULL /* 2098176 */, S1(0x4a001000) /* 2098176 */, 0               \
	}
	FP_SQRT_ROW, FP_SQRT_ROW, FP_SQRT_ROW, FP_SQRT_ROW, FP_SQRT_ROW,
#undef FP_SQRT_ROW
};

/* The logistic map after 2000 steps: chaotic, so each mode ends somewhere else. From
 * qemu-riscv64, checked on x86-64 with fesetround and fma for all but RMM. */
static const u64 fp_want_chaos[5][FP_ITEMS] = {
	{ 0x3fee60180f0480bdULL, S1(0x3f77d34c), 1 }, /* RNE */
	{ 0x3fd18c534101ecebULL, S1(0x3f68d886), 1 }, /* RTZ */
	{ 0x3fd18c534101ecebULL, S1(0x3f68d886), 1 }, /* RDN */
	{ 0x3fedb8aecfb8d756ULL, S1(0x3dc88e66), 1 }, /* RUP */
	{ 0x3fee60180f0480bdULL, S1(0x3f77d34c), 1 }, /* RMM (qemu-riscv64 only) */
};

/* Sums of fcvt.w(k + 0.5) and fcvt.w(-(k + 0.5)), k = 0..999 (sum k = 499500; 500 odd k). */
#define FP_I(v) ((u64)(long long)(v))
static const u64 fp_want_cvt[5][FP_ITEMS] = {
	{ FP_I(500000), FP_I(-500000), FP_I(500000), FP_I(-500000), 1 }, /* RNE: to even */
	{ FP_I(499500), FP_I(-499500), FP_I(499500), FP_I(-499500), 1 }, /* RTZ */
	{ FP_I(499500), FP_I(-500500), FP_I(499500), FP_I(-500500), 1 }, /* RDN */
	{ FP_I(500500), FP_I(-499500), FP_I(500500), FP_I(-499500), 1 }, /* RUP */
	{ FP_I(500500), FP_I(-500500), FP_I(500500), FP_I(-500500), 1 }, /* RMM */
};
#undef FP_I

static const struct fp_kernel {
	const char *name;
	void (*run)(u64 mode, u64 *o);
	const u64 (*want)[FP_ITEMS];
	const char *const items[FP_ITEMS];
} fp_kernels[] = {
	{ "sum", fp_k_sum, fp_want_sum, { "d.k", "d.k2", "s.k", "s.k/2", "fflags" } },
	{ "tie", fp_k_tie, fp_want_tie, { "d.x", "d.y", "d.z", "s.x", "s.y", "s.z", "fflags" } },
	{ "harm", fp_k_harm, fp_want_harm, { "d", "s", "fflags" } },
	{ "sqrt", fp_k_sqrt, fp_want_sqrt, { "d", "s", "fflags" } },
	{ "chaos", fp_k_chaos, fp_want_chaos, { "d", "s", "fflags" } },
	{ "cvt", fp_k_cvt, fp_want_cvt, { "d.pos", "d.neg", "s.pos", "s.neg", "fflags" } },
};
#define FP_NKERNELS (sizeof(fp_kernels) / sizeof(fp_kernels[0]))

static const char *const fp_modes[5] = { "rne", "rtz", "rdn", "rup", "rmm" };

struct fp_state {
	const char *name;
	u64 rounds, mismatches;
	unsigned printed; /* MISMATCH lines in this progress interval */
};

static void fp_mismatch(struct fp_state *s, const char *kernel, const char *mode, const char *item,
			u64 want, u64 got)
{
	struct rt_line l;

	s->mismatches++;
	if (s->printed >= FP_MISMATCH_LINES)
		return;
	s->printed++;
	work_line(&l, s->name);
	rt_line_s(&l, "MISMATCH round=");
	rt_line_u(&l, s->rounds);
	rt_line_s(&l, " kernel=");
	rt_line_s(&l, kernel);
	rt_line_s(&l, " mode=");
	rt_line_s(&l, mode);
	rt_line_s(&l, " item=");
	rt_line_s(&l, item);
	rt_line_s(&l, " expected=");
	rt_line_x(&l, want);
	rt_line_s(&l, " found=");
	rt_line_x(&l, got);
	work_put(&l);
}

/* One round: every kernel under every mode, then the canaries. */
static void fp_round(struct fp_state *s)
{
	static const char *const creg[16] = { "f16", "f17", "f18", "f19", "f20", "f21",
					      "f22", "f23", "f24", "f25", "f26", "f27",
					      "f28", "f29", "f30", "f31" };
	u64 out[16], harm[5][2];

	for (unsigned m = 0; m < 5; m++) {
		for (unsigned k = 0; k < FP_NKERNELS; k++) {
			const struct fp_kernel *fk = &fp_kernels[k];
			u64 frm;

			fk->run(m, out);
			frm = fp_get_frm();
			for (unsigned i = 0; i < FP_ITEMS && fk->items[i]; i++)
				if (out[i] != fk->want[m][i])
					fp_mismatch(s, fk->name, fp_modes[m], fk->items[i],
						    fk->want[m][i], out[i]);
			if (frm != m)
				fp_mismatch(s, fk->name, fp_modes[m], "frm", m, frm);
			if (fk->run == fp_k_harm) {
				harm[m][0] = out[0];
				harm[m][1] = out[1];
			}
		}
	}
	/* Directed rounding brackets the nearest (all positive: bit order is value order). */
	for (unsigned i = 0; i < 2; i++) {
		const char *item = i ? "s" : "d";

		if (harm[1][i] != harm[2][i])
			fp_mismatch(s, "harm", "rtz=rdn", item, harm[2][i], harm[1][i]);
		if (harm[2][i] > harm[0][i] || harm[0][i] > harm[3][i])
			fp_mismatch(s, "harm", "rdn<=rne<=rup", item, harm[0][i], harm[2][i]);
	}
	fp_canary_get(out);
	for (unsigned i = 0; i < 16; i++)
		if (out[i] != fp_canary[i])
			fp_mismatch(s, "canary", "-", creg[i], fp_canary[i], out[i]);
	s->rounds++;
}

/* 1 if /proc/cpuinfo names an ISA without F or D (no isa line: assume FP is there). */
static int fp_missing(char *isa, unsigned long isasz)
{
	static char buf[8192];
	int fd = open("/proc/cpuinfo", O_RDONLY, 0);
	long n = 0;
	const char *p;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (p = buf; *p; p++) {
		if ((p == buf || p[-1] == '\n') && memcmp(p, "isa", 3) == 0) {
			unsigned long i = 0;
			int f = 0, d = 0;

			while (*p && *p != ':' && *p != '\n')
				p++;
			if (*p == ':')
				p++;
			while (*p == ' ' || *p == '\t')
				p++;
			while (p[i] && p[i] != '\n' && i + 1 < isasz) {
				isa[i] = p[i];
				i++;
			}
			isa[i] = 0;
			/* single letters after "rv64", up to the first multi-letter extension */
			for (i = 4; isa[i] && isa[i] != '_'; i++) {
				f |= isa[i] == 'f';
				d |= isa[i] == 'd';
			}
			return !(f && d);
		}
	}
	return 0;
}

static int work_fp(const char *name, const char *args)
{
	struct fp_state s;
	struct rt_line l;
	char isa[128];
	long long next;
	static char each_name[16];

	if (strcmp(args, "each") == 0) {
		/* One process per online CPU, each pinned there: this one takes the last. */
		unsigned long long cpus = cpu_set_all();
		unsigned cpu = 0;
		long rc;

		if (!cpus) {
			work_error(name, "sched_getaffinity", -errno);
			return 1;
		}
		for (;;) {
			for (cpu = 0; !((cpus >> cpu) & 1); cpu++) /* no ctz: libgcc is lp64d */
				;
			cpus &= cpus - 1;
			if (!cpus)
				break;
			pid_t pid = fork();

			if (pid < 0) {
				work_error(name, "fork", -errno);
				return 1;
			}
			if (pid == 0)
				break;
		}
		rc = cpu_pin(cpu);
		if (rc < 0) {
			work_error(name, "sched_setaffinity", rc);
			return 1;
		}
		/* "fp@<cpu>", cpu < 64 */
		memcpy(each_name, "fp@", 3);
		if (cpu >= 10) {
			each_name[3] = (char)('0' + cpu / 10);
			each_name[4] = (char)('0' + cpu % 10);
		} else {
			each_name[3] = (char)('0' + cpu);
		}
		name = each_name;
	} else if (*args) {
		work_error(name, "unknown argument (fp or fp:each)", 0);
		return 1;
	}
	if (fp_missing(isa, sizeof(isa))) {
		work_line(&l, name);
		rt_line_s(&l, "ERROR no F and D on this hart: isa ");
		rt_line_s(&l, isa);
		work_put(&l);
		return 1;
	}
	memset(&s, 0, sizeof(s));
	s.name = name;
	fp_canary_set();
	work_line(&l, name);
	rt_line_s(&l, "start kernels=6 modes=5");
	work_put(&l);
	next = mono_ns() + FP_REPORT_NS;
	for (;;) {
		long long t;

		fp_round(&s);
		t = mono_ns();
		if (t < next)
			continue;
		work_line(&l, name);
		if (s.mismatches) {
			rt_line_s(&l, "FAILED rounds=");
			rt_line_u(&l, s.rounds);
			rt_line_s(&l, " mismatches=");
			rt_line_u(&l, s.mismatches);
		} else {
			rt_line_s(&l, "ok rounds=");
			rt_line_u(&l, s.rounds);
		}
		work_put(&l);
		s.printed = 0;
		next += FP_REPORT_NS;
		if (next <= t)
			next = t + FP_REPORT_NS;
	}
	return 0;
}

/* ---- starting and reaping ------------------------------------------------------------- */

static const struct workload {
	const char *name;
	int (*run)(const char *name, const char *args);
} workloads[] = {
	{ "idle", work_idle },	     { "dirty", work_dirty }, { "counter", work_counter },
	{ "disklog", work_disklog }, { "sink", work_sink },   { "fp", work_fp },
};

static struct {
	pid_t pid;
	const char *name;
} running[WORK_MAX];

/* The workload of `name` or `name:args` (item is cut in place, *args set), or 0. */
static const struct workload *work_find(char *item, char **args)
{
	char *a = item;

	while (*a && *a != ':')
		a++;
	if (*a)
		*a++ = 0;
	*args = a;
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (rt_strlen(workloads[i].name) == rt_strlen(item) &&
		    memcmp(workloads[i].name, item, rt_strlen(item)) == 0)
			return &workloads[i];
	return 0;
}

/* Fork one workload, `name` or `name:args`; item is cut in place. */
static void work_start(char *item)
{
	char *args;
	const struct workload *w = work_find(item, &args);
	pid_t pid;
	unsigned slot;

	if (!w) {
		work_error(item, "unknown workload", 0);
		return;
	}
	for (slot = 0; slot < WORK_MAX && running[slot].pid; slot++)
		;
	if (slot == WORK_MAX) {
		work_error(item, "too many workloads", 0);
		return;
	}
	pid = fork();
	if (pid == 0)
		exit(w->run(w->name, args));
	if (pid < 0) {
		work_error(item, "fork", -errno);
		return;
	}
	running[slot].pid = pid;
	running[slot].name = w->name;
}

/* Start each workload of a comma-separated list. */
static void work_start_all(char *list)
{
	char *p = list;

	while (*p) {
		char *q = p;

		while (*q && *q != ',')
			q++;
		char c = *q;

		*q = 0;
		if (*p)
			work_start(p);
		if (!c)
			break;
		p = q + 1;
	}
}

/* Init's last job: wait for children forever, and report a workload that ends. */
static void work_reap(void)
{
	for (;;) {
		int status = 0;
		pid_t pid = waitpid(-1, &status, 0);
		struct rt_line l;

		if (pid < 0) {
			/* No children left: idle. */
			rt_nanosleep(3600LL * RT_NS_PER_SEC);
			continue;
		}
		for (unsigned i = 0; i < WORK_MAX; i++) {
			if (running[i].pid != pid)
				continue;
			running[i].pid = 0;
			work_line(&l, running[i].name);
			if ((status & 0x7f) != 0 && (status & 0x7f) != 0x7f) {
				rt_line_s(&l, "exited signal=");
				rt_line_u(&l, (unsigned)(status & 0x7f));
			} else {
				rt_line_s(&l, "exited status=");
				rt_line_u(&l, (unsigned)((status >> 8) & 0xff));
			}
			work_put(&l);
		}
	}
}
int main(int argc, char **argv)
{
	struct rt_utsname u;
	char uptime[32];
	char value[256];

	/* `init --work NAME[:ARGS]` outside the guest (e.g. under qemu-riscv64 user mode): run
	 * that one workload in the foreground. */
	if (getpid() != 1 && argc == 3 && rt_strlen(argv[1]) == 6 &&
	    memcmp(argv[1], "--work", 6) == 0) {
		char *args;
		const struct workload *w = work_find(argv[2], &args);

		if (!w) {
			work_error(argv[2], "unknown workload", 0);
			return 2;
		}
		return w->run(w->name, args);
	}
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
	if (cmdline_get("ferry.work", value, sizeof(value)))
		work_start_all(value);
	work_reap();
	return 0;
}
