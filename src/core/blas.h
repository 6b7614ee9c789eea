/*
 * blas.h — OpenBLAS, loaded on demand.
 *
 * The engine never links BLAS: llm_blas_load() dlopen()s libopenblas the
 * first time an engine asks for it, which in PostgreSQL happens only inside
 * the llm worker, never in the postmaster.  Before loading it pins
 * OpenBLAS to one thread (the engine's pool provides the parallelism, each
 * pool thread calling sgemm on its own slice), and, when the variable is
 * unset, names a core type for CPUs this OpenBLAS release does not
 * recognise (AVX-512 machines newer than it fall back to slow generic
 * kernels otherwise).
 *
 * OpenBLAS picks different kernels for different matrix shapes, so its
 * results depend on how many rows a batch holds: enabling it trades the
 * engine's batch invariance for prefill speed.  It is off by default.
 */
#ifndef LLM_CORE_BLAS_H
#define LLM_CORE_BLAS_H

#include "common.h"

/* C (m, n) = A (m, k) x B (n, k)^T, all row-major, one thread. */
typedef void (*llm_sgemm_nt_fn) (int m, int n, int k, const float *A, int lda,
								 const float *B, int ldb, float *C, int ldc);

/* Load OpenBLAS; returns the sgemm wrapper or NULL with err set. */
llm_sgemm_nt_fn llm_blas_load(llm_error *err);

/* The OpenBLAS core name in use ("SkylakeX"), or "" when not loaded. */
const char *llm_blas_core(void);

#endif							/* LLM_CORE_BLAS_H */
