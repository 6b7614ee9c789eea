/*
 * test_engine.c — the forward pass, the scheduler and the paged KV cache
 * against goldens and an independent reference.
 *
 *  - greedy 200 tokens from BOS with stories260K equal the golden ids,
 *    from the shipped GGUF and from our own conversion of the llama2.c
 *    checkpoint;
 *  - logits equal a naive reference forward pass written here (scalar,
 *    contiguous KV, weights dequantized to F32) within 1e-4 for F32 models
 *    and 1e-2 for quantized ones, at every ISA level;
 *  - a sequence's tokens do not depend on batching, prefix-cache hits or
 *    preemption in a tiny pool.
 */
#include "unit.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>

#include "engine.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"

/* ---- the golden ---- */

static int
read_golden(int32_t *ids, int max)
{
	char		path[1024];
	FILE	   *fp;
	char		line[8192];
	int			n = 0;

	if (!unit_model_path(path, sizeof(path), "stories260K/greedy_from_bos_200.txt"))
		return -1;
	fp = fopen(path, "r");
	if (fp == NULL)
		return -1;
	if (!fgets(line, sizeof(line), fp) || !fgets(line, sizeof(line), fp))
	{
		fclose(fp);
		return -1;
	}
	fclose(fp);
	for (char *p = line, *end; n < max; p = end)
	{
		long		v = strtol(p, &end, 10);

		if (end == p)
			break;
		ids[n++] = (int32_t) v;
	}
	return n;
}

/* > 0: engines opened by open_model route such prefill chunks to BLAS. */
static int	blas_rows;
static int	row_group;		/* llm_engine_config.row_group for open_model */
static size_t pack_limit;		/* llm_engine_config.pack_limit for open_model */

static llm_engine *
open_model(const char *path, int threads, int max_seqs, size_t kv_bytes,
		   uint32_t kv_type, int batch)
{
	llm_engine_config cfg = llm_engine_config_default();
	llm_engine *e = NULL;
	llm_error	err;

	cfg.model_path = path;
	cfg.n_threads = threads;
	cfg.max_seqs = max_seqs;
	cfg.kv_mem_size = kv_bytes;
	cfg.kv_type = kv_type;
	cfg.max_batch_tokens = batch;
	cfg.blas_min_rows = blas_rows;
	cfg.row_group = row_group;
	cfg.pack_limit = pack_limit;
	if (llm_engine_open(&cfg, &e, &err) != LLM_OK)
	{
		fprintf(stderr, "open %s: %s\n", path, err.msg);
		return NULL;
	}
	return e;
}

/* Run every sequence to completion. */
static bool
run_all(llm_engine *e)
{
	llm_error	err;
	int			n;

	for (int guard = 0; llm_engine_busy(e) && guard < 100000; guard++)
		if (llm_engine_step(e, &n, &err) != LLM_OK)
		{
			fprintf(stderr, "step: %s\n", err.msg);
			return false;
		}
	return true;
}

/* Greedy generation of n tokens after prompt, alone in an engine. */
static int
generate(llm_engine *e, const int32_t *prompt, int n_prompt, int n, int32_t *out)
{
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = n,.stop_at_eog = false};
	llm_seq_id	id;
	llm_error	err;
	int			got;

	if (llm_seq_add(e, prompt, n_prompt, &p, &id, &err) != LLM_OK)
	{
		fprintf(stderr, "add: %s\n", err.msg);
		return -1;
	}
	if (!run_all(e))
		return -1;
	got = llm_seq_take(e, id, out, n);
	llm_seq_remove(e, id);
	return got;
}

static void
check_golden_from(const char *path)
{
	int32_t		golden[256],
				out[256];
	int			n_golden = read_golden(golden, 256);
	int32_t		bos = 1;
	llm_engine *e;
	int			n;

	if (n_golden != 200)
		SKIP("golden file absent");
	CHECK(n_golden == 200);
	for (int kv = 0; kv < 2; kv++)
	{
		e = open_model(path, 2, 4, 8 << 20, kv ? LLM_F32 : LLM_F16, 64);
		CHECK(e != NULL);
		if (e == NULL)
			return;
		n = generate(e, &bos, 1, 200, out);
		CHECK(n == 200);
		CHECKF(memcmp(out, golden, sizeof(int32_t) * 200) == 0,
			   "%s kv %s: greedy tokens differ from the golden", path, kv ? "f32" : "f16");
		llm_engine_close(e);
	}
}

static void
test_golden_gguf(void)
{
	char		path[1024];

	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	check_golden_from(path);
}

static void
test_golden_converted(void)
{
	char		bin[1024],
				tok[1024],
				cmd[4096],
				out[1024];

	if (!unit_model_path(bin, sizeof(bin), "stories260K/stories260K.bin") ||
		!unit_model_path(tok, sizeof(tok), "stories260K/tok512.bin"))
		SKIP("stories260K checkpoint absent");
	snprintf(out, sizeof(out), "%s/test-stories260K-converted.gguf", unit_build_dir());
	snprintf(cmd, sizeof(cmd), "%s/llm-convert --checkpoint '%s' --tokenizer '%s' -o '%s' >/dev/null",
			 unit_build_dir(), bin, tok, out);
	CHECKF(system(cmd) == 0, "conversion failed: %s", cmd);
	check_golden_from(out);
	remove(out);
}

/* ---- an independent reference forward pass ---- */

typedef struct ref_model
{
	llm_hparams hp;
	float	   *emb,
			   *out,
			   *onorm;
	float	  **wq,
			  **wk,
			  **wv,
			  **wo,
			  **wg,
			  **wu,
			  **wd,
			  **an,
			  **fn;
} ref_model;

/* Dequantize a whole tensor to F32. */
static float *
deq(const gguf_file *g, const char *name)
{
	const gguf_tensor *t = gguf_find_tensor(g, name);
	int64_t		rows,
				n;
	float	   *f;

	if (t == NULL)
		return NULL;
	n = (int64_t) t->ne[0];
	rows = (int64_t) (t->ne[1] * t->ne[2] * t->ne[3]);
	f = malloc(sizeof(float) * n * rows);
	for (int64_t r = 0; r < rows; r++)
		llm_dequantize_row(t->type, (const uint8_t *) t->data + r * llm_row_bytes(t->type, n),
						   f + r * n, n);
	return f;
}

static void
ref_load(ref_model *r, const llm_model *m)
{
	const gguf_file *g = m->gguf;
	int			L = m->hp.n_layer;
	char		name[96];

	r->hp = m->hp;
	r->emb = deq(g, "token_embd.weight");
	r->out = deq(g, "output.weight");
	if (r->out == NULL)
		r->out = r->emb;
	r->onorm = deq(g, "output_norm.weight");
#define ALLOC(x) r->x = calloc(L, sizeof(float *))
	ALLOC(wq); ALLOC(wk); ALLOC(wv); ALLOC(wo); ALLOC(wg); ALLOC(wu); ALLOC(wd); ALLOC(an); ALLOC(fn);
#undef ALLOC
	for (int l = 0; l < L; l++)
	{
#define LD(x, s) snprintf(name, sizeof(name), "blk.%d." s, l); r->x[l] = deq(g, name)
		LD(wq, "attn_q.weight"); LD(wk, "attn_k.weight"); LD(wv, "attn_v.weight");
		LD(wo, "attn_output.weight"); LD(wg, "ffn_gate.weight"); LD(wu, "ffn_up.weight");
		LD(wd, "ffn_down.weight"); LD(an, "attn_norm.weight"); LD(fn, "ffn_norm.weight");
#undef LD
	}
}

/*
 * The engine feeds quantized weights activations rounded to the weight's
 * dot type (Q8_0 / Q8_K), as llama.cpp does.  With ref_act_type set, the
 * reference rounds them the same way, then multiplies in double: that
 * agrees to ~1e-6 until a last-bit difference flips one rounding, after
 * which the two drift apart; so the quantized comparison below is against
 * F32 activations, and bounds the activation-rounding error instead.
 */
static uint32_t ref_act_type = LLM_F32;

static void
ref_free(ref_model *r)
{
	float	  **sets[] = {r->wq, r->wk, r->wv, r->wo, r->wg, r->wu, r->wd, r->an, r->fn};

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
	{
		for (int l = 0; l < r->hp.n_layer; l++)
			free(sets[i][l]);
		free(sets[i]);
	}
	if (r->out != r->emb)
		free(r->out);
	free(r->emb);
	free(r->onorm);
}

static void
ref_matvec(float *y, const float *W, const float *x, int rows, int cols)
{
	float	   *xr = malloc(sizeof(float) * cols);

	if (ref_act_type != LLM_F32)
	{
		void	   *q = malloc(llm_row_bytes(ref_act_type, cols));

		llm_quantize_row(ref_act_type, x, q, cols);
		llm_dequantize_row(ref_act_type, q, xr, cols);
		free(q);
	}
	else
		memcpy(xr, x, sizeof(float) * cols);
	for (int r = 0; r < rows; r++)
	{
		double		s = 0;

		for (int c = 0; c < cols; c++)
			s += (double) W[(size_t) r * cols + c] * xr[c];
		y[r] = (float) s;
	}
	free(xr);
}

static void
ref_rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
	double		ss = 0;

	for (int i = 0; i < n; i++)
		ss += (double) x[i] * x[i];
	for (int i = 0; i < n; i++)
		o[i] = (float) (x[i] / sqrt(ss / n + eps) * w[i]);
}

/* Logits after feeding tokens[0..n) one at a time (llama2.c style). */
static void
ref_forward(const ref_model *r, const int32_t *tokens, int n, float *logits)
{
	const llm_hparams *hp = &r->hp;
	int			dim = hp->n_embd,
				hd = hp->head_dim,
				qd = hp->n_head * hd,
				kvd = hp->n_head_kv * hd,
				ff = hp->n_ff;
	float	   *kc = calloc((size_t) hp->n_layer * n * kvd, sizeof(float));
	float	   *vc = calloc((size_t) hp->n_layer * n * kvd, sizeof(float));
	float	   *x = malloc(sizeof(float) * dim),
			   *xb = malloc(sizeof(float) * (qd > dim ? qd : dim)),
			   *q = malloc(sizeof(float) * qd),
			   *att = malloc(sizeof(float) * qd),
			   *h1 = malloc(sizeof(float) * ff),
			   *h2 = malloc(sizeof(float) * ff),
			   *o = malloc(sizeof(float) * (ff > dim ? ff : dim)),
			   *sc = malloc(sizeof(float) * n);

	for (int pos = 0; pos < n; pos++)
	{
		memcpy(x, r->emb + (size_t) tokens[pos] * dim, sizeof(float) * dim);
		for (int l = 0; l < hp->n_layer; l++)
		{
			float	   *k = kc + ((size_t) l * n + pos) * kvd;
			float	   *v = vc + ((size_t) l * n + pos) * kvd;

			ref_rmsnorm(xb, x, r->an[l], dim, hp->norm_eps);
			ref_matvec(q, r->wq[l], xb, qd, dim);
			ref_matvec(k, r->wk[l], xb, kvd, dim);
			ref_matvec(v, r->wv[l], xb, kvd, dim);
			for (int h = 0; h < hp->n_head + hp->n_head_kv; h++)
			{
				float	   *vec = h < hp->n_head ? q + h * hd : k + (h - hp->n_head) * hd;

				for (int i = 0; i < hp->n_rot / 2; i++)
				{
					double		th = pos * pow(hp->rope_theta, -2.0 * i / hp->n_rot);
					int			a = hp->rope_style == LLM_ROPE_NORM ? 2 * i : i;
					int			b = hp->rope_style == LLM_ROPE_NORM ? 2 * i + 1 : i + hp->n_rot / 2;
					float		x0 = vec[a],
								x1 = vec[b];

					vec[a] = (float) (x0 * cos(th) - x1 * sin(th));
					vec[b] = (float) (x0 * sin(th) + x1 * cos(th));
				}
			}
			for (int h = 0; h < hp->n_head; h++)
			{
				int			kh = h / (hp->n_head / hp->n_head_kv);
				double		mx = -1e30,
							sum = 0;

				for (int t = 0; t <= pos; t++)
				{
					double		s = 0;

					for (int i = 0; i < hd; i++)
						s += (double) q[h * hd + i] * kc[((size_t) l * n + t) * kvd + kh * hd + i];
					sc[t] = (float) (s / sqrt(hd));
					if (sc[t] > mx)
						mx = sc[t];
				}
				for (int t = 0; t <= pos; t++)
				{
					sc[t] = (float) exp(sc[t] - mx);
					sum += sc[t];
				}
				for (int i = 0; i < hd; i++)
				{
					double		a = 0;

					for (int t = 0; t <= pos; t++)
						a += sc[t] / sum * vc[((size_t) l * n + t) * kvd + kh * hd + i];
					att[h * hd + i] = (float) a;
				}
			}
			ref_matvec(o, r->wo[l], att, dim, qd);
			for (int i = 0; i < dim; i++)
				x[i] += o[i];
			ref_rmsnorm(xb, x, r->fn[l], dim, hp->norm_eps);
			ref_matvec(h1, r->wg[l], xb, ff, dim);
			ref_matvec(h2, r->wu[l], xb, ff, dim);
			for (int i = 0; i < ff; i++)
				h1[i] = (float) (h1[i] / (1.0 + exp(-h1[i])) * h2[i]);
			ref_matvec(o, r->wd[l], h1, dim, ff);
			for (int i = 0; i < dim; i++)
				x[i] += o[i];
		}
	}
	ref_rmsnorm(xb, x, r->onorm, dim, hp->norm_eps);
	ref_matvec(logits, r->out, xb, hp->n_vocab, dim);
	free(kc); free(vc); free(x); free(xb); free(q); free(att); free(h1); free(h2); free(o); free(sc);
}

/*
 * Max |engine - reference| logits on a fixed prompt of n_exact tokens, at
 * every ISA level (up to max_isa).  With quantized weights, SIMD sums in
 * another order than the scalar kernels; an ulp of difference can flip the
 * rounding of a later activation, so exact comparisons of quantized models
 * use the scalar kernels only.
 */
static void
check_logits_isa(const char *rel, double tol, int n_exact, llm_isa max_isa)
{
	char		path[1024];
	llm_model  *m;
	llm_error	err;
	ref_model	r;
	int32_t		toks[24];
	float	   *want,
			   *got;

	if (!unit_model_path(path, sizeof(path), rel))
		SKIP("model absent");
	if (llm_model_load(path, &m, &err) != LLM_OK)
	{
		CHECKF(0, "load %s: %s", rel, err.msg);
		return;
	}
	memset(&r, 0, sizeof(r));
	ref_load(&r, m);
	ref_act_type = n_exact < 24 ? llm_dot_type(m->layers[0].wq.type) : LLM_F32;
	for (int i = 0; i < 24; i++)
		toks[i] = i == 0 ? 1 : (int32_t) ((i * 37 + 11) % m->hp.n_vocab);
	want = malloc(sizeof(float) * m->hp.n_vocab);
	got = malloc(sizeof(float) * m->hp.n_vocab);
	ref_forward(&r, toks, n_exact, want);
	for (int isa = LLM_ISA_SCALAR; isa <= (int) quant_cpu_isa() && isa <= (int) max_isa; isa++)
	{
		llm_engine *e = open_model(path, 2, 1, 4 << 20, LLM_F32, 7);
		double		maxd = 0;

		CHECK(e != NULL);
		if (e == NULL)
			break;
		quant_init((llm_isa) isa);	/* after open, which picked the best */
		CHECK(llm_engine_eval(e, toks, n_exact, got, &err) == LLM_OK);
		for (int i = 0; i < m->hp.n_vocab; i++)
			if (fabs(got[i] - want[i]) > maxd)
				maxd = fabs(got[i] - want[i]);
		CHECKF(maxd <= tol, "%s isa %s: max |logit diff| %g > %g", rel,
			   quant_isa_name((llm_isa) isa), maxd, tol);
		printf("logits %-45s %2d tokens %-7s%s max abs diff %.3g\n", rel, n_exact,
			   quant_isa_name((llm_isa) isa), blas_rows ? " blas" : "", maxd);
		llm_engine_close(e);
	}
	free(want);
	free(got);
	ref_free(&r);
	llm_model_free(m);
}

static void
check_logits(const char *rel, double tol, int n_exact)
{
	check_logits_isa(rel, tol, n_exact, LLM_ISA_AMX);
}

static void
test_logits_reference(void)
{
	/* F32: exact reference, 24-token prompt */
	check_logits("stories260K/stories260K.gguf", 1e-4, 24);
	check_logits("babyllama-tok105/babyllama-tok105-f32.gguf", 1e-4, 24);
	/* quantized: same rounding of activations, before any rounding flip */
	check_logits_isa("babyllama-tok105/babyllama-tok105-Q8_0.gguf", 1e-4, 4, LLM_ISA_SCALAR);
	check_logits_isa("babyllama-tok105/babyllama-tok105-Q4_0.gguf", 1e-4, 4, LLM_ISA_SCALAR);
	/* OpenBLAS sgemm for prefill (dequantized weights, F32 activations) */
	blas_rows = 4;
	check_logits("stories260K/stories260K.gguf", 1e-4, 24);
	blas_rows = 0;
	/* quantized vs F32 activations: the activation-rounding error */
	check_logits("babyllama-tok105/babyllama-tok105-Q8_0.gguf", 0.25, 24);
	check_logits("babyllama-tok105/babyllama-tok105-Q4_0.gguf", 0.25, 24);
	quant_init(quant_cpu_isa());
}

/*
 * Make a random-weight model of type (llm-random-model --type) with the
 * stories260K vocabulary at out (unit_build_dir()/test-NAME.gguf, cap
 * bytes) and load it; NULL (after a failed check) if that fails.
 */
static llm_model *
make_tiny_model(const char *vocab, const char *type, const char *name, char *out, size_t cap)
{
	char		cmd[4096];
	llm_model  *m;
	llm_error	err;

	snprintf(out, cap, "%s/test-%s.gguf", unit_build_dir(), name);
	snprintf(cmd, sizeof(cmd),
			 "%s/llm-random-model --shape tiny --dim 256 --hidden 512 --layers 2 --heads 4 "
			 "--kv-heads 2 --ctx 128 --type %s --vocab '%s' -o '%s' >/dev/null",
			 unit_build_dir(), type, vocab, out);
	CHECKF(system(cmd) == 0, "%s", cmd);
	if (llm_model_load(out, &m, &err) != LLM_OK)
	{
		CHECKF(0, "load: %s", err.msg);
		return NULL;
	}
	return m;
}

/* K-quants (Q4_K, Q6_K) through the whole pass, on a model our tool makes. */
static void
test_logits_kquants(void)
{
	char		vocab[1024],
				out[1024],
				rel[PATH_MAX];
	llm_model  *m;

	if (!unit_model_path(vocab, sizeof(vocab), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	if ((m = make_tiny_model(vocab, "q4_k_m", "kquants", out, sizeof(out))) == NULL)
		return;
	CHECK(m->n_tensors_by_type[LLM_Q4_K] > 0);
	CHECK(m->n_tensors_by_type[LLM_Q6_K] > 0);
	llm_model_free(m);
	/* check_logits takes a path below LLM_MODELS_DIR: point it here */
	if (realpath(out, rel) == NULL)
	{
		CHECKF(0, "realpath %s", out);
		return;
	}
	{
		const char *saved = getenv("LLM_MODELS_DIR");
		char	   *keep = saved ? strdup(saved) : NULL;

		setenv("LLM_MODELS_DIR", "/", 1);
		check_logits_isa(rel + 1, 1e-4, 4, LLM_ISA_SCALAR);
		check_logits(rel + 1, 0.25, 24);
		if (keep)
		{
			setenv("LLM_MODELS_DIR", keep, 1);
			free(keep);
		}
		else
			unsetenv("LLM_MODELS_DIR");
	}
	remove(out);
}

/* ---- batching, prefix cache, preemption ---- */

/*
 * Eight greedy generations (prompts of 5 .. 33 tokens of the 512-token
 * vocabulary, four sharing an 18-token prefix) give the same tokens alone,
 * together (prefill chunks of up to 48 rows mixed with decode rows) and
 * with preemptions in a small pool.
 */
static void
batch_invariance(const char *path)
{
	llm_engine *e;
	int32_t		prompts[8][40];
	int			lens[8];
	int32_t		alone[8][64],
				together[8][64];
	llm_seq_id	ids[8];
	llm_error	err;

	for (int s = 0; s < 8; s++)
	{
		lens[s] = 5 + s * 4;
		prompts[s][0] = 1;
		for (int i = 1; i < lens[s]; i++)
			prompts[s][i] = (int32_t) (259 + (i * 13 + s * 7) % 250);
	}
	/* the first 18 tokens of prompts 4..7 agree: prefix-cache hits */
	for (int s = 4; s < 7; s++)
		memcpy(prompts[s], prompts[7], sizeof(int32_t) * 18);
	e = open_model(path, 2, 8, 8 << 20, LLM_F16, 48);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	for (int s = 0; s < 8; s++)
		CHECK(generate(e, prompts[s], lens[s], 64, alone[s]) == 64);

	for (int s = 0; s < 8; s++)
	{
		llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 64};

		CHECK(llm_seq_add(e, prompts[s], lens[s], &p, &ids[s], &err) == LLM_OK);
	}
	CHECK(run_all(e));
	for (int s = 0; s < 8; s++)
	{
		CHECK(llm_seq_take(e, ids[s], together[s], 64) == 64);
		CHECKF(memcmp(alone[s], together[s], sizeof(int32_t) * 64) == 0,
			   "sequence %d differs when batched", s);
		llm_seq_remove(e, ids[s]);
	}
	{
		llm_engine_stats st;

		llm_engine_get_stats(e, &st);
		CHECKF(st.prefix_hits > 0, "no prefix-cache hits (%lld queries)",
			   (long long) st.prefix_queries);
		CHECK(st.pages_used == 0);
	}
	llm_engine_close(e);

	/* a pool too small for all eight at once: preemption, same tokens */
	{
		/* size the pool to about 14 pages of 16 tokens */
		llm_engine_config cfg = llm_engine_config_default();
		llm_model  *m;

		e = NULL;
		CHECK(llm_model_load(path, &m, &err) == LLM_OK);
		cfg.model_path = path;
		cfg.max_seqs = 8;
		cfg.max_batch_tokens = 48;
		cfg.kv_mem_size = 14 * (size_t) m->hp.n_layer * 2 * 16 * m->hp.n_head_kv * m->hp.head_dim * 2 + 8192;
		llm_model_free(m);
		CHECK(llm_engine_open(&cfg, &e, &err) == LLM_OK);
	}
	if (e == NULL)
		return;
	for (int s = 0; s < 8; s++)
	{
		llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 64};

		CHECK(llm_seq_add(e, prompts[s], lens[s], &p, &ids[s], &err) == LLM_OK);
	}
	CHECK(run_all(e));
	{
		llm_engine_stats st;

		llm_engine_get_stats(e, &st);
		CHECKF(st.preemptions > 0, "expected preemptions in a 14-page pool");
		printf("small pool: %lld pages, %lld preemptions, %lld evictions\n",
			   (long long) st.pages_total, (long long) st.preemptions, (long long) st.evictions);
	}
	for (int s = 0; s < 8; s++)
	{
		CHECKF(llm_seq_status(e, ids[s]) == LLM_SEQ_DONE, "sequence %d state %d", s,
			   llm_seq_status(e, ids[s]));
		CHECK(llm_seq_take(e, ids[s], together[s], 64) == 64);
		CHECKF(memcmp(alone[s], together[s], sizeof(int32_t) * 64) == 0,
			   "sequence %d differs after preemption", s);
		llm_seq_remove(e, ids[s]);
	}
	llm_engine_close(e);
}

static void
test_batch_invariance(void)
{
	char		path[1024];

	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	batch_invariance(path);
}

/*
 * The same with quantized weights (random models made by the repo's tool),
 * whose matrices the engine packs on a CPU with AMX: decode steps of a few
 * rows read the packed copies (Q8_0 up to 16 rows, Q4_K 4, Q6_K 5), larger
 * steps and prefill chunks the file's rows; every row count must give the
 * same bits.  type is the tool's --type; packed the matrices expected
 * packed with AMX (2 layers x 7, and the output).
 */
static void
batch_invariance_quant(const char *type, int packed)
{
	char		vocab[1024],
				out[1024];
	llm_model  *m;
	llm_error	err;

	if (!unit_model_path(vocab, sizeof(vocab), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	if ((m = make_tiny_model(vocab, type, type, out, sizeof(out))) == NULL)
		return;
	CHECK(llm_model_pack(m, 0, &err) == LLM_OK);
	if (quant_cpu_isa() >= LLM_ISA_AMX)
		CHECKF(m->n_packed == packed, "%s: %d matrices packed", type, m->n_packed);
	else
		CHECK(m->n_packed == 0);
	CHECK(m->pack_skipped == 0);
	llm_model_free(m);
	batch_invariance(out);
	remove(out);
}

static void
test_batch_invariance_q8_0(void)
{
	batch_invariance_quant("q8_0", 2 * 7 + 1);
}

/* Q4_K_M: Q4_K matrices with some Q6_K ones (the output among them). */
static void
test_batch_invariance_q4_k_m(void)
{
	batch_invariance_quant("q4_k_m", 2 * 7 + 1);
}

/* Resident bytes of this process's mappings of the file at path (smaps). */
static size_t
mapped_rss(const char *path)
{
	FILE	   *f = fopen("/proc/self/smaps", "r");
	char		line[1024];
	bool		in = false;
	size_t		kb,
				total = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (isxdigit((unsigned char) line[0]) && !isupper((unsigned char) line[0]))
			in = strstr(line, path) != NULL;	/* a mapping's header: "start-end ..." */
		else if (in && sscanf(line, "Rss: %zu kB", &kb) == 1)
			total += kb * 1024;
	}
	fclose(f);
	return total;
}

/*
 * With AMX, the matrices of a Q4_0 or Q4_K_M model (type, the tool's
 * --type) are served by their packed copies alone, prefill included: after
 * opening, most of the file's pages are no longer resident in the process,
 * and a 40-token prefill plus generation does not bring them back.
 */
static void
packed_only(const char *type)
{
	char		vocab[1024],
				out[1024],
				rel[PATH_MAX];
	llm_engine *e;
	int32_t		prompt[40],
				got[16];
	size_t		fsize,
				rss0,
				rss1;
	FILE	   *f;

	if (quant_cpu_isa() < LLM_ISA_AMX)
		SKIP("no AMX on this CPU");
	if (!unit_model_path(vocab, sizeof(vocab), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	{
		llm_model  *m = make_tiny_model(vocab, type, "packed-only", out, sizeof(out));

		if (m == NULL)
			return;
		llm_model_free(m);
	}
	if (realpath(out, rel) == NULL || (f = fopen(rel, "rb")) == NULL)
	{
		CHECKF(0, "open %s", out);
		return;
	}
	fseek(f, 0, SEEK_END);
	fsize = (size_t) ftell(f);
	fclose(f);
	e = open_model(rel, 2, 4, 4 << 20, LLM_F16, 64);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	rss0 = mapped_rss(rel);
	prompt[0] = 1;
	for (int i = 1; i < 40; i++)
		prompt[i] = 259 + (i * 11) % 250;
	CHECK(generate(e, prompt, 40, 16, got) == 16);
	rss1 = mapped_rss(rel);
	CHECKF(rss0 < fsize / 2 && rss1 < fsize / 2,
		   "%s: file %zu bytes, resident %zu after opening, %zu after prefill", type, fsize,
		   rss0, rss1);
	llm_engine_close(e);
	remove(out);
}

static void
test_packed_only(void)
{
	packed_only("q4_0");
	packed_only("q4_k_m");
}

/*
 * A pack limit below the copies' size: nothing is packed, the engine says
 * how much the copies would have taken, and it generates what the packed
 * engine does.  Below the AMX level nothing is packed either.
 */
static void
test_pack_limit(void)
{
	char		vocab[1024],
				out[1024];
	llm_model  *m;
	llm_error	err;
	size_t		skipped = 0;
	int32_t		prompt[3] = {1, 403, 407},
				got[2][32];

	if (!unit_model_path(vocab, sizeof(vocab), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	if ((m = make_tiny_model(vocab, "q8_0", "pack-limit", out, sizeof(out))) == NULL)
		return;
	CHECK(llm_model_pack(m, 4096, &err) == LLM_OK);
	CHECK(m->n_packed == 0 && m->packed == NULL && m->packed_bytes == 0);
	if (quant_cpu_isa() >= LLM_ISA_AMX)
		CHECKF(m->pack_skipped > 4096, "%zu bytes skipped", m->pack_skipped);
	skipped = m->pack_skipped;
	llm_model_free(m);
	/* below the AMX level (LLM_ISA=avx512, say) the copies would go unused */
	quant_init(LLM_ISA_AVX512);
	if (llm_model_load(out, &m, &err) == LLM_OK)
	{
		CHECK(llm_model_pack(m, 0, &err) == LLM_OK);
		CHECK(m->n_packed == 0 && m->packed == NULL && m->pack_skipped == 0);
		llm_model_free(m);
	}
	quant_init(quant_cpu_isa());
	for (int k = 0; k < 2; k++)
	{
		llm_engine *e;

		pack_limit = k == 0 ? 0 : 4096;
		e = open_model(out, 2, 4, 4 << 20, LLM_F16, 64);
		CHECK(e != NULL);
		if (e == NULL)
			break;
		CHECK(llm_engine_info(e)->pack_skipped_bytes == (k == 0 ? 0 : skipped));
		CHECK(quant_cpu_isa() < LLM_ISA_AMX || (llm_engine_info(e)->packed_bytes > 0) == (k == 0));
		CHECK(generate(e, prompt, 3, 32, got[k]) == 32);
		llm_engine_close(e);
	}
	pack_limit = 0;
	CHECK(memcmp(got[0], got[1], sizeof(got[0])) == 0);
	remove(out);
}

/*
 * Samples of llm_seq_add_n equal independent runs with seed + i.  Two
 * threads: a step's four samples are drawn on the pool, by whichever
 * thread takes each.
 */
static void
test_samples_cow(void)
{
	char		path[1024];
	llm_engine *e;
	int32_t		prompt[37];
	llm_seq_id	ids[4];
	int32_t		got[4][40],
				want[40];
	llm_error	err;
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 40};
	int			max_shared = 0;

	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	prompt[0] = 1;
	for (int i = 1; i < 37; i++)
		prompt[i] = (int32_t) (259 + (i * 31) % 250);
	p.sampling.temperature = 0.9f;
	p.sampling.seed = 77;
	e = open_model(path, 2, 8, 4 << 20, LLM_F16, 64);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	CHECK(llm_seq_add_n(e, prompt, 37, &p, 4, ids, &err) == LLM_OK);
	while (llm_engine_busy(e))
	{
		int			n;

		CHECK(llm_engine_step(e, &n, &err) == LLM_OK);
		for (int i = 1; i < 4; i++)
		{
			llm_seq_info info;

			if (llm_seq_get_info(e, ids[i], &info) && info.shared_pages > max_shared)
				max_shared = info.shared_pages;
		}
	}
	CHECKF(max_shared >= 2, "samples shared at most %d pages with the first", max_shared);
	for (int i = 0; i < 4; i++)
		CHECK(llm_seq_take(e, ids[i], got[i], 40) == 40);
	for (int i = 0; i < 4; i++)
		llm_seq_remove(e, ids[i]);
	for (int i = 0; i < 4; i++)
	{
		llm_seq_params pi = p;
		llm_seq_id	id;

		pi.sampling.seed = 77 + i;
		CHECK(llm_seq_add(e, prompt, 37, &pi, &id, &err) == LLM_OK);
		CHECK(run_all(e));
		CHECK(llm_seq_take(e, id, want, 40) == 40);
		llm_seq_remove(e, id);
		CHECKF(memcmp(want, got[i], sizeof(want)) == 0, "sample %d differs from a lone run", i);
	}
	CHECK(memcmp(got[0], got[1], sizeof(want)) != 0);
	llm_engine_close(e);
}

/*
 * A prefill chunk that would take a step with decode rows past the row
 * group is trimmed to end on it or waits a step (the rest goes into the
 * next step), a lone prompt is not, and the sequences' tokens do not
 * change.  n_new prompts of 10 tokens join 8 decoding sequences; want[]
 * are the rows of the next three steps.
 */
static void
check_row_group(int group, int n_new, const int *want)
{
	char		path[1024];
	llm_engine *e;
	int32_t		prompt[10],
				alone[12],
				got[12];
	llm_seq_id	ids[8],
				id[2];
	llm_error	err;
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 40};
	llm_seq_params q = {.sampling = llm_sampling_default(),.max_new_tokens = 12};
	int			n;

	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	for (int i = 0; i < 10; i++)
		prompt[i] = i == 0 ? 1 : 300 + 7 * i;
	row_group = group;
	e = open_model(path, 1, 16, 8 << 20, LLM_F16, 64);
	row_group = 0;
	CHECK(e != NULL);
	if (e == NULL)
		return;
	CHECK(generate(e, prompt, 10, 12, alone) == 12);
	/* alone, an 18-token prompt is not cut (its rest would be a step of its own) */
	{
		int32_t		long_prompt[18];
		int32_t		out[2];

		for (int i = 0; i < 18; i++)
			long_prompt[i] = i == 0 ? 1 : 200 + 3 * i;
		CHECK(llm_seq_add(e, long_prompt, 18, &q, &id[0], &err) == LLM_OK);
		CHECK(llm_engine_step(e, &n, &err) == LLM_OK);
		CHECKF(n == 18, "row group %d: a lone prompt's step has %d rows, want 18", group, n);
		CHECK(run_all(e));
		CHECK(llm_seq_take(e, id[0], out, 2) == 2);
		llm_seq_remove(e, id[0]);
	}
	for (int i = 0; i < 8; i++)
	{
		int32_t		two[2] = {1, 400 + i};

		CHECK(llm_seq_add(e, two, 2, &p, &ids[i], &err) == LLM_OK);
	}
	CHECK(llm_engine_step(e, &n, &err) == LLM_OK && n == 16);	/* 8 prompts of 2 */
	CHECK(llm_engine_step(e, &n, &err) == LLM_OK && n == 8);	/* 8 decodes */
	for (int k = 0; k < n_new; k++)
		CHECK(llm_seq_add(e, prompt, 10, &q, &id[k], &err) == LLM_OK);
	for (int k = 0; k < 3; k++)
	{
		CHECK(llm_engine_step(e, &n, &err) == LLM_OK);
		CHECKF(n == want[k], "row group %d, %d prompts: step %d has %d rows, want %d",
			   group, n_new, k + 1, n, want[k]);
	}
	CHECK(run_all(e));
	for (int k = 0; k < n_new; k++)
	{
		CHECK(llm_seq_take(e, id[k], got, 12) == 12);
		CHECKF(memcmp(got, alone, sizeof(got)) == 0,
			   "row group %d: prompt %d's tokens differ from a lone run", group, k);
		llm_seq_remove(e, id[k]);
	}
	for (int i = 0; i < 8; i++)
		llm_seq_remove(e, ids[i]);
	llm_engine_close(e);
}

static void
test_row_group(void)
{
	/* 8 decodes + 8 of the prompt, then 8 + 2, then 9 decodes */
	check_row_group(16, 1, (const int[]) {16, 10, 9});
	/* no trimming: 8 + 10, then 9 decodes */
	check_row_group(1, 1, (const int[]) {18, 9, 9});
	/* 8 + 8 of the first (the second waits), 8 + 2 + 6 of the second, 9 + 4 */
	check_row_group(16, 2, (const int[]) {16, 16, 13});
	check_row_group(1, 2, (const int[]) {28, 10, 10});
	/*
	 * 8 decodes are two groups of 4 already: nothing waits, chunks stop at
	 * most half a group short (8 + 8 + 8, then 8 + 2 + 2, then 10 decodes)
	 */
	check_row_group(4, 1, (const int[]) {16, 10, 9});
	check_row_group(4, 2, (const int[]) {24, 12, 10});
}

/*
 * Rolling back the last tokens and decoding again gives the same tokens,
 * greedy alone and with penalties (which must forget the rolled-back
 * tokens).
 */
static void
check_rollback(bool penalties)
{
	char		path[1024];
	llm_engine *e;
	int32_t		bos = 1,
				straight[60],
				part[60];
	llm_seq_id	id;
	llm_error	err;
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 60};
	int			n,
				got = 0;

	if (penalties)
	{
		p.sampling.repeat_penalty = 1.3f;
		p.sampling.frequency_penalty = 0.4f;
		p.sampling.presence_penalty = 0.2f;
		p.sampling.penalty_last_n = 32;
	}
	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	e = open_model(path, 1, 2, 4 << 20, LLM_F16, 64);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	CHECK(llm_seq_add(e, &bos, 1, &p, &id, &err) == LLM_OK);
	CHECK(run_all(e));
	CHECK(llm_seq_take(e, id, straight, 60) == 60);
	llm_seq_remove(e, id);
	CHECK(llm_seq_add(e, &bos, 1, &p, &id, &err) == LLM_OK);
	/* decode 40 tokens, roll back 23 (across a page boundary), go on */
	while (llm_engine_busy(e))
	{
		llm_seq_info info;

		llm_seq_get_info(e, id, &info);
		if (info.n_generated == 40)
			break;
		CHECK(llm_engine_step(e, &n, &err) == LLM_OK);
	}
	CHECK(llm_seq_rollback(e, id, 23, &err) == LLM_OK);
	{
		llm_seq_info info;

		CHECK(llm_seq_get_info(e, id, &info));
		CHECK(info.n_generated == 17);
		CHECK(info.pages == (info.n_computed + 15) / 16);
	}
	CHECK(run_all(e));
	got = llm_seq_take(e, id, part, 60);
	CHECK(got == 60);
	CHECKF(memcmp(part, straight, sizeof(straight)) == 0, "tokens after rollback differ");
	CHECK(llm_seq_rollback(e, id, 1, &err) == LLM_ERR_INVALID_ARG);	/* finished */
	llm_seq_remove(e, id);
	llm_engine_close(e);
}

static void
test_rollback(void)
{
	check_rollback(false);
	check_rollback(true);
}

/* Attention sinks: generation runs past a 64-token context. */
static void
test_sinks(void)
{
	char		path[1024];
	llm_engine_config cfg = llm_engine_config_default();
	llm_engine *e;
	llm_error	err;
	llm_seq_id	id;
	int32_t		bos = 1,
				out[300],
				golden[256];
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 300,
	.overflow = LLM_OVERFLOW_SINKS};
	int			max_pages = 0,
				n;

	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf") ||
		read_golden(golden, 256) != 200)
		SKIP("stories260K absent");
	cfg.model_path = path;
	cfg.n_ctx = 64;
	cfg.max_seqs = 2;
	cfg.kv_mem_size = 1 << 20;
	cfg.kv_type = LLM_F32;
	CHECK(llm_engine_open(&cfg, &e, &err) == LLM_OK);
	if (e == NULL)
		return;
	p.overflow = LLM_OVERFLOW_ERROR;
	CHECK(llm_seq_add(e, &bos, 1, &p, &id, &err) == LLM_ERR_RANGE);
	p.overflow = LLM_OVERFLOW_SINKS;
	CHECK(llm_seq_add(e, &bos, 1, &p, &id, &err) == LLM_OK);
	while (llm_engine_busy(e))
	{
		llm_seq_info info;

		CHECK(llm_engine_step(e, &n, &err) == LLM_OK);
		if (llm_seq_get_info(e, id, &info) && info.pages > max_pages)
			max_pages = info.pages;
	}
	CHECKF(llm_seq_status(e, id) == LLM_SEQ_DONE, "state %d: %s", llm_seq_status(e, id),
		   llm_seq_error(e, id)->msg);
	CHECK(llm_seq_take(e, id, out, 300) == 300);
	CHECKF(max_pages <= 4, "held %d pages in a 4-page context", max_pages);
	/* until the first shift (63 new tokens fill 64 positions) it is plain */
	CHECK(memcmp(out, golden, 63 * sizeof(int32_t)) == 0);
	for (int i = 0; i < 300; i++)
		CHECK(out[i] >= 0 && out[i] < 512);
	llm_seq_remove(e, id);
	/* the shared sink page was not modified: a fresh run hits the cache */
	p.overflow = LLM_OVERFLOW_ERROR;
	p.max_new_tokens = 60;
	CHECK(generate(e, &bos, 1, 60, out) == 60);
	CHECK(memcmp(out, golden, 60 * sizeof(int32_t)) == 0);
	llm_engine_close(e);
}

static void
test_errors(void)
{
	char		path[1024];
	llm_engine *e;
	llm_error	err;
	llm_seq_id	id;
	int32_t		toks[600];
	llm_seq_params p = {.sampling = llm_sampling_default(),.max_new_tokens = 10};
	llm_engine_config cfg = llm_engine_config_default();

	cfg.model_path = "/nonexistent/model.gguf";
	CHECK(llm_engine_open(&cfg, &e, &err) == LLM_ERR_IO);
	CHECK(strstr(err.msg, "/nonexistent/model.gguf") != NULL);
	if (!unit_model_path(path, sizeof(path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	e = open_model(path, 1, 2, 4 << 20, LLM_F16, 32);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	for (int i = 0; i < 600; i++)
		toks[i] = 1;
	CHECK(llm_seq_add(e, toks, 600, &p, &id, &err) == LLM_ERR_RANGE);
	toks[3] = 99999;
	CHECK(llm_seq_add(e, toks, 10, &p, &id, &err) == LLM_ERR_RANGE);
	toks[3] = 5;
	p.sampling.temperature = -1;
	CHECK(llm_seq_add(e, toks, 10, &p, &id, &err) == LLM_ERR_INVALID_ARG);
	p.sampling.temperature = 0;
	CHECK(llm_seq_add(e, toks, 10, &p, &id, &err) == LLM_OK);
	CHECK(llm_seq_add(e, toks, 10, &p, &id, &err) == LLM_OK);
	CHECK(llm_seq_add(e, toks, 10, &p, &id, &err) == LLM_ERR_FULL);
	llm_engine_close(e);
}

int
main(void)
{
	RUN(test_golden_gguf);
	RUN(test_golden_converted);
	RUN(test_logits_reference);
	RUN(test_logits_kquants);
	RUN(test_batch_invariance);
	RUN(test_batch_invariance_q8_0);
	RUN(test_batch_invariance_q4_k_m);
	RUN(test_pack_limit);
	RUN(test_packed_only);
	RUN(test_samples_cow);
	RUN(test_rollback);
	RUN(test_row_group);
	RUN(test_sinks);
	RUN(test_errors);
	return unit_finish();
}
