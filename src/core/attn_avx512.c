/*
 * attn_avx512.c — the attention block with 16 lanes (see attn.h).
 *
 * A query's 16 (or fewer) scores come out in one register: the products
 * q . k_j are 16 accumulators of hd / 16 lanes each, summed across their
 * lanes all at once by a transposing reduction (hsum16), so the softmax
 * exponentials are one vector exp.  When a tile has more than one query,
 * the block's K and V rows are converted from F16 to F32 once, into a
 * buffer every query of the tile reads; a lone query reads the cache
 * directly.  Conversion is exact and the per-query operations are the same
 * either way, so a query gets the same bits alone or in any tile.  The
 * kernel has a copy per head size (32, 48, 64, 80, 96, 128 and 256, the
 * Llama-family ones) so that its registers stay registers; other head
 * sizes use the AVX2 code.
 */
#include "attn.h"

#include <immintrin.h>
#include <math.h>

#include "exp_avx512.h"

#define AI inline __attribute__((always_inline))
#define MAX_HD 256

/* 16 cached values from element i of row p as floats. */
static AI __m512
load16(const void *p, int i, bool f16)
{
	if (f16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) ((const uint16_t *) p + i)));
	return _mm512_loadu_ps((const float *) p + i);
}

/*
 * Lane j of the result = the sum of the 16 lanes of a[j], always paired the
 * same way: halves of 256, then of 128 bits, then within 128-bit lanes.
 */
static AI __m512
hsum16(const __m512 *a)
{
	/* lane 4c + i of the last stage holds key 4i + c */
	const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
	__m512		u[8],
				v[4],
				y01,
				y23;

#pragma GCC unroll 8
	for (int j = 0; j < 8; j++)
		u[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x44),
							 _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xEE));
	/* u[j]: 128-bit lanes (a[2j] c0 + c2, c1 + c3, a[2j + 1] c0 + c2, c1 + c3) */
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++)
		v[j] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0x88),
							 _mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0xDD));
	/* v[j]: 128-bit lane c holds 4 partial sums of key 4j + c */
	y01 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
	y23 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
	return _mm512_permutexvar_ps(order, _mm512_add_ps(_mm512_shuffle_ps(y01, y23, 0x44),
													  _mm512_shuffle_ps(y01, y23, 0xEE)));
}

/*
 * One query over the first nk positions of a block whose K and V rows are
 * step bytes apart (F16 if f16, else F32), for a head of nv x 16 values (nv
 * a constant where inlined, so the 16 score accumulators and the output's nv
 * registers stay in registers).  They are independent chains; keys past nk
 * repeat the last one, and their lanes are masked off.
 */
static AI void
query(const float *q, const uint8_t *k, const uint8_t *v, size_t step, int nk, const int nv,
	  float scale, float *m, float *l, float *out, bool f16)
{
	const __mmask16 live = (__mmask16) ((1u << nk) - 1);
	_Alignas(64) float p[LLM_ATTN_BLOCK];
	const uint8_t *kj[LLM_ATTN_BLOCK];
	__m512		acc[LLM_ATTN_BLOCK],
				o[MAX_HD / 16],
				o2[MAX_HD / 16],
				sv,
				pv,
				cv;
	float		mx,
				corr;

#pragma GCC unroll 16
	for (int j = 0; j < LLM_ATTN_BLOCK; j++)
		kj[j] = k + (j < nk ? j : nk - 1) * step;
#pragma GCC unroll 16
	for (int j = 0; j < LLM_ATTN_BLOCK; j++)
		acc[j] = _mm512_mul_ps(_mm512_loadu_ps(q), load16(kj[j], 0, f16));
#pragma GCC unroll 16
	for (int c = 1; c < nv; c++)
	{
		__m512		qc = _mm512_loadu_ps(q + 16 * c);

#pragma GCC unroll 16
		for (int j = 0; j < LLM_ATTN_BLOCK; j++)
			acc[j] = _mm512_fmadd_ps(qc, load16(kj[j], 16 * c, f16), acc[j]);
	}
	sv = _mm512_maskz_mul_ps(live, hsum16(acc), _mm512_set1_ps(scale));
	mx = _mm512_mask_reduce_max_ps(live, sv);
	mx = mx > *m ? mx : *m;
	corr = expf(*m - mx);
	pv = _mm512_maskz_mov_ps(live, llm_exp512(_mm512_sub_ps(sv, _mm512_set1_ps(mx))));
	_mm512_store_ps(p, pv);
	cv = _mm512_set1_ps(corr);
	/* even and odd positions in separate chains, added at the end */
#pragma GCC unroll 16
	for (int c = 0; c < nv; c++)
	{
		o[c] = _mm512_mul_ps(_mm512_loadu_ps(out + 16 * c), cv);
		o2[c] = _mm512_setzero_ps();
	}
	for (int j = 0; j < nk; j += 2)
	{
		__m512		pj = _mm512_set1_ps(p[j]),
					pj1 = _mm512_set1_ps(p[j + 1]);
		const uint8_t *vj1 = v + (j + 1 < nk ? j + 1 : j) * step;

#pragma GCC unroll 16
		for (int c = 0; c < nv; c++)
		{
			o[c] = _mm512_fmadd_ps(pj, load16(v + j * step, 16 * c, f16), o[c]);
			o2[c] = _mm512_fmadd_ps(pj1, load16(vj1, 16 * c, f16), o2[c]);
		}
	}
#pragma GCC unroll 16
	for (int c = 0; c < nv; c++)
		_mm512_storeu_ps(out + 16 * c, _mm512_add_ps(o[c], o2[c]));
	*l = *l * corr + _mm512_reduce_add_ps(pv);
	*m = mx;
}

/* The head sizes query() has a copy for (each a multiple of 16). */
#define QUERY_HEAD_SIZES(X) X(32) X(48) X(64) X(80) X(96) X(128) X(256)

/* Whether query() has a copy for head size hd. */
static AI bool
query_has(int hd)
{
	switch (hd)
	{
#define QUERY_HAS(h) case h:
			QUERY_HEAD_SIZES(QUERY_HAS)
#undef QUERY_HAS
			return true;
		default:
			return false;
	}
}

/* query() with the head size as a constant (one of query_has's). */
static AI void
query_hd(const float *q, const uint8_t *k, const uint8_t *v, size_t step, int nk, int hd,
		 float scale, float *m, float *l, float *out, bool f16)
{
	switch (hd)
	{
#define QUERY_HD(h) case h: query(q, k, v, step, nk, (h) / 16, scale, m, l, out, f16); break;
			QUERY_HEAD_SIZES(QUERY_HD)
#undef QUERY_HD
	}
}

static AI void
tile(const float *q, size_t qstride, int nrows, int group, const int *nkr,
	 const void *k, const void *v, size_t stride, int hd, float scale, float *ml,
	 float *out, bool f16)
{
	_Alignas(64) float kf[LLM_ATTN_BLOCK * MAX_HD];
	_Alignas(64) float vf[LLM_ATTN_BLOCK * MAX_HD];
	const uint8_t *kb = k,
			   *vb = v;
	size_t		step = stride * (f16 ? 2 : 4);
	bool		src16 = f16;
	int			nk = 0;

	if (!query_has(hd))
	{
		(f16 ? llm_attn_avx2.block_f16 : llm_attn_avx2.block_f32) (q, qstride, nrows, group, nkr,
																	 k, v, stride, hd, scale,
																	 ml, out);
		return;
	}
	for (int r = 0; r < nrows; r++)
		nk = nkr[r] > nk ? nkr[r] : nk;
	if (f16 && nrows * group > 1)
	{
		/* once for the whole tile */
		for (int j = 0; j < nk; j++)
			for (int c = 0; c < hd; c += 16)
			{
				_mm512_store_ps(kf + j * hd + c, load16(kb + j * step, c, true));
				_mm512_store_ps(vf + j * hd + c, load16(vb + j * step, c, true));
			}
		kb = (const uint8_t *) kf;
		vb = (const uint8_t *) vf;
		step = (size_t) hd * sizeof(float);
		src16 = false;
	}
	for (int r = 0; r < nrows; r++)
		for (int g = 0; g < group && nkr[r] > 0; g++)
		{
			size_t		o = (size_t) r * qstride + (size_t) g * hd;
			float	   *mlq = ml + 2 * (r * group + g);

			if (src16)
				query_hd(q + o, kb, vb, step, nkr[r], hd, scale, &mlq[0], &mlq[1], out + o, true);
			else
				query_hd(q + o, kb, vb, step, nkr[r], hd, scale, &mlq[0], &mlq[1], out + o, false);
		}
}

static void
tile_f16(const float *q, size_t qstride, int nrows, int group, const int *nkr,
		 const void *k, const void *v, size_t stride, int hd, float scale, float *ml,
		 float *out)
{
	tile(q, qstride, nrows, group, nkr, k, v, stride, hd, scale, ml, out, true);
}

static void
tile_f32(const float *q, size_t qstride, int nrows, int group, const int *nkr,
		 const void *k, const void *v, size_t stride, int hd, float scale, float *ml,
		 float *out)
{
	tile(q, qstride, nrows, group, nkr, k, v, stride, hd, scale, ml, out, false);
}

const llm_attn_ops llm_attn_avx512 = {tile_f16, tile_f32};
