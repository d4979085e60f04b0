/*
 * xfer.c - a bounded TCP bulk transfer that measures one lab link (lab/lab measure).
 *
 *   ferry-lab-xfer recv ADDR PORT [TIMEOUT]
 *       accept one connection on ADDR:PORT (an address inside a lab namespace), read it to
 *       EOF, print "BYTES SECONDS": bytes received and the time from the first byte to EOF.
 *       Gives up after TIMEOUT seconds (default 30) without a connection or without data.
 *   ferry-lab-xfer send ADDR PORT SECONDS
 *       connect (retrying for up to 5 s while nobody listens), send zeros for SECONDS, close.
 *
 * Both sides stop by themselves. Exit status 0 on success, 1 on an error (message on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "xfer: bad port '%s'\n", port);
		return -1;
	}
	sa->sin_port = htons((unsigned short)p);
	if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "xfer: bad IPv4 address '%s'\n", addr);
		return -1;
	}
	return 0;
}

static int do_recv(const struct sockaddr_in *sa, int timeout_s)
{
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(ls, 1) < 0) {
		fprintf(stderr, "xfer: listen: %s\n", strerror(errno));
		return 1;
	}
	struct pollfd pf = {.fd = ls, .events = POLLIN};
	int r = poll(&pf, 1, timeout_s * 1000);
	if (r <= 0) {
		fprintf(stderr, "xfer: no connection within %d s\n", timeout_s);
		return 1;
	}
	int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		fprintf(stderr, "xfer: accept: %s\n", strerror(errno));
		return 1;
	}
	close(ls);
	static char buf[1 << 16];
	unsigned long long bytes = 0;
	double first = 0, last = 0;
	for (;;) {
		pf.fd = s;
		pf.events = POLLIN;
		r = poll(&pf, 1, timeout_s * 1000);
		if (r == 0) {
			fprintf(stderr, "xfer: no data for %d s\n", timeout_s);
			return 1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "xfer: poll: %s\n", strerror(errno));
			return 1;
		}
		ssize_t n = read(s, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "xfer: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if (bytes == 0)
			first = now();
		bytes += (unsigned long long)n;
		last = now();
	}
	close(s);
	printf("%llu %.6f\n", bytes, bytes ? last - first : 0.0);
	return 0;
}

static int do_send(const struct sockaddr_in *sa, double seconds)
{
	int s = -1;
	double deadline = now() + 5;
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			fprintf(stderr, "xfer: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			break;
		int e = errno;
		close(s);
		if (e != ECONNREFUSED || now() > deadline) {
			fprintf(stderr, "xfer: connect: %s\n", strerror(e));
			return 1;
		}
		usleep(20000);
	}
	static char buf[1 << 16];
	double end = now() + seconds;
	while (now() < end) {
		struct pollfd pf = {.fd = s, .events = POLLOUT};
		int r = poll(&pf, 1, 100);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "xfer: poll: %s\n", strerror(errno));
			return 1;
		}
		if (r <= 0)
			continue;
		ssize_t n = send(s, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "xfer: send: %s\n", strerror(errno));
			return 1;
		}
	}
	/* Wait for the receiver to take the rest (it closes at EOF): bounded. */
	shutdown(s, SHUT_WR);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	double stop = now() + 30;
	while (now() < stop && poll(&pf, 1, 1000) >= 0) {
		if (pf.revents && read(s, buf, sizeof(buf)) <= 0)
			break;
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && argc <= 5 && strcmp(argv[1], "recv") == 0) {
		int timeout = argc == 5 ? atoi(argv[4]) : 30;
		if (timeout < 1)
			timeout = 30;
		if (parse_addr(argv[2], argv[3], &sa) < 0)
			return 1;
		return do_recv(&sa, timeout);
	}
	if (argc == 5 && strcmp(argv[1], "send") == 0) {
		double secs = atof(argv[4]);
		if (secs <= 0 || secs > 600) {
			fprintf(stderr, "xfer: SECONDS is a number from 0 to 600\n");
			return 1;
		}
		if (parse_addr(argv[2], argv[3], &sa) < 0)
			return 1;
		return do_send(&sa, secs);
	}
	fprintf(stderr, "usage: ferry-lab-xfer recv ADDR PORT [TIMEOUT] | send ADDR PORT SECONDS\n");
	return 2;
}
