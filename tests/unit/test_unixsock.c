/* test_unixsock.c - owner-only listening sockets: mode 0600 under any umask, a stale socket
 * replaced, anything else at the path refused, the peer's credentials. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/unixsock.h"

static char dir[64], path[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-unixsock.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static int connect_to(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_mode_under_any_umask(void **state)
{
	static const mode_t masks[] = { 0, 022, 077, 0177 };
	struct err e = { { 0 } };
	struct stat st;

	(void)state;
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t old = umask(masks[i]);
		int fd = unixsock_listen(path, 4, &e);

		assert_true(umask(old) == masks[i]); /* the caller's umask is given back */
		if (fd < 0)
			fail_msg("umask %03o: %s", (unsigned)masks[i], e.msg);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
		close(fd); /* the next round finds this stale socket and replaces it */
	}
}

static void test_not_a_socket(void **state)
{
	struct err e = { { 0 } };
	int fd;

	(void)state;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unixsock_listen(path, 4, &e), -1);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(access(path, F_OK), 0); /* a file that is not ours stays */
	unlink(path);
	assert_int_equal(unixsock_listen("", 4, &e), -1);
}

static void test_peer(void **state)
{
	struct unixsock_peer peer = { 0 }, other;
	struct err e = { { 0 } };
	int lfd, cfd, afd;

	(void)state;
	lfd = unixsock_listen(path, 4, &e);
	assert_true(lfd >= 0);
	cfd = connect_to(path);
	assert_true(cfd >= 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(unixsock_peer(afd, &peer, &e), 0);
	assert_int_equal(peer.pid, getpid());
	assert_int_equal(peer.uid, geteuid());
	assert_true(unixsock_peer_allowed(&peer));
	other = peer;
	other.uid = 0;
	assert_true(unixsock_peer_allowed(&other)); /* root */
	other.uid = geteuid() == 65534 ? 65533 : 65534;
	assert_false(unixsock_peer_allowed(&other));
	assert_int_equal(unixsock_peer(-1, &peer, &e), -1);
	close(afd);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_under_any_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
