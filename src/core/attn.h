/*
 * attn.h — the two inner loops of attention over cached K/V rows: a dot
 * product of a query head with a key, and out += a * value.  K/V rows are
 * stored as F16 or F32; the ISA-specific versions (attn_avx2.c, F16C + FMA)
 * are chosen from quant_active_isa() and tested against the scalar ones.
 */
#ifndef LLM_CORE_ATTN_H
#define LLM_CORE_ATTN_H

#include "common.h"

typedef struct llm_attn_ops
{
	float		(*dot_f16) (const float *q, const uint16_t *k, int n);
	float		(*dot_f32) (const float *q, const float *k, int n);
	void		(*axpy_f16) (float *out, float a, const uint16_t *v, int n);
	void		(*axpy_f32) (float *out, float a, const float *v, int n);
} llm_attn_ops;

/* The variant for the kernels currently selected by quant_init(). */
const llm_attn_ops *llm_attn_get(void);

/* Scalar reference and AVX2 variants (tests compare them). */
extern const llm_attn_ops llm_attn_scalar;
extern const llm_attn_ops llm_attn_avx2;

#endif							/* LLM_CORE_ATTN_H */
