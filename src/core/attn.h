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
 * K/V rows are F16 or F32.  A call takes one block for all the query heads
 * of a tile of batch rows that read it (the rows of a prefill chunk, the
 * heads of a GQA group), so that a variant can convert the block once for
 * all of them.  Variants: a scalar reference (attn.c), AVX2 + F16C + FMA
 * (attn_avx2.c) and AVX-512 (attn_avx512.c, the Llama-family head sizes;
 * others fall back to the AVX2 code), chosen from quant_active_isa() and
 * tested against the reference.
 */
#ifndef LLM_CORE_ATTN_H
#define LLM_CORE_ATTN_H

#include "common.h"

#define LLM_ATTN_BLOCK 16

/*
 * One block of at most LLM_ATTN_BLOCK cached positions (k, v: the first
 * position's head; position j's are stride elements further) for the
 * queries of nrows batch rows x group query heads that share this KV head.
 * Query (r, g) is the hd floats at q + r * qstride + g * hd, its output
 * accumulates at the same place in out, its state (m, l) is
 * ml[2 * (r * group + g)], and it sees the block's first nkr[r] positions
 * (none when nkr[r] <= 0).  A query's arithmetic never depends on the
 * others: a tile of many rows gives each the bits it gets alone.
 */
typedef void (*llm_attn_block_fn) (const float *q, size_t qstride, int nrows, int group,
								   const int *nkr, const void *k, const void *v,
								   size_t stride, int hd, float scale, float *ml,
								   float *out);

typedef struct llm_attn_ops
{
	llm_attn_block_fn block_f16;
	llm_attn_block_fn block_f32;
} llm_attn_ops;

/*
 * For the variant files with a one-query function: the table NAME of F16
 * and F32 entries that call ONE(q, k, v, stride, nk, hd, scale, m, l, out,
 * bool f16), a static (usually always-inline) function of the file, for
 * every query of the tile in turn.
 */
#define LLM_ATTN_DEFINE_OPS(NAME, ONE) \
static inline void \
NAME##_tile(const float *q, size_t qstride, int nrows, int group, const int *nkr, \
			const void *k, const void *v, size_t stride, int hd, float scale, \
			float *ml, float *out, bool f16) \
{ \
	for (int r = 0; r < nrows; r++) \
		for (int g = 0; g < group && nkr[r] > 0; g++) \
		{ \
			size_t		o = (size_t) r * qstride + (size_t) g * hd; \
			float	   *mlq = ml + 2 * (r * group + g); \
			ONE(q + o, k, v, stride, nkr[r], hd, scale, &mlq[0], &mlq[1], out + o, f16); \
		} \
} \
static void \
NAME##_f16(const float *q, size_t qstride, int nrows, int group, const int *nkr, \
		   const void *k, const void *v, size_t stride, int hd, float scale, \
		   float *ml, float *out) \
{ \
	NAME##_tile(q, qstride, nrows, group, nkr, k, v, stride, hd, scale, ml, out, true); \
} \
static void \
NAME##_f32(const float *q, size_t qstride, int nrows, int group, const int *nkr, \
		   const void *k, const void *v, size_t stride, int hd, float scale, \
		   float *ml, float *out) \
{ \
	NAME##_tile(q, qstride, nrows, group, nkr, k, v, stride, hd, scale, ml, out, false); \
} \
const llm_attn_ops NAME = {NAME##_f16, NAME##_f32}

/* The variant for the kernels currently selected by quant_init(). */
const llm_attn_ops *llm_attn_get(void);

/* The variants (tests compare them with the scalar reference). */
extern const llm_attn_ops llm_attn_scalar;
extern const llm_attn_ops llm_attn_avx2;
extern const llm_attn_ops llm_attn_avx512;

#endif							/* LLM_CORE_ATTN_H */
