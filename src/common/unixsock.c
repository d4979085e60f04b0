/* unixsock.c - owner-only listening unix sockets, and their peers' credentials.
 *
 * bind(2) creates the socket's inode with mode 0777 & ~umask. Binding under umask 0177
 * makes it 0600 from the first instant; a chmod after the bind would leave a moment in
 * which any user could connect (and keep the connection). The umask belongs to the
 * process, which is safe because every Ferry program runs one thread. A default ACL on
 * the directory overrides the umask, so the mode actually created is checked before the
 * socket listens (until then a connect is refused).
 */
#include "common/unixsock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unixsock_listen(const char *path, int backlog, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc;

	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "socket path '%s' is empty or too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* left by a process that ended; anything else makes bind fail */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_errno(e, "socket");
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		err_errno(e, "%s", path);
		close(fd);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		err_errno(e, "%s", path);
	} else if ((st.st_mode & 077) || st.st_uid != geteuid()) {
		err_set(e,
			"%s was created mode %03o, owner %u (a default ACL on its directory?): "
			"not serving on it",
			path, (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid);
	} else if (listen(fd, backlog) != 0) {
		err_errno(e, "%s", path);
	} else {
		return fd;
	}
	unlink(path);
	close(fd);
	return -1;
}

int unixsock_peer(int fd, struct unixsock_peer *p, struct err *e)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return err_errno(e, "SO_PEERCRED");
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	return 0;
}

bool unixsock_peer_allowed(const struct unixsock_peer *p)
{
	return p->uid == 0 || p->uid == geteuid();
}
