/*
 * quant_amx.c — AMX int8 tiles for Q8_0, Q4_0 and Q4_K weights when a call
 * has many tokens (prompt prefill, large batches).  Built by clang (gcc 12
 * was seen to miscompile AMX tile code).
 *
 * The unit of work is a sub-block of 32 values: a Q8_0/Q4_0 block, or one
 * of the 8 sub-blocks of a Q4_K super-block.  One tile multiply takes 16
 * weight rows x 32 values (tile 0) by 32 values x 16 tokens (tile 1) into
 * 16 x 16 int32 sums (tile 2); TDPBSSD (signed x signed) for Q8_0 and Q4_0
 * (q - 8), TDPBUSD (unsigned nibbles x signed) for Q4_K.  Each sub-block has
 * its own scales, so the sums are stored after each multiply and added into
 * float accumulators as sum * row_scale[row] * token_scale[token], where
 *   Q8_0, Q4_0: row_scale = d_w of the block, token_scale = d_a of the block;
 *   Q4_K:       row_scale = d * sc[j],       token_scale = d of the Q8_K block;
 * Q4_K's mins are subtracted per super-block afterwards, as
 * sum_j dmin * m[j] * (d_a * (bsums[2j] + bsums[2j + 1])).
 *
 *   tile 0  weights      16 rows x 32 bytes: Q8_0 rows are loaded straight
 *                        from the weight matrix (stride = row bytes, skipping
 *                        the f16 scale); Q4_0 and Q4_K rows are unpacked to
 *                        one byte per value first, a 16-row strip at a time
 *   tile 1  activations  8 rows x 64 bytes: row j holds, for each of the 16
 *                        tokens, its values 4j..4j+3 (the "VNNI" layout);
 *                        prepared once per call for all sub-blocks and
 *                        tokens, tokens past nt padded with zeros
 *   tile 2  sums         16 rows x 16 int32 (tiles 3-5: a second set)
 *
 * The loop runs over groups of 16 rows (outer), sub-blocks, then token
 * groups, so each weight byte is read once per call.  Calls with few tokens,
 * and the rows left after the last full group of 16, go to the AVX-512
 * kernels this level was layered on.  Tile state is per thread: each call
 * loads the tile configuration and releases it at the end; scratch memory
 * is per call.  quant.c asks Linux for tile-data permission before
 * selecting this level.
 */
#include "quant_impl.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Fewer tokens than this: the AVX-512 tiles are as fast. */
#define QUANT_AMX_MIN_TOKENS 8

/*
 * Steps between a tile multiply and the float epilogue reading its stored
 * sums: vector loads cannot take data forwarded from a tile store, so
 * reading them at once would wait for the store to complete.
 */
#define QUANT_AMX_LAG 3

typedef enum quant_amx_kind
{
	QUANT_AMX_Q8_0,
	QUANT_AMX_Q4_0,
	QUANT_AMX_Q4_K
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
static quant_matmul_fn quant_amx_next[3];

/* Load this thread's tile configuration. */
static void
quant_amx_configure(void)
{
	quant_amx_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	cfg.rows[0] = 16;			/* weights: 16 rows x 32 bytes */
	cfg.colsb[0] = 32;
	cfg.rows[1] = 8;			/* activations: 8 x (16 tokens x 4 int8) */
	cfg.colsb[1] = 64;
	cfg.rows[2] = 16;			/* sums: 16 rows x 16 int32 */
	cfg.colsb[2] = 64;
	/* tiles 3-5: a second set of the same shapes, for pipelining */
	for (int t = 0; t < 3; t++)
	{
		cfg.rows[t + 3] = cfg.rows[t];
		cfg.colsb[t + 3] = cfg.colsb[t];
	}
	_tile_loadconfig(&cfg);
}

/*
 * Lay out the activations as tile-1 images, one per (token group,
 * sub-block), their scales as 16 floats per (group, sub-block) and, for
 * Q4_K, d_a * (sum of each 32 values) as 16 floats per (group, super-block,
 * sub-block).
 */
static void
quant_amx_prepare(quant_amx_kind kind, int64_t nsb, const uint8_t *A, size_t as,
				  int nt, int groups, int8_t *bt, float *da, float *bsd)
{
	for (int g = 0; g < groups; g++)
		for (int64_t s = 0; s < nsb; s++)
		{
			int8_t	   *dst = bt + ((size_t) g * nsb + s) * 512;
			float	   *dd = da + ((size_t) g * nsb + s) * 16;

			for (int k = 0; k < 16; k++)
			{
				int			t = 16 * g + k;
				const int8_t *src;

				if (t >= nt)
				{
					dd[k] = 0.0f;
					for (int j = 0; j < 8; j++)
						memset(dst + 64 * j + 4 * k, 0, 4);
					continue;
				}
				if (kind == QUANT_AMX_Q4_K)
				{
					const quant_block_q8_K *ab = (const quant_block_q8_K *) (A + t * as) + s / 8;

					src = ab->qs + 32 * (s % 8);
					dd[k] = ab->d;
					if (bsd != NULL)
					{
						int			j = (int) (s % 8);

						bsd[(((size_t) g * (nsb / 8) + s / 8) * 8 + j) * 16 + k] =
							ab->d * (float) (ab->bsums[2 * j] + ab->bsums[2 * j + 1]);
					}
				}
				else
				{
					const quant_block_q8_0 *ab = (const quant_block_q8_0 *) (A + t * as) + s;

					src = ab->qs;
					dd[k] = _cvtsh_ss(ab->d);
				}
				for (int j = 0; j < 8; j++)
					memcpy(dst + 64 * j + 4 * k, src + 4 * j, 4);
			}
		}
	if (kind == QUANT_AMX_Q4_K)
	{
		/* padding tokens: no min term */
		for (int g = 0; g < groups; g++)
			for (int64_t i = 0; i < (nsb / 8) * 8; i++)
				for (int k = 0; k < 16; k++)
					if (16 * g + k >= nt)
						bsd[((size_t) g * (nsb / 8) * 8 + i) * 16 + k] = 0.0f;
	}
}

/*
 * Decode a 16-row group once: the row scale of every sub-block to floats
 * (rs[16 * s + m]), Q4_K's dmin * m[j] (mn[(16 * b + m) * 8 + j]) and, for
 * Q4_0/Q4_K, every value to one byte (row m at strip + 32 * nsb * m, so
 * tile 0 of sub-block s is strip + 32 * s with stride 32 * nsb).  Row by
 * row: the weights are read and the strip written sequentially.
 */
static void
quant_amx_decode(quant_amx_kind kind, int64_t nsb, const uint8_t *w0, size_t ws,
				 float *rs, float *mn, int8_t *strip)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i eight = _mm256_set1_epi8(8);

	for (int m = 0; m < 16; m++)
	{
		const uint8_t *row = w0 + m * ws;
		int8_t	   *srow = strip + 32 * nsb * m;

		if (kind == QUANT_AMX_Q8_0)
		{
			const quant_block_q8_0 *blk = (const quant_block_q8_0 *) row;

			for (int64_t s = 0; s < nsb; s++)
				rs[16 * s + m] = _cvtsh_ss(blk[s].d);
		}
		else if (kind == QUANT_AMX_Q4_0)
		{
			const quant_block_q4_0 *blk = (const quant_block_q4_0 *) row;

			for (int64_t s = 0; s < nsb; s++)
			{
				__m128i		q = _mm_loadu_si128((const __m128i *) blk[s].qs);
				__m256i		v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);

				_mm256_store_si256((__m256i *) (srow + 32 * s), _mm256_sub_epi8(v, eight));
				rs[16 * s + m] = _cvtsh_ss(blk[s].d);
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
					mn[(16 * b + m) * 8 + j] = dmin * mm;
				}
				for (int c = 0; c < 4; c++)
				{
					__m256i		q = _mm256_loadu_si256((const __m256i *) (blk[b].qs + 32 * c));

					_mm256_store_si256((__m256i *) (srow + 32 * (8 * b + 2 * c)),
									   _mm256_and_si256(q, m4));
					_mm256_store_si256((__m256i *) (srow + 32 * (8 * b + 2 * c + 1)),
									   _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
				}
			}
		}
	}
}

/* Multiply one sub-block into sums with tile set P (tiles 3P .. 3P + 2). */
#define QUANT_AMX_ISSUE(P, DP, asrc, astride, bsrc, cdst) \
	do { \
		_tile_loadd(3 * P, asrc, astride); \
		_tile_loadd(3 * P + 1, bsrc, 64); \
		_tile_zero(3 * P + 2); \
		DP(3 * P + 2, 3 * P, 3 * P + 1); \
		_tile_stored(3 * P + 2, cdst, 64); \
	} while (0)

/*
 * Weights of one kind x activations (Q8_0, or Q8_K for Q4_K).
 *
 * The (sub-block, token group) steps of a 16-row group are
 * software-pipelined: the tile multiply of step u (alternating between two
 * tile sets) is issued before the float epilogue of step u - QUANT_AMX_LAG,
 * so the AMX unit and the vector units overlap and stored sums are not read
 * back at once.
 */
static void
quant_amx_matmul(quant_amx_kind kind, int64_t n, const void *W, size_t ws,
				 const void *A, size_t as, int nt, float *y, int64_t ldy,
				 int64_t r0, int64_t r1)
{
	quant_matmul_fn next = quant_amx_next[kind];
	const int64_t nsb = n / 32;
	const int64_t nsuper = n / 256;
	const bool	q4k = kind == QUANT_AMX_Q4_K;
	int			groups = (nt + 15) / 16;
	int64_t		steps = nsb * groups;
	size_t		bt_bytes = (size_t) groups * nsb * 512,
				da_bytes = (size_t) groups * nsb * 16 * sizeof(float),
				acc_bytes = (size_t) groups * 256 * sizeof(float),
				rs_bytes = (size_t) nsb * 16 * sizeof(float),
				strip_bytes = kind == QUANT_AMX_Q8_0 ? 0 : (size_t) nsb * 512,
				mn_bytes = q4k ? (size_t) nsuper * 16 * 8 * sizeof(float) : 0,
				bsd_bytes = q4k ? (size_t) groups * nsuper * 8 * 16 * sizeof(float) : 0;
	uint8_t    *scratch,
			   *p;
	int8_t	   *bt,
			   *strip;
	float	   *da,
			   *acc,
			   *rs,
			   *mn,
			   *bsd;
	int64_t		r = r0;

	if (nt < QUANT_AMX_MIN_TOKENS || r1 - r0 < 16 || nsb == 0)
	{
		next(n, W, ws, A, as, nt, y, ldy, r0, r1);
		return;
	}
	/* every part is a multiple of 64 bytes */
	scratch = aligned_alloc(64, bt_bytes + da_bytes + acc_bytes + rs_bytes +
							strip_bytes + mn_bytes + bsd_bytes);
	if (scratch == NULL)
	{
		next(n, W, ws, A, as, nt, y, ldy, r0, r1);
		return;
	}
	p = scratch;
	bt = (int8_t *) p;
	p += bt_bytes;
	da = (float *) p;
	p += da_bytes;
	acc = (float *) p;
	p += acc_bytes;
	rs = (float *) p;
	p += rs_bytes;
	strip = (int8_t *) p;
	p += strip_bytes;
	mn = (float *) p;
	p += mn_bytes;
	bsd = q4k ? (float *) p : NULL;
	quant_amx_prepare(kind, nsb, A, as, nt, groups, bt, da, bsd);
	quant_amx_configure();

	for (; r + 16 <= r1; r += 16)
	{
		const uint8_t *w0 = (const uint8_t *) W + r * ws;
		_Alignas(64) int32_t cbuf[QUANT_AMX_LAG + 1][256];

		quant_amx_decode(kind, nsb, w0, ws, rs, mn, strip);
		memset(acc, 0, acc_bytes);
		for (int64_t u = 0; u < steps + QUANT_AMX_LAG; u++)
		{
			/* issue the tile multiply of step u */
			if (u < steps)
			{
				int64_t		s = u / groups;
				int			g = (int) (u % groups);
				int32_t    *cdst = cbuf[u % (QUANT_AMX_LAG + 1)];
				const int8_t *bsrc = bt + ((size_t) g * nsb + s) * 512;
				const void *asrc;
				long		astride;

				if (kind == QUANT_AMX_Q8_0)
				{
					asrc = w0 + s * sizeof(quant_block_q8_0) + 2;
					astride = (long) ws;
				}
				else
				{
					asrc = strip + 32 * s;
					astride = (long) (32 * nsb);
				}
				if (q4k)
				{
					if ((u & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbusd, asrc, astride, bsrc, cdst);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbusd, asrc, astride, bsrc, cdst);
				}
				else
				{
					if ((u & 1) == 0)
						QUANT_AMX_ISSUE(0, _tile_dpbssd, asrc, astride, bsrc, cdst);
					else
						QUANT_AMX_ISSUE(1, _tile_dpbssd, asrc, astride, bsrc, cdst);
				}
			}
			/* add the sums of step v = u - LAG into the float accumulators */
			if (u >= QUANT_AMX_LAG)
			{
				int64_t		v = u - QUANT_AMX_LAG;
				int64_t		s = v / groups;
				int			g = (int) (v % groups);
				__m512		dav = _mm512_loadu_ps(da + ((size_t) g * nsb + s) * 16);
				float	   *ag = acc + g * 256;
				const int32_t *cb = cbuf[v % (QUANT_AMX_LAG + 1)];
				const float *rss = rs + 16 * s;

				for (int m = 0; m < 16; m++)
				{
					__m512		sum = _mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * m));

					_mm512_storeu_ps(ag + 16 * m,
									 _mm512_fmadd_ps(sum, _mm512_mul_ps(dav, _mm512_set1_ps(rss[m])),
													 _mm512_loadu_ps(ag + 16 * m)));
				}
			}
		}
		/* Q4_K: minus the mins, per super-block */
		if (q4k)
			for (int g = 0; g < groups; g++)
				for (int64_t b = 0; b < nsuper; b++)
				{
					const float *bs = bsd + ((size_t) g * nsuper + b) * 8 * 16;

					for (int m = 0; m < 16; m++)
					{
						const float *mm = mn + (16 * b + m) * 8;
						__m512		t = _mm512_mul_ps(_mm512_set1_ps(mm[0]), _mm512_loadu_ps(bs));

						for (int j = 1; j < 8; j++)
							t = _mm512_fmadd_ps(_mm512_set1_ps(mm[j]), _mm512_loadu_ps(bs + 16 * j), t);
						_mm512_storeu_ps(acc + g * 256 + 16 * m,
										 _mm512_sub_ps(_mm512_loadu_ps(acc + g * 256 + 16 * m), t));
					}
				}
		for (int g = 0; g < groups; g++)
			for (int k = 0; k < 16 && 16 * g + k < nt; k++)
				for (int m = 0; m < 16; m++)
					y[(int64_t) (16 * g + k) * ldy + r + m] = acc[g * 256 + 16 * m + k];
	}
	_tile_release();
	free(scratch);
	if (r < r1)
		next(n, W, ws, A, as, nt, y, ldy, r, r1);
}

/* Q8_0 entry. */
static void
quant_amx_q8_0_matmul(int64_t n, const void *W, size_t ws, const void *A,
					  size_t as, int nt, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	quant_amx_matmul(QUANT_AMX_Q8_0, n, W, ws, A, as, nt, y, ldy, r0, r1);
}

/* Q4_0 entry. */
static void
quant_amx_q4_0_matmul(int64_t n, const void *W, size_t ws, const void *A,
					  size_t as, int nt, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	quant_amx_matmul(QUANT_AMX_Q4_0, n, W, ws, A, as, nt, y, ldy, r0, r1);
}

/* Q4_K entry. */
static void
quant_amx_q4_K_matmul(int64_t n, const void *W, size_t ws, const void *A,
					  size_t as, int nt, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
	quant_amx_matmul(QUANT_AMX_Q4_K, n, W, ws, A, as, nt, y, ldy, r0, r1);
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
	k[LLM_Q8_0].matmul = quant_amx_q8_0_matmul;
	k[LLM_Q4_0].matmul = quant_amx_q4_0_matmul;
	k[LLM_Q4_K].matmul = quant_amx_q4_K_matmul;
}
