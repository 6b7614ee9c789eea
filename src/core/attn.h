/*
 * attn.h — attention of one query head over a block of cached positions.
 *
 * Softmax is taken online, a block of at most LLM_ATTN_BLOCK consecutive
 * positions at a time, so a query never needs a scores array as long as
 * its context.  With s_j = scale * (q . k_j) over the block's positions j,
 * a block folds into the state (m, l, out) as
 *   m'   = max(m, max_j s_j)
 *   l'   = l * e^(m - m') + sum_j e^(s_j - m')
 *   out' = out * e^(m - m') + sum_j e^(s_j - m') * v_j
 * starting from m = -INFINITY, l = 0, out = 0; the attention output is
 * out / l after the last block.  A query's result depends only on its own
 * vector and the cached K/V, never on the other rows of the batch, as long
 * as callers cut the positions into blocks at the same places (forward.c
 * cuts at absolute positions).
 *
 * K/V rows are F16 or F32.  k and v point at the block's first position's
 * head; position j's are stride elements further.  Variants: a scalar
 * reference (attn.c), AVX2 + F16C + FMA (attn_avx2.c) and AVX-512
 * (attn_avx512.c, head sizes that are multiples of 16; others fall back to
 * the AVX2 code), chosen from quant_active_isa() and tested against the
 * reference.
 */
#ifndef LLM_CORE_ATTN_H
#define LLM_CORE_ATTN_H

#include "common.h"

#define LLM_ATTN_BLOCK 16

typedef void (*llm_attn_block_fn) (const float *q, const void *k, const void *v,
								   size_t stride, int nk, int hd, float scale,
								   float *m, float *l, float *out);

typedef struct llm_attn_ops
{
	llm_attn_block_fn block_f16;
	llm_attn_block_fn block_f32;
} llm_attn_ops;

/*
 * For the variant files: the table NAME of F16 and F32 entries that call
 * BLOCK(q, k, v, stride, nk, hd, scale, m, l, out, bool f16), a static
 * (usually always-inline) function of the file.
 */
#define LLM_ATTN_DEFINE_OPS(NAME, BLOCK) \
static void \
NAME##_f16(const float *q, const void *k, const void *v, size_t stride, int nk, \
		   int hd, float scale, float *m, float *l, float *out) \
{ \
	BLOCK(q, k, v, stride, nk, hd, scale, m, l, out, true); \
} \
static void \
NAME##_f32(const float *q, const void *k, const void *v, size_t stride, int nk, \
		   int hd, float scale, float *m, float *l, float *out) \
{ \
	BLOCK(q, k, v, stride, nk, hd, scale, m, l, out, false); \
} \
const llm_attn_ops NAME = {NAME##_f16, NAME##_f32}

/* The variant for the kernels currently selected by quant_init(). */
const llm_attn_ops *llm_attn_get(void);

/* The variants (tests compare them with the scalar reference). */
extern const llm_attn_ops llm_attn_scalar;
extern const llm_attn_ops llm_attn_avx2;
extern const llm_attn_ops llm_attn_avx512;

#endif							/* LLM_CORE_ATTN_H */
