/* diff_mem.c - memory-heavy work: sorting, hashing, copying megabytes.
 *
 * An LSD radix sort of 512 Ki random 64-bit keys in malloc'd memory (4 MiB
 * plus a 4 MiB buffer), a heap sort of 256 Ki 32-bit keys in .bss, an
 * open-addressing hash table in .bss, overlapping memmove and byte/halfword/
 * word traffic in memory from brk, and fork: the child dirties every page of
 * a copy-on-write region and streams 1 MiB back through a pipe while the
 * parent checks that its own copy did not change, and a copy-on-write ping-pong
 * between parent and child with the pages hot in the TLB. Only checksums and
 * values are printed.
 */
#include "diff.h"

#define NKEYS (512 * 1024)

static u64 hash_words(const u64 *p, unsigned long n)
{
	u64 h = D_FNV_INIT;

	for (unsigned long i = 0; i < n; i++)
		h = d_fnv(h, p[i]);
	return h;
}

static void test_radix(void)
{
	u64 *a = malloc(NKEYS * 8), *t = malloc(NKEYS * 8), s = 0x1234567UL;
	unsigned long cnt[256];

	if (!a || !t) {
		d_puts("malloc failed\n");
		return;
	}
	for (unsigned long i = 0; i < NKEYS; i++)
		a[i] = d_xorshift(&s);
	d_kv("radix input hash", hash_words(a, NKEYS));
	for (int pass = 0; pass < 8; pass++) {
		int sh = pass * 8;

		for (int i = 0; i < 256; i++)
			cnt[i] = 0;
		for (unsigned long i = 0; i < NKEYS; i++)
			cnt[(a[i] >> sh) & 255]++;
		for (unsigned long i = 0, sum = 0; i < 256; i++) {
			unsigned long c = cnt[i];

			cnt[i] = sum;
			sum += c;
		}
		for (unsigned long i = 0; i < NKEYS; i++)
			t[cnt[(a[i] >> sh) & 255]++] = a[i];
		u64 *x = a;
		a = t;
		t = x;
	}
	int sorted = 1;
	for (unsigned long i = 1; i < NKEYS; i++)
		if (a[i - 1] > a[i])
			sorted = 0;
	d_expect("radix sorted", sorted);
	d_kv("radix output hash", hash_words(a, NKEYS));
	d_kv("radix min", a[0]);
	d_kv("radix median", a[NKEYS / 2]);
	d_kv("radix max", a[NKEYS - 1]);
	free(a);
	free(t);
}

#define NHEAP (256 * 1024)
static u32 heap[NHEAP];

static void sift(u32 *h, unsigned long i, unsigned long n)
{
	for (;;) {
		unsigned long l = 2 * i + 1, m = i;

		if (l < n && h[l] > h[m])
			m = l;
		if (l + 1 < n && h[l + 1] > h[m])
			m = l + 1;
		if (m == i)
			return;
		u32 x = h[i];
		h[i] = h[m];
		h[m] = x;
		i = m;
	}
}

static void test_heapsort(void)
{
	u64 s = 0xabcdef987UL, h = D_FNV_INIT;

	for (unsigned long i = 0; i < NHEAP; i++)
		heap[i] = (u32)d_xorshift(&s);
	for (unsigned long i = NHEAP / 2; i-- > 0;)
		sift(heap, i, NHEAP);
	for (unsigned long n = NHEAP; n > 1; n--) {
		u32 x = heap[0];
		heap[0] = heap[n - 1];
		heap[n - 1] = x;
		sift(heap, 0, n - 1);
	}
	int sorted = 1;
	for (unsigned long i = 1; i < NHEAP; i++)
		if (heap[i - 1] > heap[i])
			sorted = 0;
	for (unsigned long i = 0; i < NHEAP; i += 2)
		h = d_fnv(h, (u64)heap[i] << 32 | heap[i + 1]);
	d_expect("heapsort sorted", sorted);
	d_kv("heapsort hash", h);
}

#define HBITS 17
static u64 table[1UL << HBITS];

static void test_hashtable(void)
{
	u64 s = 42, probes = 0, dups = 0, found = 0;
	const u64 mask = (1UL << HBITS) - 1;

	for (unsigned long i = 0; i < 100000; i++) {
		u64 k = (d_xorshift(&s) % 150000) + 1; /* repeats on purpose */
		u64 p = (k * 0x9e3779b97f4a7c15UL) >> (64 - HBITS);

		while (table[p] && table[p] != k) {
			p = (p + 1) & mask;
			probes++;
		}
		if (table[p] == k)
			dups++;
		table[p] = k;
	}
	for (u64 k = 1; k <= 150000; k++) {
		u64 p = (k * 0x9e3779b97f4a7c15UL) >> (64 - HBITS);

		while (table[p] && table[p] != k)
			p = (p + 1) & mask;
		if (table[p] == k)
			found++;
	}
	d_kv("hashtable probes", probes);
	d_kv("hashtable dups", dups);
	d_kv("hashtable found", found);
	d_kv("hashtable hash", hash_words(table, 1UL << HBITS));
}

static void test_brk(void)
{
	const unsigned long n = 2UL << 20;
	/* nolibc 6.1's sbrk() returns the new break, not the old: use brk directly */
	unsigned char *p = sys_brk(0);

	if (sys_brk(p + n) != p + n) {
		d_puts("brk failed\n");
		return;
	}
	for (unsigned long i = 0; i < n; i++)
		p[i] = (unsigned char)(i ^ (i >> 8) ^ (i >> 16));
	/* halfword and word read-modify-write passes */
	for (unsigned long i = 0; i < n; i += 2)
		*(unsigned short *)(p + i) += (unsigned short)i;
	for (unsigned long i = 0; i < n; i += 4)
		*(u32 *)(p + i) ^= (u32)(i * 2654435761u);
	d_kv("brk pass hash", hash_words((u64 *)p, n / 8));
	/* overlapping moves, both directions, odd lengths and offsets */
	memmove(p + 3, p, 100001);
	memmove(p + 200000, p + 200013, 77777);
	memcpy(p + 1000001, p + 5, 65537);
	memset(p + 333333, 0x5a, 12345);
	d_kv("brk memmove hash", hash_words((u64 *)p, n / 8));
	sys_brk(p);
}

static void test_fork_cow(void)
{
	const unsigned long n = 1UL << 20;
	u64 *m = malloc(n), s = 777;
	int fds[2], st = 0;

	if (!m || d_pipe(fds) != 0) {
		d_puts("setup failed\n");
		return;
	}
	for (unsigned long i = 0; i < n / 8; i++)
		m[i] = d_xorshift(&s);
	u64 before = hash_words(m, n / 8);
	d_flush();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		for (unsigned long i = 0; i < n / 8; i += 512)
			m[i] = ~m[i];
		for (unsigned long off = 0; off < n;) {
			unsigned long len = 4096 + (off / 4096) % 3000;

			/* never past the end: the parent reads n bytes and closes, and a write
			 * still holding bytes beyond n would then die of SIGPIPE, or not,
			 * depending on how the scheduler interleaved the two */
			if (len > n - off)
				len = n - off;
			long w = write(fds[1], (char *)m + off, len);

			if (w <= 0)
				exit(2);
			off += (unsigned long)w;
		}
		exit(0);
	}
	close(fds[1]);
	unsigned char *rx = malloc(n);
	unsigned long got = 0;
	while (got < n) {
		long r = read(fds[0], rx + got, n - got);

		if (r <= 0)
			break;
		got += (unsigned long)r;
	}
	close(fds[0]);
	waitpid(pid, &st, 0);
	d_kv("child status", (u64)st);
	d_kv("pipe bytes", got);
	d_kv("child data hash", hash_words((u64 *)rx, n / 8));
	d_expect("parent copy unchanged", hash_words(m, n / 8) == before);
	d_kv("parent hash", before);
	free(rx);
	free(m);
}

/* Copy-on-write after fork with the pages hot in the TLB: the parent wrote them just
 * before fork() and writes them again right after; the child (same virtual
 * addresses, other page tables) must still see the values from before fork, and
 * the parent must not see the child's writes. The pipes make the order fixed. */
static void test_cow_pingpong(void)
{
	u64 *p = malloc(4 * 4096);
	int a[2], b[2], st = 0;
	u64 v[4] = { 0, 0, 0, 0 };

	if (!p || d_pipe(a) || d_pipe(b)) {
		d_puts("setup failed\n");
		return;
	}
	for (int i = 0; i < 4; i++)
		p[i * 512] = 111 + (u64)i;
	d_flush();
	pid_t pid = fork();
	if (pid == 0) {
		char c;

		if (read(a[0], &c, 1) != 1)
			exit(2);
		for (int i = 0; i < 4; i++)
			v[i] = p[i * 512];
		for (int i = 0; i < 4; i++)
			p[i * 512] = 333 + (u64)i;
		if (write(b[1], v, sizeof(v)) != sizeof(v))
			exit(3);
		exit(p[512] == 334 ? 0 : 4);
	}
	for (int i = 0; i < 4; i++)
		p[i * 512] = 222 + (u64)i;
	if (write(a[1], "x", 1) != 1)
		d_puts("pipe write failed\n");
	if (read(b[0], v, sizeof(v)) != sizeof(v))
		d_puts("pipe read failed\n");
	waitpid(pid, &st, 0);
	for (int i = 0; i < 4; i++) {
		d_puts("cow child saw ");
		d_dec(i);
		d_kv("", v[i]);
		d_puts("cow parent has ");
		d_dec(i);
		d_kv("", p[i * 512]);
	}
	d_kv("cow child status", (u64)st);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	free(p);
}

/* System calls that make the kernel fault on user pages it has not populated:
 * write() from never-touched memory (the zero page), read() into never-touched
 * memory (S-mode store page faults with SUM set). */
static void test_syscall_fresh_pages(void)
{
	const unsigned long n = 256 * 1024;
	unsigned char *src = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *dst = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fds[2];
	u64 moved = 0, nonzero = 0;

	if (src == MAP_FAILED || dst == MAP_FAILED || d_pipe(fds)) {
		d_puts("setup failed\n");
		return;
	}
	/* a pipe holds 64 KiB: alternate writes and reads of 4 KiB + 123 */
	for (unsigned long off = 0; off + 4219 <= n; off += 4219) {
		long w = write(fds[1], src + off, 4219);
		long r = read(fds[0], dst + off, 4219);

		if (w != 4219 || r != 4219)
			break;
		moved += (u64)r;
	}
	for (unsigned long i = 0; i < n; i++)
		nonzero += dst[i] != 0;
	d_kv("bytes moved through fresh pages", moved);
	d_kv("nonzero bytes", nonzero);
	close(fds[0]);
	close(fds[1]);
	munmap(src, n);
	munmap(dst, n);
}

int main(void)
{
	d_init();
	test_radix();
	test_heapsort();
	test_hashtable();
	test_brk();
	test_fork_cow();
	test_cow_pingpong();
	test_syscall_fresh_pages();
	return d_done();
}
