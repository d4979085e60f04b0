/* commit.c - the ownership record as a lease file guarded by flock(2).
 *
 * The file holds one line of COMMIT_RECORD_SIZE bytes, "ferry-lease v1 epoch=<E>
 * owner=<name>" padded with spaces, rewritten in place and made durable with
 * fdatasync before the commit is acknowledged. The lock is an exclusive flock
 * on FILE.lock, a separate file so that reading the record never contends.
 */
#include "vmm/migrate/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/core/gclock.h"

/* The lease and its lock are opened only as what they are, regular files: never through a
 * link (someone who can write the directory could make one point at a file of ours, which the
 * record would then overwrite), never a FIFO or a device. */
static int commit_open(const char *path, int flags)
{
	struct stat st;
	int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

void commit_init(struct commit *c, const char *path, const char *owner)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(c->owner, sizeof(c->owner), "%s", owner);
}

int commit_lock(struct commit *c, int wait_ms, struct err *e)
{
	char lock[4200];
	struct timespec step = { 0, 10 * 1000000 };

	if (c->fd >= 0)
		return 0;
	snprintf(lock, sizeof(lock), "%s.lock", c->path);
	c->fd = commit_open(lock, O_RDWR | O_CREAT);
	if (c->fd < 0)
		return err_errno(e, "cannot open lease lock '%s'", lock);
	for (int waited = 0;; waited += 10) {
		if (flock(c->fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		if (waited >= wait_ms) {
			close(c->fd);
			c->fd = -1;
			err_set(e, "lease '%s' is held by another process", c->path);
			return COMMIT_BUSY;
		}
		nanosleep(&step, NULL);
	}
	err_errno(e, "cannot lock lease '%s'", c->path);
	close(c->fd);
	c->fd = -1;
	return -1;
}

void commit_unlock(struct commit *c)
{
	if (c->fd >= 0) {
		flock(c->fd, LOCK_UN);
		close(c->fd);
	}
	c->fd = -1;
}

int commit_read(struct commit *c, struct commit_record *r, struct err *e)
{
	char line[256], owner[COMMIT_OWNER_MAX];
	unsigned long long epoch;
	int fd = commit_open(c->path, O_RDONLY);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	memset(r, 0, sizeof(*r));
	if (!f) {
		if (fd >= 0)
			close(fd);
		if (errno == ENOENT)
			return 0;
		return err_errno(e, "cannot read lease '%s'", c->path);
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "ferry-lease v1 epoch=%llu owner=%63s", &epoch, owner) != 2) {
		fclose(f);
		return err_set(e, "lease '%s' is corrupt", c->path);
	}
	fclose(f);
	r->epoch = epoch;
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	return 0;
}

/* Write the record durably, in place: one write of a fixed-size record at offset 0 (inside
 * one disk sector, which storage writes whole) and one fdatasync. Cheaper than a rename and
 * two fsyncs, and it is in the blackout of every migration. */
static int commit_write(struct commit *c, uint64_t epoch, struct err *e)
{
	char rec[COMMIT_RECORD_SIZE];
	int fd, n;

	memset(rec, ' ', sizeof(rec));
	n = snprintf(rec, sizeof(rec), "ferry-lease v1 epoch=%llu owner=%s",
		     (unsigned long long)epoch, c->owner);
	if (n < 0 || n >= (int)sizeof(rec) - 1)
		return err_set(e, "lease record too long");
	rec[n] = ' ';
	rec[sizeof(rec) - 1] = '\n';
	fd = commit_open(c->path, O_WRONLY | O_CREAT);
	if (fd < 0)
		return err_errno(e, "cannot write lease '%s'", c->path);
	if (pwrite(fd, rec, sizeof(rec), 0) != (ssize_t)sizeof(rec) || fdatasync(fd) != 0) {
		err_errno(e, "writing lease '%s'", c->path);
		close(fd);
		return -1;
	}
	close(fd);
	c->epoch = epoch;
	return 0;
}

int commit_claim(struct commit *c, struct err *e)
{
	struct commit_record r;

	if (c->fd < 0)
		return err_set(e, "lease '%s': claim without the lock", c->path);
	if (commit_read(c, &r, e) < 0)
		return -1;
	return commit_write(c, r.epoch + 1, e);
}

int commit_swap(struct commit *c, uint64_t expect, struct err *e)
{
	struct commit_record r;

	if (c->fd < 0)
		return err_set(e, "lease '%s': commit without the lock", c->path);
	if (commit_read(c, &r, e) < 0)
		return -1;
	if (r.epoch != expect)
		return 0;
	return commit_write(c, expect + 1, e) < 0 ? -1 : 1;
}

int commit_still_ours(struct commit *c, struct err *e)
{
	struct commit_record r;

	if (c->fd < 0)
		return err_set(e, "lease '%s': check without the lock", c->path);
	if (commit_read(c, &r, e) < 0)
		return -1;
	return r.epoch == c->epoch && strcmp(r.owner, c->owner) == 0;
}

int commit_record_token(struct commit *c, uint64_t token, struct err *e)
{
	struct commit_record r;

	if (c->fd < 0)
		return err_set(e, "lease '%s': record without the lock", c->path);
	if (commit_read(c, &r, e) < 0)
		return -1;
	if (token <= r.epoch)
		return err_set(e, "lease '%s': token %llu is not newer than the file's %llu",
			       c->path, (unsigned long long)token, (unsigned long long)r.epoch);
	return commit_write(c, token, e);
}

/* The ownership interface over the lease file. Every request is tried at once and, while
 * the lock is held elsewhere, again at each poll until its deadline: nothing sleeps. */

static void commit_answer_from(struct own_answer *a, enum own_status st,
			       const struct commit_record *r)
{
	a->status = st;
	a->token = r->epoch;
	snprintf(a->owner, sizeof(a->owner), "%s", r->owner);
}

static void commit_failed(struct own_answer *a, const struct err *e)
{
	a->status = OWN_FAILED;
	snprintf(a->msg, sizeof(a->msg), "%s", e->msg);
}

/* A COMMIT or SETTLE that found the record not ours (rc 0: it says what it holds) or could not
 * tell (rc -1): answer so, and let go of the lock. */
static void commit_refuse(struct commit *c, struct own_answer *a, int rc, struct err *e)
{
	struct commit_record r = { 0 };

	if (rc < 0)
		commit_failed(a, e);
	else if (commit_read(c, &r, e) == 0)
		commit_answer_from(a, OWN_REFUSED, &r);
	else
		commit_failed(a, e);
	commit_unlock(c);
}

/* Try the pending request: true with *a filled when it has an answer. */
static bool commit_try(struct commit *c, struct own_answer *a)
{
	struct commit_record r = { 0 };
	struct err e = { 0 };
	int rc;

	memset(a, 0, sizeof(*a));
	a->op = c->op;
	if (c->op == OWN_SETTLE) {
		/* Moved on already? Then the VM is elsewhere, whoever holds the lock. */
		if (commit_read(c, &r, &e) == 0 && r.epoch > c->expect) {
			commit_answer_from(a, OWN_REFUSED, &r);
			return true;
		}
	}
	rc = commit_lock(c, 0, &e);
	if (rc < 0) {
		if (rc == COMMIT_BUSY && gclock_host_ns() < c->deadline_ns)
			return false; /* again at the next poll */
		if (rc == COMMIT_BUSY && c->op == OWN_SETTLE) {
			a->status = OWN_BUSY; /* the destination holds it: ask again */
			return true;
		}
		commit_failed(a, &e);
		return true;
	}
	switch (c->op) {
	case OWN_CLAIM:
		if (commit_claim(c, &e) < 0) {
			commit_failed(a, &e);
			return true;
		}
		break;
	case OWN_CHECK:
		if (commit_read(c, &r, &e) < 0) {
			commit_failed(a, &e);
			return true;
		}
		if (r.epoch != c->expect) {
			commit_answer_from(a, OWN_REFUSED, &r);
			return true;
		}
		c->epoch = r.epoch;
		break;
	case OWN_COMMIT:
		rc = commit_swap(c, c->expect, &e);
		if (rc != 1) {
			commit_refuse(c, a, rc, &e);
			return true;
		}
		break;
	case OWN_SETTLE:
		rc = commit_still_ours(c, &e);
		if (rc != 1) {
			commit_refuse(c, a, rc, &e);
			return true;
		}
		break;
	}
	a->status = OWN_OK;
	a->token = c->epoch;
	snprintf(a->owner, sizeof(a->owner), "%s", c->owner);
	return true;
}

static int commit_own_ask(void *impl, enum own_op op, uint64_t expect)
{
	struct commit *c = impl;

	if (c->pending)
		return -1;
	c->pending = true;
	c->op = op;
	c->expect = expect;
	c->deadline_ns = gclock_host_ns() + (op == OWN_COMMIT ? 2000 * 1000000LL : 0);
	return 0;
}

static bool commit_own_answer(void *impl, struct own_answer *a)
{
	struct commit *c = impl;

	if (!c->pending || !commit_try(c, a))
		return false;
	c->pending = false;
	return true;
}

static void commit_own_release(void *impl)
{
	commit_unlock(impl);
}

static uint64_t commit_own_token(void *impl)
{
	struct commit *c = impl;

	return c->fd >= 0 ? c->epoch : 0;
}

static void commit_own_destroy(void *impl)
{
	struct commit *c = impl;

	c->pending = false;
	commit_unlock(c);
}

static const struct own_ops commit_own_ops = {
	.name = "lease file",
	.ask = commit_own_ask,
	.answer = commit_own_answer,
	.release = commit_own_release,
	.token = commit_own_token,
	.destroy = commit_own_destroy,
};

struct own commit_own(struct commit *c)
{
	return (struct own){ &commit_own_ops, c };
}
