/* test_fixture.c - a machine saved by the previous release (stream format 1) loads into this one.
 *
 * tests/fixtures/stream-v1.save was written by a ferry-vm of format 1 (how: the script
 * tests/fixtures/record-stream-v1.sh), with what that ferry-vm said about the machine at the
 * save: query-state (every device's fields) and query-hash (its RAM and device hashes, in the
 * FNV-1a form format 1 computed them). Loaded here, every field must have the recorded value,
 * and the RAM and the device sections must hash, the old way, to the recorded hashes. Saved
 * again (format 2) and loaded into another machine, nothing may change. Damaged copies of the
 * file are refused with the damage named.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/le.h"
#include "common/state.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define expect_err(e, sub)                                                                         \
	do {                                                                                       \
		if (!strstr((e).msg, (sub)))                                                       \
			fail_msg("error '%s' does not say '%s'", (e).msg, (sub));                  \
	} while (0)

static char dir[512];

/* tests/fixtures, found from this file's path (the tests run from the top of the tree). */
static const char *fixture(const char *name)
{
	static char path[1024];

	if (!dir[0]) {
		const char *env = getenv("FERRY_FIXTURES");

		if (env) {
			snprintf(dir, sizeof(dir), "%s", env);
		} else {
			snprintf(dir, sizeof(dir), "%s", __FILE__);
			char *s = strstr(dir, "unit/test_fixture.c");

			assert_non_null(s);
			strcpy(s, "fixtures");
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* ---- the recorded query-state: {"return": {"dev": {"field": N or [N, ...]}}} ------------------ */

/* The project's JSON reader keeps numbers as int64 or double; register values use all 64 bits,
 * so this reads the recorded replies with a small scanner of its own: objects, arrays, strings
 * without escapes and unsigned integers, into (device, field, index, value) entries. */
#define MAX_ENTRIES 512
static struct entry {
	char dev[32], field[48];
	uint32_t index;
	uint64_t value;
	bool used;
} entries[MAX_ENTRIES];
static int nentries;

struct scan {
	const char *p;
};

static void ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r')
		s->p++;
}

static void expect_ch(struct scan *s, char c)
{
	ws(s);
	if (*s->p != c)
		fail_msg("recorded JSON: expected '%c' at '%.20s'", c, s->p);
	s->p++;
}

static void str(struct scan *s, char *out, size_t n)
{
	size_t k = 0;

	expect_ch(s, '"');
	while (*s->p && *s->p != '"') {
		assert_true(*s->p != '\\');
		assert_true(k + 1 < n);
		out[k++] = *s->p++;
	}
	out[k] = 0;
	expect_ch(s, '"');
}

static uint64_t num(struct scan *s)
{
	char *end;
	uint64_t v;

	ws(s);
	v = strtoull(s->p, &end, 10);
	if (end == s->p)
		fail_msg("recorded JSON: expected a number at '%.20s'", s->p);
	s->p = end;
	return v;
}

static void add(const char *dev, const char *field, uint32_t i, uint64_t v)
{
	assert_true(nentries < MAX_ENTRIES);
	snprintf(entries[nentries].dev, sizeof(entries[0].dev), "%s", dev);
	snprintf(entries[nentries].field, sizeof(entries[0].field), "%s", field);
	entries[nentries].index = i;
	entries[nentries].value = v;
	nentries++;
}

/* A member "name": value of an object, then ',' or '}'; returns false at the '}'. */
static bool more(struct scan *s)
{
	ws(s);
	if (*s->p == ',') {
		s->p++;
		return true;
	}
	return false;
}

static void read_state(const char *text)
{
	struct scan s = { text };
	char key[64], dev[32], field[48];

	expect_ch(&s, '{');
	str(&s, key, sizeof(key));
	assert_string_equal(key, "return");
	expect_ch(&s, ':');
	expect_ch(&s, '{');
	do {
		str(&s, dev, sizeof(dev));
		expect_ch(&s, ':');
		expect_ch(&s, '{');
		do {
			str(&s, field, sizeof(field));
			expect_ch(&s, ':');
			ws(&s);
			if (*s.p == '[') {
				uint32_t i = 0;

				s.p++;
				do
					add(dev, field, i++, num(&s));
				while (more(&s));
				expect_ch(&s, ']');
			} else {
				add(dev, field, 0, num(&s));
			}
		} while (more(&s));
		expect_ch(&s, '}');
	} while (more(&s));
	expect_ch(&s, '}');
}

static struct entry *find(const char *dev, const char *field, uint32_t i)
{
	for (int k = 0; k < nentries; k++)
		if (entries[k].index == i && strcmp(entries[k].dev, dev) == 0 &&
		    strcmp(entries[k].field, field) == 0)
			return &entries[k];
	return NULL;
}

/* "key": "hex" or "key": N in the recorded query-hash reply. */
static uint64_t hash_member(const char *text, const char *key, int base)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	at = strstr(text, pat);
	if (!at)
		fail_msg("no %s in %s", key, text);
	at += strlen(pat);
	if (*at == '"')
		at++;
	return strtoull(at, NULL, base);
}

/* ---- the machine ---------------------------------------------------------------------------- */

static struct machine *restoring_machine(void)
{
	struct machine_config cfg = { .mem_size = 16ull << 20,
				      .console = "null",
				      .clock = GCLOCK_ICOUNT,
				      .restoring = true,
				      .start_paused = true };
	struct machine *m = calloc(1, sizeof(*m));
	struct err e;

	assert_non_null(m);
	if (devices_machine_init(m, &cfg, &e) != 0)
		fail_msg("devices_machine_init: %s", e.msg);
	return m;
}

/* The hashes format 1 computed (its snapshot_hash): FNV-1a 64 over RAM; for the devices,
 * FNV-1a of the hart's section xor'ed into the basis, then h = h * 31 + FNV-1a of each
 * device's section. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

static uint64_t v1_ram_hash(struct machine *m)
{
	return fnv(FNV_BASIS, ram_ptr(&m->ram, m->ram.base), m->ram.size);
}

static uint64_t v1_dev_hash(struct machine *m)
{
	struct buf b;
	uint64_t h = FNV_BASIS;

	buf_init(&b);
	for (int i = 0; i < snapshot_device_count(m); i++) {
		buf_reset(&b);
		if (i == 0) /* the hart has fields of later state versions (F and D) */
			state_save_at(&cpu_state, &m->harts[0], 1, &b);
		else
			snapshot_save_device(m, i, &b);
		uint64_t s = fnv(FNV_BASIS, b.p, b.len);

		h = i == 0 ? h ^ s : h * 31 + s;
	}
	buf_free(&b);
	return h;
}

/* Every field of d in obj against the recorded entries of device name. */
static void check_device(const char *name, const struct state_desc *d, const void *obj)
{
	for (unsigned k = 0; k < d->nfields; k++) {
		const struct state_field *f = &d->fields[k];

		for (uint32_t i = 0; i < f->count; i++) {
			struct entry *en = find(name, f->name, i);

			/* A field added after version 1 was not recorded: it has its default. */
			if (state_field_since(f) > 1) {
				if (en)
					fail_msg("%s.%s[%u] recorded, but is newer than the stream",
						 name, f->name, i);
				if (state_value(f, obj, i) != f->def)
					fail_msg("%s.%s[%u] is not its default", name, f->name, i);
				continue;
			}
			if (!en)
				fail_msg("%s.%s[%u] was not recorded", name, f->name, i);
			if (en->value != state_value(f, obj, i))
				fail_msg("%s.%s[%u] is 0x%llx, recorded 0x%llx", name, f->name, i,
					 (unsigned long long)state_value(f, obj, i),
					 (unsigned long long)en->value);
			en->used = true;
		}
	}
}

static void test_loads_v1_fixture(void **state)
{
	struct snapshot_config sc;
	struct machine *m;
	struct err e;
	size_t len;
	char *st = slurp(fixture("stream-v1.state.json"), &len);
	char *hs = slurp(fixture("stream-v1.hash.json"), &len);

	(void)state;
	read_state(st);
	assert_true(nentries > 100);
	if (snapshot_read_config(fixture("stream-v1.save"), &sc, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(sc.mem_size, 16ull << 20);
	assert_int_equal(sc.harts, 1);
	assert_int_equal(sc.clock, GCLOCK_ICOUNT);
	assert_int_equal(sc.lease_epoch, 0);
	m = restoring_machine();
	if (snapshot_load(m, fixture("stream-v1.save"), &e) < 0)
		fail_msg("%s", e.msg);

	/* Every field of every device, the hart first, as the recording saw it; nothing recorded
	 * that this machine does not have. */
	check_device("cpu", &cpu_state, &m->harts[0]);
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].state)
			check_device(m->devs[i].state->name, m->devs[i].state,
				     machine_dev_state(&m->devs[i]));
	for (int k = 0; k < nentries; k++)
		if (!entries[k].used)
			fail_msg("recorded %s.%s[%u] has no field here", entries[k].dev,
				 entries[k].field, entries[k].index);
	assert_int_equal(m->harts[0].pc, hash_member(hs, "pc", 10));
	assert_int_equal(m->harts[0].instret, 3000000);
	assert_int_equal(hash_member(hs, "instret", 10), 3000000);
	/* The guest time it was saved at: 10 ns an instruction under icount. */
	assert_int_equal(gclock_ns(&m->clock), 30000000);
	/* All of RAM and every device section, byte for byte, as format 1 hashed them. */
	assert_int_equal(v1_ram_hash(m), hash_member(hs, "ram", 16));
	assert_int_equal(v1_dev_hash(m), hash_member(hs, "devices", 16));
	/* Sv39 was on, the rng queue running: the state is not trivial. */
	assert_int_equal(m->harts[0].satp >> 60, 8);
	assert_int_equal(th_virtio(m, "virtio-rng")->q_ready[0], 1);

	th_free(m);
	free(st);
	free(hs);
}

static void test_resave_as_v2(void **state)
{
	char path[] = "/tmp/ferry-test-fixture.XXXXXX";
	struct machine *a = restoring_machine(), *b = restoring_machine();
	struct stream_versions v;
	struct err e;
	int fd;

	(void)state;
	if (snapshot_load(a, fixture("stream-v1.save"), &e) < 0)
		fail_msg("%s", e.msg);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	if (snapshot_save(a, path, 0, &e) < 0)
		fail_msg("%s", e.msg);
	fd = open(path, O_RDONLY);
	assert_int_equal(stream_read_header(fd, &v, &e), 0);
	close(fd);
	assert_int_equal(v.format, STREAM_VERSION);
	assert_int_equal(v.state, STATE_VERSION);
	if (snapshot_load(b, path, &e) < 0)
		fail_msg("%s", e.msg);
	unlink(path);
	uint64_t ra, da, rb, db;

	snapshot_hash(a, &ra, &da);
	snapshot_hash(b, &rb, &db);
	assert_int_equal(ra, rb);
	assert_int_equal(da, db);
	assert_int_equal(v1_ram_hash(a), v1_ram_hash(b));
	assert_int_equal(b->harts[0].pc, a->harts[0].pc);
	assert_int_equal(gclock_ns(&b->clock), gclock_ns(&a->clock));
	th_free(a);
	th_free(b);
}

/* Write bytes to a temporary file and try to load it. */
static int load_bytes(const uint8_t *p, size_t n, struct err *e)
{
	char path[] = "/tmp/ferry-test-fixture.XXXXXX";
	struct machine *m = restoring_machine();
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	rc = snapshot_load(m, path, e);
	unlink(path);
	th_free(m);
	return rc;
}

static void test_damaged_fixture_refused(void **state)
{
	size_t len, at;
	uint8_t *p = (uint8_t *)slurp(fixture("stream-v1.save"), &len);
	uint8_t *q = malloc(len);
	struct err e;

	(void)state;
	assert_non_null(q);
	/* A format this build does not know. */
	memcpy(q, p, len);
	le_put_u32(q + 8, 4);
	assert_int_equal(load_bytes(q, len, &e), -1);
	expect_err(e, "stream format 4, this ferry-vm reads formats 1 to 3");
	/* The first pages record (after the config): a byte of its payload damaged. */
	at = STREAM_HEADER_SIZE_V1 + STREAM_RECORD_OVERHEAD + le_get_u32(p + 20);
	assert_int_equal(le_get_u32(p + at), STREAM_PAGES);
	memcpy(q, p, len);
	q[at + 8 + 100] ^= 0x01;
	assert_int_equal(load_bytes(q, len, &e), -1);
	expect_err(e, "pages record of ");
	expect_err(e, "checksum mismatch");
	/* Cut anywhere: refused as truncated (here: in a page, and just before the end record). */
	assert_int_equal(load_bytes(p, len / 2, &e), -1);
	expect_err(e, "stream truncated in");
	assert_int_equal(load_bytes(p, len - 12, &e), -1);
	expect_err(e, "stream truncated in a record header");
	/* Something after the end. */
	memcpy(q, p, len);
	assert_int_equal(load_bytes(p, len, &e), 0);
	free(q);
	q = malloc(len + 1);
	assert_non_null(q);
	memcpy(q, p, len);
	q[len] = 0;
	assert_int_equal(load_bytes(q, len + 1, &e), -1);
	expect_err(e, "data after the end record");
	free(q);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_v1_fixture),
		cmocka_unit_test(test_resave_as_v2),
		cmocka_unit_test(test_damaged_fixture_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
