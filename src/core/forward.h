/*
 * forward.h — the transformer forward pass over a batch of positions that
 * may belong to different sequences, reading and writing K/V through each
 * sequence's block table (paged attention).
 *
 * One call processes n (token, position, block table) triples: prefill
 * chunks, single decode tokens and speculative verification runs all share
 * the same path.  Every K/V of the batch is written before attention reads,
 * so several positions of one sequence in a batch see each other causally.
 * Each row's result depends only on its own sequence: the kernels compute
 * every (weight row, token) dot product the same way whatever the batch.
 */
#ifndef LLM_CORE_FORWARD_H
#define LLM_CORE_FORWARD_H

#include "blas.h"
#include "common.h"
#include "kv.h"
#include "model.h"
#include "threadpool.h"

typedef struct llm_fwd llm_fwd;

/* Bytes of one KV page: K and V of block_size positions for every layer. */
size_t		llm_fwd_page_bytes(const llm_model *m, int32_t block_size, uint32_t kv_type);

llm_status	llm_fwd_new(const llm_model *m, llm_pool *pool, llm_kv_pool *kv,
						uint32_t kv_type, int max_tokens, int max_ctx,
						llm_fwd **out, llm_error *err);
void		llm_fwd_free(llm_fwd *f);

/*
 * Route products with float weights (F32, F16, BF16) over at least min_rows
 * batch rows through sgemm (F16/BF16 rows are widened 64 at a time); the
 * quantized kernels beat OpenBLAS, so quantized weights never take this
 * path.  NULL turns it off.
 */
llm_status	llm_fwd_set_blas(llm_fwd *f, llm_sgemm_nt_fn sgemm, int min_rows,
							 llm_error *err);

typedef struct llm_fwd_batch
{
	int			n;				/* rows, <= max_tokens */
	const int32_t *tokens;		/* (n) */
	const int32_t *pos;			/* (n) position of each row */
	llm_block_table *const *bt; /* (n) pages prepared for pos */
	int			n_logits;		/* rows that need logits */
	const int32_t *logit_rows;	/* (n_logits) batch row indexes */
} llm_fwd_batch;

/*
 * Re-rotate the keys of cache positions [from, to) of bt as if each sat
 * delta positions earlier (the context shift of attention sinks).  The
 * pages must be writable (not shared).
 */
void		llm_fwd_shift_keys(llm_fwd *f, const llm_block_table *bt,
							   int32_t from, int32_t to, int32_t delta);

/* Run the batch; logits is (n_logits, n_vocab). */
llm_status	llm_forward(llm_fwd *f, const llm_fwd_batch *b, float *logits,
						llm_error *err);

#endif							/* LLM_CORE_FORWARD_H */
