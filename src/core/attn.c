/*
 * attn.c — scalar attention loops and the run-time choice of variant.
 */
#include "attn.h"

#include "quant.h"

static float
dot_f16(const float *q, const uint16_t *k, int n)
{
	float		s = 0;

	for (int i = 0; i < n; i++)
		s += q[i] * llm_f16_to_f32(k[i]);
	return s;
}

static float
dot_f32(const float *q, const float *k, int n)
{
	float		s = 0;

	for (int i = 0; i < n; i++)
		s += q[i] * k[i];
	return s;
}

static void
axpy_f16(float *out, float a, const uint16_t *v, int n)
{
	for (int i = 0; i < n; i++)
		out[i] += a * llm_f16_to_f32(v[i]);
}

static void
axpy_f32(float *out, float a, const float *v, int n)
{
	for (int i = 0; i < n; i++)
		out[i] += a * v[i];
}

const llm_attn_ops llm_attn_scalar = {dot_f16, dot_f32, axpy_f16, axpy_f32};

const llm_attn_ops *
llm_attn_get(void)
{
	return quant_active_isa() >= LLM_ISA_AVX2 ? &llm_attn_avx2 : &llm_attn_scalar;
}
