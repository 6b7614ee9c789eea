/*
 * attn.c — the scalar reference of the attention block and the run-time
 * choice of variant.
 */
#include "attn.h"

#include <math.h>

#include "quant.h"

/* Element i of a cached row of type F16 (f16) or F32. */
static inline float
kv_elt(const void *row, size_t i, bool f16)
{
	return f16 ? llm_f16_to_f32(((const uint16_t *) row)[i]) : ((const float *) row)[i];
}

static void
block(const float *q, const void *k, const void *v, size_t stride, int nk,
	  int hd, float scale, float *m, float *l, float *out, bool f16)
{
	size_t		esz = f16 ? 2 : 4;
	float		s[LLM_ATTN_BLOCK];
	float		mx = *m,
				corr,
				sum = 0;

	for (int j = 0; j < nk; j++)
	{
		const uint8_t *kj = (const uint8_t *) k + j * stride * esz;
		float		d = 0;

		for (int i = 0; i < hd; i++)
			d += q[i] * kv_elt(kj, i, f16);
		s[j] = d * scale;
		mx = s[j] > mx ? s[j] : mx;
	}
	corr = expf(*m - mx);
	for (int i = 0; i < hd; i++)
		out[i] *= corr;
	for (int j = 0; j < nk; j++)
	{
		const uint8_t *vj = (const uint8_t *) v + j * stride * esz;
		float		p = expf(s[j] - mx);

		sum += p;
		for (int i = 0; i < hd; i++)
			out[i] += p * kv_elt(vj, i, f16);
	}
	*l = *l * corr + sum;
	*m = mx;
}

LLM_ATTN_DEFINE_OPS(llm_attn_scalar, block);

const llm_attn_ops *
llm_attn_get(void)
{
	llm_isa		isa = quant_active_isa();

	if (isa >= LLM_ISA_AVX512)
		return &llm_attn_avx512;
	return isa >= LLM_ISA_AVX2 ? &llm_attn_avx2 : &llm_attn_scalar;
}
