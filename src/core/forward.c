/*
 * forward.c — the Llama/Qwen2 forward pass with paged attention.
 *
 * Data flow for a batch of n rows (llama2.c's run.c, batched):
 *   x = embed(tokens)                                  (n, dim)
 *   for each layer:
 *     xb = rmsnorm(x) * attn_norm
 *     q, k, v = xb Wq, xb Wk, xb Wv (+ biases)         one pool job
 *     rope(q, k) at each row's position
 *     write k, v into the row's KV page slot
 *     xb2 = attention(q, K/V of positions 0..pos)     pool job over (tile, KV heads)
 *     x += xb2 Wo
 *     xb = rmsnorm(x) * ffn_norm
 *     hb, hb2 = xb Wgate, xb Wup                       one pool job
 *     x += (silu(hb) * hb2) Wdown
 *   logits = rmsnorm(x[logit rows]) * output_norm, Wout
 *
 * Matrix products quantize their input rows once to the weight's dot type
 * and split weight rows across the pool; every output element is one
 * llm_matmul_rows dot product, so results do not depend on the batch.
 */
#include "forward.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "quant.h"
#include "vecops.h"

/* Jobs below this many multiply-adds run on the calling thread alone. */
#define SERIAL_WORK (256 * 1024)
/* Attention below this many query-key multiply-adds runs on the caller. */
#define ATT_SERIAL_WORK (16 * 1024)
/* Rows of one sequence that share each K/V block read in attention. */
#define ATT_ROWS 16
/* Attention tasks per thread the batch is cut into, at least (att_task_heads). */
#define ATT_TASKS_PER_THREAD 4
/* Blocks of positions attention prefetches ahead (see prefetch_kv_block). */
#define ATT_PREFETCH 2
/* Weight rows dequantized per sgemm call. */
#define BLAS_ROWS 64

struct llm_fwd
{
	const llm_model *m;
	llm_pool   *pool;
	llm_kv_pool *kv;
	uint32_t	kv_type;
	size_t		kv_elt;			/* bytes per K/V element */
	int32_t		block_size;
	int			max_tokens;
	int			max_ctx;
	int64_t		q_dim,
				kv_dim;
	/* scratch, (max_tokens, width) row-major */
	float	   *x;				/* (n, dim) residual stream */
	float	   *xb;				/* (n, max(dim, q_dim)) */
	float	   *xb2;			/* (n, max(dim, q_dim)) */
	float	   *q;				/* (n, q_dim) */
	float	   *k;				/* (n, kv_dim) */
	float	   *v;				/* (n, kv_dim) */
	float	   *hb;				/* (n, n_ff) */
	float	   *hb2;			/* (n, n_ff) */
	float	   *xo;				/* (n, dim) output of wo and w_down */
	uint8_t    *xq;				/* quantized activations */
	size_t		xq_row;			/* bytes per quantized row (max) */
	float	   *att_ml;			/* (n_threads, ATT_ROWS * heads per KV head, 2) */
	int32_t    *att_tiles;		/* (max_tokens + 1) first row of each tile */
	llm_sgemm_nt_fn sgemm;		/* NULL: kernels only */
	int			blas_min_rows;
	float	   *blas_w;			/* (n_threads, BLAS_ROWS, max_cols) */
	int64_t		max_cols;
	float	   *rope_inv;		/* (n_rot / 2) inverse frequencies */
	float	   *rope_cs;		/* (n_threads, n_rot / 2, 2) cos, sin at one
								 * position */
};

size_t
llm_fwd_page_bytes(const llm_model *m, int32_t block_size, uint32_t kv_type)
{
	size_t		elt = kv_type == LLM_F16 ? 2 : 4;

	return (size_t) m->hp.n_layer * 2 * block_size * m->hp.n_head_kv * m->hp.head_dim * elt;
}

/* calloc that reports failure through err. */
static void *
alloc_scratch(size_t n, size_t size, bool *ok)
{
	void	   *p = calloc(n ? n : 1, size);

	if (p == NULL)
		*ok = false;
	return p;
}

llm_status
llm_fwd_new(const llm_model *m, llm_pool *pool, llm_kv_pool *kv,
			uint32_t kv_type, int max_tokens, int max_ctx,
			llm_fwd **out, llm_error *err)
{
	const llm_hparams *hp = &m->hp;
	llm_fwd    *f;
	int64_t		wide;
	int64_t		max_cols;
	bool		ok = true;

	*out = NULL;
	if (kv_type != LLM_F16 && kv_type != LLM_F32)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv cache type must be f16 or f32");
	if (max_tokens < 1 || max_ctx < 1)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "batch and context sizes must be positive");
	if (llm_kv_page_bytes(kv) < llm_fwd_page_bytes(m, llm_kv_block_size(kv), kv_type))
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv pages are too small for this model");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	f->m = m;
	f->pool = pool;
	f->kv = kv;
	f->kv_type = kv_type;
	f->kv_elt = kv_type == LLM_F16 ? 2 : 4;
	f->block_size = llm_kv_block_size(kv);
	f->max_tokens = max_tokens;
	f->max_ctx = max_ctx;
	f->q_dim = (int64_t) hp->n_head * hp->head_dim;
	f->kv_dim = (int64_t) hp->n_head_kv * hp->head_dim;
	wide = hp->n_embd > f->q_dim ? hp->n_embd : f->q_dim;
	max_cols = wide > hp->n_ff ? wide : hp->n_ff;

	f->x = alloc_scratch((size_t) max_tokens * hp->n_embd, sizeof(float), &ok);
	f->xb = alloc_scratch((size_t) max_tokens * wide, sizeof(float), &ok);
	f->xb2 = alloc_scratch((size_t) max_tokens * wide, sizeof(float), &ok);
	f->q = alloc_scratch((size_t) max_tokens * f->q_dim, sizeof(float), &ok);
	f->k = alloc_scratch((size_t) max_tokens * f->kv_dim, sizeof(float), &ok);
	f->v = alloc_scratch((size_t) max_tokens * f->kv_dim, sizeof(float), &ok);
	f->hb = alloc_scratch((size_t) max_tokens * hp->n_ff, sizeof(float), &ok);
	f->hb2 = alloc_scratch((size_t) max_tokens * hp->n_ff, sizeof(float), &ok);
	f->xo = alloc_scratch((size_t) max_tokens * hp->n_embd, sizeof(float), &ok);
	/* every dot type needs at most 4 bytes per element plus block headers */
	f->max_cols = max_cols;
	f->xq_row = ((size_t) max_cols * 4 + 256 + 63) & ~(size_t) 63;
	f->xq = alloc_scratch((size_t) max_tokens, f->xq_row, &ok);
	f->att_ml = alloc_scratch((size_t) llm_pool_size(pool) * 2 * ATT_ROWS *
							  (hp->n_head / hp->n_head_kv), sizeof(float), &ok);
	f->att_tiles = alloc_scratch((size_t) max_tokens + 1, sizeof(int32_t), &ok);
	f->rope_inv = alloc_scratch(hp->n_rot / 2, sizeof(float), &ok);
	f->rope_cs = alloc_scratch((size_t) llm_pool_size(pool) * hp->n_rot, sizeof(float), &ok);
	if (!ok)
	{
		llm_fwd_free(f);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory allocating forward-pass buffers");
	}
	for (int i = 0; i < hp->n_rot / 2; i++)
		f->rope_inv[i] = powf(hp->rope_theta, -2.0f * i / hp->n_rot);
	*out = f;
	return LLM_OK;
}

void
llm_fwd_free(llm_fwd *f)
{
	if (f == NULL)
		return;
	free(f->x);
	free(f->xb);
	free(f->xb2);
	free(f->q);
	free(f->k);
	free(f->v);
	free(f->hb);
	free(f->hb2);
	free(f->xo);
	free(f->xq);
	free(f->att_ml);
	free(f->att_tiles);
	free(f->rope_inv);
	free(f->rope_cs);
	free(f->blas_w);
	free(f);
}

llm_status
llm_fwd_set_blas(llm_fwd *f, llm_sgemm_nt_fn sgemm, int min_rows, llm_error *err)
{
	free(f->blas_w);
	f->blas_w = NULL;
	f->sgemm = NULL;
	if (sgemm == NULL)
		return LLM_OK;
	f->blas_w = malloc(sizeof(float) * BLAS_ROWS * f->max_cols * llm_pool_size(f->pool));
	if (f->blas_w == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory for blas buffers");
	f->sgemm = sgemm;
	f->blas_min_rows = min_rows < 1 ? 1 : min_rows;
	return LLM_OK;
}

/* ---- element-wise pieces ---- */

/* cos and sin of each rotary pair's angle at position pos: cs[2i], cs[2i + 1]. */
static void
rope_angles(const llm_fwd *f, float pos, float *cs)
{
	const llm_hparams *hp = &f->m->hp;

	for (int i = 0; i < hp->n_rot / 2; i++)
	{
		float		theta = pos * hp->rope_freq_scale * f->rope_inv[i];

		cs[2 * i] = cosf(theta);
		cs[2 * i + 1] = sinf(theta);
	}
}

/* Rotate n_heads head vectors (head_dim apart) by the angles in cs. */
static void
rope(const llm_hparams *hp, float *vec, int n_heads, const float *cs)
{
	llm_vecops_get()->rope(vec, n_heads, hp->head_dim, hp->n_rot,
						   hp->rope_style == LLM_ROPE_NEOX, cs);
}

/* ---- per-row work inside a job ---- */

/*
 * Work on each batch row that must be finished before a job's main part
 * can start (normalizing and quantizing the input rows of a matrix
 * product; biases, RoPE and the K/V store before attention) runs inside
 * that job: its threads take rows from a counter, then wait until every
 * row is done.  Done by the caller alone before the job, it left the other
 * threads waiting for ~10 % of a batched decode step.  A thread that took
 * a row finishes it, so the wait lasts one row at most, and a caller left
 * alone (no worker joined) does every row.
 */
typedef struct row_phase
{
	int			n;
	atomic_int	next;
	atomic_int	done;
} row_phase;

static void
row_phase_init(row_phase *p, int n)
{
	p->n = n;
	atomic_init(&p->next, 0);
	atomic_init(&p->done, 0);
}

/* The next row to do, or -1 when all are taken. */
static inline int
row_phase_take(row_phase *p)
{
	int			r = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);

	return r < p->n ? r : -1;
}

static inline void
row_phase_finish(row_phase *p)
{
	atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
}

/* Wait until every row is done (their writes are then visible). */
static inline void
row_phase_wait(row_phase *p)
{
	while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n)
		llm_pool_relax();
}

/* What a layer's per-row steps need. */
typedef struct layer_ctx
{
	llm_fwd    *f;
	const llm_fwd_batch *b;
	const llm_layer *L;
	int			layer;
} layer_ctx;

/* Makes input row `row` of a matrix product (before it is quantized). */
typedef void (*row_prep_fn) (const layer_ctx *c, int row, int ith);

/* ---- matrix products ---- */

/*
 * Rows are handed out in chunks from a shared cursor rather than split
 * evenly up front: a thread that loses its CPU to another process (the
 * machine is shared with PostgreSQL backends) then holds up the step by
 * one chunk at most.  Which thread computes a row never changes its value
 * (chunks start at multiples of MM_CHUNK rows of their matrix, so the AMX
 * kernels' 16-row groups fall on the same rows whatever the chunk sizes).
 * Chunks shrink as the job drains ("guided" scheduling): each takes
 * 1 / (MM_GUIDE * threads) of the rows left, rounded down to MM_CHUNK and
 * at most MM_CHUNK_MAX, so the first chunks are large (each kernel call has
 * a fixed cost, the AMX kernels prepare the activations, and the hardware
 * prefetchers restart at every chunk: measured, 110M Q8_0 decode +12 % over
 * fixed 64-row chunks) and the last ones small, so that the threads finish
 * a job at about the same time.
 */
#define MM_CHUNK 64
#define MM_CHUNK_MAX 512
#define MM_GUIDE 2

typedef struct mm_job
{
	int			n_mats;
	const llm_weight *w[3];
	float	   *y[3];			/* (nt, w->rows) */
	const float *x;				/* input rows (nt, ldx) */
	int64_t		ldx;
	row_prep_fn prep;			/* makes row t of x first, or NULL */
	const layer_ctx *ctx;
	llm_dtype	dt;				/* type x is quantized to */
	row_phase	rows;			/* preparing and quantizing x */
	uint8_t    *xq;				/* quantized input rows */
	size_t		xq_stride;
	int			nt;
	int			nth;			/* threads of the pool */
	int64_t		total;			/* rows of all matrices */
	atomic_llong next;			/* next row, matrices laid end to end */
} mm_job;

/*
 * Take the next chunk: matrix *i, rows [*r0, *r1).  False when none is
 * left.  A chunk never crosses the end of a matrix.
 */
static bool
mm_take(mm_job *j, int *i, int64_t *r0, int64_t *r1)
{
	long long	cur = atomic_load_explicit(&j->next, memory_order_relaxed);

	for (;;)
	{
		int64_t		base = 0,
					size,
					end;
		int			m = 0;

		if (cur >= j->total)
			return false;
		while (cur >= base + j->w[m]->rows)
			base += j->w[m++]->rows;
		size = (j->total - cur) / ((int64_t) MM_GUIDE * j->nth) / MM_CHUNK * MM_CHUNK;
		size = size < MM_CHUNK ? MM_CHUNK : size > MM_CHUNK_MAX ? MM_CHUNK_MAX : size;
		end = cur + size < base + j->w[m]->rows ? cur + size : base + j->w[m]->rows;
		if (atomic_compare_exchange_weak_explicit(&j->next, &cur, end,
												  memory_order_relaxed,
												  memory_order_relaxed))
		{
			*i = m;
			*r0 = cur - base;
			*r1 = end - base;
			return true;
		}
	}
}

/* Prepare and quantize input rows, then take chunks until none are left. */
static void
mm_worker(void *arg, int ith, int nth)
{
	mm_job	   *j = arg;
	int			i;
	int64_t		r0,
				r1;

	while ((i = row_phase_take(&j->rows)) >= 0)
	{
		if (j->prep)
			j->prep(j->ctx, i, ith);
		llm_quantize_row(j->dt, j->x + i * j->ldx, j->xq + i * j->xq_stride,
						 j->w[0]->cols);
		row_phase_finish(&j->rows);
	}
	row_phase_wait(&j->rows);
	while (mm_take(j, &i, &r0, &r1))
	{
		const llm_weight *w = j->w[i];
		bool		packed = w->packed != NULL && quant_active_isa() == LLM_ISA_AMX;

		if (packed && j->nt <= quant_packed_max_tokens(w->type))
			quant_packed_matmul(w->type, w->cols, w->packed, j->xq, j->xq_stride, j->nt,
								j->y[i], w->rows, r0, r1);
		else if (packed && quant_packed_only(w->type))
			quant_amx_packed_matmul(w->type, w->cols, w->data, w->packed, j->xq, j->xq_stride,
									j->nt, j->y[i], w->rows, r0, r1);
		else
			llm_matmul_rows(w->type, w->cols, w->data, j->xq, j->xq_stride, j->nt,
							j->y[i], w->rows, r0, r1);
	}
}

typedef struct blas_job
{
	llm_fwd    *f;
	const llm_weight *w;
	const float *x;
	int64_t		ldx;
	int			nt;
	float	   *y;
	atomic_llong next;			/* next chunk of BLAS_ROWS rows */
} blas_job;

/* Take chunks of BLAS_ROWS rows: dequantize them, then sgemm. */
static void
blas_worker(void *arg, int ith, int nth)
{
	blas_job   *j = arg;
	const llm_weight *w = j->w;
	float	   *buf = j->f->blas_w + (size_t) ith * BLAS_ROWS * j->f->max_cols;
	int64_t		r,
				r1;

	while (llm_pool_take(&j->next, w->rows, BLAS_ROWS, &r, &r1))
	{
		int			n = (int) (r1 - r);
		const float *B = buf;

		if (w->type == LLM_F32)
			B = (const float *) ((const uint8_t *) w->data + r * w->row_bytes);
		else
			for (int i = 0; i < n; i++)
				llm_dequantize_row(w->type, (const uint8_t *) w->data + (r + i) * w->row_bytes,
								   buf + (size_t) i * w->cols, w->cols);
		j->f->sgemm(j->nt, n, (int) w->cols, j->x, (int) j->ldx, B, (int) w->cols,
					j->y + r, (int) w->rows);
	}
}

/*
 * y_i = x W_i^T for up to three weights sharing the same input x (nt, cols)
 * and the same dot type; prep (if not NULL) makes each row of x first.
 */
static void
matmul(llm_fwd *f, float *x, int64_t ldx, int nt, row_prep_fn prep, const layer_ctx *ctx,
	   int n_mats, const llm_weight *w0, float *y0, const llm_weight *w1, float *y1,
	   const llm_weight *w2, float *y2)
{
	mm_job		j = {.n_mats = n_mats,.w = {w0, w1, w2},.y = {y0, y1, y2},.nt = nt,
	.x = x,.ldx = ldx,.prep = prep,.ctx = ctx};

	/* OpenBLAS wins over the kernels only for float weights (see README) */
	if (f->sgemm && nt >= f->blas_min_rows &&
		(w0->type == LLM_F32 || w0->type == LLM_F16 || w0->type == LLM_BF16))
	{
		const llm_weight *ws[3] = {w0, w1, w2};
		float	   *ys[3] = {y0, y1, y2};

		for (int t = 0; prep && t < nt; t++)
			prep(ctx, t, 0);
		for (int i = 0; i < n_mats; i++)
		{
			blas_job	bj = {.f = f,.w = ws[i],.x = x,.ldx = ldx,.nt = nt,.y = ys[i]};

			atomic_init(&bj.next, 0);
			llm_pool_run(f->pool, blas_worker, &bj);
		}
		return;
	}

	j.dt = llm_dot_type(w0->type);
	j.xq = f->xq;
	j.xq_stride = llm_row_bytes(j.dt, w0->cols);
	j.nth = llm_pool_size(f->pool);
	for (int i = 0; i < n_mats; i++)
		j.total += j.w[i]->rows;
	row_phase_init(&j.rows, nt);
	atomic_init(&j.next, 0);
	if (w0->rows * w0->cols * nt * n_mats < SERIAL_WORK)
		mm_worker(&j, 0, 1);	/* too small to pay for a hand-off */
	else
		llm_pool_run(f->pool, mm_worker, &j);
}

/*
 * Same as matmul, but weights with different dot types run separately (the
 * first product prepares the rows).
 */
static void
matmul3(llm_fwd *f, float *x, int64_t ldx, int nt, row_prep_fn prep, const layer_ctx *ctx,
		const llm_weight *w0, float *y0, const llm_weight *w1, float *y1,
		const llm_weight *w2, float *y2)
{
	llm_dtype	d0 = llm_dot_type(w0->type);

	if (llm_dot_type(w1->type) == d0 && (w2 == NULL || llm_dot_type(w2->type) == d0))
	{
		matmul(f, x, ldx, nt, prep, ctx, w2 ? 3 : 2, w0, y0, w1, y1, w2, y2);
		return;
	}
	matmul(f, x, ldx, nt, prep, ctx, 1, w0, y0, NULL, NULL, NULL, NULL);
	matmul(f, x, ldx, nt, NULL, ctx, 1, w1, y1, NULL, NULL, NULL, NULL);
	if (w2)
		matmul(f, x, ldx, nt, NULL, ctx, 1, w2, y2, NULL, NULL, NULL, NULL);
}

/* ---- attention ---- */

/* Address of K (kind 0) or V (kind 1) of position p, layer l, in bt. */
static inline void *
kv_slot(llm_fwd *f, const llm_block_table *bt, int l, int kind, int32_t p)
{
	uint8_t    *page = llm_kv_page_data(f->kv, bt->pages[p / f->block_size]);
	size_t		off = ((size_t) (l * 2 + kind) * f->block_size + p % f->block_size) *
		f->kv_dim * f->kv_elt;

	return page + off;
}

/* Store n floats as the KV element type. */
static inline void
kv_store(const llm_fwd *f, void *dst, const float *src, int64_t n)
{
	llm_quantize_row(f->kv_type, src, dst, n);
}

typedef struct att_job
{
	llm_fwd    *f;
	const llm_fwd_batch *b;
	int			layer;
	const layer_ctx *ctx;
	row_phase	rows;			/* biases, RoPE, K/V store of each row */
	int			n_tiles;		/* tiles in f->att_tiles */
	int			heads;			/* KV heads per task */
	int			group;			/* query heads per KV head */
	float		scale;			/* 1 / sqrt(head_dim) */
	llm_attn_block_fn block;	/* for the cache's element type */
	atomic_llong next;			/* next (tile, run of KV heads) task */
} att_job;

/*
 * Row t of the query, key and value products: add the biases (Qwen2),
 * rotate queries and keys, store the key and value in the row's KV slots.
 */
static void
prep_attn_row(const layer_ctx *c, int t, int ith)
{
	llm_fwd    *f = c->f;
	const llm_hparams *hp = &f->m->hp;
	const llm_layer *L = c->L;
	const llm_fwd_batch *b = c->b;
	float	   *q = f->q + (size_t) t * f->q_dim;
	float	   *k = f->k + (size_t) t * f->kv_dim;
	float	   *v = f->v + (size_t) t * f->kv_dim;
	float	   *cs = f->rope_cs + (size_t) ith * hp->n_rot;

	if (L->bq)
		for (int64_t i = 0; i < f->q_dim; i++)
			q[i] += L->bq[i];
	if (L->bk)
		for (int64_t i = 0; i < f->kv_dim; i++)
			k[i] += L->bk[i];
	if (L->bv)
		for (int64_t i = 0; i < f->kv_dim; i++)
			v[i] += L->bv[i];
	rope_angles(f, (float) b->pos[t], cs);
	rope(hp, q, hp->n_head, cs);
	rope(hp, k, hp->n_head_kv, cs);
	kv_store(f, kv_slot(f, b->bt[t], c->layer, 0, b->pos[t]), k, f->kv_dim);
	kv_store(f, kv_slot(f, b->bt[t], c->layer, 1, b->pos[t]), v, f->kv_dim);
}

/*
 * Positions in the attention block that starts at p: up to LLM_ATTN_BLOCK,
 * never past the end of p's page.
 */
static inline int
att_block_len(const llm_fwd *f, int32_t p)
{
	int32_t		in_page = f->block_size - p % f->block_size;

	return in_page < LLM_ATTN_BLOCK ? in_page : LLM_ATTN_BLOCK;
}

/*
 * Prefetch this head's keys and values of the block of positions starting
 * at p (up to the block's end or last); returns the block's length.  Each
 * block sits on another page, where the hardware prefetchers have no
 * history, and a decode row's work on a block is shorter than a memory
 * access: attention prefetches ATT_PREFETCH blocks ahead (8 sequences
 * decoding at ~130 positions: step -12 %, one sequence unchanged).
 */
static int
prefetch_kv_block(llm_fwd *f, const llm_block_table *bt, int layer, size_t head_off,
				  int32_t p, int32_t last)
{
	int			nk = att_block_len(f, p);
	size_t		row = (size_t) f->kv_dim * f->kv_elt,
				len = (size_t) f->m->hp.head_dim * f->kv_elt;
	const char *k = (const char *) kv_slot(f, bt, layer, 0, p) + head_off;
	const char *v = (const char *) kv_slot(f, bt, layer, 1, p) + head_off;

	if (nk > last + 1 - p)
		nk = last + 1 - p;
	for (int i = 0; i < nk; i++)
		for (size_t o = 0; o < len; o += 64)
		{
			__builtin_prefetch(k + i * row + o);
			__builtin_prefetch(v + i * row + o);
		}
	return nk;
}

/*
 * An attention task's prefetch cursor: the next block to prefetch (KV head
 * h, position p) among heads [h, h1) and positions [0, last], and how many
 * blocks it runs ahead of the reads.
 */
typedef struct att_cursor
{
	int			h,
				h1,
				ahead;
	int32_t		p,
				last;
} att_cursor;

/* Prefetch until the cursor is ATT_PREFETCH blocks ahead, into the task's next heads. */
static void
att_prefetch_ahead(llm_fwd *f, const llm_block_table *bt, int layer, att_cursor *c)
{
	for (; c->h < c->h1 && c->ahead <= ATT_PREFETCH; c->ahead++)
	{
		c->p += prefetch_kv_block(f, bt, layer, (size_t) c->h * f->m->hp.head_dim * f->kv_elt,
								  c->p, c->last);
		if (c->p > c->last)
		{
			c->h++;
			c->p = 0;
		}
	}
}

/*
 * Attention of tile rows [r0, r1) (positions up to last) for KV head kvh:
 * the queries' outputs in xb2, their softmax state in ml.
 */
static void
att_head(const att_job *j, float *ml, int r0, int r1, int kvh, att_cursor *c)
{
	llm_fwd    *f = j->f;
	const llm_fwd_batch *b = j->b;
	const llm_block_table *bt = b->bt[r0];
	int			hd = f->m->hp.head_dim;
	int			group = j->group;
	size_t		head_off = (size_t) kvh * hd * f->kv_elt,
				off = (size_t) r0 * f->q_dim + (size_t) kvh * group * hd;

	for (int r = r0; r < r1; r++)
	{
		for (int g = 0; g < group; g++)
		{
			float	   *mlq = ml + 2 * ((r - r0) * group + g);

			mlq[0] = -INFINITY;
			mlq[1] = 0.0f;
		}
		memset(f->xb2 + (size_t) r * f->q_dim + (size_t) kvh * group * hd, 0,
			   (size_t) group * hd * sizeof(float));
	}
	for (int32_t p = 0; p <= c->last;)
	{
		int			nk = att_block_len(f, p);
		const uint8_t *k = (const uint8_t *) kv_slot(f, bt, j->layer, 0, p) + head_off;
		const uint8_t *v = (const uint8_t *) kv_slot(f, bt, j->layer, 1, p) + head_off;
		int			nkr[ATT_ROWS];

		att_prefetch_ahead(f, bt, j->layer, c);
		for (int r = r0; r < r1; r++)
			nkr[r - r0] = b->pos[r] + 1 - p < nk ? b->pos[r] + 1 - p : nk;
		j->block(f->q + off, f->q_dim, r1 - r0, group, nkr, k, v, f->kv_dim, hd, j->scale, ml,
				 f->xb2 + off);
		c->ahead--;
		p += nk;
	}
	for (int r = r0; r < r1; r++)
		for (int g = 0; g < group; g++)
		{
			float		inv = 1.0f / ml[2 * ((r - r0) * group + g) + 1];
			float	   *out = f->xb2 + (size_t) r * f->q_dim + (size_t) (kvh * group + g) * hd;

			for (int i = 0; i < hd; i++)
				out[i] *= inv;
		}
}

/*
 * Causal attention in tasks of (tile, run of KV heads), att_task_heads
 * heads each.  A tile is a run of up to ATT_ROWS consecutive batch rows of
 * one sequence (a prefill chunk); its rows, and the query heads of each row
 * that share a KV head, walk the positions together a block at a time (see
 * attn.h), so each block of K/V is read from the cache once per tile and
 * stays in L1 while it is used.  The prefetches run ATT_PREFETCH blocks
 * ahead through the task's heads in the order they are read.
 * Blocks are cut at absolute positions (page starts and every
 * LLM_ATTN_BLOCK within a page) and a row stops at its own position, so a
 * row's result is the same whatever else is in its tile or batch.
 */
static void
att_worker(void *arg, int ith, int nth)
{
	att_job    *j = arg;
	llm_fwd    *f = j->f;
	const llm_hparams *hp = &f->m->hp;
	int			per_tile = (hp->n_head_kv + j->heads - 1) / j->heads;	/* tasks per tile */
	float	   *ml = f->att_ml + (size_t) ith * 2 * j->group * ATT_ROWS;
	int64_t		task,
				end;
	int			t;

	while ((t = row_phase_take(&j->rows)) >= 0)
	{
		prep_attn_row(j->ctx, t, ith);
		row_phase_finish(&j->rows);
	}
	row_phase_wait(&j->rows);
	while (llm_pool_take(&j->next, (int64_t) j->n_tiles * per_tile, 1, &task, &end))
	{
		/* the last tiles (the longest contexts) first */
		int			tile = j->n_tiles - 1 - (int) (task / per_tile);
		int			r0 = f->att_tiles[tile],
					r1 = f->att_tiles[tile + 1];
		int			h0 = (int) (task % per_tile) * j->heads,
					h1 = h0 + j->heads < hp->n_head_kv ? h0 + j->heads : hp->n_head_kv;
		att_cursor	c = {.h = h0,.h1 = h1};

		for (int r = r0; r < r1; r++)
			c.last = j->b->pos[r] > c.last ? j->b->pos[r] : c.last;
		for (int kvh = h0; kvh < h1; kvh++)
			att_head(j, ml, r0, r1, kvh, &c);
	}
}

/*
 * Cut the batch into attention tiles: runs of up to ATT_ROWS consecutive
 * rows with the same block table.  Tile t is rows [tiles[t], tiles[t + 1]).
 */
static int
att_tiles(const llm_fwd_batch *b, int32_t *tiles)
{
	int			n = 0;

	for (int i = 0; i < b->n;)
	{
		int			e = i + 1;

		while (e < b->n && e - i < ATT_ROWS && b->bt[e] == b->bt[i])
			e++;
		tiles[n++] = i;
		i = e;
	}
	tiles[n] = b->n;
	return n;
}

/*
 * KV heads per attention task: as many as leave ATT_TASKS_PER_THREAD
 * tasks per thread.  A task reads its heads' K/V blocks one after the
 * other with the prefetches running ahead across them; with a head per
 * task, each task of a decode row (a block or two of positions) began by
 * waiting for its first block: 8 sequences decoding at 0-64 positions
 * spent 1.03-1.10 ms of a step in attention, 0.70-0.90 now.
 */
static int
att_task_heads(const llm_fwd *f, int n_tiles)
{
	int			n_kv = f->m->hp.n_head_kv;
	int			tasks = ATT_TASKS_PER_THREAD * llm_pool_size(f->pool);
	int			per_tile = (tasks + n_tiles - 1) / n_tiles;	/* tasks wanted per tile */

	if (per_tile >= n_kv)
		return 1;
	return (n_kv + per_tile - 1) / per_tile;
}

void
llm_fwd_shift_keys(llm_fwd *f, const llm_block_table *bt, int32_t from,
				   int32_t to, int32_t delta)
{
	const llm_hparams *hp = &f->m->hp;
	float	   *k = f->k;		/* scratch between passes */

	rope_angles(f, -(float) delta, f->rope_cs);
	for (int l = 0; l < hp->n_layer; l++)
		for (int32_t p = from; p < to; p++)
		{
			void	   *slot = kv_slot(f, bt, l, 0, p);

			llm_dequantize_row(f->kv_type, slot, k, f->kv_dim);
			rope(hp, k, hp->n_head_kv, f->rope_cs);
			kv_store(f, slot, k, f->kv_dim);
		}
}

/* ---- the pass ---- */

/* Check that every row's position and pages are usable. */
static llm_status
check_batch(const llm_fwd *f, const llm_fwd_batch *b, llm_error *err)
{
	if (b->n < 1 || b->n > f->max_tokens)
		return llm_errorf(err, LLM_ERR_RANGE, "batch of %d rows exceeds the limit of %d",
						  b->n, f->max_tokens);
	for (int i = 0; i < b->n; i++)
	{
		if (b->tokens[i] < 0 || b->tokens[i] >= f->m->hp.n_vocab)
			return llm_errorf(err, LLM_ERR_RANGE, "token id %d is out of range (vocabulary of %d)",
							  b->tokens[i], f->m->hp.n_vocab);
		if (b->pos[i] < 0 || b->pos[i] >= f->max_ctx)
			return llm_errorf(err, LLM_ERR_RANGE, "position %d is outside the context of %d",
							  b->pos[i], f->max_ctx);
		if (b->bt[i]->n_pages * f->block_size <= b->pos[i])
			return llm_errorf(err, LLM_ERR_INTERNAL, "no kv page prepared for position %d",
							  b->pos[i]);
	}
	for (int i = 0; i < b->n_logits; i++)
		if (b->logit_rows[i] < 0 || b->logit_rows[i] >= b->n)
			return llm_errorf(err, LLM_ERR_INTERNAL, "logit row %d outside the batch",
							  b->logit_rows[i]);
	return LLM_OK;
}

/* Width of the rows of xb and xb2. */
static inline int64_t
fwd_wide(const llm_fwd *f)
{
	return f->m->hp.n_embd > f->q_dim ? f->m->hp.n_embd : f->q_dim;
}

static inline void
add_row(float *x, const float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] += y[i];
}

/* Row t of the residual stream (plus xo's row t if add), normalized by w into xb. */
static void
residual_norm(const layer_ctx *c, int t, const float *w, bool add)
{
	llm_fwd    *f = c->f;
	int64_t		dim = f->m->hp.n_embd;
	float	   *x = f->x + (size_t) t * dim;

	if (add)
		add_row(x, f->xo + (size_t) t * dim, dim);
	llm_vecops_get()->rmsnorm(f->xb + (size_t) t * fwd_wide(f), x, w, dim, f->m->hp.norm_eps);
}

/*
 * Input row t of the query, key and value products: the residual stream
 * (plus the previous layer's last product), normalized.
 */
static void
prep_attn_in(const layer_ctx *c, int t, int ith)
{
	residual_norm(c, t, c->L->attn_norm, c->layer > 0);
}

/* Input row t of the gate and up products: plus attention's output, normalized. */
static void
prep_ffn_in(const layer_ctx *c, int t, int ith)
{
	residual_norm(c, t, c->L->ffn_norm, true);
}

/* Input row t of the down product: silu(gate) * up. */
static void
prep_swiglu(const layer_ctx *c, int t, int ith)
{
	int64_t		n_ff = c->f->m->hp.n_ff;

	llm_vecops_get()->swiglu(c->f->hb + (size_t) t * n_ff, c->f->hb2 + (size_t) t * n_ff, n_ff);
}

/*
 * Input row t of the output product: the residual stream of logit row t
 * plus the last layer's down product, normalized.
 */
static void
prep_output(const layer_ctx *c, int t, int ith)
{
	llm_fwd    *f = c->f;
	int64_t		dim = f->m->hp.n_embd;
	size_t		row = (size_t) c->b->logit_rows[t] * dim;
	float	   *o = f->xb + (size_t) t * fwd_wide(f);

	for (int64_t i = 0; i < dim; i++)
		o[i] = f->x[row + i] + f->xo[row + i];
	llm_vecops_get()->rmsnorm(o, o, f->m->output_norm, dim, f->m->hp.norm_eps);
}

llm_status
llm_forward(llm_fwd *f, const llm_fwd_batch *b, float *logits, llm_error *err)
{
	const llm_model *m = f->m;
	const llm_hparams *hp = &m->hp;
	int			n = b->n;
	int64_t		dim = hp->n_embd;
	int64_t		wide = fwd_wide(f);
	int			n_tiles,
				att_heads;
	llm_attn_block_fn att_block;
	llm_status	rc;

	if ((rc = check_batch(f, b, err)) != LLM_OK)
		return rc;
	n_tiles = att_tiles(b, f->att_tiles);
	att_heads = att_task_heads(f, n_tiles);
	att_block = f->kv_type == LLM_F16 ? llm_attn_get()->block_f16 : llm_attn_get()->block_f32;

	for (int i = 0; i < n; i++)
		llm_dequantize_row(m->tok_embd.type,
						   (const uint8_t *) m->tok_embd.data + (size_t) b->tokens[i] * m->tok_embd.row_bytes,
						   f->x + (size_t) i * dim, dim);

	/*
	 * Each product's job first makes its input rows (row_prep_fn), so the
	 * residual additions, norms, SwiGLU and RoPE run on all threads.
	 */
	for (int l = 0; l < hp->n_layer; l++)
	{
		const llm_layer *L = &m->layers[l];
		layer_ctx	c = {.f = f,.b = b,.L = L,.layer = l};
		att_job		aj = {.f = f,.b = b,.layer = l,.ctx = &c,.n_tiles = n_tiles,
						  .heads = att_heads,.group = hp->n_head / hp->n_head_kv,
						  .scale = 1.0f / sqrtf((float) hp->head_dim),.block = att_block};

		row_phase_init(&aj.rows, n);
		atomic_init(&aj.next, 0);

		matmul3(f, f->xb, wide, n, prep_attn_in, &c, &L->wq, f->q, &L->wk, f->k, &L->wv, f->v);
		if ((int64_t) n * hp->n_head * (b->pos[n - 1] + 1) * hp->head_dim < ATT_SERIAL_WORK)
			att_worker(&aj, 0, 1);
		else
			llm_pool_run(f->pool, att_worker, &aj);
		matmul(f, f->xb2, f->q_dim, n, NULL, &c, 1, &L->wo, f->xo, NULL, NULL, NULL, NULL);
		matmul3(f, f->xb, wide, n, prep_ffn_in, &c, &L->w_gate, f->hb, &L->w_up, f->hb2, NULL, NULL);
		matmul(f, f->hb, hp->n_ff, n, prep_swiglu, &c, 1, &L->w_down, f->xo, NULL, NULL, NULL, NULL);
	}

	/* (f->x then lacks the last layer's down product: nothing reads it) */
	if (b->n_logits > 0)
	{
		layer_ctx	c = {.f = f,.b = b,.layer = hp->n_layer};

		matmul(f, f->xb, wide, b->n_logits, prep_output, &c, 1, &m->output, logits,
			   NULL, NULL, NULL, NULL);
	}
	return LLM_OK;
}
