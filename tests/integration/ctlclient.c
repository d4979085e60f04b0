/* ctlclient.c - clients that misbehave on purpose, for tests/integration/control.sh.
 *
 *   ctlclient lines SOCKET SECONDS [LINE] send LINE (if given), then print every line the
 *                                         socket sends for SECONDS
 *   ctlclient ask SOCKET LINE             send LINE, shut down the sending side, print what
 *                                         comes until the server closes (at most 5 s)
 *   ctlclient flood SOCKET COUNT SECONDS  send COUNT status requests without reading the
 *                                         replies; SECONDS later, read them, count them and
 *                                         say whether the server closed the connection
 *   ctlclient hold PORT SECONDS           listen on 127.0.0.1:PORT, accept, never answer
 *
 * Exit status 0, or 1 if the socket cannot be reached (the reason on stderr).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ctlclient: cannot connect to %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Read until EOF, idle_ms of silence or the deadline (ms, monotonic); returns the bytes read,
 * *eof set at EOF or an error, *nl (if not NULL) the newlines among them. */
static long long drain(int fd, int idle_ms, long long deadline, int *eof, long *nl, FILE *echo)
{
	char buf[65536];
	long long total = 0;

	*eof = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, left < idle_ms ? (int)left : idle_ms) <= 0)
			return total;
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0) {
			*eof = 1;
			return total;
		}
		if (echo)
			fwrite(buf, 1, (size_t)n, echo), fflush(echo);
		for (ssize_t i = 0; nl && i < n; i++)
			*nl += buf[i] == '\n';
		total += n;
	}
}

static int lines(const char *path, int secs, const char *line)
{
	int fd = connect_unix(path), eof = 0;

	if (line &&
	    (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0))
		return 1;
	drain(fd, secs * 1000, now_ms() + secs * 1000LL, &eof, NULL, stdout);
	return 0;
}

static int ask(const char *path, const char *line)
{
	int fd = connect_unix(path), eof = 0;

	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0 ||
	    shutdown(fd, SHUT_WR) != 0)
		return 1;
	drain(fd, 5000, now_ms() + 5000, &eof, NULL, stdout);
	printf("%s\n", eof ? "(closed)" : "(still open)");
	return 0;
}

static int flood(const char *path, long count, int secs)
{
	static const char req[] = "{\"execute\": \"status\"}\n";
	int fd = connect_unix(path), eof;
	long long t0 = now_ms(), got;
	long sent = 0, lines = 0;

	signal(SIGPIPE, SIG_IGN);
	for (; sent < count; sent++)
		if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
			break;
	printf("flood: sent %ld of %ld requests in %lld ms", sent, count, now_ms() - t0);
	sleep((unsigned)secs);
	got = drain(fd, 2000, now_ms() + 30000, &eof, &lines, NULL);
	printf("; then read %lld bytes, %ld lines, and the server %s\n", got, lines,
	       eof ? "had closed the connection" : "kept it open");
	return 0;
}

static int hold(int port, int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), conns[64], n = 0;
	long long end = now_ms() + secs * 1000LL;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "ctlclient: cannot listen on 127.0.0.1:%d: %s\n", port,
			strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, (int)(end - now_ms())) > 0 && n < 64)
			conns[n++] = accept(fd, NULL, NULL); /* kept open, never read */
	}
	while (n > 0)
		close(conns[--n]);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "lines") == 0)
		return lines(argv[2], atoi(argv[3]), argc == 5 ? argv[4] : NULL);
	if (argc == 4 && strcmp(argv[1], "ask") == 0)
		return ask(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "flood") == 0)
		return flood(argv[2], atol(argv[3]), atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return hold(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: ctlclient lines SOCKET SECONDS [LINE] | ask SOCKET LINE | flood "
			"SOCKET COUNT SECONDS | "
			"hold PORT SECONDS\n");
	return 2;
}
