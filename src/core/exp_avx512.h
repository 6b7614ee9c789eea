/*
 * exp_avx512.h — e^x on 16 floats, for the AVX-512 files (attention
 * softmax, SwiGLU).  Include only from files built with AVX-512 flags.
 */
#ifndef LLM_CORE_EXP_AVX512_H
#define LLM_CORE_EXP_AVX512_H

#include <immintrin.h>

/*
 * e^x to about 2 ulp: x is clamped to [-104, 88.7] (so results below the
 * float range come out as 0 and large ones as 3.3e38), split as x = n ln2 + r with
 * |r| <= ln2 / 2, e^r by its degree-6 Taylor polynomial (truncation below
 * 1.3e-7 relative), times 2^n by scalef.
 */
static inline __attribute__((always_inline)) __m512
llm_exp512(__m512 x)
{
	const __m512 ln2_hi = _mm512_set1_ps(0.693359375f);
	const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
	__m512		n,
				r,
				p;

	x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
	n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
							 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, ln2_hi, x);
	r = _mm512_fnmadd_ps(n, ln2_lo, r);
	p = _mm512_set1_ps(1.0f / 720);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

#endif							/* LLM_CORE_EXP_AVX512_H */
