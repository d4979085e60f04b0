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
#include <time.h>
#include <unistd.h>

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
	c->fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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
			errno = EWOULDBLOCK;
			return err_set(e, "lease '%s' is held by another process", c->path);
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
	FILE *f = fopen(c->path, "re");

	memset(r, 0, sizeof(*r));
	if (!f) {
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
	n = snprintf(rec, sizeof(rec), "ferry-lease v1 epoch=%llu owner=%s", (unsigned long long)epoch,
		     c->owner);
	if (n < 0 || n >= (int)sizeof(rec) - 1)
		return err_set(e, "lease record too long");
	rec[n] = ' ';
	rec[sizeof(rec) - 1] = '\n';
	fd = open(c->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
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
