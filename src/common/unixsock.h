/* unixsock.h - listening unix sockets that only their owner and root may use.
 *
 * The control and console sockets of a VM hand out the whole machine, so they are created
 * mode 0600 whatever the caller's umask, and every client is checked by its credentials
 * (SO_PEERCRED, taken by the kernel at connect): root, or the user the process runs as.
 * The mode keeps other users from connecting at all; the check holds even if the mode was
 * widened afterwards or the socket reached through another path.
 */
#ifndef FERRY_UNIXSOCK_H
#define FERRY_UNIXSOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

/* Listen on path (a socket already there is replaced; anything else is an error). Returns
 * a non-blocking, close-on-exec descriptor, or -1 with e set. */
int unixsock_listen(const char *path, int backlog, struct err *e);

struct unixsock_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* The credentials of the process at the other end of a connected socket. */
int unixsock_peer(int fd, struct unixsock_peer *p, struct err *e);
/* May this peer use our sockets? Root, or our own effective uid. */
bool unixsock_peer_allowed(const struct unixsock_peer *p);

#endif
