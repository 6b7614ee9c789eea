/*
 * attn_avx2.c — the attention block with F16C conversion and FMA, 8 lanes
 * (see attn.h).  Compiled with -mavx2 -mfma -mf16c; used only when the CPU
 * has them.
 */
#include "attn.h"

#include <immintrin.h>
#include <math.h>

#include "quant.h"

#define AI inline __attribute__((always_inline))

/* Horizontal sum of 8 floats. */
static AI float
hsum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* 8 cached values from element i of row p as floats. */
static AI __m256
load8(const void *p, int i, bool f16)
{
	if (f16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const uint16_t *) p + i)));
	return _mm256_loadu_ps((const float *) p + i);
}

static AI float
elt(const void *p, int i, bool f16)
{
	return f16 ? llm_f16_to_f32(((const uint16_t *) p)[i]) : ((const float *) p)[i];
}

static AI void
block(const float *q, const void *k, const void *v, size_t stride, int nk,
	  int hd, float scale, float *m, float *l, float *out, bool f16)
{
	size_t		esz = f16 ? 2 : 4;
	float		s[LLM_ATTN_BLOCK];
	float		mx = *m,
				corr,
				sum = 0;
	int			h8 = hd & ~7;

	for (int j = 0; j < nk; j++)
	{
		const uint8_t *kj = (const uint8_t *) k + j * stride * esz;
		__m256		acc = _mm256_setzero_ps();
		float		d;

		for (int i = 0; i < h8; i += 8)
			acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(kj, i, f16), acc);
		d = hsum(acc);
		for (int i = h8; i < hd; i++)
			d += q[i] * elt(kj, i, f16);
		s[j] = d * scale;
		mx = s[j] > mx ? s[j] : mx;
	}
	corr = expf(*m - mx);
	for (int i = 0; i < h8; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), _mm256_set1_ps(corr)));
	for (int i = h8; i < hd; i++)
		out[i] *= corr;
	for (int j = 0; j < nk; j++)
	{
		const uint8_t *vj = (const uint8_t *) v + j * stride * esz;
		float		p = expf(s[j] - mx);
		__m256		pv = _mm256_set1_ps(p);

		sum += p;
		for (int i = 0; i < h8; i += 8)
			_mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, load8(vj, i, f16), _mm256_loadu_ps(out + i)));
		for (int i = h8; i < hd; i++)
			out[i] += p * elt(vj, i, f16);
	}
	*l = *l * corr + sum;
	*m = mx;
}

LLM_ATTN_DEFINE_OPS(llm_attn_avx2, block);
