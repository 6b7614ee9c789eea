/*
 * vecops.c — scalar element-wise row operations and the run-time choice of
 * variant (see vecops.h).
 */
#include "vecops.h"

#include <math.h>

#include "quant.h"

static void
swiglu(float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const llm_vecops llm_vecops_scalar = {swiglu};

const llm_vecops *
llm_vecops_get(void)
{
	return quant_active_isa() >= LLM_ISA_AVX512 ? &llm_vecops_avx512 : &llm_vecops_scalar;
}
