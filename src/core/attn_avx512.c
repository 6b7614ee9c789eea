/*
 * attn_avx512.c — the attention block with 16 lanes (see attn.h): the
 * block's scores sit in one register, so the softmax exponentials are one
 * vector exp, and the query head stays in registers across the block.
 * Head sizes that are not multiples of 16 (or above 256) use the AVX2 code.
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

static AI void
block(const float *q, const void *k, const void *v, size_t stride, int nk,
	  int hd, float scale, float *m, float *l, float *out, bool f16)
{
	const size_t step = stride * (f16 ? 2 : 4);
	const int	nv = hd / 16;
	const __mmask16 live = (__mmask16) ((1u << nk) - 1);
	__m512		qv[MAX_HD / 16];
	_Alignas(64) float s[LLM_ATTN_BLOCK];
	_Alignas(64) float p[LLM_ATTN_BLOCK];
	__m512		sv,
				pv,
				cv;
	float		mx,
				corr;

	if (hd % 16 != 0 || hd > MAX_HD)
	{
		(f16 ? llm_attn_avx2.block_f16 : llm_attn_avx2.block_f32) (q, k, v, stride, nk, hd, scale,
																	 m, l, out);
		return;
	}
	for (int c = 0; c < nv; c++)
		qv[c] = _mm512_loadu_ps(q + 16 * c);
	for (int j = 0; j < nk; j++)
	{
		const uint8_t *kj = (const uint8_t *) k + j * step;
		__m512		acc = _mm512_mul_ps(qv[0], load16(kj, 0, f16));

		for (int c = 1; c < nv; c++)
			acc = _mm512_fmadd_ps(qv[c], load16(kj, 16 * c, f16), acc);
		s[j] = _mm512_reduce_add_ps(acc);
	}
	sv = _mm512_mul_ps(_mm512_maskz_load_ps(live, s), _mm512_set1_ps(scale));
	mx = _mm512_mask_reduce_max_ps(live, sv);
	mx = mx > *m ? mx : *m;
	corr = expf(*m - mx);
	pv = _mm512_maskz_mov_ps(live, llm_exp512(_mm512_sub_ps(sv, _mm512_set1_ps(mx))));
	_mm512_store_ps(p, pv);
	cv = _mm512_set1_ps(corr);
	for (int c = 0; c < nv; c++)
	{
		__m512		o = _mm512_mul_ps(_mm512_loadu_ps(out + 16 * c), cv);

		for (int j = 0; j < nk; j++)
			o = _mm512_fmadd_ps(_mm512_set1_ps(p[j]),
								load16((const uint8_t *) v + j * step, 16 * c, f16), o);
		_mm512_storeu_ps(out + 16 * c, o);
	}
	*l = *l * corr + _mm512_reduce_add_ps(pv);
	*m = mx;
}

LLM_ATTN_DEFINE_OPS(llm_attn_avx512, block);
