/*
 * attn_avx2.c — attention loops with F16C conversion and FMA, 8 lanes.
 * Compiled with -mavx2 -mfma -mf16c; used only when the CPU has them.
 */
#include "attn.h"

#include <immintrin.h>

#include "quant.h"

/* Horizontal sum of 8 floats. */
static inline float
hsum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static float
dot_f16(const float *q, const uint16_t *k, int n)
{
	__m256		acc = _mm256_setzero_ps();
	int			i = 0;
	float		s;

	for (; i + 8 <= n; i += 8)
		acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
							  _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (k + i))), acc);
	s = hsum(acc);
	for (; i < n; i++)
		s += q[i] * llm_f16_to_f32(k[i]);
	return s;
}

static float
dot_f32(const float *q, const float *k, int n)
{
	__m256		acc = _mm256_setzero_ps();
	int			i = 0;
	float		s;

	for (; i + 8 <= n; i += 8)
		acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
	s = hsum(acc);
	for (; i < n; i++)
		s += q[i] * k[i];
	return s;
}

static void
axpy_f16(float *out, float a, const uint16_t *v, int n)
{
	__m256		va = _mm256_set1_ps(a);
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
						 _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (v + i))),
										 _mm256_loadu_ps(out + i)));
	for (; i < n; i++)
		out[i] += a * llm_f16_to_f32(v[i]);
}

static void
axpy_f32(float *out, float a, const float *v, int n)
{
	__m256		va = _mm256_set1_ps(a);
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
	for (; i < n; i++)
		out[i] += a * v[i];
}

const llm_attn_ops llm_attn_avx2 = {dot_f16, dot_f32, axpy_f16, axpy_f32};
