/* rt.h - what Linux 6.1's nolibc lacks, as raw system calls for the guest programs.
 *
 * The guest programs are static, built with the kernel tree's
 * tools/include/nolibc (included first by the build with -include nolibc.h)
 * for the soft-float lp64 ABI. nolibc 6.1 has no clock_gettime, nanosleep,
 * uname, mount, pread/pwrite or fdatasync; the wrappers below fill in with
 * my_syscallN. The numbers are those of the generic syscall table that
 * riscv64 uses. Unlike nolibc's own wrappers they do not touch errno: they
 * return the kernel's answer, a negative errno on failure.
 *
 * Several guest processes (the workloads) share the console, so a line is
 * built in a struct rt_line and written with one write(): the tty layer
 * never interleaves two writes, so neither do the lines.
 */
#ifndef FERRY_GUEST_RT_H
#define FERRY_GUEST_RT_H

#define RT_NR_mount 40
#define RT_NR_pread64 67
#define RT_NR_pwrite64 68
#define RT_NR_ppoll 73
#define RT_NR_sync 81
#define RT_NR_fdatasync 83
#define RT_NR_nanosleep 101
#define RT_NR_clock_gettime 113
#define RT_NR_uname 160

#define RT_NS_PER_SEC 1000000000LL
#define RT_NS_PER_MS 1000000LL

#define RT_CLOCK_REALTIME 0
#define RT_CLOCK_MONOTONIC 1
#define RT_CLOCK_BOOTTIME 7

struct rt_timespec {
	long tv_sec;
	long tv_nsec;
};

struct rt_utsname {
	char sysname[65];
	char nodename[65];
	char release[65];
	char version[65];
	char machine[65];
	char domainname[65];
};

static inline int rt_clock_gettime(int clk, struct rt_timespec *ts)
{
	return (int)my_syscall2(RT_NR_clock_gettime, clk, ts);
}

/* Nanoseconds on the given clock. */
static inline long long rt_now_ns(int clk)
{
	struct rt_timespec ts;

	if (rt_clock_gettime(clk, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int rt_nanosleep(long long ns)
{
	struct rt_timespec req = { (long)(ns / 1000000000LL), (long)(ns % 1000000000LL) };

	return (int)my_syscall2(RT_NR_nanosleep, &req, 0);
}

static inline int rt_uname(struct rt_utsname *u)
{
	return (int)my_syscall1(RT_NR_uname, u);
}

static inline int rt_mount(const char *src, const char *dst, const char *type, unsigned long flags,
			   const void *data)
{
	return (int)my_syscall5(RT_NR_mount, src, dst, type, flags, data);
}

static inline void rt_sync(void)
{
	my_syscall0(RT_NR_sync);
}

static inline long rt_pread(int fd, void *buf, unsigned long len, long long off)
{
	return my_syscall4(RT_NR_pread64, fd, buf, len, off);
}

static inline long rt_pwrite(int fd, const void *buf, unsigned long len, long long off)
{
	return my_syscall4(RT_NR_pwrite64, fd, buf, len, off);
}

static inline int rt_fdatasync(int fd)
{
	return (int)my_syscall1(RT_NR_fdatasync, fd);
}

/* poll() with a timeout in nanoseconds (< 0: wait forever); nolibc's poll() has milliseconds. */
static inline int rt_ppoll(struct pollfd *fds, unsigned long nfds, long long timeout_ns)
{
	struct rt_timespec ts;

	if (timeout_ns < 0)
		return (int)my_syscall4(RT_NR_ppoll, fds, nfds, 0, 0);
	ts.tv_sec = (long)(timeout_ns / RT_NS_PER_SEC);
	ts.tv_nsec = (long)(timeout_ns % RT_NS_PER_SEC);
	return (int)my_syscall4(RT_NR_ppoll, fds, nfds, &ts, 0);
}

/* Length of a NUL-terminated string. */
static inline unsigned long rt_strlen(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

/* Write a whole string to a descriptor. */
static inline void rt_puts(int fd, const char *s)
{
	unsigned long len = rt_strlen(s);

	while (len > 0) {
		long n = write(fd, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (unsigned long)n;
	}
}

/* ---- console lines ------------------------------------------------------------------ */

#define RT_LINE_MAX 256

/* One output line, built in pieces, written at once by rt_line_put(). What does not fit is
 * cut off (the newline is kept). */
struct rt_line {
	unsigned long n;
	char b[RT_LINE_MAX];
};

static inline void rt_line_c(struct rt_line *l, char c)
{
	if (l->n < RT_LINE_MAX)
		l->b[l->n++] = c;
}

static inline void rt_line_s(struct rt_line *l, const char *s)
{
	while (*s)
		rt_line_c(l, *s++);
}

/* Unsigned decimal. */
static inline void rt_line_u(struct rt_line *l, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		rt_line_c(l, tmp[--n]);
}

/* Signed decimal. */
static inline void rt_line_i(struct rt_line *l, long long v)
{
	if (v < 0) {
		rt_line_c(l, '-');
		rt_line_u(l, 0ULL - (unsigned long long)v);
	} else {
		rt_line_u(l, (unsigned long long)v);
	}
}

/* "0x" and 16 hex digits. */
static inline void rt_line_x(struct rt_line *l, unsigned long long v)
{
	rt_line_s(l, "0x");
	for (int i = 15; i >= 0; i--)
		rt_line_c(l, "0123456789abcdef"[(v >> (4 * i)) & 15]);
}

/* Seconds with milliseconds, "12.345", from nanoseconds (negative shows as 0.000). */
static inline void rt_line_secs(struct rt_line *l, long long ns)
{
	unsigned long long ms;

	if (ns < 0)
		ns = 0;
	ms = (unsigned long long)ns / 1000000ULL;
	rt_line_u(l, ms / 1000);
	rt_line_c(l, '.');
	rt_line_c(l, (char)('0' + ms / 100 % 10));
	rt_line_c(l, (char)('0' + ms / 10 % 10));
	rt_line_c(l, (char)('0' + ms % 10));
}

/* Write the line to fd with one write() (retrying only a short write), then empty it. */
static inline void rt_line_put(struct rt_line *l, int fd)
{
	unsigned long off = 0;

	if (l->n == RT_LINE_MAX)
		l->b[RT_LINE_MAX - 1] = '\n';
	while (off < l->n) {
		long n = write(fd, l->b + off, l->n - off);

		if (n <= 0)
			break;
		off += (unsigned long)n;
	}
	l->n = 0;
}

/* A benchmark's result line, one write: "<prefix>insns=N ns=T mips=M check=C t0=A t1=B", where
 * [A, B] is the timed region on CLOCK_MONOTONIC (copies running at once on several CPUs are
 * summed over the union of their regions, bench/machine.sh). */
static inline void rt_bench_report(const char *prefix, unsigned long long insns, long long t0,
				   long long t1, unsigned long long check)
{
	struct rt_line l = { 0, { 0 } };

	rt_line_s(&l, prefix);
	rt_line_s(&l, "insns=");
	rt_line_u(&l, insns);
	rt_line_s(&l, " ns=");
	rt_line_u(&l, (unsigned long long)(t1 - t0));
	rt_line_s(&l, " mips=");
	rt_line_u(&l, insns * 1000ULL / (unsigned long long)(t1 - t0));
	rt_line_s(&l, " check=");
	rt_line_u(&l, check);
	rt_line_s(&l, " t0=");
	rt_line_u(&l, (unsigned long long)t0);
	rt_line_s(&l, " t1=");
	rt_line_u(&l, (unsigned long long)t1);
	rt_line_c(&l, '\n');
	rt_line_put(&l, 1);
}

#endif
