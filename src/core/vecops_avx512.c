/*
 * vecops_avx512.c — row operations, 16 lanes (see vecops.h).  RoPE's
 * products use the explicit-rounding multiply, which the compiler does not
 * fuse with the following add into an FMA (the scalar reference rounds
 * each product), so every value is the reference's bit for bit.
 */
#include "vecops.h"

#include <math.h>

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

static void
rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	__m512d		s0 = _mm512_setzero_pd(),
				s1 = _mm512_setzero_pd();
	__m512		scale;
	double		ss;
	int64_t		i = 0;

	/* x[i]^2 is exact in double, so an FMA adds the same value */
	for (; i + 16 <= n; i += 16)
	{
		__m512		v = _mm512_loadu_ps(x + i);
		__m512d		lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
					hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));

		s0 = _mm512_fmadd_pd(lo, lo, s0);
		s1 = _mm512_fmadd_pd(hi, hi, s1);
	}
	ss = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
	for (int64_t j = i; j < n; j++)
		ss += (double) x[j] * x[j];
	scale = _mm512_set1_ps(1.0f / sqrtf((float) (ss / n) + eps));
	for (i = 0; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);

		_mm512_mask_storeu_ps(out + i, m,
							  _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale),
											_mm512_maskz_loadu_ps(m, w + i)));
	}
}

/* a * b, rounded, never fused with a following add */
static inline __m512
mul_rounded(__m512 a, __m512 b)
{
	return _mm512_mul_round_ps(a, b, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* Pairs (2i, 2i + 1): 8 pairs per register, cs read as it lies. */
static void
rope_norm(float *v, int half, const float *cs)
{
	for (int i = 0; i < half; i += 8)
	{
		int			k = half - i < 8 ? half - i : 8;
		__mmask16	m = (__mmask16) ((1u << (2 * k)) - 1);
		__m512		x = _mm512_maskz_loadu_ps(m, v + 2 * i),
					t = _mm512_maskz_loadu_ps(m, cs + 2 * i);
		/* p = (x0 c, x1 c), q = (x1 s, x0 s) per pair */
		__m512		p = mul_rounded(x, _mm512_moveldup_ps(t)),
					q = mul_rounded(_mm512_permute_ps(x, 0xB1), _mm512_movehdup_ps(t));

		_mm512_mask_storeu_ps(v + 2 * i, m, _mm512_mask_sub_ps(_mm512_add_ps(p, q), 0x5555, p, q));
	}
}

/* Pairs (i, i + half): 16 pairs per step, cos and sin split from cs. */
static void
rope_neox(float *v, int half, const float *cs)
{
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));

	for (int i = 0; i < half; i += 16)
	{
		int			k = half - i < 16 ? half - i : 16;
		__mmask16	m = (__mmask16) ((1u << k) - 1),
					m0 = k >= 8 ? 0xFFFF : (__mmask16) ((1u << (2 * k)) - 1),
					m1 = k <= 8 ? 0 : (__mmask16) ((1u << (2 * k - 16)) - 1);
		__m512		t0 = _mm512_maskz_loadu_ps(m0, cs + 2 * i),
					t1 = _mm512_maskz_loadu_ps(m1, cs + 2 * i + 16),
					c = _mm512_permutex2var_ps(t0, even, t1),
					s = _mm512_permutex2var_ps(t0, odd, t1),
					x0 = _mm512_maskz_loadu_ps(m, v + i),
					x1 = _mm512_maskz_loadu_ps(m, v + i + half);

		_mm512_mask_storeu_ps(v + i, m, _mm512_sub_ps(mul_rounded(x0, c), mul_rounded(x1, s)));
		_mm512_mask_storeu_ps(v + i + half, m, _mm512_add_ps(mul_rounded(x0, s), mul_rounded(x1, c)));
	}
}

static void
rope(float *vec, int n_heads, int head_dim, int n_rot, bool neox, const float *cs)
{
	for (int h = 0; h < n_heads; h++)
	{
		if (neox)
			rope_neox(vec + (size_t) h * head_dim, n_rot / 2, cs);
		else
			rope_norm(vec + (size_t) h * head_dim, n_rot / 2, cs);
	}
}

const llm_vecops llm_vecops_avx512 = {swiglu, rmsnorm, rope};
