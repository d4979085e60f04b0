/* addr.c - network addresses written as strings (addr.h). */
#include "common/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* A name or IPv4 address as it may appear before ":port": letters, digits, '.', '-', '_'. */
static bool addr_name_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* An IPv6 address, with an optional "%zone" (an interface name or number). */
static bool addr_v6_ok(const char *h, size_t n)
{
	char buf[ADDR_HOST_MAX];
	struct in6_addr in6;
	const char *pct;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = 0;
	pct = strchr(buf, '%');
	if (pct) {
		if (!addr_name_ok(pct + 1, strlen(pct + 1)))
			return false;
		buf[pct - buf] = 0;
	}
	return inet_pton(AF_INET6, buf, &in6) == 1;
}

static bool addr_port_ok(const char *p, size_t n, bool zero_ok)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return (v >= 1 || (zero_ok && n == 1)) && v <= 65535;
}

static bool addr_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Fill a from host[0..hn) and port[0..pn) (port NULL: the default), both already split. */
static int addr_fill(const char *s, const char *host, size_t hn, const char *port, size_t pn,
		     const char *default_port, int flags, struct addr *a, struct err *e)
{
	if (!port) {
		if (!default_port)
			return err_set(e, "'%s' has no port (expected host:port)", s);
		port = default_port;
		pn = strlen(port);
	}
	if (!addr_port_ok(port, pn, flags & ADDR_LISTEN))
		return err_set(e, "'%s': port '%.*s' is not a number from %d to 65535", s, (int)pn,
			       port, flags & ADDR_LISTEN ? 0 : 1);
	if (hn == 0 && !(flags & ADDR_LISTEN))
		return err_set(e, "'%s' has no host (expected host:port)", s);
	memcpy(a->name, host, hn);
	a->name[hn] = 0;
	memcpy(a->port, port, pn);
	a->port[pn] = 0;
	return 0;
}

int addr_parse(const char *s, const char *default_port, int flags, struct addr *a, struct err *e)
{
	size_t len = strlen(s);
	const char *colon, *close;

	memset(a, 0, sizeof(*a));
	if (len == 0)
		return err_set(e, "an empty address (expected host:port)");
	if (len >= ADDR_STR_MAX)
		return err_set(e, "'%.40s...' is too long for an address", s);
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close)
			return err_set(e, "'%s': '[' without ']'", s);
		if (!addr_v6_ok(s + 1, (size_t)(close - s - 1)))
			return err_set(e, "'%s': '%.*s' is not an IPv6 address", s,
				       (int)(close - s - 1), s + 1);
		if (close[1] == 0)
			return addr_fill(s, s + 1, (size_t)(close - s - 1), NULL, 0, default_port,
					 flags, a, e);
		if (close[1] != ':')
			return err_set(e, "'%s': '%s' after the address (expected [v6]:port)", s,
				       close + 1);
		return addr_fill(s, s + 1, (size_t)(close - s - 1), close + 2, strlen(close + 2),
				 default_port, flags, a, e);
	}
	colon = strchr(s, ':');
	if (!colon) {
		if ((flags & ADDR_LISTEN) && addr_digits(s))
			return addr_fill(s, "", 0, s, len, default_port, flags, a, e);
		if (!addr_name_ok(s, len))
			return err_set(e, "'%s' is not a host name or address", s);
		return addr_fill(s, s, len, NULL, 0, default_port, flags, a, e);
	}
	if (strchr(colon + 1, ':')) {
		/* More than one colon: an IPv6 address, which takes brackets before a port. */
		const char *last = strrchr(s, ':');

		if (default_port && addr_v6_ok(s, len))
			return addr_fill(s, s, len, NULL, 0, default_port, flags, a, e);
		if (addr_v6_ok(s, (size_t)(last - s)) &&
		    addr_port_ok(last + 1, strlen(last + 1), true))
			return err_set(e,
				       "'%s': an IPv6 address takes brackets before its port, "
				       "as [%.*s]:%s",
				       s, (int)(last - s), s, last + 1);
		return err_set(e, "'%s' is not host:port (an IPv6 address is written [v6]:port)",
			       s);
	}
	if (colon > s && !addr_name_ok(s, (size_t)(colon - s)))
		return err_set(e, "'%s': '%.*s' is not a host name or address", s, (int)(colon - s),
			       s);
	return addr_fill(s, s, (size_t)(colon - s), colon + 1, strlen(colon + 1), default_port,
			 flags, a, e);
}

void addr_format(const struct addr *a, char out[ADDR_STR_MAX])
{
	bool v6 = strchr(a->name, ':') != NULL;

	snprintf(out, ADDR_STR_MAX, "%s%s%s:%s", v6 ? "[" : "", a->name, v6 ? "]" : "", a->port);
}

int addr_resolve(const struct addr *a, bool passive, struct addrinfo **res, struct err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	char s[ADDR_STR_MAX];
	int rc;

	addr_format(a, s);
	if (!a->name[0] && !passive)
		return err_set(e, "'%s' has no host to connect to", s);
	rc = getaddrinfo(a->name[0] ? a->name : NULL, a->port, &hints, res);
	if (rc != 0)
		return err_set(e, "'%s': %s", s, gai_strerror(rc));
	return 0;
}
