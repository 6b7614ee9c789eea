/*
 * quant_packed_amx.c — Q8_0, Q4_0, Q4_K and Q6_K matrices repacked for the
 * AMX level, and their matrix products for decode and batched decode.
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
 *
 * Q4_K (up to 4 tokens) and Q6_K (up to 5) are packed per (16-row group,
 * 256-value super-block): the 16 rows' blocks field by field, byte fields
 * with the rows side by side and the quants in dwords as above, the same
 * bytes as the rows (packed_pack_k).  Their kernels hold 16 rows per
 * register too and repeat quant_amx.c's K-quant arithmetic per (row,
 * token): Q4_K a fma per 32-value sub-block with the row scale d * sc_j
 * (decoded for the 16 rows at once) and the mins subtracted after the last
 * super-block; Q6_K an exact integer sum per super-block (each 16-value
 * group's vpdpbusd sum, offset by -32 * its activation sum, times its
 * scale), then one fma.  Before, calls of fewer than 5 or 6 tokens went to
 * the AVX-512 kernels, so a Q4_K_M model's greedy text could change with
 * batching on an AMX CPU.  bench_matmul (2048 x 5632, one thread, in L2):
 * Q4_K 20-25 GB/s against 17-23 on the original rows, Q6_K 20-30 against
 * 14; from memory within a few percent of them either way; the 1.1B
 * Q4_K_M model decodes 7 % (one thread) and 11 % (two) faster packed.
 *
 * For Q4_0, Q4_K and Q6_K the packed copy also serves the calls of more
 * tokens: quant_amx_packed_matmul runs the AMX kernels on each 16-row
 * group made from the copy, which those kernels decode per group anyway:
 * Q4_0 and Q4_K straight into their tile-order values and scales
 * (quant_packed_decode_q4_0 / _q4_K, dwords transposed in registers), Q6_K
 * unpacked back to the file's layout first (quant_packed_unpack).  Prefill
 * of the 1.1B models measured 3-7 % slower (interleaved, 24-128 tokens;
 * 15 % for Q4_K_M with Q4_K unpacked too), and the engine no longer reads
 * the file's rows of these matrices, so llm_model_pack releases their
 * pages: llm-cli holds 606 MB instead of 1189 for the Q4_0 model, 636
 * instead of 1249 for Q4_K_M.  Q8_0's AMX kernels read the rows in place;
 * unpacking cost 25 % of its prefill, so Q8_0 prefill stays on the file.
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
#include <stddef.h>
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
/* Bytes of one (16-row group, super-block) of packed Q4_K and Q6_K. */
#define PACKED_SUPER_Q4_K (16 * sizeof(quant_block_q4_K))
#define PACKED_SUPER_Q6_K (16 * sizeof(quant_block_q6_K))
/* Offsets of Q6_K's ql and qh in its packed super-block. */
#define PACKED_Q6_K_QL 288
#define PACKED_Q6_K_QH (PACKED_Q6_K_QL + 2048)
/* Super-blocks per row the K-quant kernels' stack arrays hold. */
#define PACKED_MAX_SUPER (PACKED_MAX_BLOCKS / 8)

bool
quant_packed_shape_ok(uint32_t type, int64_t rows, int64_t cols)
{
	int64_t		unit = type == LLM_Q4_K || type == LLM_Q6_K ? 256 : 32;

	return (type == LLM_Q8_0 || type == LLM_Q4_0 || type == LLM_Q4_K || type == LLM_Q6_K) &&
		rows > 0 && rows % 16 == 0 && cols > 0 && cols % unit == 0 &&
		cols / 32 <= PACKED_MAX_BLOCKS;
}

size_t
quant_packed_bytes(uint32_t type, int64_t rows, int64_t cols)
{
	if (type == LLM_Q4_K || type == LLM_Q6_K)
		return (size_t) rows * llm_row_bytes(type, cols);	/* the same bytes, reordered */
	return (size_t) (rows / 16) * (size_t) (cols / 32) *
		(type == LLM_Q4_0 ? PACKED_BLOCK_Q4_0 : PACKED_BLOCK);
}

/*
 * Q8_0: up to 16 tokens; Q4_0 and Q6_K: up to 5, Q4_K: up to 4 (from there
 * on, the AMX kernels on the original rows, whose bits the packed kernels
 * match).
 */
int
quant_packed_max_tokens(uint32_t type)
{
	switch (type)
	{
		case LLM_Q8_0:
			return 16;
		case LLM_Q4_K:
			return 4;
		default:
			return 5;
	}
}

/*
 * Both types: per (16-row group, block) the 16 rows' f16 scales, then
 * their quant bytes in dwords: dword m of each 64-byte row j is row m's
 * quant bytes 4j .. 4j + 3 (Q8_0: 8 such rows of values; Q4_0: 4 rows of
 * packed nibbles, whose low nibbles are values 4j .. 4j + 3 and high
 * nibbles values 16 + 4j ..).
 */
static void
packed_pack_blocks(uint32_t type, const void *W, int64_t rows, int64_t cols, void *dst)
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

/*
 * Q4_K and Q6_K: per (16-row group, super-block) the 16 rows' blocks
 * (PACKED_SUPER_Q4_K / _Q6_K bytes), field by field, each byte-indexed
 * field with the 16 rows side by side (byte k of row m at 16 k + m) and
 * the quants in dwords as for Q4_0 (dword m of each 64-byte row j is row
 * m's bytes 4j .. 4j + 3 of that field):
 *   Q4_K  d (16 x f16), dmin (16 x f16), scales (12 x 16 bytes), qs
 *         (32 rows of 64 bytes: qs[32c + 4j ..] for chunk c, dword row j)
 *   Q6_K  d (16 x f16), scales (16 x 16 bytes), ql (32 rows of 64 bytes),
 *         qh (16 rows of 64 bytes)
 */
static void
packed_pack_k(uint32_t type, const void *W, int64_t rows, int64_t cols, void *dst)
{
	size_t		ws = llm_row_bytes(type, cols),
				pb = type == LLM_Q4_K ? PACKED_SUPER_Q4_K : PACKED_SUPER_Q6_K;
	int64_t		nsuper = cols / 256;

	for (int64_t g = 0; g < rows / 16; g++)
		for (int m = 0; m < 16; m++)
			for (int64_t b = 0; b < nsuper; b++)
			{
				const uint8_t *row = (const uint8_t *) W + (size_t) (16 * g + m) * ws;
				uint8_t    *o = (uint8_t *) dst + ((size_t) g * nsuper + b) * pb;

				if (type == LLM_Q4_K)
				{
					const quant_block_q4_K *x = (const quant_block_q4_K *) row + b;

					memcpy(o + 2 * m, &x->d, 2);
					memcpy(o + 32 + 2 * m, &x->dmin, 2);
					for (int k = 0; k < 12; k++)
						o[64 + 16 * k + m] = x->scales[k];
					for (int j = 0; j < 32; j++)
						memcpy(o + 256 + 64 * j + 4 * m, x->qs + 4 * j, 4);
				}
				else
				{
					const quant_block_q6_K *x = (const quant_block_q6_K *) row + b;

					memcpy(o + 2 * m, &x->d, 2);
					for (int k = 0; k < 16; k++)
						o[32 + 16 * k + m] = (uint8_t) x->scales[k];
					for (int j = 0; j < 32; j++)
						memcpy(o + PACKED_Q6_K_QL + 64 * j + 4 * m, x->ql + 4 * j, 4);
					for (int j = 0; j < 16; j++)
						memcpy(o + PACKED_Q6_K_QH + 64 * j + 4 * m, x->qh + 4 * j, 4);
				}
			}
}

void
quant_packed_pack(uint32_t type, const void *W, int64_t rows, int64_t cols, void *dst)
{
	if (type == LLM_Q4_K || type == LLM_Q6_K)
		packed_pack_k(type, W, rows, cols, dst);
	else
		packed_pack_blocks(type, W, rows, cols, dst);
}

/*
 * 4 x 16 dwords (z[j], lane m: row m's dword j) to rows: for each row m the
 * 4 dwords of every z[j] pair (2k, 2k + 1), i.e. within each 128-bit lane L
 * of out[q] the 4 dwords of row 4L + q (j = 0 .. 3 of these z).
 */
static AI void
packed_transpose4(const __m512i *z, __m512i *out)
{
	__m512i		lo0 = _mm512_unpacklo_epi32(z[0], z[1]),
				hi0 = _mm512_unpackhi_epi32(z[0], z[1]),
				lo1 = _mm512_unpacklo_epi32(z[2], z[3]),
				hi1 = _mm512_unpackhi_epi32(z[2], z[3]);

	out[0] = _mm512_unpacklo_epi64(lo0, lo1);
	out[1] = _mm512_unpackhi_epi64(lo0, lo1);
	out[2] = _mm512_unpacklo_epi64(hi0, hi1);
	out[3] = _mm512_unpackhi_epi64(hi0, hi1);
}

/*
 * 4 dword rows of packed nibble bytes at src (dword m of row j: row m's
 * bytes 4j .. 4j + 3) to the 16 rows' low nibbles minus sub in lo and high
 * nibbles minus sub in hi, each as 16 bytes per row: row 4L + q's at
 * lo[q] + 16 L (the lanes of packed_transpose4).
 */
static AI void
packed_nibble_lanes(const uint8_t *src, int sub, uint8_t lo[4][64], uint8_t hi[4][64])
{
	const __m512i m4 = _mm512_set1_epi8(0x0F),
				sv = _mm512_set1_epi8((char) sub);
	__m512i		l[4],
				h[4],
				t[4];

	for (int j = 0; j < 4; j++)
	{
		__m512i		q = _mm512_loadu_si512(src + 64 * j);

		l[j] = _mm512_sub_epi8(_mm512_and_si512(q, m4), sv);
		h[j] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), sv);
	}
	packed_transpose4(l, t);
	for (int q = 0; q < 4; q++)
		_mm512_store_si512(lo[q], t[q]);
	packed_transpose4(h, t);
	for (int q = 0; q < 4; q++)
		_mm512_store_si512(hi[q], t[q]);
}

/*
 * nq (4 or 8) 64-byte dword rows at src (dword m of row j: row m's bytes
 * 4j .. 4j + 3) back to 4 * nq contiguous bytes of each of the 16 rows,
 * row m's at dst + m * ws.
 */
static AI void
packed_unpack_dwords(const uint8_t *src, int nq, uint8_t *dst, size_t ws)
{
	_Alignas(64) uint8_t lanes[2][4][64];

	for (int h = 0; h < nq / 4; h++)
	{
		__m512i		z[4],
					t[4];

		for (int j = 0; j < 4; j++)
			z[j] = _mm512_loadu_si512(src + 64 * (4 * h + j));
		packed_transpose4(z, t);
		for (int q = 0; q < 4; q++)
			_mm512_store_si512(lanes[h][q], t[q]);
	}
	for (int m = 0; m < 16; m++)
		for (int h = 0; h < nq / 4; h++)
			memcpy(dst + m * ws + 16 * h, lanes[h][m % 4] + 16 * (m / 4), 16);
}

/* Types whose packed copy serves every call (see quant.h). */
bool
quant_packed_only(uint32_t type)
{
	return type == LLM_Q4_0 || type == LLM_Q4_K || type == LLM_Q6_K;
}

/*
 * The inverse of quant_packed_pack for one 16-row group g: its rows in the
 * file's layout (16 x llm_row_bytes(type, cols) bytes at rows), for the AMX
 * kernels of longer calls (quant_amx_packed_matmul), so that a packed
 * matrix needs nothing of the file's rows.
 */
void
quant_packed_unpack(uint32_t type, int64_t cols, const void *P, int64_t g, void *rows)
{
	size_t		ws = llm_row_bytes(type, cols);
	const uint8_t *pg = (const uint8_t *) P + (size_t) g * 16 * ws;
	uint8_t    *out = rows;

	if (type == LLM_Q4_K || type == LLM_Q6_K)
	{
		size_t		kb = type == LLM_Q4_K ? sizeof(quant_block_q4_K) : sizeof(quant_block_q6_K);

		for (int64_t b = 0; b < cols / 256; b++)
		{
			const uint8_t *o = pg + (size_t) b * 16 * kb;
			uint8_t    *x0 = out + b * kb;	/* row 0's block; row m's m * ws further */

			for (int m = 0; m < 16; m++)
			{
				uint8_t    *x = x0 + m * ws;

				if (type == LLM_Q4_K)
				{
					memcpy(x + offsetof(quant_block_q4_K, d), o + 2 * m, 2);
					memcpy(x + offsetof(quant_block_q4_K, dmin), o + 32 + 2 * m, 2);
					for (int k = 0; k < 12; k++)
						x[offsetof(quant_block_q4_K, scales) + k] = o[64 + 16 * k + m];
				}
				else
				{
					memcpy(x + offsetof(quant_block_q6_K, d), o + 2 * m, 2);
					for (int k = 0; k < 16; k++)
						x[offsetof(quant_block_q6_K, scales) + k] = o[32 + 16 * k + m];
				}
			}
			if (type == LLM_Q4_K)
				for (int c = 0; c < 4; c++)
					packed_unpack_dwords(o + 256 + 512 * c, 8,
										 x0 + offsetof(quant_block_q4_K, qs) + 32 * c, ws);
			else
			{
				for (int c = 0; c < 4; c++)
					packed_unpack_dwords(o + PACKED_Q6_K_QL + 512 * c, 8,
										 x0 + offsetof(quant_block_q6_K, ql) + 32 * c, ws);
				for (int c = 0; c < 2; c++)
					packed_unpack_dwords(o + PACKED_Q6_K_QH + 512 * c, 8,
										 x0 + offsetof(quant_block_q6_K, qh) + 32 * c, ws);
			}
		}
	}
	else
	{
		size_t		bb = type == LLM_Q4_0 ? sizeof(quant_block_q4_0) : sizeof(quant_block_q8_0);
		int			nq = type == LLM_Q4_0 ? 4 : 8;

		for (int64_t s = 0; s < cols / 32; s++)
		{
			const uint8_t *o = pg + (size_t) s * 16 * bb;

			for (int m = 0; m < 16; m++)
				memcpy(out + m * ws + bb * s, o + 2 * m, 2);
			packed_unpack_dwords(o + 32, nq, out + bb * s + 2, ws);
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

/* Part k of parts of packed_prefetch(o, bytes): spreads a long block's prefetches over its loop. */
static AI void
packed_prefetch_part(const uint8_t *o, int bytes, int k, int parts)
{
	int			lines = (bytes + 63) / 64;

	for (int i = lines * k / parts; i < lines * (k + 1) / parts; i++)
		_mm_prefetch((const char *) o + PACKED_PREFETCH + 64 * i, _MM_HINT_T1);
}

/* Token t's Q8_K block b (activation rows as bytes apart). */
static AI const quant_block_q8_K *
packed_q8_K(const uint8_t *A, size_t as, int t, int64_t b)
{
	return (const quant_block_q8_K *) (A + t * as) + b;
}

/* The dword at p in every lane (a broadcast from memory, no scalar register). */
static AI __m512i
packed_bcast(const void *p)
{
	return _mm512_broadcastd_epi32(_mm_loadu_si32(p));
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
 * 5 to 16 tokens (nt): see the file header.  The float sums of NT (8, 12
 * or 16, a constant, at least nt) tokens stay in registers; those past nt
 * are computed from whatever the sums buffer holds and not stored.  At 9
 * tokens NT 16 would spend 7 of its 16 tokens' sums for nothing, and at
 * 9 to 16 tokens the sums are vector work the tiles do not hide: NT 12
 * for 9 to 12 tokens made llm-cli's steps of 9 rows 6 % shorter, of 12
 * rows 2.5 %.
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

/*
 * The 16 rows' row scales d * sc_j (rs[j]) and mins dmin * m_j (mm[j]) of
 * the packed Q4_K super-block at o, j = 0 .. 7: quant_q4_K_scale_min on the
 * byte-transposed scales, 16 rows at once.
 */
static AI void
packed_q4_K_scales(const uint8_t *o, __m512 *rs, __m512 *mm)
{
	const __m512i m6 = _mm512_set1_epi32(63),
				m4 = _mm512_set1_epi32(15);
	__m512		d = packed_scales(o),
				dmin = packed_scales(o + 32);
	__m512i		q[12];

	for (int k = 0; k < 12; k++)
		q[k] = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) (o + 64 + 16 * k)));
	for (int j = 0; j < 8; j++)
	{
		__m512i		sc,
					mn;

		if (j < 4)
		{
			sc = _mm512_and_si512(q[j], m6);
			mn = _mm512_and_si512(q[j + 4], m6);
		}
		else
		{
			sc = _mm512_or_si512(_mm512_and_si512(q[j + 4], m4),
								 _mm512_slli_epi32(_mm512_srli_epi32(q[j - 4], 6), 4));
			mn = _mm512_or_si512(_mm512_srli_epi32(q[j + 4], 4),
								 _mm512_slli_epi32(_mm512_srli_epi32(q[j], 6), 4));
		}
		rs[j] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
		mm[j] = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn));
	}
}

/*
 * Q4_K, up to 4 tokens (NT, a constant), the AMX kernels' arithmetic per
 * (row, token): for each 32-value sub-block j in order,
 *   acc = fma(float(isum_j), (d * sc_j) * d_a, acc)
 * with isum_j the exact integer dot product of the nibbles (vpdpbusd's
 * unsigned operand) and the activations; after the last super-block, for
 * each super-block in order, acc -= sum_j (dmin * m_j) * (d_a * bsum_j) (a
 * multiply then fmas over j), bsum_j the activations' sum over sub-block j
 * (the Q8_K bsums of its two halves).  A super-block's 16 rows' scales and
 * mins are decoded in 16 lanes from the byte-transposed scales.
 */
static AI void
packed_q4_K(const int NT, int64_t nsuper, const uint8_t *P, const uint8_t *A, size_t as,
			float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	float		da[4 * PACKED_MAX_SUPER],
				bsd[4 * PACKED_MAX_SUPER * 8];
	_Alignas(64) float mins[PACKED_MAX_SUPER * 4 * 16];
	const __m512i m4 = _mm512_set1_epi8(0x0F);

	for (int t = 0; t < NT; t++)
		for (int64_t b = 0; b < nsuper; b++)
		{
			const quant_block_q8_K *ab = packed_q8_K(A, as, t, b);

			da[t * nsuper + b] = ab->d;
			for (int j = 0; j < 8; j++)
				bsd[(t * nsuper + b) * 8 + j] = ab->d * (float) (ab->bsums[2 * j] +
																 ab->bsums[2 * j + 1]);
		}
	for (int64_t r = r0; r < r1; r += 16)
	{
		const uint8_t *pg = P + (size_t) (r / 16) * nsuper * PACKED_SUPER_Q4_K;
		__m512		acc[4];

		for (int t = 0; t < NT; t++)
			acc[t] = _mm512_setzero_ps();
		for (int64_t b = 0; b < nsuper; b++)
		{
			const uint8_t *o = pg + (size_t) b * PACKED_SUPER_Q4_K;
			__m512		rs[8],
						mm[8];

			packed_q4_K_scales(o, rs, mm);
			for (int c = 0; c < 4; c++)
			{
				/* even and odd dword rows in separate chains (integer sums: exact) */
				__m512i		lo[2][4],
							hi[2][4];

				packed_prefetch_part(o, PACKED_SUPER_Q4_K, c, 4);
				for (int t = 0; t < NT; t++)
					lo[0][t] = lo[1][t] = hi[0][t] = hi[1][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
				for (int j = 0; j < 8; j++)
				{
					__m512i		w = _mm512_loadu_si512(o + 256 + 512 * c + 64 * j),
								wl = _mm512_and_si512(w, m4),
								wh = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);

					for (int t = 0; t < NT; t++)
					{
						const int8_t *qs = packed_q8_K(A, as, t, b)->qs + 64 * c;

						lo[j & 1][t] = _mm512_dpbusd_epi32(lo[j & 1][t], wl, packed_bcast(qs + 4 * j));
						hi[j & 1][t] = _mm512_dpbusd_epi32(hi[j & 1][t], wh,
														   packed_bcast(qs + 32 + 4 * j));
					}
				}
				for (int t = 0; t < NT; t++)
				{
					__m512		dt = _mm512_set1_ps(da[t * nsuper + b]);

					acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(lo[0][t], lo[1][t])),
											 _mm512_mul_ps(dt, rs[2 * c]), acc[t]);
					acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(hi[0][t], hi[1][t])),
											 _mm512_mul_ps(dt, rs[2 * c + 1]), acc[t]);
				}
			}
			for (int t = 0; t < NT; t++)
			{
				const float *bs = bsd + (t * nsuper + b) * 8;
				__m512		mt = _mm512_mul_ps(mm[0], _mm512_set1_ps(bs[0]));

				for (int j = 1; j < 8; j++)
					mt = _mm512_fmadd_ps(mm[j], _mm512_set1_ps(bs[j]), mt);
				_mm512_store_ps(mins + (b * 4 + t) * 16, mt);
			}
		}
		for (int64_t b = 0; b < nsuper; b++)
			for (int t = 0; t < NT; t++)
				acc[t] = _mm512_sub_ps(acc[t], _mm512_load_ps(mins + (b * 4 + t) * 16));
		for (int t = 0; t < NT; t++)
			_mm512_storeu_ps(y + t * ldy + r, acc[t]);
	}
}

/*
 * Q6_K, up to 5 tokens (NT, a constant), the AMX kernels' arithmetic per
 * (row, token): per super-block,
 *   acc = fma(float(isum), d * d_a, acc)
 * with isum the exact integer sum_g scales_g * sum_{16 values of g}
 * (q - 32) * a.  Each 16-value group g is 4 vpdpbusd of its 6-bit values
 * (rebuilt from ql and qh; unsigned) into an accumulator that starts at
 * -32 * (the group's activation sum, its Q8_K bsum), then multiplied by the
 * 16 rows' scales and added into isum.  Value 128 n + 32 i + l (l < 32) of
 * a super-block is ql[64 n + l] (i = 0), ql[64 n + 32 + l] (1), their high
 * nibbles (2, 3), with bits 2i, 2i + 1 of qh[32 n + l] on top; its group is
 * 8 n + 2 i + l / 16.
 */
static AI void
packed_q6_K(const int NT, int64_t nsuper, const uint8_t *P, const uint8_t *A, size_t as,
			float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F),
				m30 = _mm512_set1_epi8(0x30);

	for (int64_t r = r0; r < r1; r += 16)
	{
		const uint8_t *pg = P + (size_t) (r / 16) * nsuper * PACKED_SUPER_Q6_K;
		__m512		acc[5];

		for (int t = 0; t < NT; t++)
			acc[t] = _mm512_setzero_ps();
		for (int64_t b = 0; b < nsuper; b++)
		{
			const uint8_t *o = pg + (size_t) b * PACKED_SUPER_Q6_K;
			__m512i		isum[5];

			for (int t = 0; t < NT; t++)
				isum[t] = _mm512_setzero_si512();
			/* half n, 16-value half h: the four groups 8n + 2i + h (i = 0..3) together */
			for (int nh = 0; nh < 4; nh++)
			{
				int			n = nh / 2,
							h = nh % 2;
				__m512i		part[4][5];

				packed_prefetch_part(o, PACKED_SUPER_Q6_K, nh, 4);
				for (int i = 0; i < 4; i++)
					for (int t = 0; t < NT; t++)
						part[i][t] = _mm512_set1_epi32(-32 * packed_q8_K(A, as, t, b)->bsums[8 * n + 2 * i + h]);
#pragma GCC unroll 4
				for (int jj = 0; jj < 4; jj++)
				{
					int			j = 4 * h + jj;
					__m512i		qa = _mm512_loadu_si512(o + PACKED_Q6_K_QL + 64 * (16 * n + j)),
								qb = _mm512_loadu_si512(o + PACKED_Q6_K_QL + 64 * (16 * n + 8 + j)),
								qh = _mm512_loadu_si512(o + PACKED_Q6_K_QH + 64 * (8 * n + j)),
								w[4];

					/* low nibbles of ql, then bits 2i, 2i + 1 of qh as bits 4, 5 */
					w[0] = _mm512_or_si512(_mm512_and_si512(qa, m4),
										   _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30));
					w[1] = _mm512_or_si512(_mm512_and_si512(qb, m4),
										   _mm512_and_si512(_mm512_slli_epi16(qh, 2), m30));
					w[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qa, 4), m4),
										   _mm512_and_si512(qh, m30));
					w[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qb, 4), m4),
										   _mm512_and_si512(_mm512_srli_epi16(qh, 2), m30));
					for (int t = 0; t < NT; t++)
					{
						const int8_t *qs = packed_q8_K(A, as, t, b)->qs + 128 * n + 4 * j;

						for (int i = 0; i < 4; i++)
							part[i][t] = _mm512_dpbusd_epi32(part[i][t], w[i], packed_bcast(qs + 32 * i));
					}
				}
				for (int i = 0; i < 4; i++)
				{
					const uint8_t *scb = o + 32 + 16 * (8 * n + 2 * i + h);
					__m512i		sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) scb));

					for (int t = 0; t < NT; t++)
						isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(part[i][t], sc));
				}
			}
			for (int t = 0; t < NT; t++)
			{
				float		dt = packed_q8_K(A, as, t, b)->d;

				acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
										 _mm512_mul_ps(_mm512_set1_ps(dt), packed_scales(o)),
										 acc[t]);
			}
		}
		for (int t = 0; t < NT; t++)
			_mm512_storeu_ps(y + t * ldy + r, acc[t]);
	}
}

/*
 * What quant_amx.c's decode makes of a 16-row group of Q4_0 rows, from the
 * packed copy: the 16 rows' scales of each block as floats (rs[16 s + m])
 * and their values q - 8 as bytes in tile order (block s of row m at
 * strip + 512 s + 32 m).  The low nibbles of a packed block are values
 * 0 .. 15 of its rows, the high ones 16 .. 31, four per row and dword.
 */
void
quant_packed_decode_q4_0(int64_t nsb, const void *P, int64_t g, float *rs, int8_t *strip)
{
	const uint8_t *pg = (const uint8_t *) P + (size_t) g * nsb * PACKED_BLOCK_Q4_0;
	_Alignas(64) uint8_t lanes[2][4][64];

	for (int64_t s = 0; s < nsb; s++)
	{
		const uint8_t *o = pg + (size_t) s * PACKED_BLOCK_Q4_0;
		int8_t	   *d = strip + 512 * s;

		_mm512_storeu_ps(rs + 16 * s, packed_scales(o));
		packed_nibble_lanes(o + 32, 8, lanes[0], lanes[1]);
		for (int m = 0; m < 16; m++)
		{
			memcpy(d + 32 * m, lanes[0][m % 4] + 16 * (m / 4), 16);
			memcpy(d + 32 * m + 16, lanes[1][m % 4] + 16 * (m / 4), 16);
		}
	}
}

/*
 * The same for Q4_K (quant_amx.c's decode: row scales d * sc_j at
 * rs[16 s + m], mins dmin * m_j at mn[16 s + m] for sub-block s, and the
 * nibbles as bytes in tile order), from the packed copy: chunk c's low
 * nibbles are sub-block 2c of each super-block, its high ones 2c + 1.
 */
void
quant_packed_decode_q4_K(int64_t nsb, const void *P, int64_t g, float *rs, float *mn,
						 int8_t *strip)
{
	const int64_t nsuper = nsb / 8;
	const uint8_t *pg = (const uint8_t *) P + (size_t) g * nsuper * PACKED_SUPER_Q4_K;
	_Alignas(64) uint8_t lanes[4][4][64];	/* lo 0-15, lo 16-31, hi 0-15, hi 16-31 */

	for (int64_t b = 0; b < nsuper; b++)
	{
		const uint8_t *o = pg + (size_t) b * PACKED_SUPER_Q4_K;
		__m512		r[8],
					m[8];

		packed_q4_K_scales(o, r, m);
		for (int j = 0; j < 8; j++)
		{
			_mm512_storeu_ps(rs + 16 * (8 * b + j), r[j]);
			_mm512_storeu_ps(mn + 16 * (8 * b + j), m[j]);
		}
		for (int c = 0; c < 4; c++)
		{
			int8_t	   *d = strip + 512 * (8 * b + 2 * c);

			/* dword rows 0-3 are values 0-15 of both sub-blocks, 4-7 values 16-31 */
			packed_nibble_lanes(o + 256 + 512 * c, 0, lanes[0], lanes[2]);
			packed_nibble_lanes(o + 256 + 512 * c + 256, 0, lanes[1], lanes[3]);
			for (int row = 0; row < 16; row++)
				for (int k = 0; k < 4; k++)
					memcpy(d + 512 * (k / 2) + 32 * row + 16 * (k % 2),
						   lanes[k][row % 4] + 16 * (row / 4), 16);
		}
	}
}

void
quant_packed_matmul(uint32_t type, int64_t n, const void *P, const void *A, size_t as, int nt,
					float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	/* constant arguments, so that each case is its own specialised loop */
	if (type == LLM_Q4_K)
		switch (nt)
		{
			case 1: packed_q4_K(1, n / 256, P, A, as, y, ldy, r0, r1); break;
			case 2: packed_q4_K(2, n / 256, P, A, as, y, ldy, r0, r1); break;
			case 3: packed_q4_K(3, n / 256, P, A, as, y, ldy, r0, r1); break;
			default: packed_q4_K(4, n / 256, P, A, as, y, ldy, r0, r1); break;
		}
	else if (type == LLM_Q6_K)
		switch (nt)
		{
			case 1: packed_q6_K(1, n / 256, P, A, as, y, ldy, r0, r1); break;
			case 2: packed_q6_K(2, n / 256, P, A, as, y, ldy, r0, r1); break;
			case 3: packed_q6_K(3, n / 256, P, A, as, y, ldy, r0, r1); break;
			case 4: packed_q6_K(4, n / 256, P, A, as, y, ldy, r0, r1); break;
			default: packed_q6_K(5, n / 256, P, A, as, y, ldy, r0, r1); break;
		}
	else if (type == LLM_Q4_0)
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
			case 9: case 10: case 11: case 12:
				packed_amx(12, n / 32, P, A, as, nt, y, ldy, r0, r1);
				break;
			default:
				packed_amx(16, n / 32, P, A, as, nt, y, ldy, r0, r1);
				break;
		}
}
