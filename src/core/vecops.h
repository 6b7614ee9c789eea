/*
 * vecops.h — element-wise row operations of the forward pass that are
 * worth a SIMD variant: SwiGLU's g = silu(g) * u (an exponential per
 * element).  A scalar reference (vecops.c) and an AVX-512 variant
 * (vecops_avx512.c), chosen from quant_active_isa() and tested against the
 * reference.
 */
#ifndef LLM_CORE_VECOPS_H
#define LLM_CORE_VECOPS_H

#include "common.h"

typedef struct llm_vecops
{
	/* g[i] = g[i] / (1 + e^-g[i]) * u[i] for i < n */
	void		(*swiglu) (float *g, const float *u, int64_t n);
} llm_vecops;

/* The variant for the kernels currently selected by quant_init(). */
const llm_vecops *llm_vecops_get(void);

extern const llm_vecops llm_vecops_scalar;
extern const llm_vecops llm_vecops_avx512;

#endif							/* LLM_CORE_VECOPS_H */
