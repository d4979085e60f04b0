/* fault.h - the test-only fault switch: stop, kill or corrupt a migration at a named point.
 *
 * Inert unless the environment says FERRY_FAULT=POINT:ACTION when ferry-vm starts:
 *
 *   POINT   where in a migration (docs/cli.md lists them), on the side that reaches it:
 *             source        config, round:K, before-pause, after-pause, last-page,
 *                           commit-request, before-confirm
 *             destination   config, round:K, last-page, before-commit, after-commit,
 *                           before-resume, after-resume
 *             quick migration  save-write (the file half written), save-release (written,
 *                           not yet handed over), restore-claim (before the restoring
 *                           process moves the lease), restore-resume (lease moved, not run)
 *   ACTION  kill      SIGKILL this process there (as kill -9 would)
 *           stop      SIGSTOP this process there: the test acts (kills the peer, takes a link
 *                     down, stalls it, cancels) and sends SIGCONT; nothing races a sleep
 *           corrupt   flip one byte of the next record this process sends
 *           scribble  change guest RAM where the caller says, behind the migration's back
 *                     (source, after-pause: a byte of RAM once the last dirty pages are
 *                     collected, a page the rounds missed, as a dirty log taken from them
 *                     would leave one)
 *
 * A point fires once. round:K fires on the source when round K starts sending, on the
 * destination when the first page of round K arrives.
 */
#ifndef FERRY_FAULT_H
#define FERRY_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* Read FERRY_FAULT; an unknown point or action is an error (the tests must not pass by
 * injecting nothing). */
int fault_init(struct err *e);
/* A named point; k is the round for "round" (0 otherwise). */
void fault_point(const char *point, uint32_t k);
/* A corruption is due: the caller damages what it sends next (returns true once). */
bool fault_take_corrupt(void);
/* A scribble is due: the caller changes guest RAM (returns true once). */
bool fault_take_scribble(void);

#endif
