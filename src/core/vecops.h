/*
 * vecops.h — row operations of the forward pass that are worth a SIMD
 * variant: SwiGLU's g = silu(g) * u (an exponential per element), RMSNorm
 * and RoPE (per batch row and layer; in a step of 8 decoding sequences
 * their scalar loops were ~4 % of the step, the pool's other thread
 * waiting).  A scalar reference (vecops.c) and an AVX-512 variant
 * (vecops_avx512.c), chosen from quant_active_isa() and tested against the
 * reference: RoPE bit for bit (the same products and sums per element),
 * RMSNorm within rounding (its double sum of squares is added in another
 * order), SwiGLU within 1e-6 (a vector exp).
 */
#ifndef LLM_CORE_VECOPS_H
#define LLM_CORE_VECOPS_H

#include "common.h"

typedef struct llm_vecops
{
	/* g[i] = g[i] / (1 + e^-g[i]) * u[i] for i < n */
	void		(*swiglu) (float *g, const float *u, int64_t n);
	/* out = x / sqrt(mean(x^2) + eps) * w (the sum in double); out may be x */
	void		(*rmsnorm) (float *out, const float *x, const float *w, int64_t n, float eps);

	/*
	 * Rotate the first n_rot values of n_heads vectors (head_dim apart) by
	 * the angles whose cos and sin are cs[2i], cs[2i + 1] (i < n_rot / 2):
	 * pair i is (2i, 2i + 1), or (i, i + n_rot / 2) with neox.
	 */
	void		(*rope) (float *vec, int n_heads, int head_dim, int n_rot, bool neox,
						 const float *cs);
} llm_vecops;

/* The variant for the kernels currently selected by quant_init(). */
const llm_vecops *llm_vecops_get(void);

extern const llm_vecops llm_vecops_scalar;
extern const llm_vecops llm_vecops_avx512;

#endif							/* LLM_CORE_VECOPS_H */
