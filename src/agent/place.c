/* place.c - the "best possible node": the host a VM should go to, and why each host was or was not.
 *
 * Two steps. A filter keeps the hosts that can take the VM: alive, active, not the host it
 * runs on now, and with room for its memory and its vCPUs after what is admitted there. The
 * room test is cluster_admit() itself, the admission a start or a migration's reservation
 * runs on the chosen host, so the filter and the admission cannot disagree about what fits,
 * and a host left out for room reads exactly as a refused start does ("has 128 MiB free, cl7
 * needs 256 MiB", without the host's name, which the line already starts with).
 *
 * Then an order over the hosts kept: most memory left after placing the VM, then fewer VMs,
 * then the name in strcmp order. It is a total order on distinct names, so the choice depends
 * only on the set of hosts, never on the order the store listed them in. Every loser's reason
 * names the rule that put it behind the chosen host and both values.
 *
 * Sizes are unsigned and never subtracted the wrong way round: a capacity smaller than what
 * is used (over-committed by hand, or a capacity lowered under running VMs) is no room, not
 * a huge one.
 */
#include "agent/place.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/cluster.h"
#include "common/names.h"

/* Write a reason. The longest one ("less memory left after placing <63> (<10>) than <63>
 * (<10>)") is 189 characters, so with names of at most 63 nothing is cut; a longer name in a
 * caller's buffer would be cut, never overrun. */
static void say(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

/* What place_best needs to know of one host once it is judged. */
struct judged {
	bool eligible;
	uint64_t left; /* memory left after placing the VM; 0 if it does not fit */
};

/* Is h a candidate? If not, why goes to why. The room test is cluster_admit's, on spec (the
 * VM's name, memory and vCPUs), so the words and the arithmetic are the admission's. */
static struct judged judge(const struct place_host *h, const char *source,
			   const struct vm_spec *spec, char *why, size_t size)
{
	struct judged j = { false, 0 };
	uint64_t free_mem = h->mem_cap > h->mem_used ? h->mem_cap - h->mem_used : 0;
	struct aerr ae;
	bool fits = cluster_admit(h->name, h->mem_cap, h->vcpus_cap, h->mem_used, h->vcpus_used,
				  spec, &ae) == 0;

	if (fits)
		j.left = free_mem - spec->memory;
	why[0] = '\0';
	if (!h->alive) {
		say(why, size, "not alive (its agent is not registered)");
	} else if (strncmp(h->state, "active", sizeof(h->state)) != 0) {
		if (strncmp(h->state, "draining", sizeof(h->state)) == 0 ||
		    strncmp(h->state, "paused", sizeof(h->state)) == 0)
			say(why, size, "%.*s", (int)strnlen(h->state, sizeof(h->state)), h->state);
		else if (h->state[0] == '\0')
			say(why, size, "not active (no state)");
		else
			say(why, size, "not active (its state is \"%.*s\")",
			    (int)strnlen(h->state, sizeof(h->state)), h->state);
	} else if (source && *source && strncmp(h->name, source, sizeof(h->name)) == 0) {
		say(why, size, "the source (%s runs there)", spec->name);
	} else if (!fits) {
		/* cluster_admit says "<host> has ...": the verdict's line names the host already */
		size_t len = strnlen(h->name, sizeof(h->name));
		const char *msg = ae.msg;
		if (strncmp(msg, h->name, len) == 0 && msg[len] == ' ')
			msg += len + 1;
		say(why, size, "%s", msg);
	} else {
		j.eligible = true;
	}
	return j;
}

/* Does host a (with la left) come before host b (with lb left)? The order of the rule. */
static bool before(const struct place_host *a, uint64_t la, const struct place_host *b, uint64_t lb)
{
	if (la != lb)
		return la > lb;
	if (a->nvms != b->nvms)
		return a->nvms < b->nvms;
	return strncmp(a->name, b->name, sizeof(a->name)) < 0;
}

static const char *vms_word(unsigned n)
{
	return n == 1 ? "VM" : "VMs";
}

/* Why eligible host l (with ll left) lost to the chosen host c (with cl left). */
static void loser_reason(const struct place_host *l, uint64_t ll, const struct place_host *c,
			 uint64_t cl, const char *vm, char *why, size_t size)
{
	char a[32], b[32];
	size_format(ll, a, sizeof(a));
	size_format(cl, b, sizeof(b));
	if (ll != cl)
		say(why, size, "less memory left after placing %s (%s) than %.63s (%s)", vm, a,
		    c->name, b);
	else if (l->nvms != c->nvms)
		say(why, size, "as much memory left as %.63s (%s) but more VMs (%u against %u)",
		    c->name, b, l->nvms, c->nvms);
	else
		say(why, size, "as good as %.63s, which comes first by name", c->name);
}

int place_best(const struct place_host *h, size_t n, const char *source, const char *vm,
	       uint64_t mem, unsigned vcpus, struct place_verdict *out)
{
	static const struct vm_spec zero;
	struct vm_spec spec = zero; /* only name, memory and vcpus matter to cluster_admit */
	char why[sizeof(out->reason)];
	int best = -1;
	uint64_t best_left = 0;

	snprintf(spec.name, sizeof(spec.name), "%s", vm && *vm ? vm : "the VM");
	spec.memory = mem;
	spec.vcpus = vcpus;

	for (size_t i = 0; i < n; i++) {
		struct judged j = judge(&h[i], source, &spec, why, sizeof(why));
		if (!j.eligible)
			continue;
		if (best < 0 || before(&h[i], j.left, &h[best], best_left)) {
			best = (int)i;
			best_left = j.left;
		}
	}
	if (!out)
		return best;

	for (size_t i = 0; i < n; i++) {
		struct place_verdict *v = &out[i];
		struct judged j = judge(&h[i], source, &spec, v->reason, sizeof(v->reason));
		char left[32];

		snprintf(v->host, sizeof(v->host), "%.63s", h[i].name);
		v->chosen = (int)i == best;
		v->mem_left = j.left;
		if (!j.eligible)
			continue;
		if (v->chosen) {
			size_format(j.left, left, sizeof(left));
			say(v->reason, sizeof(v->reason),
			    "chosen: most memory left after placing %s (%s), %u %s", spec.name,
			    left, h[i].nvms, vms_word(h[i].nvms));
		} else {
			loser_reason(&h[i], j.left, &h[best], best_left, spec.name, v->reason,
				     sizeof(v->reason));
		}
	}
	return best;
}

int place_verdict_line(const struct place_verdict *v, char *out, size_t size)
{
	return snprintf(out, size, "%.63s: %.191s", v->host, v->reason);
}
