/*
 * quant_packed_amx.c — Q8_0 and Q4_0 matrices repacked for the AMX level,
 * and their matrix products for decode and batched decode.
 *
 * Layout: for each group of 16 rows and each 32-value block, 544 bytes
 * (Q8_0) or 288 (Q4_0):
 *   bytes 0 .. 31     the 16 rows' f16 scales d
 *   bytes 32 ..       the 16 rows' quant bytes in dwords: row j (64 bytes)
 *                     holds, for rows m = 0 .. 15, their quant bytes
 *                     4j .. 4j + 3 at bytes 4m .. 4m + 3; for Q8_0 the 8
 *                     rows are an AMX B tile ("VNNI"), for Q4_0 the 4 rows'
 *                     low nibbles are values 4j .. 4j + 3 and their high
 *                     nibbles values 16 + 4j .. 16 + 4j + 3
 * the same bytes as the 16 rows' blocks, laid out so that one 64-byte vector
 * holds four values of each of the 16 rows (and, for Q8_0, one contiguous
 * 512-byte tile a block of 16 rows).
 *
 * Q4_0 (up to 5 tokens, quant_packed_max_tokens; the AMX kernels on the
 * original rows take 6 and more) works as the Q8_0 VNNI kernel below with
 * the nibbles (unsigned) as vpdpbusd's first operand and the accumulator
 * starting at -8 * sum(a): the exact sum of (q - 8) * a, the AMX kernels'
 * bits again.  bench_matmul (2048 x 5632, one thread): 13.6 GB/s from
 * memory against 12.0 on the original rows, 43 in L2 against 16-19.
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

/* Bytes of one (16-row group, block) of a packed Q4_0 matrix. */
#define PACKED_BLOCK_Q4_0 288

bool
quant_packed_shape_ok(uint32_t type, int64_t rows, int64_t cols)
{
	return (type == LLM_Q8_0 || type == LLM_Q4_0) && rows > 0 && rows % 16 == 0 &&
		cols > 0 && cols % 32 == 0 && cols / 32 <= PACKED_MAX_BLOCKS;
}

size_t
quant_packed_bytes(uint32_t type, int64_t rows, int64_t cols)
{
	return (size_t) (rows / 16) * (size_t) (cols / 32) *
		(type == LLM_Q4_0 ? PACKED_BLOCK_Q4_0 : PACKED_BLOCK);
}

/*
 * Q8_0: up to 16 tokens; Q4_0: up to 5 (from 6 tokens on, the AMX kernels
 * on the original rows, whose bits the packed kernel matches).
 */
int
quant_packed_max_tokens(uint32_t type)
{
	return type == LLM_Q4_0 ? 5 : 16;
}

/*
 * Both types: per (16-row group, block) the 16 rows' f16 scales, then
 * their quant bytes in dwords: dword m of each 64-byte row j is row m's
 * quant bytes 4j .. 4j + 3 (Q8_0: 8 such rows of values; Q4_0: 4 rows of
 * packed nibbles, whose low nibbles are values 4j .. 4j + 3 and high
 * nibbles values 16 + 4j ..).
 */
void
quant_packed_pack(uint32_t type, const void *W, int64_t rows, int64_t cols, void *dst)
{
	size_t		ws = llm_row_bytes(type, cols),
				bb = type == LLM_Q4_0 ? sizeof(quant_block_q4_0) : sizeof(quant_block_q8_0),
				pb = type == LLM_Q4_0 ? PACKED_BLOCK_Q4_0 : PACKED_BLOCK;
	int			nq = type == LLM_Q4_0 ? 4 : 8;	/* dwords of quants per row and block */
	int64_t		nsb = cols / 32;

	for (int64_t g = 0; g < rows / 16; g++)
		for (int m = 0; m < 16; m++)
		{
			const uint8_t *row = (const uint8_t *) W + (size_t) (16 * g + m) * ws;

			for (int64_t s = 0; s < nsb; s++)
			{
				const uint8_t *b = row + bb * s;	/* f16 d, then the quants */
				uint8_t    *o = (uint8_t *) dst + ((size_t) g * nsb + s) * pb;

				memcpy(o + 2 * m, b, 2);
				for (int j = 0; j < nq; j++)
					memcpy(o + 32 + 64 * j + 4 * m, b + 2 + 4 * j, 4);
			}
		}
}

/* Prefetch the block of bytes bytes PACKED_PREFETCH bytes after o. */
static AI void
packed_prefetch(const uint8_t *o, int bytes)
{
	for (int i = 0; i < bytes; i += 64)
		_mm_prefetch((const char *) o + PACKED_PREFETCH + i, _MM_HINT_T1);
}

/* The 16 rows' scales of the block at o, as floats. */
static AI __m512
packed_scales(const uint8_t *o)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) o));
}

/*
 * Each token's activation scales (as floats) and mul * (the sum of each
 * block's values): the accumulators' starting values of the VNNI kernels
 * (mul -128 for Q8_0's w + 128, -8 for Q4_0's q - 8).
 */
static void
packed_vnni_tokens(int64_t nsb, const uint8_t *A, size_t as, int nt, int mul, float *da,
				   int32_t *corr)
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
			corr[t * nsb + s] = mul * _mm_cvtsi128_si32(h);
		}
	}
}

/*
 * Up to 5 tokens (NT, a constant): see the file header.  Q8_0 (Q4 false):
 * per block 8 weight vectors, w + 128 (w xor 0x80) as vpdpbusd's unsigned
 * operand, the accumulators starting at -128 * sum(a).  Q4_0: 4 vectors of
 * nibble pairs, the low nibbles meeting values 4j .. 4j + 3 of the
 * activations and the high ones values 16 + 4j .., the accumulators
 * starting at -8 * sum(a) (the q - 8 offset).  Each lane ends with the
 * exact integer dot product of its row and the block.
 */
static AI void
packed_vnni(const bool Q4, const int NT, int64_t nsb, const uint8_t *P, const uint8_t *A,
			size_t as, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	const int	pb = Q4 ? PACKED_BLOCK_Q4_0 : PACKED_BLOCK;
	float		da[5 * PACKED_MAX_BLOCKS];
	int32_t		corr[5 * PACKED_MAX_BLOCKS];
	const __m512i x80 = _mm512_set1_epi8((char) 0x80),
				m4 = _mm512_set1_epi8(0x0F);

	packed_vnni_tokens(nsb, A, as, NT, Q4 ? -8 : -128, da, corr);
	for (int64_t r = r0; r < r1; r += 16)
	{
		const uint8_t *pg = P + (size_t) (r / 16) * nsb * pb;
		__m512		acc[5];

		for (int t = 0; t < NT; t++)
			acc[t] = _mm512_setzero_ps();
		for (int64_t s = 0; s < nsb; s++)
		{
			const uint8_t *o = pg + (size_t) s * pb;
			__m512i		c[5];

			packed_prefetch(o, pb);
			for (int t = 0; t < NT; t++)
				c[t] = _mm512_set1_epi32(corr[t * nsb + s]);
			if (Q4)
			{
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++)
				{
					__m512i		q = _mm512_loadu_si512(o + 32 + 64 * j),
								lo = _mm512_and_si512(q, m4),
								hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);

					for (int t = 0; t < NT; t++)
					{
						const uint8_t *ab = A + t * as + sizeof(quant_block_q8_0) * s + 2;
						int32_t		a_lo,
									a_hi;

						memcpy(&a_lo, ab + 4 * j, 4);
						memcpy(&a_hi, ab + 16 + 4 * j, 4);
						c[t] = _mm512_dpbusd_epi32(c[t], lo, _mm512_set1_epi32(a_lo));
						c[t] = _mm512_dpbusd_epi32(c[t], hi, _mm512_set1_epi32(a_hi));
					}
				}
			}
			else
			{
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

				packed_prefetch(o, PACKED_BLOCK);
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
quant_packed_matmul(uint32_t type, int64_t n, const void *P, const void *A, size_t as, int nt,
					float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	/* constant arguments, so that each case is its own specialised loop */
	if (type == LLM_Q4_0)
		switch (nt)
		{
			case 1: packed_vnni(true, 1, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 2: packed_vnni(true, 2, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 3: packed_vnni(true, 3, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 4: packed_vnni(true, 4, n / 32, P, A, as, y, ldy, r0, r1); break;
			default: packed_vnni(true, 5, n / 32, P, A, as, y, ldy, r0, r1); break;
		}
	else
		switch (nt)
		{
			case 1: packed_vnni(false, 1, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 2: packed_vnni(false, 2, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 3: packed_vnni(false, 3, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 4: packed_vnni(false, 4, n / 32, P, A, as, y, ldy, r0, r1); break;
			case 5: case 6: case 7: case 8:
				packed_amx(8, n / 32, P, A, as, nt, y, ldy, r0, r1);
				break;
			default:
				packed_amx(16, n / 32, P, A, as, nt, y, ldy, r0, r1);
				break;
		}
}
