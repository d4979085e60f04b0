/* net.h - IPv4 TCP sockets as raw system calls, for the guest programs.
 *
 * Linux 6.1's nolibc has no socket calls at all. These wrappers follow rt.h:
 * my_syscallN with the generic table's numbers (riscv64), the kernel's answer
 * returned as is (a negative errno on failure), errno left alone. Only what
 * an IPv4 TCP server needs is here; the structures and constants are the
 * kernel's UAPI values, spelled with a NET_ prefix so they never collide
 * with a libc's.
 */
#ifndef FERRY_GUEST_NET_H
#define FERRY_GUEST_NET_H

#include "rt.h"

#define NET_NR_socket 198
#define NET_NR_bind 200
#define NET_NR_listen 201
#define NET_NR_sendto 206
#define NET_NR_recvfrom 207
#define NET_NR_setsockopt 208
#define NET_NR_accept4 242

#define NET_AF_INET 2
#define NET_SOCK_STREAM 1
#define NET_SOCK_NONBLOCK 04000
#define NET_SOCK_CLOEXEC 02000000
#define NET_SOL_SOCKET 1
#define NET_SO_REUSEADDR 2
#define NET_SO_KEEPALIVE 9
#define NET_IPPROTO_TCP 6
#define NET_TCP_NODELAY 1
#define NET_MSG_DONTWAIT 0x40
#define NET_MSG_NOSIGNAL 0x4000

/* struct sockaddr_in: port and address in network byte order. */
struct net_sockaddr_in {
	unsigned short family;
	unsigned short port;
	unsigned int addr;
	unsigned char zero[8];
};

/* Host to network order, 16 bits (riscv64 is little-endian). */
static inline unsigned short net_htons(unsigned short v)
{
	return (unsigned short)((v << 8) | (v >> 8));
}

static inline int net_socket(int domain, int type, int protocol)
{
	return (int)my_syscall3(NET_NR_socket, domain, type, protocol);
}

static inline int net_bind(int fd, const struct net_sockaddr_in *sa)
{
	return (int)my_syscall3(NET_NR_bind, fd, sa, sizeof(*sa));
}

static inline int net_listen(int fd, int backlog)
{
	return (int)my_syscall2(NET_NR_listen, fd, backlog);
}

/* accept4(); sa (may be 0) receives the peer's address. */
static inline int net_accept4(int fd, struct net_sockaddr_in *sa, int flags)
{
	int len = sizeof(*sa);

	return (int)my_syscall4(NET_NR_accept4, fd, sa, sa ? &len : 0, flags);
}

static inline int net_setsockopt_int(int fd, int level, int name, int value)
{
	return (int)my_syscall5(NET_NR_setsockopt, fd, level, name, &value, sizeof(value));
}

/* send(): sendto without an address. */
static inline long net_send(int fd, const void *buf, unsigned long len, int flags)
{
	return my_syscall6(NET_NR_sendto, fd, buf, len, flags, 0, 0);
}

/* recv(): recvfrom without an address. */
static inline long net_recv(int fd, void *buf, unsigned long len, int flags)
{
	return my_syscall6(NET_NR_recvfrom, fd, buf, len, flags, 0, 0);
}

/* "a.b.c.d:port" of an address in network order. */
static inline void net_line_addr(struct rt_line *l, const struct net_sockaddr_in *sa)
{
	const unsigned char *a = (const unsigned char *)&sa->addr;

	for (int i = 0; i < 4; i++) {
		if (i)
			rt_line_c(l, '.');
		rt_line_u(l, a[i]);
	}
	rt_line_c(l, ':');
	rt_line_u(l, net_htons(sa->port));
}

#endif
