/* vmctl.c - ferry-vmctl: send commands to a ferry-vm control socket, from scripts and tests.
 *
 *   ferry-vmctl [options] SOCKET COMMAND [ARGUMENTS-JSON]
 *   ferry-vmctl [options] SOCKET --wait-event NAME
 *   ferry-vmctl [options] SOCKET --raw LINE
 *
 * Prints the reply line (or one member of its "return" object with --get), or the
 * event; exits 0 on success, 1 on an error reply or a timeout, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/version.h"

static const char usage[] =
	"usage: ferry-vmctl [--timeout SEC] [--get MEMBER] [--repeat N --interval MS]\n"
	"                   SOCKET COMMAND [ARGUMENTS-JSON]\n"
	"       ferry-vmctl [--timeout SEC] SOCKET --wait-event NAME\n"
	"       ferry-vmctl [--timeout SEC] SOCKET --raw LINE\n"
	"       ferry-vmctl --version\n"
	"\n"
	"Send a command to a ferry-vm control socket (unix socket path; QEMU's QMP also\n"
	"works) and print the\n"
	"reply line, or with --get one member of its \"return\" object. --wait-event\n"
	"waits for an event and prints it. --raw sends LINE as it is and prints the first\n"
	"reply line. --repeat sends the command N times, MS milliseconds apart, and prints\n"
	"only the last reply. Default timeout 10 s.\n";

static char inbuf[1 << 20];
static size_t inlen;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next line from the socket into line (NUL-terminated, no newline). 0 ok, -1 on EOF/timeout. */
static int read_line(int fd, char *line, size_t size, long long deadline)
{
	for (;;) {
		char *nl = memchr(inbuf, '\n', inlen);

		if (nl) {
			size_t n = (size_t)(nl - inbuf);

			if (n >= size)
				n = size - 1;
			memcpy(line, inbuf, n);
			line[n] = 0;
			inlen -= (size_t)(nl - inbuf) + 1;
			memmove(inbuf, nl + 1, inlen);
			return 0;
		}
		long long left = deadline - now_ms();

		if (left <= 0 || inlen == sizeof(inbuf))
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t r = read(fd, inbuf + inlen, sizeof(inbuf) - inlen);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		inlen += (size_t)r;
	}
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Print the reply line, or with get one member of its "return" object (1 if absent). */
static int print_value(const char *line, const char *get)
{
	struct err e;
	struct json *j;
	const struct json *v;

	if (!get) {
		puts(line);
		return 0;
	}
	j = json_parse(line, strlen(line), &e);
	v = json_get(j ? json_get(j, "return") : NULL, get);
	if (!v) {
		fprintf(stderr, "ferry-vmctl: no '%s' in the reply: %s\n", get, line);
		json_free(j);
		return 1;
	}
	if (v->type == JSON_STRING)
		puts(v->str);
	else if (v->type == JSON_NUMBER && v->is_int)
		printf("%lld\n", (long long)v->i);
	else if (v->type == JSON_NUMBER)
		printf("%g\n", v->num);
	else if (v->type == JSON_BOOL)
		puts(v->b ? "true" : "false");
	else
		puts(line);
	json_free(j);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "get", required_argument, NULL, 'g' },
		{ "wait-event", required_argument, NULL, 'w' },
		{ "raw", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *get = NULL, *wait_event = NULL, *raw = NULL, *cmd = NULL, *args = NULL;
	double timeout = 10;
	long repeat = 1, interval = 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[1 << 20];
	long long deadline;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			timeout = atof(optarg);
			break;
		case 'g':
			get = optarg;
			break;
		case 'w':
			wait_event = optarg;
			break;
		case 'r':
			raw = optarg;
			break;
		case 'n':
			repeat = atol(optarg);
			break;
		case 'i':
			interval = atol(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("ferry-vmctl " FERRY_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	const char *path = argv[optind++];

	/* Options may also follow the socket path. */
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'w')
			wait_event = optarg;
		else if (opt == 'r')
			raw = optarg;
		else if (opt == 'g')
			get = optarg;
		else if (opt == 't')
			timeout = atof(optarg);
		else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!wait_event && !raw) {
		if (optind >= argc) {
			fputs(usage, stderr);
			return 2;
		}
		cmd = argv[optind++];
		if (optind < argc)
			args = argv[optind++];
	}
	if (strlen(path) >= sizeof(sa.sun_path) || repeat < 1) {
		fputs(usage, stderr);
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ferry-vmctl: cannot connect to %s: %s\n", path, strerror(errno));
		return 1;
	}
	deadline = now_ms() + (long long)(timeout * 1000);
	if (read_line(fd, line, sizeof(line), deadline) < 0 ||
	    (!strstr(line, "\"ferry\"") && !strstr(line, "\"QMP\""))) {
		fprintf(stderr, "ferry-vmctl: no greeting from %s\n", path);
		return 1;
	}
	if (strstr(line, "\"QMP\"")) {
		/* QEMU's QMP (the benchmarks drive QEMU too): leave capabilities negotiation. */
		static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";

		if (send_all(fd, caps, sizeof(caps) - 1) < 0 ||
		    read_line(fd, line, sizeof(line), deadline) < 0 || !strstr(line, "\"return\"")) {
			fprintf(stderr, "ferry-vmctl: QMP capabilities negotiation failed\n");
			return 1;
		}
	}
	if (wait_event) {
		char want[256];

		snprintf(want, sizeof(want), "\"event\": \"%s\"", wait_event);
		while (read_line(fd, line, sizeof(line), deadline) == 0) {
			if (strstr(line, want)) {
				puts(line);
				return 0;
			}
		}
		fprintf(stderr, "ferry-vmctl: no %s event within %.0f s\n", wait_event, timeout);
		return 1;
	}
	if (raw) {
		if (send_all(fd, raw, strlen(raw)) < 0 || send_all(fd, "\n", 1) < 0 ||
		    read_line(fd, line, sizeof(line), deadline) < 0) {
			fprintf(stderr, "ferry-vmctl: no reply\n");
			return 1;
		}
		puts(line);
		return 0;
	}
	for (long i = 0; i < repeat; i++) {
		struct jbuf req;

		jbuf_init(&req);
		jbuf_add(&req, "{\"execute\": ");
		jbuf_str(&req, cmd);
		if (args)
			jbuf_add(&req, ", \"arguments\": %s", args);
		jbuf_add(&req, "}\n");
		if (send_all(fd, req.p, req.len) < 0) {
			fprintf(stderr, "ferry-vmctl: connection lost\n");
			return 1;
		}
		jbuf_free(&req);
		/* Skip events until the reply. */
		do {
			if (read_line(fd, line, sizeof(line), deadline) < 0) {
				fprintf(stderr, "ferry-vmctl: no reply to %s\n", cmd);
				return 1;
			}
		} while (strncmp(line, "{\"event\"", 8) == 0);
		if (strncmp(line, "{\"error\"", 8) == 0) {
			fprintf(stderr, "ferry-vmctl: %s\n", line);
			return 1;
		}
		if (i + 1 < repeat && interval > 0) {
			struct timespec ts = { interval / 1000, (interval % 1000) * 1000000 };

			nanosleep(&ts, NULL);
			deadline = now_ms() + (long long)(timeout * 1000);
		}
	}
	return print_value(line, get);
}
