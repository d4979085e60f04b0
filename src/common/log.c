/* log.c - levelled logging to stderr. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_level = -1;
static const char *log_name = "ferry";
static const char *const log_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, log_names[i]) == 0)
			return i;
	return -1;
}

void log_set_level(enum log_level level)
{
	log_level = (int)level;
}

void log_set_name(const char *name)
{
	log_name = name;
}

int log_enabled(enum log_level level)
{
	if (log_level < 0) {
		const char *env = getenv("FERRY_LOG");
		int l = env ? log_parse_level(env) : -1;

		log_level = l >= 0 ? l : LOG_WARN;
	}
	return (int)level <= log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Messages may quote what a peer sent: never pass its control bytes to a terminal. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "%s: [%ld.%06ld] %s: %s\n", log_name, (long)ts.tv_sec, ts.tv_nsec / 1000,
		log_names[level], line);
}
