/*
 * quant_packed_amx.c — Q8_0 matrices repacked for the AMX level, and their
 * matrix products (decode, batched decode and prefill alike).
 *
 * Layout: for each group of 16 rows and each 32-value block, 544 bytes:
 *   bytes 0 .. 31     the 16 rows' f16 scales d
 *   bytes 32 .. 543   the 16 rows' quants as an AMX B tile ("VNNI"): row j
 *                     (64 bytes) holds, for rows m = 0 .. 15, their values
 *                     4j .. 4j + 3 at bytes 4m .. 4m + 3
 * the same bytes as the 16 rows' blocks, laid out so that one contiguous
 * 512-byte tile holds a block of 16 rows and one 64-byte vector holds four
 * values of each of the 16 rows.
 *
 * Products, for rows [r0, r1) (multiples of 16) and nt tokens of Q8_0
 * activations:
 *   - up to 4 tokens: AVX-512 VNNI, 16 rows per register: vpdpbusd of a
 *     weight vector (w + 128, unsigned) by one token's four values
 *     (broadcast), the accumulator starting at -128 * sum(a) of the block,
 *     so each lane ends with the exact integer dot product of its row and
 *     the block;
 *   - 5 to 16 tokens (QUANT_PACKED_MAX_TOKENS): AMX int8 tiles with the
 *     tokens as the tile rows: A = the tokens x the block's 32 activation
 *     bytes (read in place from the activation rows), B = the block's
 *     weight tile, C = tokens x 16 rows of int32, stored and added into
 *     float registers while the next block's tiles run.
 * Longer calls (prefill) keep the AMX kernels on the original layout.
 * Either way, per (row, token) the result is, over the blocks in order,
 *   acc = fma(float(isum), d_w * d_a, acc)
 * from acc = 0: the same bits for every token count, and the same as the
 * AMX kernels' on the original layout (quant_amx.c), which still take the
 * longer calls: a token's outputs do not depend on the batch (before, calls
 * of 1 .. 4 tokens went to the AVX-512 kernels, whose sums differ in the
 * last bits, so a Q8_0 model's greedy text could change with batching).
 * Measured on this machine (one thread, weights from 128 MiB, ns per step
 * of 16 rows x 32 values, against the kernels on the original layout):
 * 768-value rows, one token 44 vs 52 (in cache 11 vs 26), 4 tokens 49 vs
 * 63, 8 tokens 50-58 vs 66, 16 tokens 62 vs 78; 2048-value rows, one token
 * 33 vs 43, 8 tokens 51 vs 78.  The unpacked AVX-512 kernels sum 4-row
 * tiles lane by lane and reduce each row at the end; here a register holds
 * 16 rows and a block's integer sums are final, so there is no reduction
 * and one scale vector serves the 16 rows.
 */
#include "quant_impl.h"

#include <immintrin.h>
#include <string.h>

#define AI inline __attribute__((always_inline))

/* Bytes of one (16-row group, block) of the packed layout. */
#define PACKED_BLOCK 544
/* Blocks per row the kernels' stack arrays hold. */
#define PACKED_MAX_BLOCKS 512
/* Weights are prefetched this far ahead of the block in use (to L2). */
#define PACKED_PREFETCH 8192

typedef struct packed_cfg
{
	uint8_t		palette;
	uint8_t		start_row;
	uint8_t		reserved[14];
	uint16_t	colsb[16];
	uint8_t		rows[16];
} packed_cfg;

bool
quant_packed_shape_ok(int64_t rows, int64_t cols)
{
	return rows > 0 && rows % 16 == 0 && cols > 0 && cols % 32 == 0 &&
		cols / 32 <= PACKED_MAX_BLOCKS;
}

size_t
quant_packed_bytes(int64_t rows, int64_t cols)
{
	return (size_t) (rows / 16) * (size_t) (cols / 32) * PACKED_BLOCK;
}

void
quant_packed_pack(const void *W, int64_t rows, int64_t cols, void *dst)
{
	size_t		ws = llm_row_bytes(LLM_Q8_0, cols);
	int64_t		nsb = cols / 32;

	for (int64_t g = 0; g < rows / 16; g++)
		for (int m = 0; m < 16; m++)
		{
			const quant_block_q8_0 *row = (const quant_block_q8_0 *) ((const uint8_t *) W +
																	  (size_t) (16 * g + m) * ws);

			for (int64_t s = 0; s < nsb; s++)
			{
				uint8_t    *o = (uint8_t *) dst + ((size_t) g * nsb + s) * PACKED_BLOCK;

				memcpy(o + 2 * m, &row[s].d, 2);
				for (int j = 0; j < 8; j++)
					memcpy(o + 32 + 64 * j + 4 * m, row[s].qs + 4 * j, 4);
			}
		}
}

/* Prefetch the 544 bytes of the block PACKED_PREFETCH bytes after o. */
static AI void
packed_prefetch(const uint8_t *o)
{
	for (int i = 0; i < PACKED_BLOCK; i += 64)
		_mm_prefetch((const char *) o + PACKED_PREFETCH + i, _MM_HINT_T1);
}

/* The 16 rows' scales of the block at o, as floats. */
static AI __m512
packed_scales(const uint8_t *o)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) o));
}

/*
 * Each token's activation scales (as floats) and -128 * (sum of each
 * block's values), for the rows [r0, r1) of packed_vnni.
 */
static void
packed_vnni_tokens(int64_t nsb, const uint8_t *A, size_t as, int nt, float *da, int32_t *corr)
{
	const __m256i ones = _mm256_set1_epi8(1);

	for (int t = 0; t < nt; t++)
	{
		const quant_block_q8_0 *ab = (const quant_block_q8_0 *) (A + t * as);

		for (int64_t s = 0; s < nsb; s++)
		{
			__m256i		v = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones,
												_mm256_loadu_si256((const __m256i *) ab[s].qs));
			__m128i		h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

			h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
			h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
			da[t * nsb + s] = _cvtsh_ss(ab[s].d);
			corr[t * nsb + s] = -128 * _mm_cvtsi128_si32(h);
		}
	}
}

/* Up to 4 tokens (NT, a constant): see the file header. */
static AI void
packed_vnni(const int NT, int64_t nsb, const uint8_t *P, const uint8_t *A, size_t as,
			float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	float		da[4 * PACKED_MAX_BLOCKS];
	int32_t		corr[4 * PACKED_MAX_BLOCKS];
	const __m512i x80 = _mm512_set1_epi8((char) 0x80);

	packed_vnni_tokens(nsb, A, as, NT, da, corr);
	for (int64_t r = r0; r < r1; r += 16)
	{
		const uint8_t *pg = P + (size_t) (r / 16) * nsb * PACKED_BLOCK;
		__m512		acc[4];

		for (int t = 0; t < NT; t++)
			acc[t] = _mm512_setzero_ps();
		for (int64_t s = 0; s < nsb; s++)
		{
			const uint8_t *o = pg + (size_t) s * PACKED_BLOCK;
			__m512i		c[4];

			packed_prefetch(o);
			for (int t = 0; t < NT; t++)
				c[t] = _mm512_set1_epi32(corr[t * nsb + s]);
#pragma GCC unroll 8
			for (int j = 0; j < 8; j++)
			{
				__m512i		w = _mm512_xor_si512(_mm512_loadu_si512(o + 32 + 64 * j), x80);

				for (int t = 0; t < NT; t++)
				{
					int32_t		a4;

					memcpy(&a4, A + t * as + sizeof(quant_block_q8_0) * s + 2 + 4 * j, 4);
					c[t] = _mm512_dpbusd_epi32(c[t], w, _mm512_set1_epi32(a4));
				}
			}
			for (int t = 0; t < NT; t++)
				acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[t]),
										 _mm512_mul_ps(packed_scales(o), _mm512_set1_ps(da[t * nsb + s])),
										 acc[t]);
		}
		for (int t = 0; t < NT; t++)
			_mm512_storeu_ps(y + t * ldy + r, acc[t]);
	}
}

/* Tiles for m tokens: A (0, 1) m x 32 bytes, B (2, 3) 8 x 64, C (4, 5) m x 64. */
static void
packed_configure(int m)
{
	packed_cfg	cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	for (int t = 0; t < 2; t++)
	{
		cfg.rows[t] = (uint8_t) m;
		cfg.colsb[t] = 32;
		cfg.rows[2 + t] = 8;
		cfg.colsb[2 + t] = 64;
		cfg.rows[4 + t] = (uint8_t) m;
		cfg.colsb[4 + t] = 64;
	}
	_tile_loadconfig(&cfg);
}

/* Block s's tile multiply with tile set T (0 or 1), sums to c. */
#define PACKED_ISSUE(T, a, o, c) \
	do { \
		_tile_loadd(T, a, (long) as); \
		_tile_loadd(2 + T, (o) + 32, 64); \
		_tile_zero(4 + T); \
		_tile_dpbssd(4 + T, T, 2 + T); \
		_tile_stored(4 + T, c, 64); \
	} while (0)

/*
 * 5 to 16 tokens (nt): see the file header.  The float sums of NT (8 or
 * 16, a constant, at least nt) tokens stay in registers; those past nt
 * are computed from whatever the sums buffer holds and not stored.
 */
static AI void
packed_amx(const int NT, int64_t nsb, const uint8_t *P, const uint8_t *A, size_t as, int nt,
		   float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	_Alignas(64) int32_t cbuf[2][256];
	float		da[16 * PACKED_MAX_BLOCKS];

	const __m512i sidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
															  10, 11, 12, 13, 14, 15),
											_mm512_set1_epi32((int) as));
	const __mmask16 km = (__mmask16) ((1u << nt) - 1);

	packed_configure(nt);
	/* the tokens' f16 scales of each block: low halves of gathered dwords, 0 past nt */
	for (int64_t s = 0; s < nsb; s++)
		_mm512_storeu_ps(da + s * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(
			_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, sidx,
										A + sizeof(quant_block_q8_0) * s, 1))));
	for (int64_t r = r0; r < r1; r += 16)
	{
		const uint8_t *pg = P + (size_t) (r / 16) * nsb * PACKED_BLOCK;
		__m512		acc[16];

		for (int t = 0; t < NT; t++)
			acc[t] = _mm512_setzero_ps();
		/* issue block s, then add the sums of block s - 1 */
		for (int64_t s = 0; s <= nsb; s++)
		{
			if (s < nsb)
			{
				const uint8_t *o = pg + (size_t) s * PACKED_BLOCK;
				const uint8_t *a = A + sizeof(quant_block_q8_0) * s + 2;

				packed_prefetch(o);
				if (s & 1)
					PACKED_ISSUE(1, a, o, cbuf[1]);
				else
					PACKED_ISSUE(0, a, o, cbuf[0]);
			}
			if (s > 0)
			{
				const int32_t *c = cbuf[(s - 1) & 1];
				__m512		rs = packed_scales(pg + (size_t) (s - 1) * PACKED_BLOCK);
				const float *d = da + (s - 1) * 16;

				for (int t = 0; t < NT; t++)
					acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t)),
											 _mm512_mul_ps(rs, _mm512_set1_ps(d[t])), acc[t]);
			}
		}
		for (int t = 0; t < nt; t++)
			_mm512_storeu_ps(y + t * ldy + r, acc[t]);
	}
	_tile_release();
}

void
quant_packed_matmul(int64_t n, const void *P, const void *A, size_t as, int nt,
					float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	if (nt == 1)
		packed_vnni(1, n / 32, P, A, as, y, ldy, r0, r1);
	else if (nt == 2)
		packed_vnni(2, n / 32, P, A, as, y, ldy, r0, r1);
	else if (nt == 3)
		packed_vnni(3, n / 32, P, A, as, y, ldy, r0, r1);
	else if (nt == 4)
		packed_vnni(4, n / 32, P, A, as, y, ldy, r0, r1);
	else if (nt <= 8)
		packed_amx(8, n / 32, P, A, as, nt, y, ldy, r0, r1);
	else
		packed_amx(16, n / 32, P, A, as, nt, y, ldy, r0, r1);
}
