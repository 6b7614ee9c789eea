/*
 * vecops_avx512.c — element-wise row operations, 16 lanes (see vecops.h).
 */
#include "vecops.h"

#include "exp_avx512.h"

static void
swiglu(float *g, const float *u, int64_t n)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	int64_t		i = 0;

	for (; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);
		__m512		x = _mm512_maskz_loadu_ps(m, g + i);
		__m512		e = llm_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));

		_mm512_mask_storeu_ps(g + i, m,
							  _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)),
											_mm512_maskz_loadu_ps(m, u + i)));
	}
}

const llm_vecops llm_vecops_avx512 = {swiglu};
