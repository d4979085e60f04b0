/* addr.h - network addresses written as strings: "host:port", "[v6]:port", ":port", "port".
 *
 * One parser for every address a Ferry program takes (the migration's
 * destination addresses, --incoming, the tools' HOST arguments), so that they
 * all accept the same spellings and refuse the same garbage:
 *
 *   host:port      a name or an IPv4 address, and a port 1..65535
 *   [v6]:port      an IPv6 address in brackets (RFC 3986), with an optional %zone
 *   :port, port    no host: only where ADDR_LISTEN allows it (a listener binds
 *                  to every address); a listener may also take port 0 (a free
 *                  port the kernel chooses: tests)
 *   host, [v6], v6 no port: only where a default port is given (a bare IPv6
 *                  address needs no brackets then)
 *
 * An IPv6 address with a port must be bracketed: "::1:4444" is refused with a
 * message that says so, since it cannot be told apart from the address ::1:4444.
 */
#ifndef FERRY_ADDR_H
#define FERRY_ADDR_H

#include <netdb.h>
#include <stdbool.h>

#include "common/err.h"

#define ADDR_HOST_MAX 256		 /* a DNS name is at most 253 characters */
#define ADDR_STR_MAX (ADDR_HOST_MAX + 8) /* "[host]:65535" */

enum {
	ADDR_LISTEN = 1 << 0, /* for a listener: no host is every address, port 0 any free port */
};

struct addr {
	char name[ADDR_HOST_MAX]; /* the host: without brackets; "" for any (ADDR_LISTEN) */
	char port[6];		  /* decimal, 1..65535 (0 with ADDR_LISTEN) */
};

/* Parse s into a. default_port (or NULL) is used when s names no port. On error the message
 * names s and what is wrong with it. */
int addr_parse(const char *s, const char *default_port, int flags, struct addr *a, struct err *e);

/* a as a string that addr_parse() reads back ("[::1]:4444", "10.0.0.1:4444", ":4444"). */
void addr_format(const struct addr *a, char out[ADDR_STR_MAX]);

/* getaddrinfo() for a stream socket to a (passive: to listen on it, a host of "" meaning
 * every address). The caller frees *res with freeaddrinfo(). */
int addr_resolve(const struct addr *a, bool passive, struct addrinfo **res, struct err *e);

#endif
