/* counter.c - ferry-counter: checks the guest's counter stream for skips, repeats and stalls.
 *
 *   ferry-counter [--duration SEC] [--report-interval SEC] [--max-gap-ms MS]
 *                 [--stall-ms MS] [--connect-timeout SEC] HOST [PORT]
 *
 * HOST is a name or an address, or host:port, [v6]:port (common/addr.h); PORT, given apart,
 * replaces the default 7000.
 *
 * The guest's `counter` workload (guest/init/init.c) sends each connection the lines
 *     SEQ <n> <guest CLOCK_MONOTONIC ns> <guest CLOCK_REALTIME ns>
 * every 10 ms, n counting from 1. This client holds one connection (default port 7000) and
 * checks every line: n must be exactly the previous one plus 1. A number above that is a skip
 * (the missing numbers are counted), one at or below the highest seen a repeat (each such line
 * counted). It measures the longest gap between lines in host CLOCK_MONOTONIC time (counting
 * from the connection to the first line and from the last line to the end, so a stall that
 * never ends is seen too) and the longest step of the guest's monotonic stamps between
 * consecutive lines. A connection that ends is a failure: there is no reconnecting, since a
 * new connection would start a new sequence.
 *
 * At the end (duration reached, the connection lost, SIGINT or SIGTERM) it prints one line to
 * stdout:
 *     counter: received N, skips S, repeats R, longest-gap-ms G, guest-longest-gap-ms H,
 *     disconnected yes|no
 * (one line). Details (each skip, repeat, stall over --stall-ms, malformed line, guest clock
 * going backwards) and the progress lines of --report-interval go to stderr. Exit status 0
 * only if lines arrived, none skipped, repeated or malformed, the guest clock never went
 * backwards, the connection held, and the longest gap stayed within --max-gap-ms if given;
 * 1 otherwise; 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/version.h"

#define NS_PER_MS 1000000LL
#define NS_PER_SEC 1000000000LL
#define DETAIL_LINES 20 /* per kind, on stderr; the rest are only counted */

static const char usage[] =
    "usage: ferry-counter [--duration SEC] [--report-interval SEC] [--max-gap-ms MS]\n"
    "                     [--stall-ms MS] [--connect-timeout SEC] HOST [PORT]\n"
    "       ferry-counter --version\n"
    "\n"
    "Connect to the guest's counter service at HOST (a name or an address, host:port or\n"
    "[v6]:port; default port 7000) and check that every\n"
    "line's sequence number is the previous one plus 1. Runs for SEC seconds (default:\n"
    "until SIGINT/SIGTERM or the connection ends), then prints\n"
    "  counter: received N, skips S, repeats R, longest-gap-ms G, guest-longest-gap-ms H,"
    " disconnected yes|no\n"
    "--report-interval prints progress to stderr every SEC seconds; --stall-ms (default\n"
    "1000) reports each gap at least that long on stderr; --max-gap-ms makes a longer gap\n"
    "a failure. Exit 0 only if all is well, 1 otherwise, 2 on bad usage.\n";

struct stats {
	unsigned long long received, skips, repeats, malformed, backwards;
	unsigned long long last_seq; /* highest number seen */
	long long prev_guest_ns;
	long long last_arrival; /* host monotonic ns of the last line (or of the connect) */
	long long longest_gap, guest_longest_gap; /* ns */
	int disconnected;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static long long ns_to_ms(long long ns)
{
	return (ns + NS_PER_MS / 2) / NS_PER_MS;
}

/* A duration in seconds (fractions allowed) as nanoseconds; -1 if malformed. */
static long long parse_secs(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9)
		return -1;
	return (long long)(v * 1e9);
}

static long long parse_ms(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1000000000LL)
		return -1;
	return v;
}

/* Connect within timeout_ns; returns the socket or -1 (message printed). */
static int connect_to(const struct addr *a, long long timeout_ns)
{
	struct addrinfo *res, *ai;
	int fd = -1, rc, saved = 0;
	char name[ADDR_STR_MAX];
	struct err e;

	addr_format(a, name);
	if (addr_resolve(a, false, &res, &e) < 0) {
		fprintf(stderr, "ferry-counter: %s\n", e.msg);
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd p;
		socklen_t len = sizeof(saved);
		long long deadline = now_ns() + timeout_ns;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		if (saved == EINPROGRESS) {
			saved = ETIMEDOUT;
			for (;;) {
				long long left = deadline - now_ns();

				if (left <= 0 || stop_signal)
					break;
				p.fd = fd;
				p.events = POLLOUT;
				rc = poll(&p, 1, (int)((left + NS_PER_MS - 1) / NS_PER_MS));
				if (rc < 0 && errno == EINTR)
					continue;
				if (rc > 0 &&
				    getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &len) == 0)
					break;
				if (rc < 0)
					saved = errno;
				if (rc != 0)
					break;
			}
			if (saved == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "ferry-counter: connect to %s: %s\n", name,
			strerror(saved ? saved : ECONNREFUSED));
	return fd;
}

/* Strict unsigned / signed decimal field followed by sep; advances *p. */
static int field_u(const char **p, char sep, unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (v > (~0ULL - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*s++ - '0');
	}
	if (*s != sep)
		return -1;
	*p = s + (sep ? 1 : 0);
	*out = v;
	return 0;
}

static int field_i(const char **p, char sep, long long *out)
{
	unsigned long long v;
	int neg = **p == '-';

	if (neg)
		(*p)++;
	if (field_u(p, sep, &v) < 0 || v > (unsigned long long)1 << 62)
		return -1;
	*out = neg ? -(long long)v : (long long)v;
	return 0;
}

/* One line (without its newline) that arrived at host time `arrival`. */
static void check_line(struct stats *st, const char *line, long long arrival, long long stall_ns)
{
	const char *p = line;
	unsigned long long seq;
	long long mono, real, gap;

	if (strncmp(p, "SEQ ", 4) != 0 || (p += 4, field_u(&p, ' ', &seq)) < 0 ||
	    field_i(&p, ' ', &mono) < 0 || field_i(&p, 0, &real) < 0 || seq == 0) {
		if (st->malformed++ < DETAIL_LINES)
			fprintf(stderr, "counter: malformed line: %.80s\n", line);
		return;
	}
	gap = arrival - st->last_arrival;
	if (gap > st->longest_gap)
		st->longest_gap = gap;
	if (gap >= stall_ns)
		fprintf(stderr, "counter: stall of %lld ms before SEQ %llu\n", ns_to_ms(gap), seq);
	st->last_arrival = arrival;

	if (seq == st->last_seq + 1) {
		/* in order */
	} else if (seq > st->last_seq + 1) {
		if (st->skips == 0 || st->skips < DETAIL_LINES)
			fprintf(stderr, "counter: skip: SEQ %llu after %llu (%llu missing)\n", seq,
				st->last_seq, seq - st->last_seq - 1);
		st->skips += seq - st->last_seq - 1;
	} else {
		if (st->repeats++ < DETAIL_LINES)
			fprintf(stderr, "counter: repeat: SEQ %llu after %llu\n", seq,
				st->last_seq);
	}
	if (st->received > 0) {
		long long g = mono - st->prev_guest_ns;

		if (g < 0 && st->backwards++ < DETAIL_LINES)
			fprintf(stderr, "counter: guest clock went back %lld ns at SEQ %llu\n", -g,
				seq);
		if (g > st->guest_longest_gap)
			st->guest_longest_gap = g;
	}
	st->prev_guest_ns = mono;
	if (seq > st->last_seq)
		st->last_seq = seq;
	st->received++;
	(void)real;
}

static void print_stats(FILE *f, const char *prefix, const struct stats *st, long long end)
{
	long long gap = st->longest_gap;

	/* A stall still going on at the end counts too. */
	if (end - st->last_arrival > gap)
		gap = end - st->last_arrival;
	fprintf(f,
		"%sreceived %llu, skips %llu, repeats %llu, longest-gap-ms %lld, "
		"guest-longest-gap-ms %lld, disconnected %s\n",
		prefix, st->received, st->skips, st->repeats, ns_to_ms(gap),
		ns_to_ms(st->guest_longest_gap), st->disconnected ? "yes" : "no");
	fflush(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "report-interval", required_argument, NULL, 'r' },
		{ "max-gap-ms", required_argument, NULL, 'g' },
		{ "stall-ms", required_argument, NULL, 's' },
		{ "connect-timeout", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long long duration = 0, report = 0, max_gap_ms = -1, stall_ns = NS_PER_SEC;
	long long connect_timeout = 10 * NS_PER_SEC, start, deadline, next_report;
	static char buf[1 << 16];
	size_t len = 0;
	struct sigaction sa;
	struct stats st;
	struct addr to;
	struct err e;
	int opt, fd, ok;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		long long v = 0;

		switch (opt) {
		case 'd':
		case 'r':
		case 'c':
			v = parse_secs(optarg);
			break;
		case 'g':
		case 's':
			v = parse_ms(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("ferry-counter " FERRY_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
		if (v < 0) {
			fprintf(stderr, "ferry-counter: bad value for --%s: %s\n",
				opt == 'd'   ? "duration"
				: opt == 'r' ? "report-interval"
				: opt == 'c' ? "connect-timeout"
				: opt == 'g' ? "max-gap-ms"
					     : "stall-ms",
				optarg);
			return 2;
		}
		if (opt == 'd')
			duration = v;
		else if (opt == 'r')
			report = v;
		else if (opt == 'c')
			connect_timeout = v;
		else if (opt == 'g')
			max_gap_ms = v;
		else
			stall_ns = v * NS_PER_MS;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		fputs(usage, stderr);
		return 2;
	}
	/* PORT given apart only with a HOST that names none. */
	if (argc - optind == 2 && addr_parse(argv[optind], NULL, 0, &to, &e) == 0) {
		fprintf(stderr, "ferry-counter: '%s' names a port already; give PORT once\n",
			argv[optind]);
		return 2;
	}
	if (addr_parse(argv[optind], argc - optind == 2 ? argv[optind + 1] : "7000", 0, &to, &e) <
	    0) {
		fprintf(stderr, "ferry-counter: %s\n", e.msg);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&st, 0, sizeof(st));
	fd = connect_to(&to, connect_timeout);
	start = now_ns();
	st.last_arrival = start;
	if (fd < 0) {
		st.disconnected = 1;
		print_stats(stdout, "counter: ", &st, start);
		return 1;
	}
	deadline = duration > 0 ? start + duration : -1;
	next_report = report > 0 ? start + report : -1;

	while (!stop_signal) {
		long long t = now_ns(), wait = -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc;

		if (deadline >= 0 && t >= deadline)
			break;
		if (next_report >= 0 && t >= next_report) {
			fprintf(stderr, "counter: progress t=%.1f last-seq %llu ",
				(double)(t - start) / 1e9, st.last_seq);
			print_stats(stderr, "", &st, t);
			next_report += report;
		}
		if (deadline >= 0)
			wait = deadline - t;
		if (next_report >= 0 && (wait < 0 || next_report - t < wait))
			wait = next_report - t;
		rc = poll(&p, 1, wait < 0 ? -1 : (int)((wait + NS_PER_MS - 1) / NS_PER_MS));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ferry-counter: poll: %s\n", strerror(errno));
			st.disconnected = 1;
			break;
		}
		if (rc == 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			fprintf(stderr, "counter: connection %s after SEQ %llu\n",
				n == 0 ? "closed by the guest" : strerror(errno), st.last_seq);
			st.disconnected = 1;
			break;
		}
		t = now_ns();
		len += (size_t)n;
		/* Every complete line; a partial one waits for the rest. */
		char *line = buf, *nl;

		while ((nl = memchr(line, '\n', len - (size_t)(line - buf)))) {
			*nl = 0;
			check_line(&st, line, t, stall_ns);
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (len == sizeof(buf)) {
			if (st.malformed++ < DETAIL_LINES)
				fprintf(stderr, "counter: malformed: %zu bytes without a newline\n",
					len);
			len = 0;
		}
	}
	if (stop_signal)
		fprintf(stderr, "counter: stopped by signal %d\n", (int)stop_signal);
	close(fd);

	long long end = now_ns();

	print_stats(stdout, "counter: ", &st, end);
	ok = st.received > 0 && st.skips == 0 && st.repeats == 0 && st.malformed == 0 &&
	     st.backwards == 0 && !st.disconnected;
	if (max_gap_ms >= 0) {
		long long gap =
		    st.longest_gap > end - st.last_arrival ? st.longest_gap : end - st.last_arrival;

		if (ns_to_ms(gap) > max_gap_ms)
			ok = 0;
	}
	return ok ? 0 : 1;
}
