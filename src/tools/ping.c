/* ping.c - ferry-ping: ICMP echo at a fixed pace, whether or not replies come back.
 *
 *   ferry-ping [--interval MS] [--duration SEC] [--skip N] ADDR
 *
 * iputils ping holds back while a probe is unanswered (and, with a preload, sends a burst
 * first and slows down for good once that many probes are lost), so during a blackout it
 * sends far fewer probes than the blackout lasts and a loss count taken from it is too
 * small. This one sends one echo request every --interval milliseconds (default 10; 1 is
 * fine) on its own schedule, until --duration seconds have passed or SIGINT/SIGTERM, and
 * prints one line per reply in iputils' `ping -D` format, so the same analysis reads both:
 *
 *     [REALTIME] 64 bytes from ADDR: icmp_seq=N ttl=T time=RTT ms
 *
 * then a summary line "S packets transmitted, R received" and, counted over the probes after
 * the first --skip (default 0), one line
 *
 *     ferry-ping: sent S, received R, lost L, longest-gap-ms G
 *
 * where a probe is lost if its reply never came (within 1 s of the end) and the longest gap
 * is the longest interval between two replies, or from the last reply to the end. Needs a raw
 * socket (root). IPv4 only. Exit status 0 if any reply came back, 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/version.h"

#define PING_MAX_PROBES (1u << 24)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint16_t cksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ferry-ping [--interval MS] [--duration SEC] [--skip N] ADDR\n"
	    "       ferry-ping --version\n"
	    "Send an ICMP echo request every MS milliseconds (default 10) to the IPv4 ADDR until\n"
	    "SEC seconds have passed or SIGINT; print each reply like `ping -D`, then a "
	    "summary.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "skip", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	double interval_ms = 10, duration = 0;
	long skip = 0;
	struct sockaddr_in to = { .sin_family = AF_INET };
	int c;

	while ((c = getopt_long(argc, argv, "i:d:s:h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'i':
			interval_ms = strtod(optarg, &end);
			if (*end || interval_ms < 0.1 || interval_ms > 60000) {
				fprintf(stderr,
					"ferry-ping: --interval: '%s' is not 0.1..60000 ms\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			duration = strtod(optarg, &end);
			if (*end || duration < 0) {
				fprintf(stderr,
					"ferry-ping: --duration: '%s' is not a number of seconds\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			skip = strtol(optarg, &end, 10);
			if (*end || skip < 0) {
				fprintf(stderr, "ferry-ping: --skip: '%s' is not a count\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("ferry-ping " FERRY_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || inet_pton(AF_INET, argv[optind], &to.sin_addr) != 1) {
		if (optind == argc - 1)
			fprintf(stderr, "ferry-ping: '%s' is not an IPv4 address\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);

	if (fd < 0) {
		fprintf(stderr, "ferry-ping: raw socket: %s (needs root)\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("PING %s: one echo request every %g ms\n", argv[optind], interval_ms);

	/* Per probe: when it was sent (monotonic ns); 0 once answered. */
	size_t cap = 4096;
	int64_t *sent_at = calloc(cap, sizeof(*sent_at));
	uint8_t *answered = calloc(cap, 1);
	uint16_t id = (uint16_t)getpid();
	uint32_t nsent = 0, nrecv = 0;
	int64_t step = (int64_t)(interval_ms * 1e6), t0 = now_ns(CLOCK_MONOTONIC), next = t0;
	int64_t end = duration > 0 ? t0 + (int64_t)(duration * 1e9) : INT64_MAX;
	int64_t stop_at = 0, last_reply = 0, gap = 0;

	if (!sent_at || !answered) {
		fprintf(stderr, "ferry-ping: out of memory\n");
		return 1;
	}
	for (;;) {
		int64_t t = now_ns(CLOCK_MONOTONIC);

		if (!stop_at && (stop || t >= end))
			stop_at = t; /* wait a little for replies in flight, sending no more */
		if (stop_at && (t - stop_at > 200000000LL || nrecv == nsent))
			break;
		if (!stop_at && t >= next && nsent < PING_MAX_PROBES) {
			uint8_t pkt[64] = { 0 };
			struct icmphdr *h = (struct icmphdr *)pkt;

			if (nsent == cap) {
				cap *= 2;
				int64_t *ns = realloc(sent_at, cap * sizeof(*ns));
				uint8_t *na = realloc(answered, cap);

				if (!ns || !na) {
					fprintf(stderr, "ferry-ping: out of memory\n");
					return 1;
				}
				sent_at = ns;
				answered = na;
			}
			h->type = ICMP_ECHO;
			h->un.echo.id = htons(id);
			h->un.echo.sequence = htons((uint16_t)nsent);
			memcpy(pkt + sizeof(*h), &nsent, sizeof(nsent));
			h->checksum = cksum(pkt, sizeof(pkt));
			sent_at[nsent] = t;
			answered[nsent] = 0;
			if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) <
				0 &&
			    errno != ENOBUFS && errno != EHOSTUNREACH && errno != EAGAIN)
				fprintf(stderr, "ferry-ping: send: %s\n", strerror(errno));
			nsent++;
			next += step;
			if (next < t - 100 * step)
				next = t; /* suspended for a long time: do not send a burst */
			continue;
		}
		int64_t wait = stop_at ? 10000000LL : next - t;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, (int)(wait > 0 ? (wait + 999999) / 1000000 : 0)) <= 0)
			continue;
		uint8_t in[1500];
		ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
		int64_t tr = now_ns(CLOCK_MONOTONIC);

		if (n < (ssize_t)sizeof(struct iphdr))
			continue;
		const struct iphdr *ip = (const struct iphdr *)in;
		size_t hl = (size_t)ip->ihl * 4;
		uint32_t probe;

		if (hl < sizeof(*ip) || (size_t)n < hl + sizeof(struct icmphdr) + sizeof(probe) ||
		    ip->saddr != to.sin_addr.s_addr)
			continue;
		const struct icmphdr *h = (const struct icmphdr *)(in + hl);

		if (h->type != ICMP_ECHOREPLY || ntohs(h->un.echo.id) != id)
			continue;
		memcpy(&probe, in + hl + sizeof(*h), sizeof(probe));
		if (probe >= nsent || (uint16_t)probe != ntohs(h->un.echo.sequence) ||
		    answered[probe])
			continue;
		answered[probe] = 1;
		nrecv++;
		if (probe >= (uint32_t)skip) {
			if (last_reply && tr - last_reply > gap)
				gap = tr - last_reply;
			last_reply = tr;
		}
		int64_t rt = now_ns(CLOCK_REALTIME);

		printf("[%lld.%06lld] %zd bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms\n",
		       (long long)(rt / 1000000000LL), (long long)(rt % 1000000000LL / 1000),
		       n - (ssize_t)hl, argv[optind], probe, ip->ttl,
		       (double)(tr - sent_at[probe]) / 1e6);
	}
	int64_t tend = stop_at ? stop_at : now_ns(CLOCK_MONOTONIC);
	uint32_t lost = 0, counted = 0;

	if (last_reply && tend - last_reply > gap)
		gap = tend - last_reply;
	for (uint32_t i = (uint32_t)skip; i < nsent; i++, counted++)
		lost += !answered[i];
	printf("\n--- %s ferry-ping statistics ---\n%u packets transmitted, %u received\n",
	       argv[optind], nsent, nrecv);
	printf("ferry-ping: sent %u, received %u, lost %u, longest-gap-ms %.1f\n", counted,
	       counted - lost, lost, (double)gap / 1e6);
	free(sent_at);
	free(answered);
	close(fd);
	return nrecv ? 0 : 1;
}
