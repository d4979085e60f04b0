/* rt.h - what Linux 6.1's nolibc lacks, as raw system calls for the guest programs.
 *
 * The guest programs are static, built with the kernel tree's
 * tools/include/nolibc (included first by the build with -include nolibc.h)
 * for the soft-float lp64 ABI. nolibc 6.1 has no clock_gettime, nanosleep,
 * uname or mount; the wrappers below fill in with my_syscallN. The numbers
 * are those of the generic syscall table that riscv64 uses.
 */
#ifndef FERRY_GUEST_RT_H
#define FERRY_GUEST_RT_H

#define RT_NR_mount 40
#define RT_NR_sync 81
#define RT_NR_nanosleep 101
#define RT_NR_clock_gettime 113
#define RT_NR_uname 160

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

#endif
