/* member.h - the etcd member ferryd runs itself ("etcd_member" in the host's configuration).
 *
 * member_ensure() makes sure the member runs: adopted if the one an earlier run started is
 * alive (RUN_DIR/etcd.pid, same pid and start time) or if its client URL answers already,
 * started detached otherwise. member_wait() then waits, bounded, until it answers. Stopping
 * ferryd leaves the member running.
 */
#ifndef FERRY_MEMBER_H
#define FERRY_MEMBER_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/hostconf.h"

struct member {
	pid_t pid;    /* 0: not known (adopted by its URL only) */
	bool started; /* started by this run (false: adopted) */
	char pidfile[4200];
	char log[4200];
};

/* The member's command line into argv (at most max entries with the final NULL); the
 * strings point into c and into buf (size bytes). The number of arguments, or -1. */
int member_argv(const struct hostconf *c, const char **argv, size_t max, char *buf, size_t size,
		struct err *e);
/* Adopt or start the member of c (c->etcd_member.enabled). */
int member_ensure(const struct hostconf *c, struct member *m, struct err *e);
/* Wait up to timeout_s seconds until the member answers (0). -1 with e set if it exited (the
 * last lines of its log in the message), 1 if it still does not answer. */
int member_wait(const struct hostconf *c, const struct member *m, int timeout_s, struct err *e);

#endif
