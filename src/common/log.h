/* log.h - levelled logging to stderr (or a file), never to stdout.
 *
 * stdout may carry the guest's console, so nothing but the console writes
 * there. The level comes from FERRY_LOG (error, warn, info, debug) or
 * log_set_level(); the default is warn.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Parse a level name; returns -1 if it is not one. */
int log_parse_level(const char *name);
/* Set the program name shown in front of each line. */
void log_set_name(const char *name);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
