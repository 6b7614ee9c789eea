/*
 * llm-cli — the engine core on the command line.
 *
 *   llm-cli -m MODEL.gguf -p PROMPT [-n N] [--temp T] [--seed S] [--threads K]
 *   llm-cli bench -m MODEL.gguf [-p 128] [-n 64] [-t 1,2] [-r 3]
 *   llm-cli tokenize -m MODEL.gguf -p TEXT [--bos]
 *   llm-cli logits -m MODEL.gguf (-p TEXT | --ids "1 2 3")
 *   llm-cli info -m MODEL.gguf
 *
 * Generation prints the text as it is produced, then prompt and generation
 * speed on stderr.  --ids prints the generated token ids instead of text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "clock.h"
#include "engine.h"
#include "quant.h"

/* bench: most sequences generating at once */
#define LLM_CLI_MAX_SEQS 64

typedef struct options
{
	const char *cmd;
	const char *model;
	const char *prompt;
	const char *ids;
	int			n_predict;
	int			n_prompt_bench;
	const char *threads_list;
	const char *seqs_list;		/* bench: concurrent sequences per tg test */
	int			threads;
	int			reps;
	int			ctx;
	bool		bos;
	bool		no_bos;
	bool		print_ids;
	bool		sinks;
	int			blas;
	bool		no_pack;
	uint32_t	kv_type;
	llm_sampling sampling;
} options;

static void
usage(void)
{
	fprintf(stderr,
			"usage: llm-cli [generate] -m MODEL.gguf -p PROMPT [-n N] [--temp T] [--seed S]\n"
			"               [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
			"               [--threads K] [--ctx N] [--sinks] [--kv-type f16|f32] [--no-bos] [--ids]\n"
			"               [--blas MIN_ROWS]  (prefill chunks of MIN_ROWS+ rows through OpenBLAS)\n"
			"               [--no-pack]  (decode reads the file's rows, not packed copies)\n"
			"       llm-cli bench -m MODEL.gguf [-p N_PROMPT] [-n N_GEN] [-t 1,2] [-s 1,8] [-r REPS] [--blas N] [--no-pack]\n"
			"               (-s: sequences generating at once; tg is then their aggregate tokens/s)\n"
			"       llm-cli tokenize -m MODEL.gguf -p TEXT [--bos]\n"
			"       llm-cli logits -m MODEL.gguf (-p TEXT | --ids \"1 2 3\")\n"
			"       llm-cli info -m MODEL.gguf\n");
}

/* Parse an integer option strictly. */
static bool
parse_int(const char *s, int *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < -2147483647L || v > 2147483647L)
		return false;
	*out = (int) v;
	return true;
}

static bool
parse_float(const char *s, float *out)
{
	char	   *end;

	errno = 0;
	*out = strtof(s, &end);
	return !(errno || *end || end == s);
}

static bool
parse_args(int argc, char **argv, options *o)
{
	int			i = 1;

	memset(o, 0, sizeof(*o));
	o->cmd = "generate";
	o->n_predict = 128;
	o->n_prompt_bench = 128;
	o->threads = 1;
	o->reps = 3;
	o->kv_type = LLM_F16;
	o->sampling = llm_sampling_default();
	if (argc > 1 && argv[1][0] != '-')
		o->cmd = argv[i++];
	for (; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool		ok = true;
		int			seed;

#define NEEDV() do { if (v == NULL) { fprintf(stderr, "llm-cli: %s needs a value\n", a); return false; } i++; } while (0)
		if (!strcmp(a, "-m") || !strcmp(a, "--model"))
		{
			NEEDV();
			o->model = v;
		}
		else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
		{
			NEEDV();
			o->prompt = v;
			ok = !strcmp(o->cmd, "bench") ? parse_int(v, &o->n_prompt_bench) : true;
		}
		else if (!strcmp(a, "--ids"))
		{
			if (!strcmp(o->cmd, "logits"))
			{
				NEEDV();
				o->ids = v;
			}
			else
				o->print_ids = true;
		}
		else if (!strcmp(a, "-n"))
		{
			NEEDV();
			ok = parse_int(v, &o->n_predict);
		}
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
		{
			NEEDV();
			o->threads_list = v;
			ok = !strcmp(o->cmd, "bench") || parse_int(v, &o->threads);
		}
		else if (!strcmp(a, "-s") || !strcmp(a, "--seqs"))
		{
			NEEDV();
			o->seqs_list = v;
		}
		else if (!strcmp(a, "-r"))
		{
			NEEDV();
			ok = parse_int(v, &o->reps);
		}
		else if (!strcmp(a, "--ctx"))
		{
			NEEDV();
			ok = parse_int(v, &o->ctx);
		}
		else if (!strcmp(a, "--temp"))
		{
			NEEDV();
			ok = parse_float(v, &o->sampling.temperature);
		}
		else if (!strcmp(a, "--top-k"))
		{
			NEEDV();
			ok = parse_int(v, &o->sampling.top_k);
		}
		else if (!strcmp(a, "--top-p"))
		{
			NEEDV();
			ok = parse_float(v, &o->sampling.top_p);
		}
		else if (!strcmp(a, "--min-p"))
		{
			NEEDV();
			ok = parse_float(v, &o->sampling.min_p);
		}
		else if (!strcmp(a, "--repeat-penalty"))
		{
			NEEDV();
			ok = parse_float(v, &o->sampling.repeat_penalty);
		}
		else if (!strcmp(a, "--seed"))
		{
			NEEDV();
			ok = parse_int(v, &seed);
			o->sampling.seed = (uint64_t) (int64_t) seed;
		}
		else if (!strcmp(a, "--kv-type"))
		{
			NEEDV();
			if (!strcmp(v, "f16"))
				o->kv_type = LLM_F16;
			else if (!strcmp(v, "f32"))
				o->kv_type = LLM_F32;
			else
				ok = false;
		}
		else if (!strcmp(a, "--blas"))
		{
			NEEDV();
			ok = parse_int(v, &o->blas);
		}
		else if (!strcmp(a, "--sinks"))
			o->sinks = true;
		else if (!strcmp(a, "--no-pack"))
			o->no_pack = true;
		else if (!strcmp(a, "--bos"))
			o->bos = true;
		else if (!strcmp(a, "--no-bos"))
			o->no_bos = true;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return false;
		else
		{
			fprintf(stderr, "llm-cli: unknown option %s\n", a);
			return false;
		}
		if (!ok)
		{
			fprintf(stderr, "llm-cli: invalid value for %s: %s\n", a, v ? v : "");
			return false;
		}
#undef NEEDV
	}
	if (o->model == NULL)
	{
		fprintf(stderr, "llm-cli: -m MODEL.gguf is required\n");
		return false;
	}
	return true;
}

/* Open an engine for the options. */
static llm_engine *
open_engine(const options *o, int threads, int max_seqs)
{
	llm_engine_config cfg = llm_engine_config_default();
	llm_engine *e;
	llm_error	err;

	cfg.model_path = o->model;
	cfg.n_threads = threads;
	cfg.n_ctx = o->ctx;
	cfg.max_seqs = max_seqs;
	cfg.kv_type = o->kv_type;
	cfg.kv_mem_size = 256u << 20;
	cfg.blas_min_rows = o->blas;
	cfg.pack_weights = !o->no_pack;
	if (llm_engine_open(&cfg, &e, &err) != LLM_OK)
	{
		fprintf(stderr, "llm-cli: %s\n", err.msg);
		return NULL;
	}
	if (llm_engine_info(e)->pack_skipped_bytes > 0)
		fprintf(stderr, "llm-cli: not packing the weights: the copies would take %.1f MB, more than half the memory available\n",
				(double) llm_engine_info(e)->pack_skipped_bytes / (1024.0 * 1024.0));
	return e;
}

/* Tokenize text into a malloc'd array. */
static int32_t *
tokenize(llm_engine *e, const char *text, bool add_bos, int *n)
{
	const llm_vocab *v = llm_engine_vocab(e);
	size_t		len = strlen(text);
	int			cap = (int) len + 8;
	int32_t    *toks = malloc(cap * sizeof(int32_t));
	llm_error	err;

	if (toks == NULL)
		return NULL;
	if (llm_tokenize(v, text, len, add_bos, false, toks, cap, n, &err) != LLM_OK)
	{
		fprintf(stderr, "llm-cli: %s\n", err.msg);
		free(toks);
		return NULL;
	}
	return toks;
}

static int
cmd_generate(const options *o)
{
	llm_engine *e = open_engine(o, o->threads, 1);
	const llm_vocab *v;
	int32_t    *prompt;
	int			n_prompt,
				n_gen = 0;
	llm_seq_params sp;
	llm_seq_id	id;
	llm_error	err;
	llm_detok	dt;
	double		t0,
				t_first = 0,
				t_end;
	char		piece[1024];

	if (e == NULL)
		return 1;
	v = llm_engine_vocab(e);
	prompt = tokenize(e, o->prompt ? o->prompt : "",
					  !o->no_bos && llm_vocab_add_bos(v), &n_prompt);
	if (prompt == NULL)
		return 1;
	if (n_prompt == 0)
	{
		fprintf(stderr, "llm-cli: empty prompt and the model adds no BOS token\n");
		return 1;
	}
	sp.sampling = o->sampling;
	sp.max_new_tokens = o->n_predict;
	sp.overflow = o->sinks ? LLM_OVERFLOW_SINKS : LLM_OVERFLOW_ERROR;
	if (!o->sinks && n_prompt + sp.max_new_tokens > llm_engine_n_ctx(e))
		sp.max_new_tokens = llm_engine_n_ctx(e) - n_prompt;
	sp.stop_at_eog = true;
	if (llm_seq_add(e, prompt, n_prompt, &sp, &id, &err) != LLM_OK)
	{
		fprintf(stderr, "llm-cli: %s\n", err.msg);
		return 1;
	}
	llm_detok_init(&dt, v);
	if (!o->print_ids && o->prompt && o->prompt[0])
	{
		fputs(o->prompt, stdout);
		dt.at_start = false;	/* the text goes on after the prompt */
	}
	t0 = llm_seconds(CLOCK_MONOTONIC);
	while (llm_engine_busy(e))
	{
		int			n,
					got;
		int32_t		toks[64];

		if (llm_engine_step(e, &n, &err) != LLM_OK)
		{
			fprintf(stderr, "llm-cli: %s\n", err.msg);
			return 1;
		}
		while ((got = llm_seq_take(e, id, toks, 64)) > 0)
		{
			if (n_gen == 0)
				t_first = llm_seconds(CLOCK_MONOTONIC);
			for (int i = 0; i < got; i++)
			{
				if (o->print_ids)
					printf("%s%d", n_gen + i ? " " : "", toks[i]);
				else
					fwrite(piece, 1, llm_detok_push(v, &dt, toks[i], piece, sizeof(piece)), stdout);
			}
			n_gen += got;
			fflush(stdout);
		}
	}
	if (llm_seq_status(e, id) == LLM_SEQ_FAILED)
	{
		fprintf(stderr, "\nllm-cli: %s\n", llm_seq_error(e, id)->msg);
		return 1;
	}
	if (!o->print_ids)
		fwrite(piece, 1, llm_detok_flush(&dt, piece, sizeof(piece)), stdout);
	t_end = llm_seconds(CLOCK_MONOTONIC);
	printf("\n");
	fprintf(stderr, "prompt: %d tokens, %.2f tokens/s; generation: %d tokens, %.2f tokens/s (%d threads, %s)\n",
			n_prompt, n_prompt / (t_first - t0 > 0 ? t_first - t0 : 1e-9),
			n_gen, n_gen > 1 ? (n_gen - 1) / (t_end - t_first) : 0.0, o->threads,
			quant_isa_name(quant_active_isa()));
	llm_seq_remove(e, id);
	free(prompt);
	llm_engine_close(e);
	return 0;
}

static int
cmd_tokenize(const options *o)
{
	llm_engine *e = open_engine(o, 1, 1);
	int32_t    *toks;
	int			n;

	if (e == NULL)
		return 1;
	toks = tokenize(e, o->prompt ? o->prompt : "", o->bos, &n);
	if (toks == NULL)
		return 1;
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", toks[i]);
	printf("\n");
	free(toks);
	llm_engine_close(e);
	return 0;
}

static int
cmd_logits(const options *o)
{
	llm_engine *e = open_engine(o, o->threads, 1);
	int32_t    *toks;
	int			n = 0;
	float	   *logits;
	llm_error	err;

	if (e == NULL)
		return 1;
	if (o->ids)
	{
		const char *p = o->ids;
		char	   *end;

		toks = malloc((strlen(p) + 1) * sizeof(int32_t));
		while (toks && *p)
		{
			long		t = strtol(p, &end, 10);

			if (end == p)
				break;
			toks[n++] = (int32_t) t;
			p = end;
		}
	}
	else
		toks = tokenize(e, o->prompt ? o->prompt : "",
						llm_vocab_add_bos(llm_engine_vocab(e)), &n);
	if (toks == NULL)
		return 1;
	logits = malloc(sizeof(float) * llm_engine_info(e)->n_vocab);
	if (llm_engine_eval(e, toks, n, logits, &err) != LLM_OK)
	{
		fprintf(stderr, "llm-cli: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < llm_engine_info(e)->n_vocab; i++)
		printf("%.7g\n", logits[i]);
	free(logits);
	free(toks);
	llm_engine_close(e);
	return 0;
}

static int
cmd_info(const options *o)
{
	llm_engine *e = open_engine(o, 1, 1);
	const llm_model_info *i;

	if (e == NULL)
		return 1;
	i = llm_engine_info(e);
	printf("name %s\narch %s\nn_vocab %d\nn_ctx_train %d\nn_embd %d\nn_layer %d\n"
		   "n_head %d\nn_head_kv %d\nn_ff %d\nrope_theta %g\nn_params %llu\nbytes %llu\n"
		   "chat_template %s\n",
		   i->name, i->arch, i->n_vocab, i->n_ctx_train, i->n_embd, i->n_layer,
		   i->n_head, i->n_head_kv, i->n_ff, i->rope_theta,
		   (unsigned long long) i->n_params, (unsigned long long) i->n_bytes,
		   i->chat_template ? "yes" : "no");
	for (int t = 0; t < 32; t++)
		if (i->n_tensors_by_type[t])
			printf("tensors %s %d\n", llm_dtype_name(t), i->n_tensors_by_type[t]);
	llm_engine_close(e);
	return 0;
}

/* Median of a small array (sorted in place). */
static double
median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--)
		{
			double		t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Generation speed of nseq sequences decoding together (one batched forward
 * step per token, as the background worker runs concurrent requests):
 * aggregate generated tokens/s, or < 0 after printing an error.  Each
 * sequence starts from a different one-token prompt; the first step (the
 * prompts) is not timed.
 */
static double
bench_generate(llm_engine *e, const int32_t *toks, int nseq, int n_predict)
{
	llm_seq_params sp = {.sampling = llm_sampling_default(),.max_new_tokens = n_predict};
	llm_seq_id	ids[LLM_CLI_MAX_SEQS];
	llm_error	err;
	double		t0;
	int			n;

	sp.stop_at_eog = false;
	for (int s = 0; s < nseq; s++)
		if (llm_seq_add(e, toks + s, 1, &sp, &ids[s], &err) != LLM_OK)
			goto fail;
	if (llm_engine_step(e, &n, &err) != LLM_OK)
		goto fail;
	t0 = llm_seconds(CLOCK_MONOTONIC);
	while (llm_engine_busy(e))
		if (llm_engine_step(e, &n, &err) != LLM_OK)
			goto fail;
	t0 = llm_seconds(CLOCK_MONOTONIC) - t0;
	for (int s = 0; s < nseq; s++)
		llm_seq_remove(e, ids[s]);
	return (double) nseq * (n_predict - 1) / t0;

fail:
	fprintf(stderr, "llm-cli: %s\n", err.msg);
	return -1;
}

/* Parse a comma-separated list of positive integers into v (at most max). */
static int
parse_list(const char *list, int *v, int max, int limit)
{
	char	   *copy = strdup(list);
	char	   *save = NULL;
	int			n = 0;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		if (n == max || !parse_int(tok, &v[n]) || v[n] < 1 || v[n] > limit)
		{
			fprintf(stderr, "llm-cli: bad list element %s (1 .. %d, at most %d elements)\n",
					tok, limit, max);
			free(copy);
			return -1;
		}
		n++;
	}
	free(copy);
	return n;
}

/* One row of the bench table. */
static void
bench_row(const llm_model_info *info, const options *o, int threads, const char *test,
		  double tokens_per_s)
{
	printf("| %s | %s | %s | %d | %s | %.2f |\n", info->name, quant_isa_name(quant_active_isa()),
		   o->blas ? llm_blas_core() : "off", threads, test, tokens_per_s);
}

/*
 * Prompt processing (one batched pass over n_prompt tokens) and generation
 * (n_gen steps of 1 or more sequences at once) speed, median over reps,
 * like llama-bench.
 */
static int
cmd_bench(const options *o)
{
	int			threads[16],
				seqs[16],
				n_threads,
				n_seqs,
				max_seqs = 1;

	n_threads = parse_list(o->threads_list ? o->threads_list : "1", threads, 16, 1024);
	n_seqs = parse_list(o->seqs_list ? o->seqs_list : "1", seqs, 16, LLM_CLI_MAX_SEQS);
	if (n_threads < 0 || n_seqs < 0)
		return 1;
	if (o->n_predict == 1 || o->n_predict < 0 || (o->n_predict == 0 && o->n_prompt_bench <= 0))
	{
		fprintf(stderr, "llm-cli: bench needs -n 0 (no generation test) or at least 2, and -p or -n\n");
		return 1;
	}
	for (int i = 0; i < n_seqs; i++)
		max_seqs = seqs[i] > max_seqs ? seqs[i] : max_seqs;

	printf("| model | isa | blas | threads | test | tokens/s |\n|---|---|---|---|---|---|\n");
	for (int ti = 0; ti < n_threads; ti++)
	{
		llm_engine *e;
		const llm_model_info *info;
		int32_t    *toks;
		float	   *logits;
		int			n_toks = o->n_prompt_bench > max_seqs ? o->n_prompt_bench : max_seqs;
		double		pp[32],
					tg[16][32];
		char		test[32];
		int			reps = o->reps < 1 ? 1 : (o->reps > 32 ? 32 : o->reps);
		llm_error	err;

		e = open_engine(o, threads[ti], max_seqs);
		if (e == NULL)
			return 1;
		info = llm_engine_info(e);
		toks = malloc(sizeof(int32_t) * n_toks);
		logits = malloc(sizeof(float) * info->n_vocab);
		for (int i = 0; i < n_toks; i++)
			toks[i] = (int32_t) ((i * 7919 + 13) % info->n_vocab);
		/* warm-up: touches every weight page once */
		if (llm_engine_eval(e, toks, n_toks < 8 ? n_toks : 8, logits, &err))
		{
			fprintf(stderr, "llm-cli: %s\n", err.msg);
			return 1;
		}
		for (int r = 0; r < reps; r++)
		{
			if (o->n_prompt_bench > 0)
			{
				double		t0 = llm_seconds(CLOCK_MONOTONIC);

				if (llm_engine_eval(e, toks, o->n_prompt_bench, logits, &err) != LLM_OK)
				{
					fprintf(stderr, "llm-cli: %s\n", err.msg);
					return 1;
				}
				pp[r] = o->n_prompt_bench / (llm_seconds(CLOCK_MONOTONIC) - t0);
			}
			for (int si = 0; si < n_seqs && o->n_predict > 0; si++)
				if ((tg[si][r] = bench_generate(e, toks, seqs[si], o->n_predict)) < 0)
					return 1;
		}
		if (o->n_prompt_bench > 0)
		{
			snprintf(test, sizeof(test), "pp%d", o->n_prompt_bench);
			bench_row(info, o, threads[ti], test, median(pp, reps));
		}
		for (int si = 0; si < n_seqs && o->n_predict > 0; si++)
		{
			if (seqs[si] == 1)
				snprintf(test, sizeof(test), "tg%d", o->n_predict);
			else
				snprintf(test, sizeof(test), "tg%d x%d", o->n_predict, seqs[si]);
			bench_row(info, o, threads[ti], test, median(tg[si], reps));
		}
		fflush(stdout);
		free(toks);
		free(logits);
		llm_engine_close(e);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	options		o;

	if (!parse_args(argc, argv, &o))
	{
		usage();
		return 2;
	}
	if (!strcmp(o.cmd, "generate"))
		return cmd_generate(&o);
	if (!strcmp(o.cmd, "tokenize"))
		return cmd_tokenize(&o);
	if (!strcmp(o.cmd, "logits"))
		return cmd_logits(&o);
	if (!strcmp(o.cmd, "bench"))
		return cmd_bench(&o);
	if (!strcmp(o.cmd, "info"))
		return cmd_info(&o);
	fprintf(stderr, "llm-cli: unknown command %s\n", o.cmd);
	usage();
	return 2;
}
