/*
 * vecops.c — scalar element-wise row operations and the run-time choice of
 * variant (see vecops.h).
 */
#include "vecops.h"

#include <math.h>
#include <stdbool.h>

#include "quant.h"

static void
swiglu(float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void
rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	double		ss = 0;
	float		scale;

	for (int64_t i = 0; i < n; i++)
		ss += (double) x[i] * x[i];
	scale = 1.0f / sqrtf((float) (ss / n) + eps);
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

static void
rope(float *vec, int n_heads, int head_dim, int n_rot, bool neox, const float *cs)
{
	int			half = n_rot / 2;

	for (int h = 0; h < n_heads; h++)
		for (int i = 0; i < half; i++)
		{
			float	   *v = vec + (size_t) h * head_dim;
			float	   *a = neox ? v + i : v + 2 * i;
			float	   *b = neox ? v + i + half : v + 2 * i + 1;
			float		x0 = *a,
						x1 = *b,
						c = cs[2 * i],
						s = cs[2 * i + 1];

			*a = x0 * c - x1 * s;
			*b = x0 * s + x1 * c;
		}
}

const llm_vecops llm_vecops_scalar = {swiglu, rmsnorm, rope};

const llm_vecops *
llm_vecops_get(void)
{
	return quant_active_isa() >= LLM_ISA_AVX512 ? &llm_vecops_avx512 : &llm_vecops_scalar;
}
