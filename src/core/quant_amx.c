/*
 * quant_amx.c — AMX int8 tiles for Q8_0, Q4_0, Q4_K and Q6_K weights when a
 * call has more than a few tokens (prompt prefill, several sessions decoding at
 * once).  Built by clang (gcc 12 was seen to miscompile AMX tile code).
 *
 * The unit of work is a sub-block of 32 values: a Q8_0/Q4_0 block, or one
 * of the 8 sub-blocks of a Q4_K super-block.  One tile multiply takes 16
 * weight rows x 32 values (tile A) by 32 values x 16 tokens (tile B) into
 * 16 x 16 int32 sums (tile C); TDPBSSD (signed x signed) for Q8_0 and Q4_0
 * (q - 8), TDPBUSD (unsigned nibbles x signed) for Q4_K.  Each sub-block has
 * its own scales, so the sums are stored after each multiply and added into
 * float accumulators as sum * (row_scale[row] * token_scale[token]), where
 *   Q8_0, Q4_0: row_scale = d_w of the block, token_scale = d_a of the block;
 *   Q4_K:       row_scale = d * sc[j],       token_scale = d of the Q8_K block;
 * Q4_K's mins are subtracted per super-block afterwards, as
 * sum_j dmin * m[j] * (d_a * (bsums[2j] + bsums[2j + 1])).  Per (row,
 * token) the float sum runs over the sub-blocks in order, so a value does
 * not depend on the other rows and tokens of the call (batch size, which
 * thread takes which rows); it is not bit-equal to the AVX-512 kernels',
 * which keep 8 partial sums per block.
 *
 *   tiles 0, 1  weights      16 rows x 32 bytes: Q8_0 rows are loaded
 *                            straight from the weight matrix (stride = row
 *                            bytes, skipping the f16 scale); Q4_0 and Q4_K
 *                            rows are unpacked to one byte per value first,
 *                            a 16-row group at a time, in tile order (512
 *                            contiguous bytes per sub-block)
 *   tiles 2, 3  activations  8 rows x 64 bytes: row j holds, for each of
 *                            the 16 tokens, its values 4j..4j+3 (the "VNNI"
 *                            layout); prepared once per call (a vector
 *                            transpose; see below for reuse) for all
 *                            sub-blocks and tokens, tokens past nt zero
 *   tiles 4, 5  sums         16 rows x 16 int32
 * (two sets, used by alternate steps).
 *
 * A call of at most 8 tokens (8 sessions decoding) is one half group
 * instead: the tiles are configured 8 rows x 32 bytes for the activations
 * (loaded from the same 64-byte-row image, stride 64) and 16 rows x 8
 * int32 for the sums, whose epilogue then takes two rows per register, 8
 * instead of 16 cvt/fma per step (the two row scales are applied by a
 * multiply and a masked multiply), with the same arithmetic per (row,
 * token): a token's value is the same in a half or a full group.  Measured,
 * this makes a step at nt = 8 about 10% cheaper; the tile load, multiply
 * and, above all, store cost about the same as at full width, so a call's
 * last partial group (17 .. 24 tokens) stays a padded full group (a second
 * pass with half tiles was measured slower).
 *
 * Loop order: 16-row groups, then token groups of 16, then sub-blocks, so
 * the float sums of one 16 x 16 block stay in 16 zmm registers for the
 * whole row (no accumulator memory traffic), and the group's weights (read
 * from memory once per call, the next group prefetched meanwhile) and one
 * token group's tiles stay in L1/L2.  The (token group, sub-block) steps are
 * software-pipelined in batches of QUANT_AMX_BATCH: each iteration first
 * adds the stored sums of the batch before the previous one into the
 * registers, then issues the tile multiplies and stores of the next batch,
 * so sums are never read right behind their tile store (vector loads
 * cannot take data forwarded from it).  Measured on Emerald Rapids, a tile
 * load + multiply + store of one step costs more than its float epilogue
 * (16 x cvt, mul, fma) and the two overlap only in part; with random data
 * the AMX side runs at roughly 20-30 ns per step, which bounds this design
 * at about 300 GMAC/s per core.  A finished 16 x 16 block is transposed in
 * registers and stored as 16 contiguous floats per token.
 *
 * Q6_K has its own pass (quant_amx_pass_q6_K).  Its int8 scale per 16
 * values would make a tile multiply cover K = 16 and need an epilogue per
 * 16 values; instead the scales are folded into the weights at decode time:
 * v = scales[j] * (q - 32) (-4064 .. 4096) is split exactly into
 * hi = v >> 6 (-64 .. 64) and lo = v & 63 (0 .. 63), v = 64 * hi + lo, one
 * signed byte each.  A step is one super-block (256 values) of a 16-token
 * group: 4 x 2 TDPBSSD of K = 64 (16 rows x 64 bytes of hi or lo by the
 * 64-value activation image: two consecutive 32-value images of the
 * prepared layout) into two 16 x 16 sums, stored once per super-block;
 * their integer sum 64 * hi + lo (at most 256 * 4096 * 128 = 2^27) is the
 * scalar reference's isum, and the epilogue adds float(isum) * (d_w * d_a)
 * into the 16 registers, one cvt/mul/fma per row and super-block.  All
 * eight tiles are 16 x 64 (tiles 0, 1 the sums; 2-4 and 5-7 alternating
 * activation, hi, lo), the decoded group takes 2 bytes per value (8 KiB
 * per super-block: quarter k's hi tile, then its lo tile), and the steps
 * are pipelined by one (the sums of a step are added after the next step
 * is issued, from the other half of a two-slot buffer).  Calls of 6 .. 16
 * tokens are one padded full group (no half tiles); the per (row, token)
 * arithmetic is the same at any batch size.  Measured with bench_matmul's
 * prefill table, about 110-135 GMAC/s per core at 64-256 tokens, against
 * about 15 for the AVX-512 kernel.
 *
 * Calls with fewer than 5 or 6 tokens (quant_amx_min_tokens), and the rows
 * left after the last full group of 16 rows, go to the AVX-512 kernels
 * this level was layered on.  Tile state is per thread: each call loads
 * the tile configuration and releases it at the end.  Scratch memory is
 * per thread, kept across calls (freed at thread exit), so calls from any
 * number of threads at once share nothing.  The forward pass calls once
 * per chunk of rows with the same activations, so a call of up to
 * QUANT_AMX_KEEP tokens also keeps a copy of its activation bytes and the
 * tile images prepared from them, and the next call on the thread whose
 * bytes compare equal skips the preparation.  quant.c asks Linux for
 * tile-data permission before selecting this level.
 *
 * quant_amx_packed_matmul runs the same passes on a matrix's packed copy
 * (quant_packed_amx.c) instead of the file's rows: Q4_0 and Q4_K groups
 * are decoded straight from it, Q6_K and Q8_0 groups unpacked to the rows'
 * layout first (16 rows of scratch); the bits are the same either way.
 */
#include "quant_impl.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AI inline __attribute__((always_inline))

/*
 * Fewer tokens than this (per kind: Q8_0, Q4_0, Q4_K, Q6_K): the AVX-512
 * tiles are as fast.  Measured with bench_matmul's batch table (64-row
 * calls), a half group of 5 tokens beats them for Q8_0 and Q4_K, one of 6
 * for Q4_0; at 4 they are even.  Q6_K (always a full group of 16, padded)
 * wins by 25-45% at 6 tokens; at 5 the two are within noise, at 4 AMX
 * loses by up to 30%.
 */
static const int quant_amx_min_tokens[4] = {5, 6, 5, 6};

/* Calls of at most this many tokens keep their prepared activations. */
#define QUANT_AMX_KEEP 32

/*
 * Steps per pipeline batch (see above); the stored sums of three batches
 * are live at once.  2 measured at least as fast as 4, 8 or 16.
 */
#define QUANT_AMX_BATCH 2

typedef enum quant_amx_kind
{
	QUANT_AMX_Q8_0,
	QUANT_AMX_Q4_0,
	QUANT_AMX_Q4_K,
	QUANT_AMX_Q6_K
} quant_amx_kind;

/* The 64-byte tile configuration (palette 1). */
typedef struct quant_amx_cfg
{
	uint8_t		palette;
	uint8_t		start_row;
	uint8_t		reserved[14];
	uint16_t	colsb[16];
	uint8_t		rows[16];
} quant_amx_cfg;

/* The kernels of the level below, for the cases AMX does not take. */
static quant_matmul_fn quant_amx_next[4];

/* Per-thread scratch: freed by the key's destructor when a thread exits. */
static pthread_key_t quant_amx_key;
static pthread_once_t quant_amx_key_once = PTHREAD_ONCE_INIT;

/*
 * The prepared activations at the start of the scratch are kept for the
 * next call: a call whose kind, n, nt and activation bytes are those of
 * the previous call on this thread (the forward pass calls once per chunk
 * of rows, with the same activations) uses them again.
 */
typedef struct quant_amx_scratch
{
	size_t		size;			/* usable bytes after this header */
	int64_t		n;				/* prepared activations: n, */
	int			nt;				/* ... tokens (0: none) */
	int			kind;			/* ... and kind */
	char		pad[40];
} quant_amx_scratch;

_Static_assert(sizeof(quant_amx_scratch) == 64, "scratch header size");

/* Create the scratch key (once). */
static void
quant_amx_key_init(void)
{
	if (pthread_key_create(&quant_amx_key, free) != 0)
		abort();
}

/*
 * This thread's scratch, at least bytes long and 64-byte aligned, kept for
 * the next call; NULL if out of memory.  A new one holds no activations.
 */
static quant_amx_scratch *
quant_amx_get_scratch(size_t bytes)
{
	quant_amx_scratch *s;

	pthread_once(&quant_amx_key_once, quant_amx_key_init);
	s = pthread_getspecific(quant_amx_key);
	if (s == NULL || s->size < bytes)
	{
		size_t		size = bytes + bytes / 4 + 4096;

		size = (size + 63) & ~(size_t) 63;
		free(s);
		pthread_setspecific(quant_amx_key, NULL);
		s = aligned_alloc(64, sizeof(quant_amx_scratch) + size);
		if (s == NULL)
			return NULL;
		s->size = size;
		s->nt = 0;
		pthread_setspecific(quant_amx_key, s);
	}
	return s;
}

/*
 * Load this thread's tile configuration, for full token groups (16) or,
 * with half, half ones (8).
 */
static void
quant_amx_configure(bool half)
{
	quant_amx_cfg cfg;
	int			bw = half ? 32 : 64;

	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	for (int t = 0; t < 2; t++)
	{
		cfg.rows[t] = 16;		/* tiles 0, 1: weights, 16 rows x 32 bytes */
		cfg.colsb[t] = 32;
		cfg.rows[2 + t] = 8;	/* tiles 2, 3: activations, 8 x (16 or 8 x 4) */
		cfg.colsb[2 + t] = bw;
		cfg.rows[4 + t] = 16;	/* tiles 4, 5: sums, 16 rows x 16 or 8 int32 */
		cfg.colsb[4 + t] = bw;
	}
	_tile_loadconfig(&cfg);
}

/*
 * Load this thread's tile configuration for Q6_K: every tile 16 rows x 64
 * bytes (tiles 0, 1: sums; 2, 5: activations; 3, 4 and 6, 7: weights).
 */
static void
quant_amx_configure_q6_K(void)
{
	quant_amx_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	for (int t = 0; t < 8; t++)
	{
		cfg.rows[t] = 16;
		cfg.colsb[t] = 64;
	}
	_tile_loadconfig(&cfg);
}

/*
 * Transpose 16 rows x 8 dwords (z[p] = [row p | row p + 8]) into 8 rows x
 * 16 dwords, written to dst (64-byte aligned, 512 bytes): the B-tile
 * ("VNNI") image of 16 tokens' 32 values.
 */
static AI void
quant_amx_vnni16x8(const __m512i *z, int8_t *dst)
{
	const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
	const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
	__m512i		t[8],
				u[8];

	for (int i = 0; i < 4; i++)
	{
		t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
	}
	for (int h = 0; h < 2; h++)
	{
		/* rows 4h .. 4h + 3 (and + 8): u[4h + c] holds columns c, c + 4 */
		u[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
		u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
	}
	for (int c = 0; c < 4; c++)
	{
		_mm512_store_si512(dst + 64 * c, _mm512_permutex2var_epi64(u[c], lo, u[4 + c]));
		_mm512_store_si512(dst + 64 * (c + 4), _mm512_permutex2var_epi64(u[c], hi, u[4 + c]));
	}
}

/*
 * Lay out the activations as B-tile images, one per (token group,
 * sub-block), their scales as 16 floats per (group, sub-block) and, for
 * Q4_K, d_a * (sum of each 32 values) as 16 floats per (group, super-block,
 * sub-block).  Tokens past nt are zeros.  With half (nt <= 8: one half
 * group), the token scales are the 8 tokens' twice, the layout of its tile
 * of sums (two rows of 8 tokens per register).
 */
static void
quant_amx_prepare(quant_amx_kind kind, int64_t nsb, const uint8_t *A, size_t as,
				  int nt, int groups, bool half, int8_t *bt, float *da, float *bsd)
{
	const __m512i sidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
															  10, 11, 12, 13, 14, 15),
											_mm512_set1_epi32((int) as));

	for (int g = 0; g < groups; g++)
	{
		const uint8_t *ag = A + (size_t) 16 * g * as;
		int			nk = nt - 16 * g < 16 ? nt - 16 * g : 16;
		__mmask16	km = (__mmask16) ((1u << nk) - 1);

		for (int64_t s = 0; s < nsb; s++)
		{
			__m512i		z[8];
			size_t		off;

			if (kind == QUANT_AMX_Q4_K || kind == QUANT_AMX_Q6_K)
				off = sizeof(quant_block_q8_K) * (s / 8) + 4 + 32 * (s % 8);
			else
				off = sizeof(quant_block_q8_0) * s + 2;
			for (int p = 0; p < 8; p++)
			{
				__m256i		r0 = p < nk ? _mm256_loadu_si256((const __m256i *) (ag + p * as + off)) :
					_mm256_setzero_si256();
				__m256i		r8 = p + 8 < nk ? _mm256_loadu_si256((const __m256i *) (ag + (p + 8) * as + off)) :
					_mm256_setzero_si256();

				z[p] = _mm512_inserti64x4(_mm512_castsi256_si512(r0), r8, 1);
			}
			quant_amx_vnni16x8(z, bt + ((size_t) g * nsb + s) * 512);

			if (kind != QUANT_AMX_Q4_K && kind != QUANT_AMX_Q6_K)
			{
				/* the f16 scales: low halves of 16 gathered dwords */
				__m512i		d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, sidx,
															ag + sizeof(quant_block_q8_0) * s, 1);

				__m512		df = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d));

				if (half)
					df = _mm512_shuffle_f32x4(df, df, 0x44);
				_mm512_store_ps(da + ((size_t) g * nsb + s) * 16, df);
			}
			else if (s % 8 == 0)
			{
				size_t		b = s / 8;
				const uint8_t *ab = ag + sizeof(quant_block_q8_K) * b;
				__m512		d = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, sidx, ab, 1),
							dd = half ? _mm512_shuffle_f32x4(d, d, 0x44) : d;

				for (int j = 0; j < 8; j++)
				{
					/* bsums[2j] and bsums[2j + 1] as one dword */
					__m512i		bs = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, sidx,
																 ab + offsetof(quant_block_q8_K, bsums) + 4 * j, 1);
					__m512i		sum = _mm512_add_epi32(_mm512_srai_epi32(bs, 16),
													   _mm512_srai_epi32(_mm512_slli_epi32(bs, 16), 16));

					_mm512_store_ps(da + ((size_t) g * nsb + s + j) * 16, dd);
					if (bsd != NULL)
						_mm512_store_ps(bsd + (((size_t) g * (nsb / 8) + b) * 8 + j) * 16,
										_mm512_mul_ps(d, _mm512_cvtepi32_ps(sum)));
				}
			}
		}
	}
}

/*
 * Decode a 16-row group once: the row scale of every sub-block to floats
 * (rs[16 * s + m]), Q4_K's dmin * m[j] (mn[(8 * b + j) * 16 + m]) and, for
 * Q4_0/Q4_K, every value to one byte in tile order (sub-block s of row m
 * at strip + 512 * s + 32 * m, so the weight tile of sub-block s is 512
 * contiguous bytes).  Row by row: the weights are read sequentially; the
 * Q8_0/Q4_0 scales are gathered 16 rows at a time.
 */
static void
quant_amx_decode(quant_amx_kind kind, int64_t nsb, const uint8_t *w0, size_t ws,
				 float *rs, float *mn, int8_t *strip)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i eight = _mm256_set1_epi8(8);

	for (int m = 0; m < 16 && kind != QUANT_AMX_Q8_0; m++)
	{
		const uint8_t *row = w0 + m * ws;
		int8_t	   *srow = strip + 32 * m;

		if (kind == QUANT_AMX_Q4_0)
		{
			const quant_block_q4_0 *blk = (const quant_block_q4_0 *) row;

			for (int64_t s = 0; s < nsb; s++)
			{
				__m128i		q = _mm_loadu_si128((const __m128i *) blk[s].qs);
				__m256i		v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);

				_mm256_store_si256((__m256i *) (srow + 512 * s), _mm256_sub_epi8(v, eight));
			}
		}
		else
		{
			const quant_block_q4_K *blk = (const quant_block_q4_K *) row;

			for (int64_t b = 0; b < nsb / 8; b++)
			{
				float		d = _cvtsh_ss(blk[b].d),
							dmin = _cvtsh_ss(blk[b].dmin);

				for (int j = 0; j < 8; j++)
				{
					uint8_t		sc,
								mm;

					quant_q4_K_scale_min(j, blk[b].scales, &sc, &mm);
					rs[16 * (8 * b + j) + m] = d * sc;
					mn[(8 * b + j) * 16 + m] = dmin * mm;
				}
				for (int c = 0; c < 4; c++)
				{
					__m256i		q = _mm256_loadu_si256((const __m256i *) (blk[b].qs + 32 * c));

					_mm256_store_si256((__m256i *) (srow + 512 * (8 * b + 2 * c)),
									   _mm256_and_si256(q, m4));
					_mm256_store_si256((__m256i *) (srow + 512 * (8 * b + 2 * c + 1)),
									   _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
				}
			}
		}
	}
	if (kind != QUANT_AMX_Q4_K)
	{
		/* the f16 block scales of the 16 rows: low halves of gathered dwords */
		const __m512i ridx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
																  10, 11, 12, 13, 14, 15),
												_mm512_set1_epi32((int) ws));
		size_t		bb = kind == QUANT_AMX_Q8_0 ? sizeof(quant_block_q8_0) : sizeof(quant_block_q4_0);

		for (int64_t s = 0; s < nsb; s++)
			_mm512_store_ps(rs + 16 * s, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(
				_mm512_i32gather_epi32(ridx, w0 + bb * s, 1))));
	}
}

/*
 * The end of a (16-row group, token group): Q4_K's mins are subtracted
 * (per super-block), and acc[m] (token lanes of row m) is written to
 * y[k * ldy + m] for the group's nk tokens; acc is zeroed for the next.
 */
static AI void
quant_amx_finish(const bool q4k, int64_t nsuper, __m512 *acc, const float *bsd,
				 const float *mn, float *y, int64_t ldy, int nk)
{
	__m512		t[16],
				u[16],
				out[16];

	if (q4k)
		for (int64_t b = 0; b < nsuper; b++)
		{
			const float *bs = bsd + b * 8 * 16;
			const float *mm = mn + 8 * b * 16;

#pragma clang loop unroll(full)
			for (int m = 0; m < 16; m++)
			{
				__m512		t = _mm512_mul_ps(_mm512_set1_ps(mm[m]), _mm512_load_ps(bs));

				for (int j = 1; j < 8; j++)
					t = _mm512_fmadd_ps(_mm512_set1_ps(mm[16 * j + m]),
										_mm512_load_ps(bs + 16 * j), t);
				acc[m] = _mm512_sub_ps(acc[m], t);
			}
		}
	/* transpose: t, u hold 4 x 4 blocks, then 128-bit lanes are gathered */
#pragma clang loop unroll(full)
	for (int i = 0; i < 4; i++)
	{
		t[4 * i] = _mm512_unpacklo_ps(acc[4 * i], acc[4 * i + 1]);
		t[4 * i + 1] = _mm512_unpackhi_ps(acc[4 * i], acc[4 * i + 1]);
		t[4 * i + 2] = _mm512_unpacklo_ps(acc[4 * i + 2], acc[4 * i + 3]);
		t[4 * i + 3] = _mm512_unpackhi_ps(acc[4 * i + 2], acc[4 * i + 3]);
	}
#pragma clang loop unroll(full)
	for (int i = 0; i < 4; i++)
	{
		/* u[4i + c], 128-bit lane L: rows 4i .. 4i + 3 of column 4L + c */
		u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
		u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
		u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
		u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
	}
#pragma clang loop unroll(full)
	for (int c = 0; c < 4; c++)
	{
		__m512		x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88),
					x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD),
					x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88),
					x3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);

		out[c] = _mm512_shuffle_f32x4(x0, x2, 0x88);		/* column c */
		out[8 + c] = _mm512_shuffle_f32x4(x0, x2, 0xDD);	/* column 8 + c */
		out[4 + c] = _mm512_shuffle_f32x4(x1, x3, 0x88);	/* column 4 + c */
		out[12 + c] = _mm512_shuffle_f32x4(x1, x3, 0xDD);	/* column 12 + c */
	}
#pragma clang loop unroll(full)
	for (int k = 0; k < 16; k++)
	{
		if (k < nk)
			_mm512_storeu_ps(y + k * ldy, out[k]);
		acc[k] = _mm512_setzero_ps();
	}
}

/*
 * Multiply one sub-block into sums with tile set P (tiles P, 2 + P, 4 + P);
 * BW is the width in bytes of a row of B and C (64: 16 tokens, 32: 8).
 */
#define QUANT_AMX_ISSUE(P, DP, BW, asrc, astride, bsrc, cdst) \
	do { \
		_tile_loadd(P, asrc, astride); \
		_tile_loadd(2 + P, bsrc, 64); \
		_tile_zero(4 + P); \
		DP(4 + P, P, 2 + P); \
		_tile_stored(4 + P, cdst, BW); \
	} while (0)

/* The weight type of a kind. */
static const uint32_t quant_amx_type[4] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};

/*
 * Rows r .. r + 15 in the file's layout: W's own, or (P, a packed copy of
 * the matrix, packed group bytes = 16 rows' bytes) unpacked into rows16.
 */
static const uint8_t *
quant_amx_rows(quant_amx_kind kind, int64_t nsb, const uint8_t *W, size_t ws,
			   const uint8_t *P, int64_t r, uint8_t *rows16)
{
	if (P == NULL)
		return W + r * ws;
	quant_packed_unpack(quant_amx_type[kind], nsb * 32, P, r / 16, rows16);
	return rows16;
}

/*
 * quant_amx_decode of rows r .. r + 15, from W or the packed copy P (Q4_0
 * and Q4_K straight from it); returns the rows in the file's layout, which
 * Q8_0's tile loads read, or NULL when they were never made.
 */
static const uint8_t *
quant_amx_group(quant_amx_kind kind, int64_t nsb, const uint8_t *W, size_t ws,
				const uint8_t *P, int64_t r, uint8_t *rows16, float *rs, float *mn,
				int8_t *strip)
{
	const uint8_t *w0;

	if (P != NULL && kind == QUANT_AMX_Q4_0)
	{
		quant_packed_decode_q4_0(nsb, P, r / 16, rs, strip);
		return NULL;
	}
	if (P != NULL && kind == QUANT_AMX_Q4_K)
	{
		quant_packed_decode_q4_K(nsb, P, r / 16, rs, mn, strip);
		return NULL;
	}
	w0 = quant_amx_rows(kind, nsb, W, ws, P, r, rows16);
	quant_amx_decode(kind, nsb, w0, ws, rs, mn, strip);
	return w0;
}

/*
 * Rows [r0, r1) (a multiple of 16 rows) for all token groups, of the width
 * the tiles are configured for: full groups of 16 tokens or, with half,
 * one group of 8.
 *
 * For each 16-row group, the (token group, sub-block) steps run token
 * group by token group in batches of QUANT_AMX_BATCH steps (tile sets
 * alternating step by step); iteration kb adds the sums of batch kb - 2
 * into the accumulator registers, then issues batch kb, whose sums go
 * to the ring slot batch kb - 2 freed (three slots of QUANT_AMX_BATCH
 * 16 x 16 blocks).  A full group keeps row m in acc[m] (16 token lanes);
 * a half group keeps rows 2p and 2p + 1 in acc2[p] (8 token lanes each),
 * the layout of its 16 x 8 tile of sums, with the same arithmetic per
 * (row, token).
 */
static AI void
quant_amx_pass(const quant_amx_kind kind, const bool half, int64_t nsb,
			   const uint8_t *W, size_t ws, const uint8_t *P, uint8_t *rows16,
			   const int8_t *bt, const float *da,
			   const float *bsd, float *rs, float *mn, int8_t *strip, int32_t *cbuf,
			   int nt, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	const int64_t nsuper = nsb / 8;
	const bool	q4k = kind == QUANT_AMX_Q4_K;
	const int64_t steps = nsb * ((nt + 15) / 16);

	for (int64_t r = r0; r + 16 <= r1; r += 16)
	{
		const uint8_t *w0 = quant_amx_group(kind, nsb, W, ws, P, r, rows16, rs, mn, strip);
		__m512		acc[16],
					acc2[8];
		int64_t		si = 0,		/* sub-block and group of the next issue */
					se = 0;		/* ... and of the next epilogue */
		int			gi = 0,
					ge = 0;

		/* the next row group is prefetched a few lines per step */
		const char *pf = (const char *) (P != NULL ? P : W) + (r + 16) * ws,
				   *pf_end = r + 32 <= r1 ? pf + 16 * ws : pf;
		int			pf_step = (int) ((16 * ws / 64 + steps - 1) / steps);

#pragma clang loop unroll(full)
		for (int m = 0; m < 16; m++)
			acc[m] = _mm512_setzero_ps();
#pragma clang loop unroll(full)
		for (int m = 0; m < 8; m++)
			acc2[m] = _mm512_setzero_ps();
		for (int64_t u0 = 0; u0 < steps + 2 * QUANT_AMX_BATCH; u0 += QUANT_AMX_BATCH)
		{
			int64_t		kb = u0 / QUANT_AMX_BATCH,
						e0 = u0 - 2 * QUANT_AMX_BATCH;
			int32_t    *cdst = cbuf + 256 * QUANT_AMX_BATCH * (kb % 3);
			const int32_t *csrc = cbuf + 256 * QUANT_AMX_BATCH * ((kb + 1) % 3);
			int			ni = u0 >= steps ? 0 : steps - u0 < QUANT_AMX_BATCH ? (int) (steps - u0) : QUANT_AMX_BATCH,
						ne = e0 < 0 ? 0 : steps - e0 < QUANT_AMX_BATCH ? (int) (steps - e0) : QUANT_AMX_BATCH;

			/* add the sums of the batch before the previous into acc */
			for (int i = 0; i < ne; i++)
			{
				__m512		dav = _mm512_load_ps(da + ((size_t) ge * nsb + se) * 16);
				const int32_t *cb = csrc + 256 * i;
				const float *rss = rs + 16 * se;

				if (half)
				{
					/* dav holds the 8 token scales twice */
#pragma clang loop unroll(full)
					for (int p = 0; p < 8; p++)
					{
						__m512		sc = _mm512_mul_ps(dav, _mm512_set1_ps(rss[2 * p]));

						sc = _mm512_mask_mul_ps(sc, 0xFF00, dav, _mm512_set1_ps(rss[2 * p + 1]));
						acc2[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * p)),
												  sc, acc2[p]);
					}
				}
				else
				{
#pragma clang loop unroll(full)
					for (int m = 0; m < 16; m++)
						acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * m)),
												 _mm512_mul_ps(dav, _mm512_set1_ps(rss[m])), acc[m]);
				}
				if (++se == nsb)
				{
					if (half)
					{
						/* row 2p + 1 to the low lanes of its own register */
#pragma clang loop unroll(full)
						for (int p = 0; p < 8; p++)
						{
							acc[2 * p] = acc2[p];
							acc[2 * p + 1] = _mm512_shuffle_f32x4(acc2[p], acc2[p], 0xEE);
							acc2[p] = _mm512_setzero_ps();
						}
					}
					quant_amx_finish(q4k, nsuper, acc, bsd + (size_t) ge * nsuper * 8 * 16, mn,
									 y + (int64_t) 16 * ge * ldy + r, ldy,
									 nt - 16 * ge < 16 ? nt - 16 * ge : 16);
					se = 0;
					ge++;
				}
			}
			/* issue the tile multiplies of steps u0 .. u0 + ni - 1 */
			for (int i = 0; i < ni; i++)
			{
				const int8_t *bsrc = bt + ((size_t) gi * nsb + si) * 512;
				const void *asrc;
				long		astride;

				if (kind == QUANT_AMX_Q8_0)
				{
					asrc = w0 + si * sizeof(quant_block_q8_0) + 2;
					astride = (long) ws;
				}
				else
				{
					asrc = strip + 512 * si;
					astride = 32;
				}
				if (q4k && half)
				{
					if ((i & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbusd, 32, asrc, astride, bsrc, cdst + 256 * i);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbusd, 32, asrc, astride, bsrc, cdst + 256 * i);
				}
				else if (q4k)
				{
					if ((i & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbusd, 64, asrc, astride, bsrc, cdst + 256 * i);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbusd, 64, asrc, astride, bsrc, cdst + 256 * i);
				}
				else if (half)
				{
					if ((i & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbssd, 32, asrc, astride, bsrc, cdst + 256 * i);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbssd, 32, asrc, astride, bsrc, cdst + 256 * i);
				}
				else
				{
					if ((i & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbssd, 64, asrc, astride, bsrc, cdst + 256 * i);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbssd, 64, asrc, astride, bsrc, cdst + 256 * i);
				}
				for (int j = 0; j < pf_step && pf < pf_end; j++, pf += 64)
					_mm_prefetch(pf, _MM_HINT_T1);
				if (++si == nsb)
				{
					si = 0;
					gi++;
				}
			}
		}
	}
}

/*
 * Decode a 16-row group of Q6_K rows: d of every super-block to floats
 * (rs[16 * b + m]) and every value v = scales[j] * (q - 32) (-4064 ..
 * 4096) split into v >> 6 (-64 .. 64) and v & 63 (0 .. 63), one byte each,
 * in tile order: the 64 values of quarter k of super-block b of row m at
 * strip + 2048 * (4 * b + k) + 64 * m (high parts), + 1024 (low parts).
 * The unpacking follows quant_q6_K_get: half h of a block (128 values)
 * takes ql[64h ..] and qh[32h ..]; its quarter 2h is the low nibbles with
 * bits 0-1 (first 32 values) and 2-3 (next 32) of qh, quarter 2h + 1 the
 * high nibbles with bits 4-5 and 6-7.
 */
static void
quant_amx_decode_q6_K(int64_t nsuper, const uint8_t *w0, size_t ws, float *rs,
					  int8_t *strip)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F),
				m30 = _mm512_set1_epi8(0x30),
				b32 = _mm512_set1_epi8(32),
				m63 = _mm512_set1_epi16(63),
				sidx = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(1), 1);

	for (int m = 0; m < 16; m++)
	{
		const quant_block_q6_K *blk = (const quant_block_q6_K *) (w0 + m * ws);

		for (int64_t b = 0; b < nsuper; b++)
		{
			__m512i		sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(
				_mm_loadu_si128((const __m128i *) blk[b].scales)));
			int8_t	   *dst = strip + 2048 * 4 * b + 64 * m;

			rs[16 * b + m] = _cvtsh_ss(blk[b].d);
			for (int h = 0; h < 2; h++)
			{
				__m512i		ab = _mm512_loadu_si512(blk[b].ql + 64 * h);
				__m256i		qh = _mm256_loadu_si256((const __m256i *) (blk[b].qh + 32 * h));
				__m512i		qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh),
													 _mm256_srli_epi16(qh, 2), 1);
				__m512i		q[2];

				q[0] = _mm512_or_si512(_mm512_and_si512(ab, m4),
									   _mm512_and_si512(_mm512_slli_epi16(qh2, 4), m30));
				q[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ab, 4), m4),
									   _mm512_and_si512(qh2, m30));
				for (int c = 0; c < 2; c++)
				{
					int			k = 2 * h + c;
					__m512i		qs = _mm512_sub_epi8(q[c], b32);

					for (int x = 0; x < 2; x++)
					{
						/* values 64k + 32x .. + 31: scales 4k + 2x, 4k + 2x + 1 */
						__m512i		s = _mm512_permutexvar_epi16(
							_mm512_add_epi16(sidx, _mm512_set1_epi16((short) (4 * k + 2 * x))), sc);
						__m512i		v = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(
							x == 0 ? _mm512_castsi512_si256(qs) : _mm512_extracti64x4_epi64(qs, 1)), s);

						_mm256_store_si256((__m256i *) (dst + 2048 * k + 32 * x),
										   _mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 6)));
						_mm256_store_si256((__m256i *) (dst + 2048 * k + 1024 + 32 * x),
										   _mm512_cvtepi16_epi8(_mm512_and_si512(v, m63)));
					}
				}
			}
		}
	}
}

/*
 * The tile multiplies of one Q6_K step (a super-block for a 16-token
 * group): sums of high and low parts over its 256 values, stored to cdst
 * (high) and cdst + 256 (low).  Weight and activation tiles alternate
 * between two sets (tiles 2-4, 5-7).
 */
static AI void
quant_amx_issue_q6_K(const int8_t *a, const int8_t *bsrc, int32_t *cdst)
{
/* quarter k: activations into tile TB, high and low parts into TH, TL */
#define QUANT_AMX_Q6_K_QUARTER(k, TB, TH, TL) \
	do { \
		_tile_loadd(TB, bsrc + 1024 * (k), 64); \
		_tile_loadd(TH, a + 2048 * (k), 64); \
		_tile_loadd(TL, a + 2048 * (k) + 1024, 64); \
		_tile_dpbssd(0, TH, TB); \
		_tile_dpbssd(1, TL, TB); \
	} while (0)

	_tile_zero(0);
	_tile_zero(1);
	QUANT_AMX_Q6_K_QUARTER(0, 2, 3, 4);
	QUANT_AMX_Q6_K_QUARTER(1, 5, 6, 7);
	QUANT_AMX_Q6_K_QUARTER(2, 2, 3, 4);
	QUANT_AMX_Q6_K_QUARTER(3, 5, 6, 7);
#undef QUANT_AMX_Q6_K_QUARTER
	_tile_stored(0, cdst, 64);
	_tile_stored(1, cdst + 256, 64);
}

/*
 * Q6_K rows [r0, r1) (a multiple of 16 rows) for all (full) token groups.
 * A step is one super-block of one token group: its multiplies are
 * issued, then the sums of the step before (stored to the other half of
 * cbuf) are added into acc[m] (16 token lanes of row m) as
 * float(64 * high + low) * (d_w * d_a), the whole super-block's integer
 * sum as in the scalar reference.
 */
static void
quant_amx_pass_q6_K(int64_t nsb, const uint8_t *W, size_t ws, const uint8_t *P,
					uint8_t *rows16, const int8_t *bt,
					const float *da, float *rs, int8_t *strip, int32_t *cbuf,
					int nt, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	const int64_t nsuper = nsb / 8;
	const int	groups = (nt + 15) / 16;
	const int64_t steps = nsuper * groups;

	for (int64_t r = r0; r + 16 <= r1; r += 16)
	{
		const uint8_t *w0 = quant_amx_rows(QUANT_AMX_Q6_K, nsb, W, ws, P, r, rows16);
		__m512		acc[16];
		const char *pf = (const char *) (P != NULL ? P : W) + (r + 16) * ws,
				   *pf_end = r + 32 <= r1 ? pf + 16 * ws : pf;
		int			pf_step = (int) ((16 * ws / 64 + steps - 1) / steps);

		quant_amx_decode_q6_K(nsuper, w0, ws, rs, strip);
#pragma clang loop unroll(full)
		for (int m = 0; m < 16; m++)
			acc[m] = _mm512_setzero_ps();
		for (int64_t i = 0; i <= steps; i++)
		{
			if (i < steps)
			{
				int64_t		g = i / nsuper,
							b = i % nsuper;

				quant_amx_issue_q6_K(strip + 8192 * b, bt + ((size_t) g * nsb + 8 * b) * 512,
									 cbuf + 512 * (i & 1));
				for (int j = 0; j < pf_step && pf < pf_end; j++, pf += 64)
					_mm_prefetch(pf, _MM_HINT_T1);
			}
			if (i > 0)
			{
				int64_t		e = i - 1,
							g = e / nsuper,
							b = e % nsuper;
				const int32_t *cb = cbuf + 512 * (e & 1);
				__m512		dav = _mm512_load_ps(da + ((size_t) g * nsb + 8 * b) * 16);
				const float *rss = rs + 16 * b;

#pragma clang loop unroll(full)
				for (int m = 0; m < 16; m++)
				{
					__m512i		isum = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(cb + 16 * m), 6),
														_mm512_load_si512(cb + 256 + 16 * m));

					acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
											 _mm512_mul_ps(dav, _mm512_set1_ps(rss[m])), acc[m]);
				}
				if (b == nsuper - 1)
					quant_amx_finish(false, 0, acc, NULL, NULL, y + (int64_t) 16 * g * ldy + r, ldy,
									 nt - 16 * g < 16 ? nt - 16 * g : 16);
			}
		}
	}
}

/*
 * Whether the activations prepared in scratch s are those of this call:
 * same kind, n and nt, and each token's arb bytes equal to the copy at ac.
 */
static bool
quant_amx_same(const quant_amx_scratch *s, quant_amx_kind kind, int64_t n, int nt,
			   const uint8_t *ac, size_t arb, const void *A, size_t as)
{
	if (s->nt != nt || s->n != n || s->kind != (int) kind)
		return false;
	for (int t = 0; t < nt; t++)
		if (memcmp(ac + t * arb, (const uint8_t *) A + t * as, arb) != 0)
			return false;
	return true;
}

/*
 * Weights of one kind x activations (Q8_0, or Q8_K for Q4_K).
 *
 * A call of up to 8 tokens is one half group; more tokens form full
 * groups of 16, the last one padded.  Activations prepared by this
 * thread's previous call are used again when they are the same.
 */
static AI void
quant_amx_matmul(const quant_amx_kind kind, int64_t n, const void *W, size_t ws,
				 const void *P, const void *A, size_t as, int nt, float *y, int64_t ldy,
				 int64_t r0, int64_t r1)
{
	quant_matmul_fn next = quant_amx_next[kind];
	const int64_t nsb = n / 32;
	const bool	q4k = kind == QUANT_AMX_Q4_K,
				q6k = kind == QUANT_AMX_Q6_K;
	bool		half = nt <= 8 && !q6k;
	int			groups = (nt + 15) / 16;
	size_t		bt_bytes,
				da_bytes,
				rs_bytes = (size_t) nsb * 16 * sizeof(float),
				strip_bytes = kind == QUANT_AMX_Q8_0 ? 0 : (size_t) nsb * (q6k ? 1024 : 512),
				mn_bytes = q4k ? (size_t) nsb * 16 * sizeof(float) : 0,
				bsd_bytes,
				arb = q4k || q6k ? (size_t) (nsb / 8) * sizeof(quant_block_q8_K) :
				(size_t) nsb * sizeof(quant_block_q8_0),
				ac_bytes = nt <= QUANT_AMX_KEEP ? ((size_t) nt * arb + 63) & ~(size_t) 63 : 0,
				cb_bytes = 3 * QUANT_AMX_BATCH * 1024,
				rows16_bytes = P != NULL ? (16 * ws + 63) & ~(size_t) 63 : 0;
	quant_amx_scratch *sc;
	uint8_t    *p,
			   *ac;
	int8_t	   *bt,
			   *strip;
	float	   *da,
			   *rs,
			   *mn,
			   *bsd;
	int32_t    *cbuf;
	uint8_t    *rows16;
	int64_t		rend;

	if (nt < quant_amx_min_tokens[kind] || r1 - r0 < 16 || nsb == 0)
	{
		next(n, W, ws, A, as, nt, y, ldy, r0, r1);
		return;
	}
	bt_bytes = (size_t) groups * nsb * 512;
	da_bytes = (size_t) groups * nsb * 16 * sizeof(float);
	bsd_bytes = q4k ? (size_t) groups * nsb * 16 * sizeof(float) : 0;
	/* every part is a multiple of 64 bytes */
	sc = quant_amx_get_scratch(bt_bytes + da_bytes + bsd_bytes + ac_bytes + rs_bytes +
							   strip_bytes + mn_bytes + cb_bytes + rows16_bytes);
	if (sc == NULL)
	{
		next(n, W, ws, A, as, nt, y, ldy, r0, r1);
		return;
	}
	p = (uint8_t *) (sc + 1);
	bt = (int8_t *) p;
	p += bt_bytes;
	da = (float *) p;
	p += da_bytes;
	bsd = (float *) p;
	p += bsd_bytes;
	ac = p;
	p += ac_bytes;
	rs = (float *) p;
	p += rs_bytes;
	strip = (int8_t *) p;
	p += strip_bytes;
	mn = (float *) p;
	p += mn_bytes;
	cbuf = (int32_t *) p;
	p += cb_bytes;
	rows16 = p;
	/* the first row group from memory while the activations are prepared */
	for (size_t o = 0; o < 16 * ws; o += 64)
		_mm_prefetch((const char *) (P != NULL ? P : W) + r0 * ws + o, _MM_HINT_T1);
	if (ac_bytes == 0 || !quant_amx_same(sc, kind, n, nt, ac, arb, A, as))
	{
		quant_amx_prepare(kind, nsb, A, as, nt, groups, half, bt, da,
						  q4k ? bsd : NULL);
		sc->nt = 0;
		if (ac_bytes != 0)
		{
			for (int t = 0; t < nt; t++)
				memcpy(ac + t * arb, (const uint8_t *) A + t * as, arb);
			sc->n = n;
			sc->nt = nt;
			sc->kind = kind;
		}
	}
	rend = r0 + (r1 - r0) / 16 * 16;

	if (q6k)
	{
		quant_amx_configure_q6_K();
		quant_amx_pass_q6_K(nsb, W, ws, P, rows16, bt, da, rs, strip, cbuf, nt, y, ldy, r0,
							rend);
	}
	else if (half)
	{
		quant_amx_configure(true);
		quant_amx_pass(kind, true, nsb, W, ws, P, rows16, bt, da, bsd, rs, mn, strip, cbuf,
					   nt, y, ldy, r0, rend);
	}
	else
	{
		quant_amx_configure(false);
		quant_amx_pass(kind, false, nsb, W, ws, P, rows16, bt, da, bsd, rs, mn, strip, cbuf,
					   nt, y, ldy, r0, rend);
	}
	_tile_release();
	if (rend < r1)
		next(n, W, ws, A, as, nt, y, ldy, rend, r1);
}

/* The kernel-table entry of one weight type. */
#define QUANT_AMX_ENTRY(P, KIND) \
static void \
quant_amx_##P##_matmul(int64_t n, const void *W, size_t ws, const void *A, \
					   size_t as, int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) \
{ \
	quant_amx_matmul(KIND, n, W, ws, NULL, A, as, nt, y, ldy, r0, r1); \
}

QUANT_AMX_ENTRY(q8_0, QUANT_AMX_Q8_0)
QUANT_AMX_ENTRY(q4_0, QUANT_AMX_Q4_0)
QUANT_AMX_ENTRY(q4_K, QUANT_AMX_Q4_K)
QUANT_AMX_ENTRY(q6_K, QUANT_AMX_Q6_K)

void
quant_amx_packed_matmul(uint32_t type, int64_t n, const void *W, const void *P,
						const void *A, size_t as, int nt, float *y, int64_t ldy,
						int64_t r0, int64_t r1)
{
	size_t		ws = llm_row_bytes(type, n);

	switch (type)
	{
		case LLM_Q8_0:
			quant_amx_matmul(QUANT_AMX_Q8_0, n, W, ws, P, A, as, nt, y, ldy, r0, r1);
			break;
		case LLM_Q4_0:
			quant_amx_matmul(QUANT_AMX_Q4_0, n, W, ws, P, A, as, nt, y, ldy, r0, r1);
			break;
		case LLM_Q4_K:
			quant_amx_matmul(QUANT_AMX_Q4_K, n, W, ws, P, A, as, nt, y, ldy, r0, r1);
			break;
		default:
			quant_amx_matmul(QUANT_AMX_Q6_K, n, W, ws, P, A, as, nt, y, ldy, r0, r1);
			break;
	}
}

/*
 * Install the AMX kernels over the AVX-512 ones (called once, from
 * quant.c's pthread_once, on the table of the AMX level).
 */
void
quant_amx_kernels(quant_kernels *k)
{
	quant_amx_next[QUANT_AMX_Q8_0] = k[LLM_Q8_0].matmul;
	quant_amx_next[QUANT_AMX_Q4_0] = k[LLM_Q4_0].matmul;
	quant_amx_next[QUANT_AMX_Q4_K] = k[LLM_Q4_K].matmul;
	quant_amx_next[QUANT_AMX_Q6_K] = k[LLM_Q6_K].matmul;
	k[LLM_Q8_0].matmul = quant_amx_q8_0_matmul;
	k[LLM_Q4_0].matmul = quant_amx_q4_0_matmul;
	k[LLM_Q4_K].matmul = quant_amx_q4_K_matmul;
	k[LLM_Q6_K].matmul = quant_amx_q6_K_matmul;
	k[LLM_Q8_0].token_group = k[LLM_Q4_0].token_group = 16;
	k[LLM_Q4_K].token_group = k[LLM_Q6_K].token_group = 16;
}
