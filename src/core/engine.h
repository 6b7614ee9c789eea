/*
 * engine.h — the inference engine: one model, many sequences, one batched
 * forward step at a time.
 *
 * This is the whole interface the PostgreSQL worker (and llm-cli) uses:
 *
 *   llm_engine_open()     map the GGUF, build vocab, carve the KV page pool
 *                         out of caller memory (shared memory in PostgreSQL)
 *   llm_seq_add()         queue a tokenized prompt with sampling settings
 *   llm_engine_step()     admit waiting sequences within the token budget,
 *                         prefill (in chunks) and decode every running
 *                         sequence in one batched forward pass, sample
 *   llm_seq_take()        tokens a sequence produced since the last take
 *   llm_seq_remove()      finish or cancel: frees its KV pages at once
 *
 * The engine is single-threaded from the caller's point of view (one
 * caller thread); it uses its own pool of n_threads workers for the maths.
 * No function here touches PostgreSQL, exits or aborts.
 */
#ifndef LLM_CORE_ENGINE_H
#define LLM_CORE_ENGINE_H

#include "common.h"
#include "sampler.h"
#include "tokenizer.h"

typedef struct llm_engine llm_engine;
typedef int32_t llm_seq_id;

typedef struct llm_engine_config
{
	const char *model_path;
	int			n_threads;		/* >= 1 */
	int			n_ctx;			/* max tokens per sequence; 0 = model's */
	int			max_seqs;		/* sequences held at once (running+waiting) */
	int			max_batch_tokens;	/* tokens per forward step */
	/* paged KV cache */
	void	   *kv_mem;			/* caller memory for the page pool, or NULL */
	size_t		kv_mem_size;	/* bytes (allocated by the engine if kv_mem
								 * is NULL) */
	int			kv_block_size;	/* tokens per page */
	uint32_t	kv_type;		/* LLM_F16 or LLM_F32 (quant.h) */
	/*
	 * > 0: prefill chunks of at least this many rows use OpenBLAS sgemm
	 * (loaded on demand, see blas.h); results then depend on batching.
	 */
	int			blas_min_rows;
	/*
	 * Tokens the matrix kernels take together (a step of 18 rows costs
	 * about as much as one of 32 when they go 16 at a time): with decode
	 * rows in a step, a prefill chunk that would take it past one group but
	 * not two stops at the group or waits a step, and one that would end it
	 * just past a later multiple stops on the multiple (see trim_chunk).
	 * 0 = from the kernels (llm_matmul_token_group: 16 for quantized
	 * weights on the AMX level, else 1 = never trim).
	 */
	int			row_group;
	/*
	 * Pack the quantized matrices for decode on CPUs with AMX
	 * (llm_model_pack): faster decode, the matrices' size again in memory.
	 * Default true.  pack_limit: the most bytes the copies may take (0:
	 * half the memory available); above it the model opens unpacked
	 * (llm_model_info.pack_skipped_bytes).
	 */
	bool		pack_weights;
	size_t		pack_limit;
} llm_engine_config;

llm_engine_config llm_engine_config_default(void);

typedef struct llm_model_info
{
	char		arch[32];		/* "llama", "qwen2" */
	char		name[128];		/* general.name or file name */
	int32_t		n_vocab;
	int32_t		n_ctx_train;
	int32_t		n_embd;
	int32_t		n_layer;
	int32_t		n_head;
	int32_t		n_head_kv;
	int32_t		n_ff;
	float		rope_theta;
	uint64_t	n_params;
	uint64_t	n_bytes;		/* bytes of tensor data */
	uint64_t	packed_bytes;	/* bytes of packed matrix copies (pack_weights) */
	uint64_t	pack_skipped_bytes; /* their size when over pack_limit (not
									 * packed), else 0 */
	uint32_t	file_type;		/* general.file_type, or -1 */
	int32_t		n_tensors_by_type[32];	/* index: ggml type id */
	int32_t		bos, eos;
	const char *chat_template;	/* tokenizer.chat_template, NUL-terminated,
								 * or NULL */
} llm_model_info;

llm_status	llm_engine_open(const llm_engine_config *cfg, llm_engine **out,
							llm_error *err);
void		llm_engine_close(llm_engine *e);

const llm_model_info *llm_engine_info(const llm_engine *e);
const llm_vocab *llm_engine_vocab(const llm_engine *e);
int			llm_engine_n_ctx(const llm_engine *e);

typedef enum llm_seq_state
{
	LLM_SEQ_WAITING = 0,		/* queued, no KV pages yet */
	LLM_SEQ_RUNNING = 1,		/* prefilling or decoding */
	LLM_SEQ_DONE = 2,			/* hit EOS or max_new_tokens */
	LLM_SEQ_FAILED = 3			/* see llm_seq_error() */
} llm_seq_state;

/*
 * What happens when a sequence would outgrow the context:
 *   ERROR  llm_seq_add refuses prompt + max_new_tokens > n_ctx;
 *   SINKS  StreamingLLM: the first page (the attention sink) stays, the
 *          oldest pages after it are dropped and the kept keys re-rotated
 *          to their new positions, so generation runs past the context.
 */
typedef enum llm_overflow
{
	LLM_OVERFLOW_ERROR = 0,
	LLM_OVERFLOW_SINKS = 1
} llm_overflow;

typedef struct llm_seq_params
{
	llm_sampling sampling;
	int32_t		max_new_tokens;
	bool		stop_at_eog;	/* stop on end-of-generation tokens */
	llm_overflow overflow;
} llm_seq_params;

/*
 * Queue a prompt (token ids, usually with BOS).  Fails with LLM_ERR_RANGE
 * if prompt + max_new_tokens exceeds the context, LLM_ERR_FULL if max_seqs
 * sequences are already held.
 */
llm_status	llm_seq_add(llm_engine *e, const int32_t *prompt, int n_prompt,
						const llm_seq_params *p, llm_seq_id *id,
						llm_error *err);

/*
 * Queue n samples of one prompt (llm_generate_n).  The first sequence
 * computes the prompt; the others wait for it, then share its KV pages
 * (copy-on-write: the shared last page is copied when they write into it)
 * and sample with seed + i.  ids receives n sequence ids.
 */
llm_status	llm_seq_add_n(llm_engine *e, const int32_t *prompt, int n_prompt,
						  const llm_seq_params *p, int n, llm_seq_id *ids,
						  llm_error *err);

/*
 * Forget the last n tokens of a running or waiting sequence (speculative
 * decoding's rollback): its block table is truncated, pages past the new
 * end are released.  At least the first token stays.
 */
llm_status	llm_seq_rollback(llm_engine *e, llm_seq_id id, int n, llm_error *err);

typedef struct llm_seq_info
{
	llm_seq_state state;
	int32_t		n_prompt;
	int32_t		n_generated;
	int32_t		n_computed;		/* positions with K/V in the cache */
	int32_t		pages;			/* pages in its block table */
	int32_t		shared_pages;	/* of which shared with other sequences */
} llm_seq_info;

bool		llm_seq_get_info(const llm_engine *e, llm_seq_id id, llm_seq_info *info);

/* One scheduling step; returns the number of tokens processed in *n. */
llm_status	llm_engine_step(llm_engine *e, int *n_processed, llm_error *err);

/* Is there anything to do (waiting or running sequences)? */
bool		llm_engine_busy(const llm_engine *e);

llm_seq_state llm_seq_status(const llm_engine *e, llm_seq_id id);
const llm_error *llm_seq_error(const llm_engine *e, llm_seq_id id);

/* Copy up to max new tokens out; returns how many were copied. */
int			llm_seq_take(llm_engine *e, llm_seq_id id, int32_t *out, int max);

/* Cancel or release; frees KV pages.  Safe on unknown ids. */
void		llm_seq_remove(llm_engine *e, llm_seq_id id);

/* KV cache and scheduler counters, for the statistics views. */
typedef struct llm_engine_stats
{
	int64_t		pages_total;
	int64_t		pages_used;		/* referenced by a sequence */
	int64_t		pages_cached;	/* unreferenced, kept for prefix reuse */
	int64_t		pages_free;
	int64_t		page_bytes;
	int64_t		slots_allocated;	/* token slots in used pages */
	int64_t		slots_filled;	/* token slots holding a token */
	int64_t		prefix_queries;
	int64_t		prefix_hits;	/* pages reused from the prefix cache */
	int64_t		evictions;
	int64_t		preemptions;
	int32_t		seqs_running;
	int32_t		seqs_waiting;
} llm_engine_stats;

void		llm_engine_get_stats(const llm_engine *e, llm_engine_stats *st);

/*
 * Run a batch of logits directly (tests, benchmarks, CLI "bench"): process
 * n tokens of one fresh sequence starting at position 0 and return the
 * logits of the last one in logits[n_vocab].
 */
llm_status	llm_engine_eval(llm_engine *e, const int32_t *tokens, int n,
							float *logits, llm_error *err);

#endif							/* LLM_CORE_ENGINE_H */
