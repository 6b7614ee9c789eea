/*
 * engine.c — sequences, the continuous-batching scheduler and the prefix
 * cache, on top of the forward pass and the KV page pool.
 *
 * Scheduling (one llm_engine_step):
 *   1. plan: running sequences in arrival order, decoding ones first (one
 *      row each), then prefilling ones (a chunk each), then waiting ones are
 *      admitted — all within max_batch_tokens rows; a prefill chunk that
 *      would take a step with decode rows just past the kernels' row group
 *      (16 tokens for AMX tiles) stops at it or waits a step (trim_chunk);
 *   2. pages: each planned chunk gets its KV pages (llm_bt_prepare_write).
 *      When the pool is full, the newest running sequence is preempted: its
 *      pages are released (full ones stay in the prefix cache) and it goes
 *      back to waiting, to be recomputed later.  A sequence that cannot get
 *      pages even alone fails with LLM_ERR_FULL;
 *   3. one batched forward pass; rows that end a sequence's known tokens
 *      produce logits, which are sampled on the thread pool, a sequence
 *      per task (sample_step);
 *   4. newly full pages are published in the prefix cache under a chained
 *      hash of their tokens, so later prompts that share the prefix reuse
 *      them (admission looks the prompt's full pages up before prefill).
 *
 * A sequence's result never depends on what else is in the batch: the
 * forward pass is batch-invariant and each sequence has its own sampler.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "kv.h"
#include "model.h"
#include "quant.h"
#include "threadpool.h"

#define ENGINE_MAX_SEQS 4096
#define Min(a, b) ((a) < (b) ? (a) : (b))

typedef struct seq
{
	bool		used;
	llm_seq_id	id;
	llm_seq_state state;
	uint64_t	order;			/* arrival number: FCFS and preemption */
	int32_t    *tokens;			/* (cap) prompt then generated tokens */
	int			n_tokens;
	int			cap;
	int			n_prompt;
	int			n_computed;		/* tokens whose K/V are (or were) in bt */
	int			shift;			/* tokens dropped after the sink page:
								 * token i >= sink sits at cache position
								 * i - shift */
	int			n_taken;		/* generated tokens handed out */
	llm_block_table bt;
	int			n_hashed;		/* leading pages published/looked up */
	uint64_t	last_hash;		/* hash of page n_hashed - 1 */
	llm_sampler *smp;
	llm_seq_params params;
	uint64_t	preempted_at;	/* step number of the last preemption */
	llm_seq_id	leader;			/* llm_seq_add_n: share this one's prompt */
	llm_error	err;
} seq;

struct llm_engine
{
	llm_engine_config cfg;
	llm_model  *model;
	llm_model_info info;
	llm_pool   *pool;
	llm_kv_pool *kv;
	void	   *kv_owned;		/* when the engine allocated the pool */
	llm_fwd    *fwd;
	int			n_ctx;
	int			row_group;		/* see llm_engine_config */
	seq		   *seqs;			/* (max_seqs) */
	llm_seq_id	next_id;
	uint64_t	next_order;
	int64_t		preemptions;
	uint64_t	step;			/* steps taken, from 1 */
	/* per-step scratch */
	int32_t    *b_tokens,
			   *b_pos,
			   *b_logit_rows;
	llm_block_table **b_bt;
	float	   *logits;			/* (max_seqs, n_vocab) */
	seq		  **plan;			/* (max_seqs) */
	int		   *plan_rows;		/* (max_seqs) */
	seq		  **sampled;		/* (max_seqs) sequences given logits */
	int32_t    *sampled_tok;	/* (max_seqs) their new tokens */
};

llm_engine_config
llm_engine_config_default(void)
{
	llm_engine_config c = {0};

	c.n_threads = 1;
	c.max_seqs = 16;
	c.max_batch_tokens = 512;
	c.kv_mem_size = 64 << 20;
	c.kv_block_size = 16;
	c.kv_type = LLM_F16;
	c.pack_weights = true;
	return c;
}

/* Fill the public model facts. */
static void
fill_info(llm_engine *e)
{
	llm_model  *m = e->model;
	llm_model_info *i = &e->info;

	memset(i, 0, sizeof(*i));
	snprintf(i->arch, sizeof(i->arch), "%s", m->hp.arch);
	snprintf(i->name, sizeof(i->name), "%s", m->name);
	i->n_vocab = m->hp.n_vocab;
	i->n_ctx_train = m->hp.n_ctx_train;
	i->n_embd = m->hp.n_embd;
	i->n_layer = m->hp.n_layer;
	i->n_head = m->hp.n_head;
	i->n_head_kv = m->hp.n_head_kv;
	i->n_ff = m->hp.n_ff;
	i->rope_theta = m->hp.rope_theta;
	i->n_params = m->n_params;
	i->n_bytes = m->n_bytes;
	i->packed_bytes = m->packed_bytes;
	i->pack_skipped_bytes = m->pack_skipped;
	i->file_type = (uint32_t) m->file_type;
	memcpy(i->n_tensors_by_type, m->n_tensors_by_type, sizeof(i->n_tensors_by_type));
	i->bos = llm_vocab_bos(m->vocab);
	i->eos = llm_vocab_eos(m->vocab);
	i->chat_template = m->chat_template;
}

/* Validate the configuration against the model. */
static llm_status
check_config(const llm_engine_config *c, llm_error *err)
{
	if (c->model_path == NULL || c->model_path[0] == '\0')
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "no model file is configured");
	if (c->n_threads < 1 || c->n_threads > 1024)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "thread count %d is out of range (1 to 1024)",
						  c->n_threads);
	if (c->max_seqs < 1 || c->max_seqs > ENGINE_MAX_SEQS)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "max_seqs %d is out of range (1 to %d)",
						  c->max_seqs, ENGINE_MAX_SEQS);
	if (c->max_batch_tokens < 1 || c->max_batch_tokens > 65536)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "max_batch_tokens %d is out of range (1 to 65536)", c->max_batch_tokens);
	if (c->kv_block_size < 1 || c->kv_block_size > 1024)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block size %d is out of range (1 to 1024)",
						  c->kv_block_size);
	if (c->kv_type != LLM_F16 && c->kv_type != LLM_F32)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv cache type must be f16 or f32");
	if (c->n_ctx < 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "context size must not be negative");
	if (c->row_group < 0 || c->row_group > 1024)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "row group %d is out of range (0 to 1024)",
						  c->row_group);
	return LLM_OK;
}

llm_status
llm_engine_open(const llm_engine_config *cfg, llm_engine **out, llm_error *err)
{
	llm_engine *e;
	llm_status	rc;
	size_t		page_bytes;
	int			n_vocab;
	bool		ok = true;

	*out = NULL;
	if ((rc = check_config(cfg, err)) != LLM_OK)
		return rc;
	/* kernels: the best level, capped by $LLM_ISA, unless a caller chose one */
	(void) quant_active_isa();
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	e->cfg = *cfg;
	e->cfg.model_path = NULL;	/* not kept: the caller owns the string */
	e->next_id = 1;

	if ((rc = llm_model_load(cfg->model_path, &e->model, err)) != LLM_OK ||
		(cfg->pack_weights && (rc = llm_model_pack(e->model, cfg->pack_limit, err)) != LLM_OK))
		goto fail;
	fill_info(e);
	e->n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : e->model->hp.n_ctx_train;
	e->row_group = cfg->row_group > 0 ? cfg->row_group :
		e->model->hp.n_layer > 0 ? llm_matmul_token_group(e->model->layers[0].w_gate.type) : 1;

	page_bytes = llm_fwd_page_bytes(e->model, cfg->kv_block_size, cfg->kv_type);
	if (cfg->kv_mem == NULL)
	{
		e->kv_owned = aligned_alloc(64, (cfg->kv_mem_size + 63) & ~(size_t) 63);
		if (e->kv_owned == NULL)
		{
			rc = llm_errorf(err, LLM_ERR_NOMEM, "out of memory allocating a %zu-byte kv cache",
							cfg->kv_mem_size);
			goto fail;
		}
	}
	if ((rc = llm_kv_pool_init(cfg->kv_mem ? cfg->kv_mem : e->kv_owned, cfg->kv_mem_size,
							   page_bytes, cfg->kv_block_size, &e->kv, err)) != LLM_OK)
		goto fail;
	if ((rc = llm_pool_new(cfg->n_threads, &e->pool, err)) != LLM_OK)
		goto fail;
	if ((rc = llm_fwd_new(e->model, e->pool, e->kv, cfg->kv_type, cfg->max_batch_tokens,
						  e->n_ctx, &e->fwd, err)) != LLM_OK)
		goto fail;
	if (cfg->blas_min_rows > 0)
	{
		llm_sgemm_nt_fn sgemm = llm_blas_load(err);

		if (sgemm == NULL)
		{
			rc = err ? err->code : LLM_ERR_UNSUPPORTED;
			goto fail;
		}
		if ((rc = llm_fwd_set_blas(e->fwd, sgemm, cfg->blas_min_rows, err)) != LLM_OK)
			goto fail;
	}

	n_vocab = e->model->hp.n_vocab;
	e->seqs = calloc(cfg->max_seqs, sizeof(seq));
	e->b_tokens = calloc(cfg->max_batch_tokens, sizeof(int32_t));
	e->b_pos = calloc(cfg->max_batch_tokens, sizeof(int32_t));
	e->b_logit_rows = calloc(cfg->max_batch_tokens, sizeof(int32_t));
	e->b_bt = calloc(cfg->max_batch_tokens, sizeof(llm_block_table *));
	e->logits = calloc((size_t) cfg->max_seqs * n_vocab, sizeof(float));
	e->plan = calloc(cfg->max_seqs, sizeof(seq *));
	e->plan_rows = calloc(cfg->max_seqs, sizeof(int));
	e->sampled = calloc(cfg->max_seqs, sizeof(seq *));
	e->sampled_tok = calloc(cfg->max_seqs, sizeof(int32_t));
	ok = e->seqs && e->b_tokens && e->b_pos && e->b_logit_rows && e->b_bt &&
		e->logits && e->plan && e->plan_rows && e->sampled && e->sampled_tok;
	if (!ok)
	{
		rc = llm_errorf(err, LLM_ERR_NOMEM, "out of memory allocating engine buffers");
		goto fail;
	}
	*out = e;
	return LLM_OK;

fail:
	llm_engine_close(e);
	return rc;
}

/* Drop everything a sequence holds and mark its slot free. */
static void
seq_clear(llm_engine *e, seq *s)
{
	if (e->kv)
		llm_bt_release(e->kv, &s->bt);
	llm_sampler_free(s->smp);
	free(s->tokens);
	memset(s, 0, sizeof(*s));
}

void
llm_engine_close(llm_engine *e)
{
	if (e == NULL)
		return;
	if (e->seqs)
		for (int i = 0; i < e->cfg.max_seqs; i++)
			if (e->seqs[i].used)
				seq_clear(e, &e->seqs[i]);
	llm_fwd_free(e->fwd);
	llm_pool_free(e->pool);
	free(e->kv_owned);
	llm_model_free(e->model);
	free(e->seqs);
	free(e->b_tokens);
	free(e->b_pos);
	free(e->b_logit_rows);
	free(e->b_bt);
	free(e->logits);
	free(e->plan);
	free(e->plan_rows);
	free(e->sampled);
	free(e->sampled_tok);
	free(e);
}

const llm_model_info *
llm_engine_info(const llm_engine *e)
{
	return &e->info;
}

const llm_vocab *
llm_engine_vocab(const llm_engine *e)
{
	return e->model->vocab;
}

int
llm_engine_n_ctx(const llm_engine *e)
{
	return e->n_ctx;
}

/* The slot of a live sequence id, or NULL. */
static seq *
seq_find(const llm_engine *e, llm_seq_id id)
{
	for (int i = 0; i < e->cfg.max_seqs; i++)
		if (e->seqs[i].used && e->seqs[i].id == id)
			return &e->seqs[i];
	return NULL;
}

llm_status
llm_seq_add(llm_engine *e, const int32_t *prompt, int n_prompt,
			const llm_seq_params *p, llm_seq_id *id, llm_error *err)
{
	seq		   *s = NULL;
	llm_status	rc;
	int			n_vocab = e->model->hp.n_vocab;

	if (n_prompt < 1)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "the prompt has no tokens");
	if (p->max_new_tokens < 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "max_new_tokens must not be negative");
	if (p->overflow == LLM_OVERFLOW_SINKS)
	{
		if (e->n_ctx < 4 * e->cfg.kv_block_size)
			return llm_errorf(err, LLM_ERR_RANGE,
							  "attention sinks need a context of at least 4 kv pages (%d tokens)",
							  4 * e->cfg.kv_block_size);
		if (n_prompt > e->n_ctx)
			return llm_errorf(err, LLM_ERR_RANGE,
							  "prompt of %d tokens exceeds the context of %d tokens",
							  n_prompt, e->n_ctx);
		if ((int64_t) n_prompt + p->max_new_tokens > INT32_MAX / 2)
			return llm_errorf(err, LLM_ERR_RANGE, "max_new_tokens %d is too large",
							  p->max_new_tokens);
	}
	else if ((int64_t) n_prompt + p->max_new_tokens > e->n_ctx)
		return llm_errorf(err, LLM_ERR_RANGE,
						  "prompt of %d tokens plus %d new tokens exceeds the context of %d tokens",
						  n_prompt, p->max_new_tokens, e->n_ctx);
	for (int i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || prompt[i] >= n_vocab)
			return llm_errorf(err, LLM_ERR_RANGE, "token id %d is out of range (vocabulary of %d)",
							  prompt[i], n_vocab);
	if ((rc = llm_sampling_validate(&p->sampling, err)) != LLM_OK)
		return rc;
	for (int i = 0; i < e->cfg.max_seqs; i++)
		if (!e->seqs[i].used)
		{
			s = &e->seqs[i];
			break;
		}
	if (s == NULL)
		return llm_errorf(err, LLM_ERR_FULL, "all %d sequence slots are in use", e->cfg.max_seqs);

	memset(s, 0, sizeof(*s));
	s->cap = n_prompt + p->max_new_tokens;
	s->tokens = malloc((size_t) s->cap * sizeof(int32_t));
	if (s->tokens == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	if ((rc = llm_sampler_new(&p->sampling, n_vocab, &s->smp, err)) != LLM_OK)
	{
		free(s->tokens);
		memset(s, 0, sizeof(*s));
		return rc;
	}
	memcpy(s->tokens, prompt, (size_t) n_prompt * sizeof(int32_t));
	for (int i = 0; i < n_prompt; i++)
		llm_sampler_accept(s->smp, prompt[i]);
	s->n_tokens = s->n_prompt = n_prompt;
	s->params = *p;
	s->used = true;
	s->id = e->next_id++;
	if (e->next_id <= 0)
		e->next_id = 1;
	s->order = e->next_order++;
	s->state = p->max_new_tokens == 0 ? LLM_SEQ_DONE : LLM_SEQ_WAITING;
	llm_bt_init(&s->bt);
	*id = s->id;
	return LLM_OK;
}

/* Reuse the longest cached prefix of a waiting sequence's tokens. */
static void
admit_prefix(llm_engine *e, seq *s)
{
	int32_t		bs = e->cfg.kv_block_size;
	int			n_full = (s->n_tokens - 1) / bs;	/* keep >= 1 token to compute */

	s->n_hashed = 0;
	s->last_hash = 0;
	for (int j = 0; j < n_full; j++)
	{
		uint64_t	h = llm_kv_block_hash(s->last_hash, s->tokens + (size_t) j * bs, bs,
										  e->model->key);
		int32_t		page = llm_kv_lookup(e->kv, h);

		if (page < 0)
			break;
		if (llm_bt_append_page(e->kv, &s->bt, page, NULL) != LLM_OK)
		{
			llm_kv_page_unref(e->kv, page);	/* the reference stays ours */
			break;
		}
		s->n_hashed++;
		s->last_hash = h;
	}
	s->n_computed = s->n_hashed * bs;
	s->bt.n_tokens = s->n_computed;
}

/* Recompute the hash chain of the first n_full pages of s. */
static void
rehash(llm_engine *e, seq *s, int n_full)
{
	int32_t		bs = e->cfg.kv_block_size;

	s->n_hashed = 0;
	s->last_hash = 0;
	while (s->n_hashed < n_full)
	{
		s->last_hash = llm_kv_block_hash(s->last_hash, s->tokens + (size_t) s->n_hashed * bs,
										 bs, e->model->key);
		s->n_hashed++;
	}
}

/*
 * Share the leader's pages for all but the last prompt token, which s
 * computes itself (writing into the shared page copies it first).
 */
static bool
admit_fork(llm_engine *e, seq *s, seq *leader)
{
	llm_error	err;

	if (llm_bt_fork(e->kv, &leader->bt, &s->bt, &err) != LLM_OK)
	{
		llm_bt_init(&s->bt);
		return false;
	}
	llm_bt_truncate(e->kv, &s->bt, s->n_prompt - 1);
	s->n_computed = s->n_prompt - 1;
	rehash(e, s, s->n_computed / e->cfg.kv_block_size);
	return true;
}

/* Publish the sequence's newly full pages in the prefix cache. */
static void
publish_pages(llm_engine *e, seq *s)
{
	int32_t		bs = e->cfg.kv_block_size;

	if (s->shift > 0)
		return;					/* shifted keys are not the prefix's keys */
	while ((s->n_hashed + 1) * bs <= s->n_computed)
	{
		uint64_t	h = llm_kv_block_hash(s->last_hash, s->tokens + (size_t) s->n_hashed * bs,
										  bs, e->model->key);

		llm_kv_publish(e->kv, s->bt.pages[s->n_hashed], h);
		s->last_hash = h;
		s->n_hashed++;
	}
}

/* Send a running sequence back to waiting; its pages go (to the cache). */
static void
preempt(llm_engine *e, seq *s)
{
	llm_bt_release(e->kv, &s->bt);
	llm_bt_init(&s->bt);
	s->n_computed = 0;
	s->shift = 0;
	s->n_hashed = 0;
	s->state = LLM_SEQ_WAITING;
	s->preempted_at = e->step;
	e->preemptions++;
}

/* A finished sequence needs no K/V: its pages go back (full ones cached). */
static void
seq_finish(llm_engine *e, seq *s, llm_seq_state state)
{
	s->state = state;
	llm_bt_release(e->kv, &s->bt);
	llm_bt_init(&s->bt);
}

static void
seq_fail(llm_engine *e, seq *s, const llm_error *err)
{
	s->err = *err;
	seq_finish(e, s, LLM_SEQ_FAILED);
}

/* Newest running sequence newer than s (planned or not), or NULL. */
static seq *
pick_victim(llm_engine *e, const seq *s)
{
	seq		   *v = NULL;

	for (int i = 0; i < e->cfg.max_seqs; i++)
	{
		seq		   *c = &e->seqs[i];

		if (c->used && c != s && c->state == LLM_SEQ_RUNNING && c->order > s->order &&
			c->bt.n_pages > 0 && (v == NULL || c->order > v->order))
			v = c;
	}
	return v;
}

/* Count running sequences other than s that hold pages. */
static int
others_holding(llm_engine *e, const seq *s)
{
	int			n = 0;

	for (int i = 0; i < e->cfg.max_seqs; i++)
		if (e->seqs[i].used && &e->seqs[i] != s && e->seqs[i].bt.n_pages > 0)
			n++;
	return n;
}

/*
 * Get pages for rows [n_computed, n_computed + rows) of s, preempting newer
 * sequences when the pool is full.  Returns false when s must sit out
 * this step (or has failed).
 */
static bool
reserve_pages(llm_engine *e, seq *s, int rows, int *n_plan)
{
	llm_error	err;

	for (;;)
	{
		seq		   *victim;

		if (llm_bt_prepare_write(e->kv, &s->bt, s->n_computed - s->shift, rows, &err) == LLM_OK)
			return true;
		if (err.code != LLM_ERR_FULL)
		{
			seq_fail(e, s, &err);
			return false;
		}
		victim = pick_victim(e, s);
		if (victim == NULL)
		{
			if (others_holding(e, s) == 0)
			{
				llm_errorf(&err, LLM_ERR_FULL,
						   "the kv cache (%d pages of %d tokens) cannot hold this sequence of %d tokens",
						   llm_kv_n_pages(e->kv), e->cfg.kv_block_size, s->n_computed + rows);
				seq_fail(e, s, &err);
			}
			else if (s->bt.n_pages > 0 && s->n_computed == 0)
				preempt(e, s);	/* give back what we hold, retry later */
			return false;
		}
		for (int i = 0; i < *n_plan; i++)
			if (e->plan[i] == victim)
			{
				memmove(&e->plan[i], &e->plan[i + 1], (*n_plan - i - 1) * sizeof(seq *));
				memmove(&e->plan_rows[i], &e->plan_rows[i + 1], (*n_plan - i - 1) * sizeof(int));
				(*n_plan)--;
				break;
			}
		preempt(e, victim);
	}
}

/*
 * Attention sinks: drop n_drop pages after the sink page (cache positions
 * [bs, bs + n_drop * bs)), move the rest down and re-rotate their keys.
 * Kept pages that are shared or cached are copied first (copy-on-write).
 */
static bool
shift_out(llm_engine *e, seq *s, int n_drop)
{
	int32_t		bs = e->cfg.kv_block_size;
	llm_block_table *bt = &s->bt;
	llm_error	err;

	for (int j = 1; j <= n_drop; j++)
		llm_kv_page_unref(e->kv, bt->pages[j]);
	memmove(&bt->pages[1], &bt->pages[1 + n_drop],
			(size_t) (bt->n_pages - 1 - n_drop) * sizeof(int32_t));
	bt->n_pages -= n_drop;
	s->shift += n_drop * bs;
	bt->n_tokens = s->n_computed - s->shift;
	if (s->n_hashed > 1)
		s->n_hashed = 1;		/* only the sink page keeps its prefix key */
	if (bt->n_tokens > bs)
	{
		if (llm_bt_prepare_write(e->kv, bt, bs, bt->n_tokens - bs, &err) != LLM_OK)
		{
			seq_fail(e, s, &err);
			return false;
		}
		llm_fwd_shift_keys(e->fwd, bt, bs, bt->n_tokens, n_drop * bs);
	}
	return true;
}

/*
 * Rows of s to compute this step within budget.  With attention sinks,
 * make room first when the rows would pass the end of the context: drop
 * what is needed, but at least a quarter of the context, so shifts are rare.
 */
static int
fit_rows(llm_engine *e, seq *s, int budget)
{
	int32_t		bs = e->cfg.kv_block_size;
	int			pending = s->n_tokens - s->n_computed;
	int			rows = pending < budget ? pending : budget;
	int			cache = s->n_computed - s->shift;
	int			n_drop;

	if (s->params.overflow != LLM_OVERFLOW_SINKS)
		return rows;
	if (rows > e->n_ctx - 2 * bs)
		rows = e->n_ctx - 2 * bs;
	if (cache + rows <= e->n_ctx)
		return rows;
	n_drop = (cache + rows - e->n_ctx + bs - 1) / bs;
	if (n_drop < e->n_ctx / 4 / bs)
		n_drop = e->n_ctx / 4 / bs;
	if (n_drop > (cache - bs) / bs)
		n_drop = (cache - bs) / bs;
	if (n_drop < 1 || !shift_out(e, s, n_drop))
		return 0;
	return rows;
}

/*
 * Rows of a prefill chunk given `used` rows already in the step, of which
 * `decoding` are decode rows.  With fewer decode rows than a row group in
 * the step, a chunk that would take it past one group but not past two
 * stops at the group, or waits for the next step (0 rows) when the step
 * already fills it: the products take 16 tokens at a time on AMX, and one
 * more token is a second pass (Q8_0: the AMX kernels on the file's rows,
 * another copy of the weights; 110M model, two threads, steps of 16 rows
 * 7.7 ms, 17 rows 13.1, 32 rows 15.0), so a step of 17 to 32 rows costs
 * about two of 16 but carries the decode rows once, and the rest of the
 * chunk rides in the next step, which the decoding sequences need anyway.
 * Otherwise (larger steps, or a group of decode rows already), a chunk
 * that would end the step at most half a group past a multiple of the
 * group stops on the multiple.  Without decode rows a trimmed chunk would
 * be a step of its own, which costs more than the padding, so nothing is
 * trimmed; steps of at most one group, and chunks that would lose every
 * row past two groups, are left alone too.  The waits cannot starve a
 * sequence: only earlier sequences' prefill fills a step past its decode
 * rows, and plan_step gives no later sequence rows in a step where one
 * waited.
 */
static int
trim_chunk(const llm_engine *e, int used, int decoding, int rows)
{
	int			g = e->row_group,
				over = (used + rows) % g;

	if (g <= 1 || decoding == 0 || used + rows <= g)
		return rows;
	if (decoding < g && used + rows <= 2 * g)
		return used < g ? g - used : 0;
	if (over > 0 && over <= g / 2 && over < rows)
		return rows - over;
	return rows;
}

/* Sequences in a given state sorted by arrival (small n: insertion sort). */
static int
collect(llm_engine *e, llm_seq_state state, seq **out)
{
	int			n = 0;

	for (int i = 0; i < e->cfg.max_seqs; i++)
	{
		seq		   *s = &e->seqs[i];
		int			j;

		if (!s->used || s->state != state)
			continue;
		for (j = n; j > 0 && out[j - 1]->order > s->order; j--)
			out[j] = out[j - 1];
		out[j] = s;
		n++;
	}
	return n;
}

/* Decide which rows of which sequences go into this step's batch. */
static int
plan_step(llm_engine *e)
{
	seq		  **cand = malloc(sizeof(seq *) * e->cfg.max_seqs);
	int			budget = e->cfg.max_batch_tokens;
	int			n_plan = 0;
	int			decoding = 0;
	bool		waited = false; /* a prefill chunk waits (trim_chunk) */
	int			n;

	if (cand == NULL)
		return 0;
	/* pass 1: decoding sequences, one row each; pass 2: prefill chunks */
	for (int pass = 0; pass < 2; pass++)
	{
		n = collect(e, LLM_SEQ_RUNNING, cand);
		for (int i = 0; i < n && budget > 0; i++)
		{
			seq		   *s = cand[i];
			int			pending = s->n_tokens - s->n_computed;
			int			rows;

			if (s->state != LLM_SEQ_RUNNING || (pass == 0) != (pending == 1))
				continue;
			if ((rows = fit_rows(e, s, budget)) <= 0)
				continue;
			if (pass == 1 &&
				(rows = trim_chunk(e, e->cfg.max_batch_tokens - budget, decoding, rows)) <= 0)
			{
				waited = true;	/* FCFS: no later prefill this step */
				break;
			}
			if (!reserve_pages(e, s, rows, &n_plan))
				continue;
			e->plan[n_plan] = s;
			e->plan_rows[n_plan++] = rows;
			budget -= rows;
			decoding += pass == 0;
		}
	}
	/* pass 3: admit waiting sequences in arrival order */
	n = collect(e, LLM_SEQ_WAITING, cand);
	for (int i = 0; i < n && budget > 0 && !waited; i++)
	{
		seq		   *s = cand[i];
		int			rows;

		if (s->preempted_at == e->step)
			continue;			/* not back in the step that evicted it */
		if (s->leader != 0)
		{
			seq		   *l = seq_find(e, s->leader);

			if (l && (l->state == LLM_SEQ_WAITING ||
					  (l->state == LLM_SEQ_RUNNING && l->n_computed < s->n_prompt - 1)))
				continue;		/* the leader has not computed the prompt yet */
			s->leader = 0;
			if (l && l->state == LLM_SEQ_RUNNING && admit_fork(e, s, l))
				goto admitted;
		}
		admit_prefix(e, s);
admitted:
		s->state = LLM_SEQ_RUNNING;
		if ((rows = fit_rows(e, s, budget)) <= 0)
			continue;
		rows = trim_chunk(e, e->cfg.max_batch_tokens - budget, decoding, rows);
		if (rows <= 0)
			break;				/* next step; FCFS: nobody overtakes it */
		if (!reserve_pages(e, s, rows, &n_plan))
		{
			if (s->state == LLM_SEQ_FAILED)
				continue;
			if (s->state == LLM_SEQ_RUNNING)
			{
				/* no room yet: stay waiting, keep nothing */
				llm_bt_release(e->kv, &s->bt);
				llm_bt_init(&s->bt);
				s->n_computed = s->n_hashed = 0;
				s->state = LLM_SEQ_WAITING;
			}
			break;				/* FCFS: nobody overtakes it */
		}
		e->plan[n_plan] = s;
		e->plan_rows[n_plan++] = rows;
		budget -= rows;
	}
	free(cand);
	return n_plan;
}

/*
 * Sampling of one step's sequences (row k of logits is sampled[k]'s) on
 * the pool, a sequence at a time: each sequence has its own sampler, so
 * its token does not depend on which thread draws it.  With temperature,
 * top-k/top-p over a 32000-token vocabulary take ~0.3 ms a sequence, which
 * for 8 sequences on one thread was a fifth of a step.
 */
typedef struct sample_job
{
	seq		  **seqs;
	float	   *logits;			/* row k: seqs[k]'s (the sampler edits it) */
	int32_t    *toks;
	int			n;
	int32_t		n_vocab;
	atomic_llong next;
} sample_job;

static void
sample_worker(void *arg, int ith, int nth)
{
	sample_job *j = arg;
	int64_t		k,
				end;

	(void) ith;
	(void) nth;
	while (llm_pool_take(&j->next, j->n, 1, &k, &end))
		j->toks[k] = llm_sampler_sample(j->seqs[k]->smp, j->logits + (size_t) k * j->n_vocab);
}

/* Draw the tokens of the n sequences in e->sampled and update their state. */
static void
sample_step(llm_engine *e, int n)
{
	sample_job	j = {.seqs = e->sampled, .logits = e->logits, .toks = e->sampled_tok,
	.n = n, .n_vocab = e->model->hp.n_vocab};

	atomic_init(&j.next, 0);
	if (n == 1)
		sample_worker(&j, 0, 1);
	else if (n > 1)
		llm_pool_run(e->pool, sample_worker, &j);
	for (int k = 0; k < n; k++)
	{
		seq		   *s = e->sampled[k];
		int32_t		tok = e->sampled_tok[k];

		llm_sampler_accept(s->smp, tok);
		s->tokens[s->n_tokens++] = tok;
		if ((s->params.stop_at_eog && llm_vocab_is_eog(e->model->vocab, tok)) ||
			s->n_tokens - s->n_prompt >= s->params.max_new_tokens)
			seq_finish(e, s, LLM_SEQ_DONE);
	}
}

llm_status
llm_engine_step(llm_engine *e, int *n_processed, llm_error *err)
{
	int			n_plan;
	int			n = 0,
				n_logits = 0;
	llm_fwd_batch b;
	llm_status	rc;

	*n_processed = 0;
	e->step++;
	n_plan = plan_step(e);
	if (n_plan == 0)
		return LLM_OK;
	for (int i = 0; i < n_plan; i++)
	{
		seq		   *s = e->plan[i];

		for (int r = 0; r < e->plan_rows[i]; r++)
		{
			e->b_tokens[n] = s->tokens[s->n_computed + r];
			e->b_pos[n] = s->n_computed - s->shift + r;
			e->b_bt[n] = &s->bt;
			n++;
		}
		if (s->n_computed + e->plan_rows[i] == s->n_tokens)
			e->b_logit_rows[n_logits++] = n - 1;
	}
	b.n = n;
	b.tokens = e->b_tokens;
	b.pos = e->b_pos;
	b.bt = e->b_bt;
	b.n_logits = n_logits;
	b.logit_rows = e->b_logit_rows;
	if ((rc = llm_forward(e->fwd, &b, e->logits, err)) != LLM_OK)
	{
		for (int i = 0; i < n_plan; i++)
			seq_fail(e, e->plan[i], err);
		return rc;
	}

	n_logits = 0;
	for (int i = 0; i < n_plan; i++)
	{
		seq		   *s = e->plan[i];
		bool		last = s->n_computed + e->plan_rows[i] == s->n_tokens;

		s->n_computed += e->plan_rows[i];
		s->bt.n_tokens = s->n_computed - s->shift;
		publish_pages(e, s);
		if (last)
			e->sampled[n_logits++] = s;
	}
	sample_step(e, n_logits);
	*n_processed = n;
	return LLM_OK;
}

llm_status
llm_seq_add_n(llm_engine *e, const int32_t *prompt, int n_prompt,
			  const llm_seq_params *p, int n, llm_seq_id *ids, llm_error *err)
{
	int			free_slots = 0;
	llm_status	rc;

	if (n < 1 || n > e->cfg.max_seqs)
		return llm_errorf(err, LLM_ERR_RANGE, "%d samples requested; between 1 and %d are possible",
						  n, e->cfg.max_seqs);
	for (int i = 0; i < e->cfg.max_seqs; i++)
		free_slots += !e->seqs[i].used;
	if (free_slots < n)
		return llm_errorf(err, LLM_ERR_FULL, "%d sequence slots are free, %d are needed",
						  free_slots, n);
	for (int i = 0; i < n; i++)
	{
		llm_seq_params pi = *p;

		pi.sampling.seed = p->sampling.seed + (uint64_t) i;
		if ((rc = llm_seq_add(e, prompt, n_prompt, &pi, &ids[i], err)) != LLM_OK)
		{
			for (int j = 0; j < i; j++)
				llm_seq_remove(e, ids[j]);
			return rc;
		}
		if (i > 0 && n_prompt > 1)
			seq_find(e, ids[i])->leader = ids[0];
	}
	return LLM_OK;
}

llm_status
llm_seq_rollback(llm_engine *e, llm_seq_id id, int n, llm_error *err)
{
	seq		   *s = seq_find(e, id);
	int32_t		bs = e->cfg.kv_block_size;

	if (s == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "no sequence %d", id);
	if (s->state != LLM_SEQ_RUNNING && s->state != LLM_SEQ_WAITING)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "sequence %d has finished", id);
	if (n < 0 || n >= s->n_tokens)
		return llm_errorf(err, LLM_ERR_RANGE, "cannot roll back %d of %d tokens", n, s->n_tokens);
	if (s->shift > 0 && Min(s->n_computed, s->n_tokens - n - 1) - s->shift < bs)
		return llm_errorf(err, LLM_ERR_RANGE,
						  "cannot roll back past the attention-sink context shift");
	s->n_tokens -= n;
	if (s->n_prompt > s->n_tokens)
		s->n_prompt = s->n_tokens;
	if (s->n_taken > s->n_tokens - s->n_prompt)
		s->n_taken = s->n_tokens - s->n_prompt;
	if (s->n_computed > s->n_tokens - 1)
		s->n_computed = s->n_tokens - 1;
	llm_bt_truncate(e->kv, &s->bt, s->n_computed - s->shift);
	if (s->n_hashed > s->n_computed / bs)
		rehash(e, s, s->n_computed / bs);
	/* the forgotten tokens no longer count for the penalties */
	llm_sampler_set_history(s->smp, s->tokens, s->n_tokens);
	return LLM_OK;
}

bool
llm_seq_get_info(const llm_engine *e, llm_seq_id id, llm_seq_info *info)
{
	seq		   *s = seq_find(e, id);

	if (s == NULL)
		return false;
	info->state = s->state;
	info->n_prompt = s->n_prompt;
	info->n_generated = s->n_tokens - s->n_prompt;
	info->n_computed = s->n_computed;
	info->pages = s->bt.n_pages;
	info->shared_pages = 0;
	for (int i = 0; i < s->bt.n_pages; i++)
		info->shared_pages += llm_kv_page_refcount(e->kv, s->bt.pages[i]) > 1;
	return true;
}

bool
llm_engine_busy(const llm_engine *e)
{
	for (int i = 0; i < e->cfg.max_seqs; i++)
		if (e->seqs[i].used &&
			(e->seqs[i].state == LLM_SEQ_WAITING || e->seqs[i].state == LLM_SEQ_RUNNING))
			return true;
	return false;
}

llm_seq_state
llm_seq_status(const llm_engine *e, llm_seq_id id)
{
	seq		   *s = seq_find(e, id);

	return s ? s->state : LLM_SEQ_FAILED;
}

const llm_error *
llm_seq_error(const llm_engine *e, llm_seq_id id)
{
	seq		   *s = seq_find(e, id);

	return s ? &s->err : NULL;
}

int
llm_seq_take(llm_engine *e, llm_seq_id id, int32_t *out, int max)
{
	seq		   *s = seq_find(e, id);
	int			avail,
				n;

	if (s == NULL)
		return 0;
	avail = s->n_tokens - s->n_prompt - s->n_taken;
	n = avail < max ? avail : max;
	memcpy(out, s->tokens + s->n_prompt + s->n_taken, (size_t) n * sizeof(int32_t));
	s->n_taken += n;
	return n;
}

void
llm_seq_remove(llm_engine *e, llm_seq_id id)
{
	seq		   *s = seq_find(e, id);

	if (s != NULL)
		seq_clear(e, s);
}

void
llm_engine_get_stats(const llm_engine *e, llm_engine_stats *st)
{
	llm_kv_stats ks;
	int32_t		bs = e->cfg.kv_block_size;

	memset(st, 0, sizeof(*st));
	llm_kv_get_stats(e->kv, &ks);
	st->pages_total = ks.pages_total;
	st->pages_used = ks.pages_used;
	st->pages_cached = ks.pages_cached;
	st->pages_free = ks.pages_free;
	st->page_bytes = (int64_t) llm_kv_page_bytes(e->kv);
	st->prefix_queries = ks.prefix_queries;
	st->prefix_hits = ks.prefix_hits;
	st->evictions = ks.evictions;
	st->preemptions = e->preemptions;
	for (int i = 0; i < e->cfg.max_seqs; i++)
	{
		const seq  *s = &e->seqs[i];

		if (!s->used)
			continue;
		if (s->state == LLM_SEQ_RUNNING)
			st->seqs_running++;
		else if (s->state == LLM_SEQ_WAITING)
			st->seqs_waiting++;
		st->slots_allocated += (int64_t) s->bt.n_pages * bs;
		st->slots_filled += s->bt.n_tokens;
	}
}

llm_status
llm_engine_eval(llm_engine *e, const int32_t *tokens, int n, float *logits,
				llm_error *err)
{
	llm_block_table bt;
	llm_status	rc = LLM_OK;
	int			chunk = e->cfg.max_batch_tokens;

	if (n < 1 || n > e->n_ctx)
		return llm_errorf(err, LLM_ERR_RANGE, "%d tokens do not fit the context of %d", n, e->n_ctx);
	llm_bt_init(&bt);
	for (int start = 0; start < n && rc == LLM_OK; start += chunk)
	{
		int			rows = n - start < chunk ? n - start : chunk;
		int32_t		last = rows - 1;
		llm_fwd_batch b;

		if ((rc = llm_bt_prepare_write(e->kv, &bt, start, rows, err)) != LLM_OK)
			break;
		for (int r = 0; r < rows; r++)
		{
			e->b_pos[r] = start + r;
			e->b_bt[r] = &bt;
		}
		b.n = rows;
		b.tokens = tokens + start;
		b.pos = e->b_pos;
		b.bt = e->b_bt;
		b.n_logits = start + rows == n ? 1 : 0;
		b.logit_rows = &last;
		rc = llm_forward(e->fwd, &b, logits, err);
		bt.n_tokens = start + rows;
	}
	llm_bt_release(e->kv, &bt);
	return rc;
}
