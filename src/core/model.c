/*
 * model.c — load a Llama-family model from GGUF: hyperparameters from the
 * "<arch>.*" metadata, weights by llama.cpp's tensor names, every shape
 * checked against the hyperparameters before the forward pass may use it.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "quant.h"

/* Metadata key "<arch>.<suffix>". */
static const char *
akey(const llm_model *m, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", m->hp.arch, suffix);
	return buf;
}

/* Read a required positive integer hyperparameter. */
static llm_status
get_int(llm_model *m, const char *suffix, int32_t *out, bool required,
		int32_t dflt, llm_error *err)
{
	char		key[128];
	int64_t		v;

	if (!gguf_get_i64(m->gguf, akey(m, suffix, key, sizeof(key)), &v))
	{
		if (required)
			return llm_errorf(err, LLM_ERR_FORMAT, "model metadata lacks \"%s\"", key);
		*out = dflt;
		return LLM_OK;
	}
	if (v <= 0 || v > (1 << 24))
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "model metadata \"%s\" has invalid value %lld", key, (long long) v);
	*out = (int32_t) v;
	return LLM_OK;
}

/* Look up a matrix and check that it is (rows, cols). */
static llm_status
get_weight(llm_model *m, const char *name, int64_t rows, int64_t cols,
		   bool required, llm_weight *w, llm_error *err)
{
	const gguf_tensor *t = gguf_find_tensor(m->gguf, name);

	memset(w, 0, sizeof(*w));
	if (t == NULL)
		return required ? llm_errorf(err, LLM_ERR_FORMAT, "model lacks tensor \"%s\"", name) : LLM_OK;
	if (t->n_dims != 2 || (int64_t) t->ne[0] != cols || (int64_t) t->ne[1] != rows)
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "tensor \"%s\" has shape [%llu, %llu], expected [%lld, %lld]",
						  name, (unsigned long long) t->ne[0], (unsigned long long) t->ne[1],
						  (long long) cols, (long long) rows);
	w->data = t->data;
	w->type = t->type;
	w->rows = rows;
	w->cols = cols;
	w->row_bytes = llm_row_bytes(t->type, cols);
	return LLM_OK;
}

/* Look up a vector of n floats; convert to an owned F32 copy if needed. */
static llm_status
get_vector(llm_model *m, const char *name, int64_t n, bool required,
		   const float **out, llm_error *err)
{
	const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
	float	   *copy;

	*out = NULL;
	if (t == NULL)
		return required ? llm_errorf(err, LLM_ERR_FORMAT, "model lacks tensor \"%s\"", name) : LLM_OK;
	if (t->n_dims != 1 || (int64_t) t->ne[0] != n)
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "tensor \"%s\" has %u dimensions and %llu elements, expected a vector of %lld",
						  name, t->n_dims, (unsigned long long) t->ne[0], (long long) n);
	if (t->type == LLM_F32 && ((uintptr_t) t->data % sizeof(float)) == 0)
	{
		*out = t->data;
		return LLM_OK;
	}
	if (llm_row_bytes(t->type, n) == 0)
		return llm_errorf(err, LLM_ERR_FORMAT, "tensor \"%s\" has an unusable type", name);
	copy = malloc(n * sizeof(float));
	if (copy == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory loading \"%s\"", name);
	llm_dequantize_row(t->type, t->data, copy, n);
	m->owned[m->n_owned++] = copy;
	*out = copy;
	return LLM_OK;
}

/* double to float without undefined behaviour: out of range gives NaN. */
static float
to_float(double d)
{
	return fabs(d) <= 3.0e38 ? (float) d : NAN;
}

/* Read hyperparameters and check them for consistency. */
static llm_status
load_hparams(llm_model *m, llm_error *err)
{
	llm_hparams *hp = &m->hp;
	gguf_str	arch;
	char		key[128];
	double		d;
	gguf_str	s;
	llm_status	rc;
	const gguf_tensor *emb;

	if (!gguf_get_str(m->gguf, "general.architecture", &arch))
		return llm_errorf(err, LLM_ERR_FORMAT, "model metadata lacks \"general.architecture\"");
	if (!gguf_str_eq(arch, "llama") && !gguf_str_eq(arch, "qwen2"))
		return llm_errorf(err, LLM_ERR_UNSUPPORTED,
						  "model architecture \"%.*s\" is not supported (llama and qwen2 are)",
						  (int) (arch.len > 32 ? 32 : arch.len), arch.data);
	snprintf(hp->arch, sizeof(hp->arch), "%.*s", (int) arch.len, arch.data);
	hp->rope_style = gguf_str_eq(arch, "qwen2") ? LLM_ROPE_NEOX : LLM_ROPE_NORM;

	if ((rc = get_int(m, "embedding_length", &hp->n_embd, true, 0, err)) ||
		(rc = get_int(m, "block_count", &hp->n_layer, true, 0, err)) ||
		(rc = get_int(m, "feed_forward_length", &hp->n_ff, true, 0, err)) ||
		(rc = get_int(m, "attention.head_count", &hp->n_head, true, 0, err)) ||
		(rc = get_int(m, "attention.head_count_kv", &hp->n_head_kv, false, hp->n_head, err)) ||
		(rc = get_int(m, "context_length", &hp->n_ctx_train, false, 2048, err)))
		return rc;
	if (hp->n_layer > 1024)
		return llm_errorf(err, LLM_ERR_FORMAT, "model has %d layers; at most 1024 are supported",
						  hp->n_layer);
	if (hp->n_embd % hp->n_head != 0 || hp->n_head % hp->n_head_kv != 0)
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "model has inconsistent heads: dim %d, %d heads, %d kv heads",
						  hp->n_embd, hp->n_head, hp->n_head_kv);
	if ((rc = get_int(m, "attention.key_length", &hp->head_dim, false,
					  hp->n_embd / hp->n_head, err)))
		return rc;
	if ((rc = get_int(m, "rope.dimension_count", &hp->n_rot, false, hp->head_dim, err)))
		return rc;
	if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0 || hp->head_dim % 2 != 0)
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "model rope dimension %d does not fit head size %d", hp->n_rot, hp->head_dim);
	hp->rope_theta = gguf_get_f64(m->gguf, akey(m, "rope.freq_base", key, sizeof(key)), &d) ? to_float(d) : 10000.0f;
	hp->norm_eps = gguf_get_f64(m->gguf, akey(m, "attention.layer_norm_rms_epsilon", key, sizeof(key)), &d) ? to_float(d) : 1e-5f;
	hp->rope_freq_scale = 1.0f;
	if (gguf_get_str(m->gguf, akey(m, "rope.scaling.type", key, sizeof(key)), &s) &&
		gguf_str_eq(s, "linear") &&
		gguf_get_f64(m->gguf, akey(m, "rope.scaling.factor", key, sizeof(key)), &d) && d > 0)
		hp->rope_freq_scale = to_float(1.0 / d);
	if (!(hp->rope_theta > 0) || !isfinite(hp->rope_theta) || !(hp->norm_eps > 0) ||
		!isfinite(hp->norm_eps) || !(hp->rope_freq_scale > 0) || !isfinite(hp->rope_freq_scale))
		return llm_errorf(err, LLM_ERR_FORMAT, "model has invalid rope base or norm epsilon");

	emb = gguf_find_tensor(m->gguf, "token_embd.weight");
	if (emb == NULL || emb->n_dims != 2)
		return llm_errorf(err, LLM_ERR_FORMAT, "model lacks a 2-d tensor \"token_embd.weight\"");
	hp->n_vocab = (int32_t) emb->ne[1];
	return LLM_OK;
}

/* Load every weight. */
static llm_status
load_weights(llm_model *m, llm_error *err)
{
	llm_hparams *hp = &m->hp;
	int64_t		q_dim = (int64_t) hp->n_head * hp->head_dim;
	int64_t		kv_dim = (int64_t) hp->n_head_kv * hp->head_dim;
	char		name[96];
	llm_status	rc;

	m->owned = calloc(hp->n_layer * 8 + 4, sizeof(float *));
	m->layers = calloc(hp->n_layer, sizeof(llm_layer));
	if (m->owned == NULL || m->layers == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory loading the model");
	if ((rc = get_weight(m, "token_embd.weight", hp->n_vocab, hp->n_embd, true, &m->tok_embd, err)) ||
		(rc = get_weight(m, "output.weight", hp->n_vocab, hp->n_embd, false, &m->output, err)) ||
		(rc = get_vector(m, "output_norm.weight", hp->n_embd, true, &m->output_norm, err)))
		return rc;
	if (m->output.data == NULL)
		m->output = m->tok_embd;	/* tied embeddings */

	for (int l = 0; l < hp->n_layer; l++)
	{
		llm_layer  *L = &m->layers[l];

#define W(field, suffix, rows, cols) \
		snprintf(name, sizeof(name), "blk.%d." suffix, l); \
		if ((rc = get_weight(m, name, rows, cols, true, &L->field, err))) return rc
#define V(field, suffix, n, req) \
		snprintf(name, sizeof(name), "blk.%d." suffix, l); \
		if ((rc = get_vector(m, name, n, req, &L->field, err))) return rc

		V(attn_norm, "attn_norm.weight", hp->n_embd, true);
		W(wq, "attn_q.weight", q_dim, hp->n_embd);
		W(wk, "attn_k.weight", kv_dim, hp->n_embd);
		W(wv, "attn_v.weight", kv_dim, hp->n_embd);
		W(wo, "attn_output.weight", hp->n_embd, q_dim);
		V(bq, "attn_q.bias", q_dim, false);
		V(bk, "attn_k.bias", kv_dim, false);
		V(bv, "attn_v.bias", kv_dim, false);
		V(ffn_norm, "ffn_norm.weight", hp->n_embd, true);
		W(w_gate, "ffn_gate.weight", hp->n_ff, hp->n_embd);
		W(w_up, "ffn_up.weight", hp->n_ff, hp->n_embd);
		W(w_down, "ffn_down.weight", hp->n_embd, hp->n_ff);
#undef W
#undef V
	}
	return LLM_OK;
}

/* Sizes, type histogram, a key identifying the weights, name, template. */
static llm_status
load_facts(llm_model *m, const char *path, llm_error *err)
{
	gguf_file  *g = m->gguf;
	uint64_t	h = 1469598103934665603ull;
	gguf_str	s;
	int64_t		ft;

	for (uint64_t i = 0; i < g->n_tensors; i++)
	{
		const gguf_tensor *t = &g->tensors[i];
		uint64_t	n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
		const uint8_t *p = t->data;
		size_t		sample = t->nbytes < 64 ? t->nbytes : 64;

		m->n_params += n;
		m->n_bytes += t->nbytes;
		if (t->type < 32)
			m->n_tensors_by_type[t->type]++;
		/* the key mixes names, shapes, types and a sample of each tensor */
		for (uint64_t k = 0; k < t->name.len; k++)
			h = (h ^ (uint8_t) t->name.data[k]) * 1099511628211ull;
		h = (h ^ n ^ ((uint64_t) t->type << 56)) * 1099511628211ull;
		for (size_t k = 0; k < sample; k++)
			h = (h ^ p[k]) * 1099511628211ull;
		for (size_t k = 0; k < sample; k++)
			h = (h ^ p[t->nbytes - 1 - k]) * 1099511628211ull;
	}
	m->key = h ? h : 1;
	m->file_type = gguf_get_i64(g, "general.file_type", &ft) ? ft : -1;

	if (gguf_get_str(g, "general.name", &s) && s.len > 0)
		snprintf(m->name, sizeof(m->name), "%.*s", (int) (s.len > 127 ? 127 : s.len), s.data);
	else
	{
		const char *base = strrchr(path, '/');

		snprintf(m->name, sizeof(m->name), "%s", base ? base + 1 : path);
	}
	if (gguf_get_str(g, "tokenizer.chat_template", &s))
	{
		m->chat_template = malloc(s.len + 1);
		if (m->chat_template == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
		memcpy(m->chat_template, s.data, s.len);
		m->chat_template[s.len] = '\0';
	}
	return LLM_OK;
}

/* The matrices llm_model_pack considers: output, then each layer's seven. */
static int
model_matrices(llm_model *m, llm_weight **ws)
{
	int			n = 0;

	ws[n++] = &m->output;
	for (int l = 0; l < m->hp.n_layer; l++)
	{
		llm_layer  *L = &m->layers[l];

		ws[n++] = &L->wq;
		ws[n++] = &L->wk;
		ws[n++] = &L->wv;
		ws[n++] = &L->wo;
		ws[n++] = &L->w_gate;
		ws[n++] = &L->w_up;
		ws[n++] = &L->w_down;
	}
	return n;
}

/* Bytes w's packed copy takes in the shared buffer (64-byte aligned), 0 if its shape has none. */
static size_t
packed_span(const llm_weight *w)
{
	if (!quant_packed_shape_ok(w->type, w->rows, w->cols))
		return 0;
	return (quant_packed_bytes(w->type, w->rows, w->cols) + 63) & ~(size_t) 63;
}

/*
 * Drop the whole pages of [p, p + len) of the (read-only) file mapping from
 * this process: a matrix the packed copy serves alone is not read again,
 * and its pages would otherwise stay counted in the worker's memory.  If
 * something reads them after all, they come back from the page cache.
 */
static void
release_pages(const void *p, size_t len)
{
	uintptr_t	page = (uintptr_t) sysconf(_SC_PAGESIZE),
				start = ((uintptr_t) p + page - 1) & ~(page - 1),
				end = ((uintptr_t) p + len) & ~(page - 1);

	if (start < end)
		(void) madvise((void *) start, end - start, MADV_DONTNEED);
}

/* MemAvailable of /proc/meminfo in bytes, 0 when it cannot be read. */
static size_t
mem_available(void)
{
	FILE	   *f = fopen("/proc/meminfo", "r");
	char		line[256];
	unsigned long long kb;
	size_t		bytes = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
		{
			bytes = (size_t) kb * 1024;
			break;
		}
	fclose(f);
	return bytes;
}

/*
 * The copies share one allocation in 2 MB pages where the kernel allows
 * them (transparent huge pages on request): a 1.1B-parameter Q8_0 model's
 * 1.1 GB are then 550 page faults instead of 270000, and decode walks fewer
 * page tables.
 */
llm_status
llm_model_pack(llm_model *m, size_t limit, llm_error *err)
{
	const size_t huge = (size_t) 2 << 20;
	llm_weight **ws;
	int			n;
	size_t		total = 0,
				off = 0;
	uint8_t    *buf;

	if (quant_active_isa() < LLM_ISA_AMX || m->packed != NULL)
		return LLM_OK;
	ws = malloc(sizeof(llm_weight *) * (m->hp.n_layer * 7 + 1));
	if (ws == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory loading the model");
	n = model_matrices(m, ws);
	for (int i = 0; i < n; i++)
		total += packed_span(ws[i]);
	if (limit == 0)
		limit = mem_available() / 2;
	if (total == 0 || (limit > 0 && total > limit))
	{
		m->pack_skipped = total;
		free(ws);
		return LLM_OK;
	}
	total = (total + huge - 1) & ~(huge - 1);
	buf = aligned_alloc(huge, total);
	if (buf == NULL)
	{
		free(ws);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory packing the model's weights");
	}
	madvise(buf, total, MADV_HUGEPAGE);
	m->packed = buf;
	for (int i = 0; i < n; i++)
	{
		llm_weight *w = ws[i];
		size_t		span = packed_span(w);

		if (span == 0)
			continue;
		quant_packed_pack(w->type, w->data, w->rows, w->cols, buf + off);
		w->packed = buf + off;
		m->packed_bytes += quant_packed_bytes(w->type, w->rows, w->cols);
		off += span;
		m->n_packed++;
		if (quant_packed_only(w->type))
			release_pages(w->data, (size_t) w->rows * w->row_bytes);
	}
	free(ws);
	return LLM_OK;
}

llm_status
llm_model_load(const char *path, llm_model **out, llm_error *err)
{
	llm_model  *m;
	llm_status	rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	if ((rc = gguf_open(path, &m->gguf, err)) ||
		(rc = load_hparams(m, err)) ||
		(rc = load_weights(m, err)) ||
		(rc = load_facts(m, path, err)) ||
		(rc = llm_vocab_load(m->gguf, &m->vocab, err)))
	{
		llm_model_free(m);
		return rc;
	}
	if (llm_vocab_n_tokens(m->vocab) != m->hp.n_vocab)
	{
		rc = llm_errorf(err, LLM_ERR_FORMAT,
						"model vocabulary has %d tokens but the embedding has %d rows",
						llm_vocab_n_tokens(m->vocab), m->hp.n_vocab);
		llm_model_free(m);
		return rc;
	}
	*out = m;
	return LLM_OK;
}

void
llm_model_free(llm_model *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->packed);
	free(m->layers);
	free(m->chat_template);
	llm_vocab_free(m->vocab);
	gguf_close(m->gguf);
	free(m);
}
