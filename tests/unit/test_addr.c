/* test_addr.c - host:port strings (common/addr.h): what is read, what is refused and why. */
#include "harness.h"

#include "common/addr.h"

struct good {
	const char *s, *def;
	int flags;
	const char *name, *port, *formatted;
};

static void test_accepted(void **state)
{
	static const struct good cases[] = {
		{ "10.0.0.1:4444", NULL, 0, "10.0.0.1", "4444", "10.0.0.1:4444" },
		{ "vh02:4444", NULL, 0, "vh02", "4444", "vh02:4444" },
		{ "mig-a.vh02.example:1", NULL, 0, "mig-a.vh02.example", "1", NULL },
		{ "localhost:65535", NULL, 0, "localhost", "65535", NULL },
		{ "[::1]:4444", NULL, 0, "::1", "4444", "[::1]:4444" },
		{ "[fd00:1::2]:4444", NULL, 0, "fd00:1::2", "4444", NULL },
		{ "[::ffff:10.0.0.1]:80", NULL, 0, "::ffff:10.0.0.1", "80", NULL },
		{ "[fe80::1%eth0]:4444", NULL, 0, "fe80::1%eth0", "4444", "[fe80::1%eth0]:4444" },
		/* a listener: every address */
		{ ":4444", NULL, ADDR_LISTEN, "", "4444", ":4444" },
		{ "4444", NULL, ADDR_LISTEN, "", "4444", ":4444" },
		{ "[::]:4444", NULL, ADDR_LISTEN, "::", "4444", "[::]:4444" },
		{ "127.0.0.1:0", NULL, ADDR_LISTEN, "127.0.0.1", "0", NULL }, /* a free port */
		{ "[::1]:0", NULL, ADDR_LISTEN, "::1", "0", NULL },
		/* a default port */
		{ "vh02", "7000", 0, "vh02", "7000", "vh02:7000" },
		{ "10.0.0.1", "7000", 0, "10.0.0.1", "7000", NULL },
		{ "10.0.0.1:7001", "7000", 0, "10.0.0.1", "7001", NULL },
		{ "[::1]", "7000", 0, "::1", "7000", "[::1]:7000" },
		{ "::1", "7000", 0, "::1", "7000", "[::1]:7000" },
		{ "fd00::2", "7000", 0, "fd00::2", "7000", NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct good *c = &cases[i];
		struct addr a, back;
		char out[ADDR_STR_MAX];
		struct err e = { "" };

		if (addr_parse(c->s, c->def, c->flags, &a, &e) != 0)
			fail_msg("'%s' refused: %s", c->s, e.msg);
		assert_string_equal(a.name, c->name);
		assert_string_equal(a.port, c->port);
		addr_format(&a, out);
		if (c->formatted)
			assert_string_equal(out, c->formatted);
		/* what is formatted reads back the same */
		assert_int_equal(addr_parse(out, NULL, c->flags | ADDR_LISTEN, &back, &e), 0);
		assert_string_equal(back.name, a.name);
		assert_string_equal(back.port, a.port);
	}
}

struct bad {
	const char *s, *def;
	int flags;
	const char *msg; /* what the message must say */
};

static void test_refused(void **state)
{
	static const struct bad cases[] = {
		{ "", NULL, 0, "an empty address" },
		{ "vh02", NULL, 0, "'vh02' has no port" },
		{ "vh02:", NULL, 0, "'vh02:': port '' is not a number from 1 to 65535" },
		{ "vh02:0", NULL, 0, "port '0' is not a number from 1 to 65535" },
		{ "vh02:00", NULL, ADDR_LISTEN, "port '00' is not a number from 0 to 65535" },
		{ "vh02:65536", NULL, ADDR_LISTEN, "port '65536' is not a number from 0 to 65535" },
		{ "vh02:65536", NULL, 0, "port '65536' is not a number" },
		{ "vh02:123456", NULL, 0, "port '123456'" },
		{ "vh02:-1", NULL, 0, "port '-1'" },
		{ "vh02:+80", NULL, 0, "port '+80'" },
		{ "vh02:44x", NULL, 0, "port '44x'" },
		{ "vh02: 44", NULL, 0, "port ' 44'" },
		{ "vh02:http", NULL, 0, "port 'http'" },
		{ ":4444", NULL, 0, "':4444' has no host" },
		{ "4444", NULL, 0, "'4444' has no port" },
		{ "a b:4444", NULL, 0, "'a b:4444': 'a b' is not a host name or address" },
		{ "vh/02:4444", NULL, 0, "'vh/02' is not a host name" },
		{ "-vh02:4444", NULL, 0, "'-vh02' is not a host name" },
		{ "vh02\n:4444", NULL, 0, "is not a host name" },
		{ "::1:4444", NULL, 0,
		  "an IPv6 address takes brackets before its port, as [::1]:4444" },
		{ "fd00::2:4444", NULL, ADDR_LISTEN, "as [fd00::2]:4444" },
		{ "a:b:c", NULL, 0, "'a:b:c' is not host:port" },
		{ "[::1]", NULL, 0, "'[::1]' has no port" },
		{ "[::1]:", NULL, 0, "port ''" },
		{ "[::1]4444", NULL, 0, "'[::1]4444': '4444' after the address" },
		{ "[::1", NULL, 0, "'[::1': '[' without ']'" },
		{ "[]:4444", NULL, 0, "'' is not an IPv6 address" },
		{ "[vh02]:4444", NULL, 0, "'vh02' is not an IPv6 address" },
		{ "[10.0.0.1]:4444", NULL, 0, "'10.0.0.1' is not an IPv6 address" },
		{ "[::g]:4444", NULL, 0, "'::g' is not an IPv6 address" },
		{ "[fe80::1%]:4444", NULL, 0, "is not an IPv6 address" },
		{ "[::1]:4444:1", NULL, 0, "port '4444:1'" },
		{ "vh02", "http", 0, "port 'http'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];
		struct addr a;
		struct err e = { "" };

		if (addr_parse(c->s, c->def, c->flags, &a, &e) != -1)
			fail_msg("'%s' accepted (host '%s', port '%s')", c->s, a.name, a.port);
		if (!strstr(e.msg, c->msg))
			fail_msg("'%s': message \"%s\" does not say \"%s\"", c->s, e.msg, c->msg);
	}
}

static void test_too_long(void **state)
{
	char s[ADDR_STR_MAX + 10];
	struct addr a;
	struct err e;

	(void)state;
	memset(s, 'a', sizeof(s) - 6);
	memcpy(s + sizeof(s) - 6, ":4444", 6);
	assert_int_equal(addr_parse(s, NULL, 0, &a, &e), -1);
	assert_non_null(strstr(e.msg, "is too long"));
	/* a name of 254 characters is not a DNS name */
	memset(s, 'a', 254);
	memcpy(s + 254, ":4444", 6);
	assert_int_equal(addr_parse(s, NULL, 0, &a, &e), -1);
	/* 253 is */
	memmove(s + 253, s + 254, 6);
	assert_int_equal(addr_parse(s, NULL, 0, &a, &e), 0);
	assert_int_equal(strlen(a.name), 253);
}

/* Resolving needs no network for numeric addresses: the families come out right. */
static void test_resolve(void **state)
{
	struct addrinfo *res;
	struct addr a;
	struct err e;

	(void)state;
	assert_int_equal(addr_parse("[::1]:4444", NULL, 0, &a, &e), 0);
	assert_int_equal(addr_resolve(&a, false, &res, &e), 0);
	assert_int_equal(res->ai_family, AF_INET6);
	assert_int_equal(res->ai_socktype, SOCK_STREAM);
	freeaddrinfo(res);

	assert_int_equal(addr_parse("127.0.0.1:4444", NULL, 0, &a, &e), 0);
	assert_int_equal(addr_resolve(&a, false, &res, &e), 0);
	assert_int_equal(res->ai_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 4444);
	freeaddrinfo(res);

	/* a listener on every address */
	assert_int_equal(addr_parse(":4444", NULL, ADDR_LISTEN, &a, &e), 0);
	assert_int_equal(addr_resolve(&a, true, &res, &e), 0);
	freeaddrinfo(res);
	/* ... which is nowhere to connect to */
	assert_int_equal(addr_resolve(&a, false, &res, &e), -1);
	assert_non_null(strstr(e.msg, "':4444' has no host to connect to"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
