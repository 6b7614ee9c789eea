/*
 * quant_avx512.c — AVX-512 (F, BW, VL, DQ) + VNNI kernels.  Types not
 * handled here keep their AVX2 kernels (quant.c layers the tables).
 *
 * Q8_0 and Q4_0 process tiles of 4 weight rows x up to 4 tokens, with two
 * (Q8_0) or four (Q4_0) 32-element blocks per step: each weight block is
 * loaded and decoded once per tile and each activation block once per
 * token, and the scales are converted once per row or token.  The int8
 * products use vpdpbusd, which multiplies unsigned by signed bytes:
 *   Q8_0: w + 128 (w xor 0x80) is unsigned, and the accumulator starts at
 *         -128 * sum(a) (per 4-element lane), so the sum is exactly w . a
 *         for every int8 input, -128 included;
 *   Q4_0: the nibble q is unsigned already; the accumulator starts at
 *         -8 * sum(a), giving (q - 8) . a.
 * Per-lane int32 sums are converted to float and scaled with a vector
 * holding each lane's d_w * d_a.  Q4_0's activations, not its weights, are
 * permuted to match the nibble order (see q4_0_tile).
 *
 * Q4_K takes 128 values per pair of vpdpbusd (activations regrouped once
 * per super-block to match the nibble order), packs the two int32 sums to
 * words and applies the sub-block scales with vpdpwssd; the scales, mins
 * and f16 scales of its 4 rows are unpacked together and the mins term is
 * computed for the 4 rows at once (see q4_K_rows; hot 2048 x 5632 decode
 * 11 -> 25 GB/s).  Q6_K takes 64 values per vpmaddubsw and applies the
 * sub-block scales with vpdpwssd.  Float weights use 16-wide FMAs, 4 rows
 * x 2 tokens at a time (each weight vector converted once for both tokens),
 * or from 8 tokens on 8 rows converted to F32 once per block of tokens x
 * 3 tokens at a time (see FW_PANEL_ROWS); per token the same operations as
 * alone, so outputs do not depend on the batch.
 * All rows are prefetched one row group ahead or more (see
 * quant_prefetch_ahead; for float rows this replaced a prefetch 1 KB
 * ahead in the same row: 110M F16 decode +20-29 %).
 */
#include "quant_impl.h"

#include <immintrin.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define AI inline __attribute__((always_inline))
#define QUANT_AVX512_ROWS 4

/*
 * The weights are prefetched at the same place in a row group ahead.  Rows
 * are short (a few KB), so the hardware prefetchers restart at every group
 * of rows; fetching ahead while this group is computed hides that.  The
 * lines are fetched to L2, not L1 (hint T2; T1 measured the same):
 * decode tg64, one thread, means of 3-4 interleaved runs, 1.1B Q4_0
 * 17.3 -> 19.0 tok/s, Q4_K_M 17.3 -> 18.2, Q8_0 11.2 -> 11.8, 110M F16
 * 51 -> 53 (two threads: equal or up to +10 %, within the noise).  Not
 * fetching at all loses 35-45 %.  The next group is far enough for rows of
 * 2 KB and more (two groups ahead gained nothing on the 1.1B models), but
 * the 110M model's 768-value Q8_0 rows make a group of 3.2 KB, which the
 * memory does not deliver in time: prefetching at least QUANT_PREFETCH_MIN
 * bytes ahead (three groups there) gave 110M Q8_0 decode, one thread,
 * +12-17 % (medians of 10-16 interleaved runs; two to six groups alike),
 * two threads +3 %.
 */
#define QUANT_PREFETCH_MIN 8192

/*
 * Bytes from a row group to the one prefetched: whole groups, at least the
 * minimum; 0 for one-row calls (ws = 0), which then touch their own bytes.
 */
static AI size_t
quant_prefetch_distance(size_t ws)
{
	size_t		g = QUANT_AVX512_ROWS * ws;

	return g == 0 ? 0 : (QUANT_PREFETCH_MIN + g - 1) / g * g;
}

/* Prefetch the bytes [p + dist, p + dist + len) to L2. */
static AI void
quant_prefetch_ahead(const void *p, size_t dist, int len)
{
	const char *q = (const char *) p + dist;

	for (int o = 0; o < len; o += 64)
		_mm_prefetch(q + o, _MM_HINT_T2);
}

/* f16 scalar to float. */
static AI float
h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* ---- float weights ------------------------------------------------------ */

enum
{
	FW_F32, FW_F16, FW_BF16
};

/* 16 weights as floats. */
static AI __m512
fw_load16(const uint8_t *p, int kind)
{
	if (kind == FW_F32)
		return _mm512_loadu_ps((const float *) p);
	if (kind == FW_F16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(
		_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *) p)), 16));
}

/* k (< 16) weights as floats, the rest zero. */
static AI __m512
fw_load_tail(const uint8_t *p, int k, int kind)
{
	__mmask16	m = (__mmask16) ((1u << k) - 1);

	if (kind == FW_F32)
		return _mm512_maskz_loadu_ps(m, p);
	if (kind == FW_F16)
		return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(
		_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

/* nr rows of float weights against float activations. */
static AI void
fw_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		float *out, const int kind)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const float *x = (const float *) a;
	const int	esz = kind == FW_F32 ? 4 : 2;
	__m512		acc0[QUANT_AVX512_ROWS],
				acc1[QUANT_AVX512_ROWS];
	int64_t		j = 0;

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc0[i] = acc1[i] = _mm512_setzero_ps();
	for (; j + 32 <= n; j += 32)
	{
		__m512		a0 = _mm512_loadu_ps(x + j),
					a1 = _mm512_loadu_ps(x + j + 16);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const uint8_t *p = w + i * ws + j * esz;

			quant_prefetch_ahead(p, pfd, 32 * esz);
			acc0[i] = _mm512_fmadd_ps(fw_load16(p, kind), a0, acc0[i]);
			acc1[i] = _mm512_fmadd_ps(fw_load16(p + 16 * esz, kind), a1, acc1[i]);
		}
	}
	for (; j < n; j += 16)
	{
		int			k = n - j < 16 ? (int) (n - j) : 16;
		__m512		a0 = _mm512_maskz_loadu_ps((__mmask16) ((1u << k) - 1), x + j);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
			acc0[i] = _mm512_fmadd_ps(k == 16 ? fw_load16(w + i * ws + j * esz, kind) :
									  fw_load_tail(w + i * ws + j * esz, k, kind),
									  a0, acc0[i]);
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i]));
}

/*
 * nr rows x 2 tokens: per (row, token) exactly fw_rows' operations in the
 * same order (so a token's values do not depend on the batch), with each
 * weight vector loaded and converted once for both tokens.
 */
static AI void
fw_rows_2t(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		   size_t as, float *y, int64_t ldy, const int kind)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const float *x0 = (const float *) a;
	const float *x1 = (const float *) (a + as);
	const int	esz = kind == FW_F32 ? 4 : 2;
	__m512		acc0[2][QUANT_AVX512_ROWS],
				acc1[2][QUANT_AVX512_ROWS];
	int64_t		j = 0;

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc0[0][i] = acc1[0][i] = acc0[1][i] = acc1[1][i] = _mm512_setzero_ps();
	for (; j + 32 <= n; j += 32)
	{
		__m512		a00 = _mm512_loadu_ps(x0 + j),
					a01 = _mm512_loadu_ps(x0 + j + 16),
					a10 = _mm512_loadu_ps(x1 + j),
					a11 = _mm512_loadu_ps(x1 + j + 16);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const uint8_t *p = w + i * ws + j * esz;
			__m512		w0 = fw_load16(p, kind),
						w1 = fw_load16(p + 16 * esz, kind);

			quant_prefetch_ahead(p, pfd, 32 * esz);
			acc0[0][i] = _mm512_fmadd_ps(w0, a00, acc0[0][i]);
			acc1[0][i] = _mm512_fmadd_ps(w1, a01, acc1[0][i]);
			acc0[1][i] = _mm512_fmadd_ps(w0, a10, acc0[1][i]);
			acc1[1][i] = _mm512_fmadd_ps(w1, a11, acc1[1][i]);
		}
	}
	for (; j < n; j += 16)
	{
		int			k = n - j < 16 ? (int) (n - j) : 16;
		__mmask16	m = (__mmask16) ((1u << k) - 1);
		__m512		a0 = _mm512_maskz_loadu_ps(m, x0 + j),
					a1 = _mm512_maskz_loadu_ps(m, x1 + j);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			__m512		wv = k == 16 ? fw_load16(w + i * ws + j * esz, kind) :
				fw_load_tail(w + i * ws + j * esz, k, kind);

			acc0[0][i] = _mm512_fmadd_ps(wv, a0, acc0[0][i]);
			acc0[1][i] = _mm512_fmadd_ps(wv, a1, acc0[1][i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
	{
		y[i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[0][i], acc1[0][i]));
		y[ldy + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[1][i], acc1[1][i]));
	}
}

/*
 * Calls of FW_PANEL_MIN_NT or more tokens convert each group of
 * FW_PANEL_ROWS rows to floats once per block of tokens, FW_PANEL_KC
 * columns at a time (the "panel", 8 x 1024 floats = 32 KB, stays in L1),
 * and multiply it with tiles of FW_PANEL_TOKENS tokens: per 16 columns 8
 * weight and 3 activation loads feed 24 FMAs, and no conversion is
 * repeated per token (the pair kernel converts every weight vector again
 * for each pair of tokens: vcvtph2ps takes the FMA ports, so at best half
 * their throughput went to the products).
 *
 * Per (row, token) the operations are exactly fw_rows': a tile makes two
 * passes over the columns, the first for acc0 (columns j % 32 < 16, then
 * the masked 16-wide tail), the second for acc1, then reduces acc0 + acc1,
 * so only 24 accumulators are live at once.  Rows longer than
 * FW_PANEL_KC go in chunks of columns; the partial acc0 and acc1 of each
 * (row, token) are kept in memory from one chunk to the next, which
 * continues their sums in the same order.
 *
 * Tokens go in blocks whose activations (about FW_BLOCK_BYTES) stay in L2
 * while all row groups of the call pass over them; each block converts the
 * panels again (one conversion per 16 weights and block).  Panel and
 * partial sums are in a buffer allocated per call (up to about 100 KB).
 *
 * Measured on Sapphire Rapids (bench_matmul prefill, F16, one thread,
 * GMAC/s, FMA peak ~78), pair kernel -> panels at nt = 256: 768 x 768
 * 37 -> 66, 2048 x 768 35 -> 71, 768 x 2048 30 -> 50; 110M F16 pp512 at
 * 2 threads 461 -> 662 tok/s (medians of 3 interleaved runs).  Tiles of
 * 4 x 6, 5 x 4, 6 x 4 and 7 x 3 were slower; below 8 tokens per call the
 * pair kernel is faster (the conversion and the panel stores are not paid
 * back).
 */
#define FW_PANEL_ROWS 8
#define FW_PANEL_TOKENS 3
#define FW_PANEL_KC 1024
#define FW_PANEL_MIN_NT 8
#define FW_BLOCK_BYTES (512 << 10)
/* tokens per block: at least FW_BLOCK_MIN; chunked rows at most FW_BLOCK_MAX */
#define FW_BLOCK_MIN (8 * FW_PANEL_TOKENS)
#define FW_BLOCK_MAX (21 * FW_PANEL_TOKENS)

/*
 * Columns [k0, k1) of FW_PANEL_ROWS rows of float weights as floats at p
 * (row stride kp), zero past k1 up to the next multiple of 16; the same
 * columns of the next row group are prefetched.
 */
static AI void
fw_panel(const uint8_t *w, size_t ws, int64_t k0, int64_t k1, float *p, int64_t kp,
		 const int kind)
{
	const int	esz = kind == FW_F32 ? 4 : 2;

#pragma GCC unroll 8
	for (int i = 0; i < FW_PANEL_ROWS; i++)
	{
		const uint8_t *q = w + i * ws;
		float	   *d = p + i * kp - k0;
		int64_t		j = k0;

		for (; j + 32 <= k1; j += 32)
		{
			for (int o = 0; o < 32 * esz; o += 64)
				_mm_prefetch((const char *) q + FW_PANEL_ROWS * ws + j * esz + o, _MM_HINT_T0);
			_mm512_storeu_ps(d + j, fw_load16(q + j * esz, kind));
			_mm512_storeu_ps(d + j + 16, fw_load16(q + (j + 16) * esz, kind));
		}
		for (; j < k1; j += 16)
			_mm512_storeu_ps(d + j, k1 - j >= 16 ? fw_load16(q + j * esz, kind) :
							 fw_load_tail(q + j * esz, (int) (k1 - j), kind));
	}
}

/*
 * The 8 sums _mm512_reduce_add_ps(v[0]) .. (v[7]), computed together: the
 * same additions of the same lane pairs as that function's tree (upper 8
 * lanes + lower 8, then 4 + 4, 2 + 2, 1 + 1), so bit for bit its results,
 * with 15 shuffles and 8 additions instead of 8 x 7 operations.
 */
static AI __m256
fw_reduce8(const __m512 *v)
{
	__m512		u[4],
				w[2],
				z;

	/* lanes 128-bit 0-1: v[2k]'s 8 + 8, 2-3: v[2k + 1]'s */
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++)
		u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)),
							 _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)));
	/* 128-bit lane m: v[4k + m]'s 4 + 4 */
#pragma GCC unroll 2
	for (int k = 0; k < 2; k++)
		w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)),
							 _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)));
	/* lane m: v[m]'s 2 + 2 in elements 0-1, v[m + 4]'s in 2-3 */
	z = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 2, 3, 2)),
					  _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(1, 0, 1, 0)));
	/* elements 0 and 2: 1 + 1 */
	z = _mm512_add_ps(z, _mm512_permute_ps(z, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm512_castps512_ps256(_mm512_permutexvar_ps(
		_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), z));
}

/*
 * FW_PANEL_ROWS rows (panel p, row stride kp, columns [k0, k1)) x ntk
 * tokens (activations a, stride as).  part holds the partial sums
 * [acc0/acc1][row][token] between chunks of columns: read unless first,
 * written unless last; the last chunk (k1 = n) adds the tail and stores
 * the dot products in y[t * ldy + i].
 */
static AI void
fw_tile(int64_t k0, int64_t k1, const int ntk, const float *p, int64_t kp,
		const uint8_t *a, size_t as, __m512 *part, int first, int last,
		float *y, int64_t ldy)
{
	const int	R = FW_PANEL_ROWS,
				T = FW_PANEL_TOKENS;
	const float *x[FW_PANEL_TOKENS];
	__m512		acc[FW_PANEL_ROWS][FW_PANEL_TOKENS],
				acc0[FW_PANEL_ROWS][FW_PANEL_TOKENS] = {{{0}}};

#pragma GCC unroll 8
	for (int t = 0; t < ntk; t++)
		x[t] = (const float *) (a + t * as);
	p -= k0;
	for (int h = 0; h < 2; h++)
	{
		int64_t		j = k0;

#pragma GCC unroll 8
		for (int i = 0; i < R; i++)
#pragma GCC unroll 8
			for (int t = 0; t < ntk; t++)
				acc[i][t] = first ? _mm512_setzero_ps() : part[(h * R + i) * T + t];
		for (; j + 32 <= k1; j += 32)
		{
			__m512		av[FW_PANEL_TOKENS];

#pragma GCC unroll 8
			for (int t = 0; t < ntk; t++)
				av[t] = _mm512_loadu_ps(x[t] + j + 16 * h);
#pragma GCC unroll 8
			for (int i = 0; i < R; i++)
			{
				__m512		wv = _mm512_loadu_ps(p + i * kp + j + 16 * h);

				/* one load for the ntk FMAs, not one folded into each */
				__asm__("" : "+v"(wv));
#pragma GCC unroll 8
				for (int t = 0; t < ntk; t++)
					acc[i][t] = _mm512_fmadd_ps(wv, av[t], acc[i][t]);
			}
		}
		if (h == 0 && last)
			for (; j < k1; j += 16)
			{
				/* the tail, into acc0 as in fw_rows */
				int			k = k1 - j < 16 ? (int) (k1 - j) : 16;
				__mmask16	m = (__mmask16) ((1u << k) - 1);
				__m512		av[FW_PANEL_TOKENS];

#pragma GCC unroll 8
				for (int t = 0; t < ntk; t++)
					av[t] = _mm512_maskz_loadu_ps(m, x[t] + j);
#pragma GCC unroll 8
				for (int i = 0; i < R; i++)
				{
					__m512		wv = _mm512_maskz_loadu_ps(m, p + i * kp + j);

#pragma GCC unroll 8
					for (int t = 0; t < ntk; t++)
						acc[i][t] = _mm512_fmadd_ps(wv, av[t], acc[i][t]);
				}
			}
#pragma GCC unroll 8
		for (int i = 0; i < R; i++)
#pragma GCC unroll 8
			for (int t = 0; t < ntk; t++)
			{
				if (!last)
					part[(h * R + i) * T + t] = acc[i][t];
				else if (h == 0)
					acc0[i][t] = acc[i][t];
				else
					acc0[i][t] = _mm512_add_ps(acc0[i][t], acc[i][t]);
			}
	}
	if (last)
#pragma GCC unroll 8
		for (int t = 0; t < ntk; t++)
		{
			__m512		v[FW_PANEL_ROWS];

#pragma GCC unroll 8
			for (int i = 0; i < R; i++)
				v[i] = acc0[i][t];
			_mm256_storeu_ps(y + t * ldy, fw_reduce8(v));
		}
}

/*
 * Rows [r0, r1) (a multiple of FW_PANEL_ROWS) x nt tokens through panels
 * (see FW_PANEL_ROWS).  Returns false, having done nothing, if out of
 * memory.
 */
static AI bool
fw_matmul_panel(int64_t n, const uint8_t *W, size_t ws, const uint8_t *A, size_t as,
				int nt, float *y, int64_t ldy, int64_t r0, int64_t r1, const int kind)
{
	const int	T = FW_PANEL_TOKENS;
	const int64_t nkc = (n + FW_PANEL_KC - 1) / FW_PANEL_KC;
	/* panel row stride: 16 floats more than a chunk, off 4 KB multiples */
	const int64_t kp = ((n < FW_PANEL_KC ? n : FW_PANEL_KC) + 15) / 16 * 16 + 16;
	int64_t		block = FW_BLOCK_BYTES / (n * sizeof(float)) / T * T;
	size_t		pbytes = (size_t) FW_PANEL_ROWS * kp * sizeof(float);
	size_t		tile_part = 2 * FW_PANEL_ROWS * FW_PANEL_TOKENS;
	uint8_t    *buf;
	float	   *panel;
	__m512	   *part;

	block = block < FW_BLOCK_MIN ? FW_BLOCK_MIN : block;
	/* partial sums, kept only for chunked rows, limit the block */
	if (nkc > 1 && block > FW_BLOCK_MAX)
		block = FW_BLOCK_MAX;
	buf = aligned_alloc(64, pbytes + (nkc > 1 ? block / T * tile_part * sizeof(__m512) : 0));
	if (buf == NULL)
		return false;
	panel = (float *) buf;
	part = (__m512 *) (buf + pbytes);
	for (int t0 = 0; t0 < nt; t0 += block)
	{
		int			nb = nt - t0 < block ? nt - t0 : (int) block;

		for (int64_t r = r0; r < r1; r += FW_PANEL_ROWS)
			for (int64_t c = 0; c < nkc; c++)
			{
				int64_t		k0 = c * FW_PANEL_KC,
							k1 = k0 + FW_PANEL_KC < n ? k0 + FW_PANEL_KC : n;
				int			first = c == 0,
							last = c == nkc - 1;

				fw_panel(W + r * ws, ws, k0, k1, panel, kp, kind);
				for (int t = 0; t < nb; t += T)
				{
					const uint8_t *a = A + (t0 + t) * as;
					float	   *yt = y + (t0 + t) * ldy + r;
					__m512	   *pt = part + (nkc > 1 ? t / T * tile_part : 0);

					if (nb - t >= T)
						fw_tile(k0, k1, T, panel, kp, a, as, pt, first, last, yt, ldy);
					else if (nb - t == 2)
						fw_tile(k0, k1, 2, panel, kp, a, as, pt, first, last, yt, ldy);
					else
						fw_tile(k0, k1, 1, panel, kp, a, as, pt, first, last, yt, ldy);
				}
			}
	}
	free(buf);
	return true;
}

/*
 * Float weights x nt tokens: through panels (see FW_PANEL_ROWS) from
 * FW_PANEL_MIN_NT tokens, else 4 rows x 2 tokens at a time.
 */
static AI void
fw_matmul(int64_t n, const void *W, size_t ws, const void *A, size_t as, int nt,
		  float *y, int64_t ldy, int64_t r0, int64_t r1, const int kind)
{
	const uint8_t *Wb = W,
			   *Ab = A;
	int64_t		r = r0;

	if (nt >= FW_PANEL_MIN_NT && r1 - r0 >= FW_PANEL_ROWS &&
		fw_matmul_panel(n, Wb, ws, Ab, as, nt, y, ldy, r0,
						r0 + (r1 - r0) / FW_PANEL_ROWS * FW_PANEL_ROWS, kind))
		r = r0 + (r1 - r0) / FW_PANEL_ROWS * FW_PANEL_ROWS;
	for (; r + QUANT_AVX512_ROWS <= r1; r += QUANT_AVX512_ROWS)
	{
		int			t = 0;

		for (; t + 2 <= nt; t += 2)
			fw_rows_2t(n, QUANT_AVX512_ROWS, Wb + r * ws, ws, Ab + t * as, as,
					   y + t * ldy + r, ldy, kind);
		if (t < nt)
			fw_rows(n, QUANT_AVX512_ROWS, Wb + r * ws, ws, Ab + t * as, y + t * ldy + r, kind);
	}
	for (; r < r1; r++)
		for (int t = 0; t < nt; t++)
			fw_rows(n, 1, Wb + r * ws, 0, Ab + t * as, y + t * ldy + r, kind);
}

/* The float families (F32, F16, BF16): dot products and matmuls. */
#define QUANT_AVX512_FLOAT(P, KIND) \
static void \
P##_dot(int64_t n, float *s, const void *w, const void *a) \
{ \
	fw_rows(n, 1, w, 0, a, s, KIND); \
} \
static void \
P##_matmul(int64_t n, const void *W, size_t ws, const void *A, size_t as, \
		   int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) \
{ \
	fw_matmul(n, W, ws, A, as, nt, y, ldy, r0, r1, KIND); \
}

QUANT_AVX512_FLOAT(f32, FW_F32)
QUANT_AVX512_FLOAT(f16, FW_F16)
QUANT_AVX512_FLOAT(bf16, FW_BF16)

/* ---- Q8_0 / Q4_0 x Q8_0 --------------------------------------------------- */

/*
 * These two compute tiles of up to 4 rows x 4 tokens: each weight block is
 * loaded and decoded once and multiplied with every token of the tile, and
 * the scale of each row and each token is converted once per block group.
 */
#define QUANT_AVX512_TOKENS 4

/*
 * Driver of a tiled family P with P_tile(n, nr, ntk, w, ws, a, as, y, ldy)
 * computing nr <= 4 rows x ntk <= 4 tokens into y[t * ldy + i].
 */
#define QUANT_AVX512_TILED_DRIVER(P) \
static AI void \
P##_tokens(int64_t n, const int nr, const uint8_t *w, size_t ws, \
		   const uint8_t *A, size_t as, int nt, float *y, int64_t ldy) \
{ \
	int t = 0; \
	for (; t + QUANT_AVX512_TOKENS <= nt; t += QUANT_AVX512_TOKENS) \
		P##_tile(n, nr, QUANT_AVX512_TOKENS, w, ws, A + t * as, as, y + t * ldy, ldy); \
	switch (nt - t) \
	{ \
		case 1: P##_tile(n, nr, 1, w, ws, A + t * as, as, y + t * ldy, ldy); break; \
		case 2: P##_tile(n, nr, 2, w, ws, A + t * as, as, y + t * ldy, ldy); break; \
		case 3: P##_tile(n, nr, 3, w, ws, A + t * as, as, y + t * ldy, ldy); break; \
	} \
} \
static void \
P##_rows4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *A, size_t as, \
		  int nt, float *y, int64_t ldy) \
{ \
	P##_tokens(n, 4, w, ws, A, as, nt, y, ldy); \
} \
static void \
P##_rows1(int64_t n, const uint8_t *w, const uint8_t *A, size_t as, int nt, \
		  float *y, int64_t ldy) \
{ \
	P##_tokens(n, 1, w, 0, A, as, nt, y, ldy); \
} \
static void \
P##_dot(int64_t n, float *s, const void *w, const void *a) \
{ \
	P##_tile(n, 1, 1, w, 0, a, 0, s, 0); \
} \
static void \
P##_matmul(int64_t n, const void *W, size_t ws, const void *A, size_t as, \
		   int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) \
{ \
	const uint8_t *Wb = W; \
	int64_t r = r0; \
	for (; r + QUANT_AVX512_ROWS <= r1; r += QUANT_AVX512_ROWS) \
		P##_rows4(n, Wb + r * ws, ws, A, as, nt, y + r, ldy); \
	for (; r < r1; r++) \
		P##_rows1(n, Wb + r * ws, A, as, nt, y + r, ldy); \
}

/* [f16 h0, f16 h1] as floats in lanes 0, 1. */
static AI __m128
h2f_pair(uint16_t h0, uint16_t h1)
{
	return _mm_cvtph_ps(_mm_cvtsi32_si128((int) ((uint32_t) h0 | ((uint32_t) h1 << 16))));
}

/* Four f16 values as floats in lanes 0-3. */
static AI __m128
h2f_quad(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3)
{
	uint64_t	v = (uint64_t) h0 | ((uint64_t) h1 << 16) | ((uint64_t) h2 << 32) |
		((uint64_t) h3 << 48);

	return _mm_cvtph_ps(_mm_cvtsi64_si128((long long) v));
}

/* Two 32-byte blocks in one register. */
static AI __m512i
load_pair(const int8_t *q0, const int8_t *q1)
{
	return _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *) q0)),
							  _mm256_loadu_si256((const __m256i *) q1), 1);
}

/*
 * One block outside the main steps (Q8_0's odd last block, Q4_0's last 1-3),
 * for one token: wu holds the block's 32 weights as unsigned bytes
 * w + off in the low 256 bits, so (wu . a) - off . a = w . a; the scaled sum
 * is added into the low 8 lanes of acc.
 */
static AI __m512
last_block_fma(__m512 acc, __m512i wu, __m512i off, float dw, const quant_block_q8_0 *ab)
{
	__m512i		av = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *) ab->qs));
	__m512i		ncorr = _mm512_sub_epi32(_mm512_setzero_si512(),
										 _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, av));
	__m512		p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(ncorr, wu, av));

	return _mm512_mask3_fmadd_ps(p, _mm512_set1_ps(dw * h2f(ab->d)), acc, 0x00FF);
}

/* Q8_0: two blocks per register, lanes 0-7 block 0 and 8-15 block 1. */
static AI void
q8_0_tile(int64_t n, const int nr, const int ntk, const uint8_t *w, size_t ws,
		  const uint8_t *a, size_t as, float *y, int64_t ldy)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const __m512i off = _mm512_set1_epi8((char) 0x80);
	const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
	const int64_t nb = n / 32;
	__m512		acc[QUANT_AVX512_ROWS][QUANT_AVX512_TOKENS];
	int64_t		b = 0;

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
			acc[i][t] = _mm512_setzero_ps();
	for (; b + 2 <= nb; b += 2)
	{
		__m512i		wv[QUANT_AVX512_ROWS];
		__m512		dw[QUANT_AVX512_ROWS];

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q8_0 *wb = (const quant_block_q8_0 *) (w + i * ws) + b;

			quant_prefetch_ahead(wb, pfd, 68);
			wv[i] = _mm512_xor_si512(load_pair(wb[0].qs, wb[1].qs), off);
			dw[i] = _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(h2f_pair(wb[0].d, wb[1].d)));
		}
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
		{
			const quant_block_q8_0 *ab = (const quant_block_q8_0 *) (a + t * as) + b;
			__m512i		av = load_pair(ab[0].qs, ab[1].qs);
			/* -128 * (sum of each 4 activations): undoes the xor 0x80 */
			__m512i		ncorr = _mm512_sub_epi32(_mm512_setzero_si512(),
												 _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, av));
			__m512		da = _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(h2f_pair(ab[0].d, ab[1].d)));

#pragma GCC unroll 4
			for (int i = 0; i < nr; i++)
				acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(ncorr, wv[i], av)),
											_mm512_mul_ps(dw[i], da), acc[i][t]);
		}
	}
	if (b < nb)
	{
		/* the odd last block, in the low half */
#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q8_0 *wb = (const quant_block_q8_0 *) (w + i * ws) + b;
			__m512i		wv = _mm512_xor_si512(_mm512_zextsi256_si512(
				_mm256_loadu_si256((const __m256i *) wb->qs)), off);
			float		dw = h2f(wb->d);

#pragma GCC unroll 4
			for (int t = 0; t < ntk; t++)
				acc[i][t] = last_block_fma(acc[i][t], wv, off, dw,
										   (const quant_block_q8_0 *) (a + t * as) + b);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
			y[t * ldy + i] = _mm512_reduce_add_ps(acc[i][t]);
}

QUANT_AVX512_TILED_DRIVER(q8_0)

/*
 * Word indices gathering the quants of a span of four Q4_0 blocks (72
 * bytes) from its bytes 0-63 (indices 0-31) and 56-71 (32 + 0-7): block k's
 * 16 bytes, at span byte 18k + 2, go to 128-bit lane k.
 */
static const uint16_t q4_0_quant_index[32] __attribute__((aligned(64))) = {
	1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17,
	19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32 + 4, 32 + 5, 32 + 6, 32 + 7
};

/*
 * Q4_0: four blocks per step.  Their 4 x 16 packed bytes fill one register
 * whose low and high nibbles meet the activations rearranged as
 * [a0 lo | a1 lo | a2 lo | a3 lo] and [a0 hi | ... | a3 hi]; 128-bit lane k
 * then holds block k's partial sums.
 */
static AI void
q4_0_tile(int64_t n, const int nr, const int ntk, const uint8_t *w, size_t ws,
		  const uint8_t *a, size_t as, float *y, int64_t ldy)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	const __m512i eight = _mm512_set1_epi8(8);
	const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
	const __m512i qidx = _mm512_load_si512(q4_0_quant_index);
	/* word 9k of a span is block k's scale, for lanes 4k .. 4k + 3 */
	const __m512i didx = _mm512_setr_epi32(0, 0, 9 | 9 << 16, 9 | 9 << 16, 18 | 18 << 16,
										   18 | 18 << 16, 27 | 27 << 16, 27 | 27 << 16,
										   0, 0, 0, 0, 0, 0, 0, 0);
	const int64_t nb = n / 32;
	__m512		acc[QUANT_AVX512_ROWS][QUANT_AVX512_TOKENS];
	int64_t		b = 0;

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
			acc[i][t] = _mm512_setzero_ps();
	for (; b + 4 <= nb; b += 4)
	{
		__m512i		lo[QUANT_AVX512_ROWS],
					hi[QUANT_AVX512_ROWS];
		__m512		dw[QUANT_AVX512_ROWS];

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const uint8_t *wb = w + i * ws + b * sizeof(quant_block_q4_0);
			/* the span's bytes 0-63 and 56-71 (all 16-bit aligned) */
			__m512i		s0 = _mm512_loadu_si512(wb);
			__m512i		s1 = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *) (wb + 56)));
			__m512i		z = _mm512_permutex2var_epi16(s0, qidx, s1);

			quant_prefetch_ahead(wb, pfd, 72);
			lo[i] = _mm512_and_si512(z, m4);
			hi[i] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
			dw[i] = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(didx, s0)));
		}
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
		{
			const quant_block_q8_0 *ab = (const quant_block_q8_0 *) (a + t * as) + b;
			__m512i		x01 = load_pair(ab[0].qs, ab[1].qs);
			__m512i		x23 = load_pair(ab[2].qs, ab[3].qs);
			__m512i		alo = _mm512_shuffle_i64x2(x01, x23, _MM_SHUFFLE(2, 0, 2, 0));
			__m512i		ahi = _mm512_shuffle_i64x2(x01, x23, _MM_SHUFFLE(3, 1, 3, 1));
			/* -8 * (sum of each 4 activations): the q - 8 offset */
			__m512i		ncorr = _mm512_sub_epi32(_mm512_setzero_si512(),
												 _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, alo),
																	 eight, ahi));
			__m512		da = _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(
				h2f_quad(ab[0].d, ab[1].d, ab[2].d, ab[3].d)));

#pragma GCC unroll 4
			for (int i = 0; i < nr; i++)
				acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(
					_mm512_dpbusd_epi32(_mm512_dpbusd_epi32(ncorr, lo[i], alo), hi[i], ahi)),
											_mm512_mul_ps(dw[i], da), acc[i][t]);
		}
	}
	for (; b < nb; b++)
	{
		/* the last 1-3 blocks, one at a time in the low 256 bits */
#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q4_0 *wb = (const quant_block_q4_0 *) (w + i * ws) + b;
			__m128i		q = _mm_loadu_si128((const __m128i *) wb->qs);
			__m512i		qq = _mm512_zextsi256_si512(_mm256_and_si256(
				_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F)));
			float		dw = h2f(wb->d);

#pragma GCC unroll 4
			for (int t = 0; t < ntk; t++)
				acc[i][t] = last_block_fma(acc[i][t], qq, eight, dw,
										   (const quant_block_q8_0 *) (a + t * as) + b);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
		for (int t = 0; t < ntk; t++)
			y[t * ldy + i] = _mm512_reduce_add_ps(acc[i][t]);
}

QUANT_AVX512_TILED_DRIVER(q4_0)

/* ---- K-quants x Q8_K ------------------------------------------------------ */

/*
 * The sub-block scales and mins of four Q4_K rows at once.  Lane i of h
 * holds the first 16 bytes of row i's block: d and dmin, then the 12 packed
 * bytes as the 32-bit words u0, u1, u2 (dwords 1-3; the layout is described
 * at quant_q4_K_scale_min).  Lane i of the result holds the six-bit values
 * as bytes: dword 0 scales 0-3, dword 1 mins 0-3, dword 2 scales 4-7,
 * dword 3 mins 4-7.
 */
static AI __m512i
q4_K_unpack4(__m512i h)
{
	/* (u0, u1, u2, u2 >> 4) & (3F, 3F, 0F, 0F) */
	__m512i		t = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi32(h, _MM_PERM_DDCB),
													   _mm512_set4_epi32(4, 0, 0, 0)),
									 _mm512_set4_epi32(0x0F0F0F0F, 0x0F0F0F0F,
													   0x3F3F3F3F, 0x3F3F3F3F));

	/* | ((u0, u1, u0, u1) >> 2) & (0, 0, 30, 30) */
	return _mm512_ternarylogic_epi32(t, _mm512_srli_epi32(_mm512_shuffle_epi32(h, _MM_PERM_CBCB), 2),
									 _mm512_set4_epi32(0x30303030, 0x30303030, 0, 0), 0xF8);
}

/* The first 16 bytes (d, dmin, packed scales) of block b of the row at w + off. */
static AI __m128i
q4_K_head(const uint8_t *w, size_t off, int64_t b)
{
	return _mm_loadu_si128((const __m128i *) ((const quant_block_q4_K *) (w + off) + b));
}

/* vpshufb selector: four words of byte x (zero-extended) */
#define Q4K_W4(x)	((long long) (0x8000800080008000ULL | (0x0001000100010001ULL * (x))))

/*
 * Q4_K: each 64 packed bytes (chunks c and c + 1 of 32, c = 0 or 2) give
 * 128 values: the low nibbles are sub-blocks 2c | 2c + 2, the high nibbles 2c + 1 | 2c + 3
 * (256-bit halves), so the activations are regrouped the same way, once per
 * super-block for the 4 rows.  vpdpbusd (unsigned nibbles x signed
 * activations) makes int32 sums of 4 values (|sum| <= 7680), vpackssdw
 * packs the low and high nibble sums into words (128-bit lanes 0-1:
 * sub-blocks 2c | 2c + 1, lanes 2-3: 2c + 2 | 2c + 3, 4 words each), and
 * vpmaddwd / vpdpwssd multiply them by the sub-block scales.  The headers
 * of the 4 rows (scales, mins, d and dmin) are unpacked together, and the
 * mins term is computed for the 4 rows at once from the bsums: lane i of
 * macc belongs to row i.
 */
static AI void
q4_K_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const quant_block_q8_K *ab = (const quant_block_q8_K *) a;
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	/* scale words for the packed sums of chunks 0-1 | 2-3 */
	const __m512i ssel0 = _mm512_set_epi64(Q4K_W4(3), Q4K_W4(2), Q4K_W4(3), Q4K_W4(2),
										   Q4K_W4(1), Q4K_W4(0), Q4K_W4(1), Q4K_W4(0));
	const __m512i ssel1 = _mm512_set_epi64(Q4K_W4(11), Q4K_W4(10), Q4K_W4(11), Q4K_W4(10),
										   Q4K_W4(9), Q4K_W4(8), Q4K_W4(9), Q4K_W4(8));
	/* mins 0-7 as words */
	const __m512i msel = _mm512_set4_epi32(0x800F800E, 0x800D800C, 0x80078006, 0x80058004);
	/* dword 0 (d, dmin) of each lane; dmin of row i to lane i */
	const __m512i hidx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m512i dmidx = _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7);
	__m512		acc[QUANT_AVX512_ROWS];
	__m512		macc = _mm512_setzero_ps();

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = _mm512_setzero_ps();
	for (int64_t b = 0; b < n / 256; b++)
	{
		const int8_t *x = ab[b].qs;
		__m512i		alo01 = load_pair(x, x + 64),
					ahi01 = load_pair(x + 32, x + 96),
					alo23 = load_pair(x + 128, x + 192),
					ahi23 = load_pair(x + 160, x + 224);
		/* the activation sums of the 8 sub-blocks, as words in every lane */
		__m512i		bs2 = _mm512_broadcast_i32x4(_mm_hadd_epi16(
			_mm_loadu_si128((const __m128i *) ab[b].bsums),
			_mm_loadu_si128((const __m128i *) (ab[b].bsums + 8))));
		__m512i		h = _mm512_castsi128_si512(q4_K_head(w, 0, b));
		__m512i		y;
		__m256		dd;

		/* rows past nr (one-row calls, ws = 0) repeat row 0 */
		h = _mm512_inserti32x4(h, q4_K_head(w, (nr > 1 ? 1 : 0) * ws, b), 1);
		h = _mm512_inserti32x4(h, q4_K_head(w, (nr > 2 ? 2 : 0) * ws, b), 2);
		h = _mm512_inserti32x4(h, q4_K_head(w, (nr > 3 ? 3 : 0) * ws, b), 3);
		y = q4_K_unpack4(h);
		/* (d, dmin) x d_a of rows 0-3 */
		dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(hidx, h))),
						   _mm256_set1_ps(ab[b].d));
		macc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_shuffle_epi8(y, msel), bs2)),
							   _mm512_permutexvar_ps(dmidx, _mm512_castps256_ps512(dd)), macc);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q4_K *wb = (const quant_block_q4_K *) (w + i * ws) + b;
			__m512i		q01 = _mm512_loadu_si512(wb->qs);
			__m512i		q23 = _mm512_loadu_si512(wb->qs + 64);
			/* lane i of y in all four (an index vector: clang needs a constant for vshufi32x4) */
			__m512i		yi = _mm512_permutexvar_epi32(_mm512_add_epi32(_mm512_set1_epi32(4 * i),
																		_mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3,
																						  0, 1, 2, 3, 0, 1, 2, 3)),
													  y);
			__m512i		p01,
						p23,
						isum;

			quant_prefetch_ahead(wb, pfd, 144);
			p01 = _mm512_packs_epi32(
				_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q01, m4), alo01),
				_mm512_dpbusd_epi32(_mm512_setzero_si512(),
									_mm512_and_si512(_mm512_srli_epi16(q01, 4), m4), ahi01));
			p23 = _mm512_packs_epi32(
				_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q23, m4), alo23),
				_mm512_dpbusd_epi32(_mm512_setzero_si512(),
									_mm512_and_si512(_mm512_srli_epi16(q23, 4), m4), ahi23));
			isum = _mm512_dpwssd_epi32(_mm512_madd_epi16(p01, _mm512_shuffle_epi8(yi, ssel0)),
									   p23, _mm512_shuffle_epi8(yi, ssel1));
			acc[i] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_set1_epi32(2 * i),
														   _mm512_castps256_ps512(dd)),
									 _mm512_cvtepi32_ps(isum), acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = _mm512_reduce_add_ps(acc[i]) -
			_mm512_mask_reduce_add_ps((__mmask16) (0xF << (4 * i)), macc);
}

#undef Q4K_W4

QUANT_ROWS_DRIVER(q4_K, QUANT_AVX512_ROWS)

/*
 * Q6_K: per half block, [ql0 | ql1] low nibbles with qh bits 0-1 | 2-3
 * give values 0-63 (q1 | q2), the high nibbles with qh bits 4-5 | 6-7 give
 * q3 | q4; each 128-bit lane of the pair sums is then one 16-value
 * sub-block, multiplied by its scale with vpdpwssd.  The -32 offset is
 * applied once per block through the activation sums.
 */
static AI void
q6_K_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const size_t pfd = quant_prefetch_distance(ws);
	const quant_block_q8_K *ab = (const quant_block_q8_K *) a;
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	const __m512i m30 = _mm512_set1_epi8(0x30);
	/* qh shifts: low 256 bits | high 256 bits */
	const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
	const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
	/* word k of the 16 scales to 128-bit lane k of a register (4 selections) */
	const __m512i sidx0 = _mm512_setr_epi32(0x00000000, 0x00000000, 0x00000000, 0x00000000,
											0x00010001, 0x00010001, 0x00010001, 0x00010001,
											0x00020002, 0x00020002, 0x00020002, 0x00020002,
											0x00030003, 0x00030003, 0x00030003, 0x00030003);
	const __m512i four = _mm512_set1_epi16(4);
	__m512		acc[QUANT_AVX512_ROWS];

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = _mm512_setzero_ps();
	for (int64_t b = 0; b < n / 256; b++)
	{
		__m256i		bsums = _mm256_loadu_si256((const __m256i *) ab[b].bsums);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q6_K *wb = (const quant_block_q6_K *) (w + i * ws) + b;
			__m256i		sc16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) wb->scales));
			__m512i		sc16 = _mm512_castsi256_si512(sc16y);
			__m256i		corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16y), 5);
			__m512i		isum = _mm512_setzero_si512();
			__m512i		idx = sidx0;

			quant_prefetch_ahead(wb, pfd, 210);
			for (int h = 0; h < 2; h++)
			{
				__m512i		ql = _mm512_loadu_si512(wb->ql + 64 * h);
				__m256i		qhy = _mm256_loadu_si256((const __m256i *) (wb->qh + 32 * h));
				__m512i		qh = _mm512_inserti64x4(_mm512_castsi256_si512(qhy), qhy, 1);
				__m512i		q12 = _mm512_or_si512(_mm512_and_si512(ql, m4),
												  _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30));
				__m512i		q34 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
												  _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m30));
				__m512i		a12 = _mm512_loadu_si512(ab[b].qs + 128 * h);
				__m512i		a34 = _mm512_loadu_si512(ab[b].qs + 128 * h + 64);

				isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q12, a12),
										   _mm512_permutexvar_epi16(idx, sc16));
				idx = _mm512_add_epi16(idx, four);
				isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q34, a34),
										   _mm512_permutexvar_epi16(idx, sc16));
				idx = _mm512_add_epi16(idx, four);
			}
			acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ab[b].d * h2f(wb->d)),
									 _mm512_cvtepi32_ps(_mm512_sub_epi32(isum,
																		 _mm512_zextsi256_si512(corr))),
									 acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = _mm512_reduce_add_ps(acc[i]);
}

QUANT_ROWS_DRIVER(q6_K, QUANT_AVX512_ROWS)

/*
 * Q8_0, identical bytes to the scalar reference: a block is two 16-lane
 * vectors (the maximum is exact whatever the pairing), the scale goes to
 * F16 by the hardware conversion (round to nearest even, as
 * llm_f32_to_f16) and the rounded values are narrowed with signed
 * saturation, as the AVX2 kernel's packs.  A batched decode step quantizes
 * every input row of every product (8 sequences of the 110M model: 3 % of
 * the worker's time with the AVX2 kernel; the step's change is within the
 * machine's noise).
 */
static void
q8_0_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / 32; b++)
	{
		__m512		x0 = _mm512_loadu_ps(src + 32 * b),
					x1 = _mm512_loadu_ps(src + 32 * b + 16);
		float		amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
		float		d = amax / 127.0f;
		float		id = d != 0.0f ? 1.0f / d : 0.0f;
		__m512		vid = _mm512_set1_ps(id);

		y[b].d = (uint16_t) _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		_mm_storeu_si128((__m128i *) y[b].qs,
						 _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(x0, vid))));
		_mm_storeu_si128((__m128i *) (y[b].qs + 16),
						 _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(x1, vid))));
	}
}

/* Install the AVX-512 kernels. */
void
quant_avx512_kernels(quant_kernels *k)
{
	k[LLM_F32].dot = f32_dot;
	k[LLM_F32].matmul = f32_matmul;
	k[LLM_F16].dot = f16_dot;
	k[LLM_F16].matmul = f16_matmul;
	k[LLM_BF16].dot = bf16_dot;
	k[LLM_BF16].matmul = bf16_matmul;
	k[LLM_Q8_0].quantize = q8_0_quantize;
	k[LLM_Q8_0].dot = q8_0_dot;
	k[LLM_Q8_0].matmul = q8_0_matmul;
	k[LLM_Q4_0].dot = q4_0_dot;
	k[LLM_Q4_0].matmul = q4_0_matmul;
	k[LLM_Q4_K].dot = q4_K_dot;
	k[LLM_Q4_K].matmul = q4_K_matmul;
	k[LLM_Q6_K].dot = q6_K_dot;
	k[LLM_Q6_K].matmul = q6_K_matmul;
}
