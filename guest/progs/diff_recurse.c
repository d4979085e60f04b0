/* diff_recurse.c - recursion-heavy code: many calls, deep stacks, indirect calls.
 *
 * Naive Fibonacci and Ackermann (hundreds of thousands of calls and returns),
 * a 50000-deep recursion with ~100-byte frames (the stack grows by several MiB
 * through page faults), mutual recursion, N-queens backtracking, Towers of
 * Hanoi, recursive quicksort, and recursion through function pointers (jalr).
 */
#include "diff.h"

#define NOIPA __attribute__((noipa))

NOIPA static u64 fib(u64 n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static u64 ack_calls;
NOIPA static u64 ack(u64 m, u64 n)
{
	ack_calls++;
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ack(m - 1, 1);
	return ack(m - 1, ack(m, n - 1));
}

/* Deep: each frame keeps a small array live across the call. */
NOIPA static u64 deep(u64 n, u64 acc)
{
	volatile u64 frame[8];
	u64 r;

	for (int i = 0; i < 8; i++)
		frame[i] = acc + n * (u64)i;
	if (n == 0)
		return acc;
	r = deep(n - 1, acc * 6364136223846793005UL + n);
	for (int i = 0; i < 8; i++)
		r ^= frame[i] << (i * 7);
	return r;
}

NOIPA static int is_odd(u64 n);
NOIPA static int is_even(u64 n)
{
	return n == 0 ? 1 : is_odd(n - 1) + 0 * (int)n;
}
NOIPA static int is_odd(u64 n)
{
	return n == 0 ? 0 : is_even(n - 1) + 0 * (int)n;
}

static int queens_cols[16];
NOIPA static u64 queens(int row, int n)
{
	u64 count = 0;

	if (row == n)
		return 1;
	for (int c = 0; c < n; c++) {
		int ok = 1;

		for (int r = 0; r < row; r++) {
			int d = queens_cols[r] - c;

			if (d == 0 || d == row - r || d == r - row) {
				ok = 0;
				break;
			}
		}
		if (ok) {
			queens_cols[row] = c;
			count += queens(row + 1, n);
		}
	}
	return count;
}

static u64 hanoi_hash, hanoi_moves;
NOIPA static void hanoi(int n, int from, int to, int via)
{
	if (n == 0)
		return;
	hanoi(n - 1, from, via, to);
	hanoi_moves++;
	hanoi_hash = (hanoi_hash ^ (u64)(n * 9 + from * 3 + to)) * 0x100000001b3UL;
	hanoi(n - 1, via, to, from);
}

#define NQ 65536
static u32 qs[NQ];
NOIPA static void quicksort(u32 *a, long lo, long hi)
{
	while (lo < hi) {
		u32 p = a[(lo + hi) / 2];
		long i = lo, j = hi;

		while (i <= j) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i <= j) {
				u32 t = a[i];
				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		}
		/* recurse into the smaller half */
		if (j - lo < hi - i) {
			quicksort(a, lo, j);
			lo = i;
		} else {
			quicksort(a, i, hi);
			hi = j;
		}
	}
}

typedef u64 (*op_fn)(u64, int);
static u64 f_a(u64, int);
static u64 f_b(u64, int);
static u64 f_c(u64, int);
static const op_fn table[3] = { f_a, f_b, f_c };
NOIPA static u64 f_a(u64 x, int d)
{
	return d ? table[x % 3](x * 3 + 1, d - 1) + 1 : x;
}
NOIPA static u64 f_b(u64 x, int d)
{
	return d ? table[(x >> 3) % 3](x ^ (x >> 7), d - 1) * 5 : x;
}
NOIPA static u64 f_c(u64 x, int d)
{
	return d ? table[(x >> 11) % 3](x + 0x9e3779b9UL, d - 1) ^ (u64)d : x;
}

int main(void)
{
	d_init();
	d_kv("fib(27)", fib(27));
	d_kv("ack(2,300)", ack(2, 300));
	d_kv("ack(3,6)", ack(3, 6));
	d_kv("ack calls", ack_calls);
	d_kv("deep(50000)", deep(50000, 1));
	d_kv("is_even(100001)", (u64)is_even(100001));
	d_kv("is_odd(77777)", (u64)is_odd(77777));
	d_kv("queens(8)", queens(0, 8));
	d_kv("queens(9)", queens(0, 9));
	hanoi_hash = D_FNV_INIT;
	hanoi(17, 0, 2, 1);
	d_kv("hanoi(17) moves", hanoi_moves);
	d_kv("hanoi(17) hash", hanoi_hash);
	u64 s = 99, h = D_FNV_INIT;
	for (int i = 0; i < NQ; i++)
		qs[i] = (u32)d_xorshift(&s) % 100000;
	quicksort(qs, 0, NQ - 1);
	int sorted = 1;
	for (int i = 1; i < NQ; i++)
		if (qs[i - 1] > qs[i])
			sorted = 0;
	for (int i = 0; i < NQ; i++)
		h = d_fnv(h, qs[i]);
	d_expect("quicksort sorted", sorted);
	d_kv("quicksort hash", h);
	h = D_FNV_INIT;
	for (u64 i = 0; i < 2000; i++)
		h = d_fnv(h, f_a(i, 40));
	d_kv("indirect recursion hash", h);
	return d_done();
}
