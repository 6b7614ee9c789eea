/*
 * model.h — a Llama-family model's hyperparameters and weights, read from a
 * memory-mapped GGUF file.
 *
 * Supported: general.architecture "llama" (Llama 2/3, TinyLlama, Mistral,
 * SmolLM; grouped-query attention; tied or separate output) and "qwen2"
 * (q/k/v biases, NeoX-style RoPE).  Matrices stay in the mapping in their
 * stored type; 1-D tensors (norms, biases) are converted to F32 copies when
 * stored otherwise.
 */
#ifndef LLM_CORE_MODEL_H
#define LLM_CORE_MODEL_H

#include "common.h"
#include "gguf.h"
#include "tokenizer.h"

typedef struct llm_weight
{
	const void *data;			/* (rows, cols) row-major, type `type` */
	uint32_t	type;			/* ggml type id */
	int64_t		rows;			/* output features (ne[1]) */
	int64_t		cols;			/* input features (ne[0]) */
	size_t		row_bytes;
	const void *packed;			/* quant_packed copy for the AMX level, or NULL */
} llm_weight;

typedef struct llm_layer
{
	const float *attn_norm;		/* (dim) */
	llm_weight	wq;				/* (n_head * head_dim, dim) */
	llm_weight	wk;				/* (n_head_kv * head_dim, dim) */
	llm_weight	wv;				/* (n_head_kv * head_dim, dim) */
	llm_weight	wo;				/* (dim, n_head * head_dim) */
	const float *bq,
			   *bk,
			   *bv;				/* qwen2 biases or NULL */
	const float *ffn_norm;		/* (dim) */
	llm_weight	w_gate;			/* (n_ff, dim) */
	llm_weight	w_up;			/* (n_ff, dim) */
	llm_weight	w_down;			/* (dim, n_ff) */
} llm_layer;

typedef enum llm_rope_style
{
	LLM_ROPE_NORM = 0,			/* rotate adjacent pairs (llama GGUF) */
	LLM_ROPE_NEOX = 1			/* rotate (i, i + d/2) pairs (qwen2) */
} llm_rope_style;

typedef struct llm_hparams
{
	char		arch[32];
	int32_t		n_vocab;
	int32_t		n_ctx_train;
	int32_t		n_embd;			/* dim */
	int32_t		n_layer;
	int32_t		n_head;
	int32_t		n_head_kv;
	int32_t		head_dim;
	int32_t		n_ff;
	int32_t		n_rot;			/* rope dimension count */
	float		rope_theta;
	float		rope_freq_scale;	/* 1 / linear scaling factor */
	float		norm_eps;
	llm_rope_style rope_style;
} llm_hparams;

typedef struct llm_model
{
	gguf_file  *gguf;
	llm_hparams hp;
	llm_weight	tok_embd;		/* (n_vocab, dim) */
	llm_weight	output;			/* (n_vocab, dim), may alias tok_embd */
	const float *output_norm;	/* (dim) */
	llm_layer  *layers;			/* (n_layer) */
	llm_vocab  *vocab;
	char		name[128];
	uint64_t	n_params;
	uint64_t	n_bytes;
	int64_t		file_type;
	int32_t		n_tensors_by_type[32];
	uint64_t	key;			/* identifies the weights (prefix cache) */
	char	   *chat_template;	/* NUL-terminated copy or NULL */
	float	  **owned;			/* F32 copies of 1-D tensors */
	int			n_owned;
	void	   *packed;			/* the buffer holding the packed copies */
	int			n_packed;		/* matrices packed */
	size_t		packed_bytes;
	size_t		pack_skipped;	/* bytes the copies would have taken when
								 * llm_model_pack left them out (limit) */
} llm_model;

llm_status	llm_model_load(const char *path, llm_model **out, llm_error *err);
void		llm_model_free(llm_model *m);

/*
 * At the AMX level (quant_active_isa(): a CPU with AMX, not capped by
 * LLM_ISA), give each Q8_0, Q4_0, Q4_K and Q6_K matrix of a fitting shape
 * a packed copy (quant_packed_pack, w->packed): decode and batched decode
 * (up to quant_packed_max_tokens rows) then read it instead of the file's
 * rows (see quant_packed_amx.c).  The copies are anonymous
 * memory (m->packed_bytes), which the kernel cannot reclaim as it can the
 * file's pages.  Q4_0, Q4_K and Q6_K copies serve prefill too
 * (quant_packed_only), so their file pages are released from the process;
 * Q8_0 rows stay mapped for prefill, which reads them, so Q8_0 matrices
 * cost their size twice.  When the copies would
 * take more than limit bytes (0: half the memory Linux reports available,
 * MemAvailable; no limit when it reports none), nothing is packed and
 * m->pack_skipped says how much they would have taken.  The engine calls
 * it; tools that only read metadata or the vocabulary do not.
 */
llm_status	llm_model_pack(llm_model *m, size_t limit, llm_error *err);

#endif							/* LLM_CORE_MODEL_H */
