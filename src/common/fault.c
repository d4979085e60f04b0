/* fault.c - the test-only fault switch (fault.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/fault.h"

enum fault_action { FAULT_NONE, FAULT_KILL, FAULT_STOP, FAULT_CORRUPT, FAULT_SCRIBBLE };

static const char *const fault_points[] = {
	"config",	  "round",	    "before-pause",  "after-pause",   "last-page",
	"commit-request", "before-confirm", "before-commit", "after-commit",  "before-resume",
	"after-resume",	  "save-write",	    "save-release",  "restore-claim", "restore-resume",
};

static struct {
	char point[64];
	uint32_t k;
	enum fault_action action;
	bool fired, corrupt_due, scribble_due;
} fault;

int fault_init(struct err *e)
{
	const char *spec = getenv("FERRY_FAULT");
	char buf[64], *colon, *act, *kpart;
	bool known = false;

	if (!spec || !*spec)
		return 0;
	snprintf(buf, sizeof(buf), "%s", spec);
	colon = strrchr(buf, ':');
	if (!colon)
		return err_set(e, "FERRY_FAULT='%s': expected POINT:ACTION", spec);
	*colon = 0;
	act = colon + 1;
	kpart = strchr(buf, ':');
	if (kpart) {
		char *end;

		*kpart++ = 0;
		fault.k = (uint32_t)strtoul(kpart, &end, 10);
		if (*end || !*kpart || strcmp(buf, "round") != 0)
			return err_set(e, "FERRY_FAULT='%s': only round takes a number (round:K)",
				       spec);
	} else if (strcmp(buf, "round") == 0) {
		return err_set(e, "FERRY_FAULT='%s': round needs its number (round:K)", spec);
	}
	for (size_t i = 0; i < sizeof(fault_points) / sizeof(fault_points[0]); i++)
		known |= strcmp(buf, fault_points[i]) == 0;
	if (!known)
		return err_set(e, "FERRY_FAULT='%s': unknown point '%s'", spec, buf);
	if (strcmp(act, "kill") == 0)
		fault.action = FAULT_KILL;
	else if (strcmp(act, "stop") == 0)
		fault.action = FAULT_STOP;
	else if (strcmp(act, "corrupt") == 0)
		fault.action = FAULT_CORRUPT;
	else if (strcmp(act, "scribble") == 0)
		fault.action = FAULT_SCRIBBLE;
	else
		return err_set(e,
			       "FERRY_FAULT='%s': unknown action '%s' (kill, stop, corrupt, "
			       "scribble)",
			       spec, act);
	snprintf(fault.point, sizeof(fault.point), "%s", buf);
	log_warn("fault switch armed: %s%s%.0u %s", fault.point, fault.k ? ":" : "", fault.k, act);
	return 0;
}

void fault_point(const char *point, uint32_t k)
{
	if (fault.action == FAULT_NONE || fault.fired || strcmp(point, fault.point) != 0 ||
	    k != fault.k)
		return;
	fault.fired = true;
	log_warn("fault switch: at %s%s%.0u", point, k ? ":" : "", k);
	switch (fault.action) {
	case FAULT_KILL:
		kill(getpid(), SIGKILL);
		break;
	case FAULT_STOP:
		raise(SIGSTOP);
		log_warn("fault switch: continued after %s", point);
		break;
	case FAULT_CORRUPT:
		fault.corrupt_due = true;
		break;
	case FAULT_SCRIBBLE:
		fault.scribble_due = true;
		break;
	case FAULT_NONE:
		break;
	}
}

bool fault_take_corrupt(void)
{
	bool due = fault.corrupt_due;

	fault.corrupt_due = false;
	return due;
}

bool fault_take_scribble(void)
{
	bool due = fault.scribble_due;

	fault.scribble_due = false;
	return due;
}
