/*
 * random-model.c — llm-random-model: write a llama model with random
 * weights, for benchmarks and tests at real model shapes.
 *
 *   llm-random-model --shape 15M|110M|1.1B|tiny --type TYPE -o OUT.gguf
 *                    [--vocab VOCAB.gguf] [--seed N] [--std X]
 *                    [--dim N] [--layers N] [--heads N] [--kv-heads N]
 *                    [--hidden N] [--ctx N] [--n-vocab N]
 *                    [--kv-zoo] [--alignment N] [--gguf-version 2|3] [--threads N]
 *   TYPE: f32 f16 bf16 q8_0 q4_0 q4_k q4_k_m q6_k
 *
 * Shapes: 15M (dim 288, 6 layers, 6 heads, hidden 768, ctx 256), 110M (768,
 * 12, 12, 2048, 1024), 1.1B = TinyLlama (2048, 22 layers, 32 heads, 4 kv
 * heads, hidden 5632, ctx 2048), tiny (32, 1 layer, 2 heads, 1 kv head,
 * hidden 32, ctx 32); the --dim ... options override single values.
 *
 * The vocabulary and every tokenizer.* key come from --vocab (e.g.
 * ggml-vocab-llama-spm.gguf for the 32000-token Llama 2 vocabulary).
 * Without --vocab a synthetic SentencePiece-style vocabulary of --n-vocab
 * tokens is made up (<unk>, <s>, </s>, byte tokens if there is room, then
 * letters and letter pairs); that is what the fuzzing seed corpus uses.
 *
 * Weights are N(0, std^2) (std 0.02 by default, approximated by the
 * Irwin-Hall sum of four 16-bit uniforms from a xoshiro256+ stream seeded
 * per row) and norms are 1.0, so activations stay finite at any depth.
 * Tensors are generated in chunks of rows (split over --threads workers,
 * default the CPU count up to 8; the output does not depend on it) and
 * quantized with llm_quantize_row straight into the output stream: memory
 * stays at a few MiB even for the 1.1B model.  Types per tensor follow quant_mix.h (output Q6_K, Q4_K_M
 * mix, fallbacks).  --kv-zoo adds "test.*" keys of every metadata type,
 * including nested arrays, so the file exercises every reader path.
 */
#include "clock.h"
#include "common.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"
#include "quant_mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#define CHUNK_BYTES (1 << 20)

typedef struct rm_shape
{
	const char *name;
	int64_t		dim;
	int64_t		layers;
	int64_t		heads;
	int64_t		kv_heads;
	int64_t		hidden;
	int64_t		ctx;
} rm_shape;

static const rm_shape rm_shapes[] = {
	{"tiny", 32, 1, 2, 1, 32, 32},
	{"15M", 288, 6, 6, 6, 768, 256},
	{"110M", 768, 12, 12, 12, 2048, 1024},
	{"1.1B", 2048, 22, 32, 4, 5632, 2048},
};

/* xoshiro256+ state. */
typedef struct rm_rng
{
	uint64_t	s[4];
} rm_rng;

/* splitmix64, to seed xoshiro. */
static uint64_t
rm_splitmix(uint64_t *x)
{
	uint64_t	z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Seed a stream from (seed, stream id). */
static void
rm_rng_seed(rm_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t	x = seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull;

	for (int i = 0; i < 4; i++)
		r->s[i] = rm_splitmix(&x);
}

/* Next 64 random bits. */
static inline uint64_t
rm_next(rm_rng *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = s[0] + s[3];
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Fill x[0..n) with approximately N(0, std^2) values. */
static void
rm_normal(rm_rng *r, float *x, int64_t n, float std)
{
	/* sum of 4 U[0, 65536) has mean 131070 and sd 65536 / sqrt(3) */
	const float scale = std * 1.7320508f / 65536.0f;

	for (int64_t i = 0; i < n; i++)
	{
		uint64_t	u = rm_next(r);
		int64_t		s = (int64_t) (u & 0xFFFF) + (int64_t) ((u >> 16) & 0xFFFF) +
			(int64_t) ((u >> 32) & 0xFFFF) + (int64_t) (u >> 48);

		x[i] = (float) (s - 131070) * scale;
	}
}

/* Print an error and return 1. */
static int
fail(const char *fmt,...)
{
	va_list		ap;

	fputs("llm-random-model: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Make up a vocabulary of n tokens and set the tokenizer keys. */
static llm_status
synth_vocab(gguf_writer *w, int64_t n, llm_error *err)
{
	char	  **text = calloc((size_t) n, sizeof(char *));
	float	   *score = calloc((size_t) n, sizeof(float));
	int32_t    *type = calloc((size_t) n, sizeof(int32_t));
	const char *letters = "abcdefghijklmnopqrstuvwxyz";
	int64_t		id = 0,
				k = 0;
	llm_status	st = LLM_OK;

	if (text == NULL || score == NULL || type == NULL)
	{
		st = llm_errorf(err, LLM_ERR_NOMEM, "out of memory for the vocabulary");
		goto out;
	}
	for (; id < n; id++)
	{
		char		buf[32];

		if (id == 0)
			snprintf(buf, sizeof(buf), "<unk>"), type[id] = 2;
		else if (id == 1)
			snprintf(buf, sizeof(buf), "<s>"), type[id] = 3;
		else if (id == 2)
			snprintf(buf, sizeof(buf), "</s>"), type[id] = 3;
		else if (n >= 259 && id < 259)
			snprintf(buf, sizeof(buf), "<0x%02X>", (unsigned) (id - 3)), type[id] = 6;
		else
		{
			/* "▁", then single letters, "▁x", then letter pairs, ... */
			int64_t		j = k++;

			type[id] = 1;
			score[id] = (float) -j;
			if (j == 0)
				snprintf(buf, sizeof(buf), "\xe2\x96\x81");
			else if (j <= 26)
				snprintf(buf, sizeof(buf), "%c", letters[j - 1]);
			else if (j <= 52)
				snprintf(buf, sizeof(buf), "\xe2\x96\x81%c", letters[j - 27]);
			else
			{
				int64_t		m = j - 53;

				snprintf(buf, sizeof(buf), "%c%c%lld", letters[m % 26],
						 letters[(m / 26) % 26], (long long) (m / 676));
				if (m < 676)
					buf[2] = '\0';
			}
		}
		text[id] = strdup(buf);
		if (text[id] == NULL)
		{
			st = llm_errorf(err, LLM_ERR_NOMEM, "out of memory for the vocabulary");
			goto out;
		}
	}
	if ((st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
		(st = gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens",
									  (const char *const *) text, NULL, (uint64_t) n, err)) ||
		(st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, score,
								  (uint64_t) n, err)) ||
		(st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, type,
								  (uint64_t) n, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
		(st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err)))
		goto out;
out:
	if (text)
		for (int64_t i = 0; i < n; i++)
			free(text[i]);
	free(text);
	free(score);
	free(type);
	return st;
}

/* Add test.* keys of every type, nested arrays included. */
static llm_status
kv_zoo(gguf_writer *w, llm_error *err)
{
	static const int16_t i16s[] = {-32768, -1, 0, 1, 32767};
	static const uint64_t u64s[] = {0, 1, UINT64_MAX};
	static const double f64s[] = {-1.5, 0.0, 3.25e300};
	static const bool bools[] = {true, false, true};
	static const uint8_t u8s[] = {0, 1, 255};
	static const char *const strs[] = {"", "a", "\xe2\x96\x81hello", "with\nnewline"};
	uint32_t	inner_a[] = {1, 2, 3};
	gguf_value	inner[3],
				strarr,
				outer,
				outer2;
	llm_status	st;

	memset(inner, 0, sizeof(inner));
	for (int i = 0; i < 3; i++)
	{
		inner[i].type = GGUF_TYPE_ARRAY;
		inner[i].arr.elem_type = GGUF_TYPE_UINT32;
		inner[i].arr.n = (uint64_t) i;	/* lengths 0, 1, 2 */
		inner[i].arr.raw = inner_a;
	}
	memset(&outer, 0, sizeof(outer));
	outer.type = GGUF_TYPE_ARRAY;
	outer.arr.elem_type = GGUF_TYPE_ARRAY;
	outer.arr.n = 3;
	outer.arr.items = inner;
	{
		gguf_value	sitems[2];

		memset(sitems, 0, sizeof(sitems));
		sitems[0].type = sitems[1].type = GGUF_TYPE_STRING;
		sitems[0].str.data = "x";
		sitems[0].str.len = 1;
		sitems[1].str.data = "yz";
		sitems[1].str.len = 2;
		memset(&strarr, 0, sizeof(strarr));
		strarr.type = GGUF_TYPE_ARRAY;
		strarr.arr.elem_type = GGUF_TYPE_STRING;
		strarr.arr.n = 2;
		strarr.arr.items = sitems;
		memset(&outer2, 0, sizeof(outer2));
		outer2.type = GGUF_TYPE_ARRAY;
		outer2.arr.elem_type = GGUF_TYPE_ARRAY;
		outer2.arr.n = 1;
		outer2.arr.items = &strarr;
		if ((st = gguf_writer_set_value(w, "test.nested_str", &outer2, err)))
			return st;
	}
	if ((st = gguf_writer_set_u8(w, "test.u8", 200, err)) ||
		(st = gguf_writer_set_i8(w, "test.i8", -100, err)) ||
		(st = gguf_writer_set_u16(w, "test.u16", 65535, err)) ||
		(st = gguf_writer_set_i16(w, "test.i16", -30000, err)) ||
		(st = gguf_writer_set_u32(w, "test.u32", 4000000000u, err)) ||
		(st = gguf_writer_set_i32(w, "test.i32", -2000000000, err)) ||
		(st = gguf_writer_set_u64(w, "test.u64", UINT64_MAX, err)) ||
		(st = gguf_writer_set_i64(w, "test.i64", INT64_MIN, err)) ||
		(st = gguf_writer_set_f32(w, "test.f32", 0.5f, err)) ||
		(st = gguf_writer_set_f64(w, "test.f64", -2.25, err)) ||
		(st = gguf_writer_set_bool(w, "test.bool", true, err)) ||
		(st = gguf_writer_set_str(w, "test.str", "h\xc3\xa9llo", err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_i16", GGUF_TYPE_INT16, i16s, 5, err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_u64", GGUF_TYPE_UINT64, u64s, 3, err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_f64", GGUF_TYPE_FLOAT64, f64s, 3, err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_bool", GGUF_TYPE_BOOL, bools, 3, err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_u8", GGUF_TYPE_UINT8, u8s, 3, err)) ||
		(st = gguf_writer_set_arr(w, "test.arr_empty", GGUF_TYPE_INT32, NULL, 0, err)) ||
		(st = gguf_writer_set_str_arr(w, "test.arr_str", strs, NULL, 4, err)) ||
		(st = gguf_writer_set_value(w, "test.nested", &outer, err)))
		return st;
	return LLM_OK;
}

/* One planned tensor. */
typedef struct rm_tensor
{
	char		name[64];
	uint32_t	n_dims;
	uint64_t	ne[2];
	uint32_t	type;
	bool		is_norm;
} rm_tensor;

/* One thread's share of a chunk of rows. */
typedef struct rm_job
{
	const rm_tensor *t;
	uint64_t	seed;
	uint64_t	tensor;
	float		std;
	uint64_t	r0;				/* first row of the chunk */
	uint64_t	a;				/* this job's rows: [a, b) */
	uint64_t	b;
	uint8_t    *out;			/* the chunk's output */
	bool		ok;
} rm_job;

/*
 * Generate and quantize rows [a, b).  Each row has its own random stream
 * (seed, tensor, row), so the output does not depend on the thread count.
 */
static void *
rm_work(void *arg)
{
	rm_job	   *j = arg;
	int64_t		n = (int64_t) j->t->ne[0];
	size_t		rb = llm_row_bytes(j->t->type, n);
	float	   *row = malloc((size_t) n * sizeof(float));

	j->ok = row != NULL;
	for (uint64_t r = j->a; r < j->b && row != NULL; r++)
	{
		rm_rng		rng;

		if (j->t->is_norm)
			for (int64_t k = 0; k < n; k++)
				row[k] = 1.0f;
		else
		{
			rm_rng_seed(&rng, j->seed, (j->tensor << 40) ^ r);
			rm_normal(&rng, row, n, j->std);
		}
		llm_quantize_row(j->t->type, row, j->out + (r - j->r0) * rb, n);
	}
	free(row);
	return NULL;
}

/* Fill rows [r0, r1) of tensor t into out, on up to n_threads threads. */
static bool
rm_fill(const rm_tensor *t, int tensor, uint64_t seed, float std, uint64_t r0,
		uint64_t r1, uint8_t *out, int64_t n_threads)
{
	rm_job		jobs[64];
	pthread_t	tid[64];
	bool		started[64] = {false};
	uint64_t	rows = r1 - r0;
	int			nt = (int) (n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads);
	bool		ok = true;

	if ((uint64_t) nt > rows)
		nt = (int) rows;
	for (int k = 0; k < nt; k++)
	{
		jobs[k] = (rm_job) {
			.t = t,.seed = seed,.tensor = (uint64_t) tensor,.std = std,.r0 = r0,
				.a = r0 + rows * k / nt,.b = r0 + rows * (k + 1) / nt,.out = out
		};
		if (k > 0)
			started[k] = pthread_create(&tid[k], NULL, rm_work, &jobs[k]) == 0;
	}
	rm_work(&jobs[0]);
	for (int k = 1; k < nt; k++)
	{
		if (started[k])
			pthread_join(tid[k], NULL);
		else
			rm_work(&jobs[k]);
	}
	for (int k = 0; k < nt; k++)
		ok &= jobs[k].ok;
	return ok;
}

/* Parse a positive integer option value. */
static bool
parse_int(const char *s, int64_t *out)
{
	char	   *end;
	long long	v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0 || v > (1 << 24))
		return false;
	*out = v;
	return true;
}

/* Print the command line summary. */
static void
usage(void)
{
	fprintf(stderr,
			"usage: llm-random-model --shape 15M|110M|1.1B|tiny --type TYPE -o OUT.gguf\n"
			"         [--vocab VOCAB.gguf] [--seed N] [--std X]\n"
			"         [--dim N] [--layers N] [--heads N] [--kv-heads N] [--hidden N]\n"
			"         [--ctx N] [--n-vocab N] [--kv-zoo] [--alignment N] [--gguf-version 2|3]\n"
			"         [--threads N]\n"
			"TYPE: f32 f16 bf16 q8_0 q4_0 q4_k q4_k_m q6_k\n");
}

/* Parse arguments, write metadata, generate and stream every tensor. */
int
main(int argc, char **argv)
{
	const char *shape_name = NULL,
			   *type_name = NULL,
			   *vocab_path = NULL,
			   *out_path = NULL;
	rm_shape	shape = rm_shapes[0];
	const quant_ftype *ft;
	uint64_t	seed = 1;
	float		std = 0.02f;
	int64_t		n_vocab = 0,
				alignment = 0,
				version = 3;
	bool		zoo = false;
	int64_t		ov_dim = 0,
				ov_layers = 0,
				ov_heads = 0,
				ov_kv = 0,
				ov_hidden = 0,
				ov_ctx = 0;
	gguf_file  *vf = NULL;
	gguf_writer *w = NULL;
	llm_error	err = {0};
	rm_tensor  *plan = NULL;
	int			n_plan = 0;
	uint8_t    *chunk = NULL;
	int64_t		n_threads = 0;
	size_t		total = 0;
	double		t0,
				t1;
	int			rc = 1;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool		ok = true;

		if (strcmp(a, "--kv-zoo") == 0)
		{
			zoo = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		{
			usage();
			return 0;
		}
		if (v == NULL)
		{
			fprintf(stderr, "llm-random-model: '%s' needs a value or is unknown\n", a);
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--shape") == 0)
			shape_name = v;
		else if (strcmp(a, "--type") == 0)
			type_name = v;
		else if (strcmp(a, "--vocab") == 0)
			vocab_path = v;
		else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
			out_path = v;
		else if (strcmp(a, "--threads") == 0)
			ok = parse_int(v, &n_threads) && n_threads <= 64;
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--std") == 0)
			ok = (std = strtof(v, NULL)) > 0 && std < 10;
		else if (strcmp(a, "--dim") == 0)
			ok = parse_int(v, &ov_dim);
		else if (strcmp(a, "--layers") == 0)
			ok = parse_int(v, &ov_layers);
		else if (strcmp(a, "--heads") == 0)
			ok = parse_int(v, &ov_heads);
		else if (strcmp(a, "--kv-heads") == 0)
			ok = parse_int(v, &ov_kv);
		else if (strcmp(a, "--hidden") == 0)
			ok = parse_int(v, &ov_hidden);
		else if (strcmp(a, "--ctx") == 0)
			ok = parse_int(v, &ov_ctx);
		else if (strcmp(a, "--n-vocab") == 0)
			ok = parse_int(v, &n_vocab) && n_vocab >= 3;
		else if (strcmp(a, "--alignment") == 0)
			ok = parse_int(v, &alignment);
		else if (strcmp(a, "--gguf-version") == 0)
			ok = parse_int(v, &version) && (version == 2 || version == 3);
		else
		{
			fprintf(stderr, "llm-random-model: unknown argument '%s'\n", a);
			usage();
			return 2;
		}
		if (!ok)
		{
			fprintf(stderr, "llm-random-model: bad value '%s' for %s\n", v, a);
			return 2;
		}
	}
	if (shape_name == NULL || out_path == NULL)
	{
		usage();
		return 2;
	}
	ft = quant_ftype_find(type_name ? type_name : "f32");
	if (ft == NULL)
		return fail("unknown type '%s'", type_name);
	{
		bool		found = false;

		for (size_t i = 0; i < sizeof(rm_shapes) / sizeof(rm_shapes[0]); i++)
			if (strcasecmp(rm_shapes[i].name, shape_name) == 0)
			{
				shape = rm_shapes[i];
				found = true;
			}
		if (!found)
			return fail("unknown shape '%s' (15M, 110M, 1.1B, tiny)", shape_name);
	}
	if (ov_dim)
		shape.dim = ov_dim;
	if (ov_layers)
		shape.layers = ov_layers;
	if (ov_heads)
		shape.heads = ov_heads;
	if (ov_kv)
		shape.kv_heads = ov_kv;
	else if (ov_heads && shape.kv_heads > shape.heads)
		shape.kv_heads = shape.heads;
	if (ov_hidden)
		shape.hidden = ov_hidden;
	if (ov_ctx)
		shape.ctx = ov_ctx;
	if (shape.dim % shape.heads != 0 || (shape.dim / shape.heads) % 2 != 0 ||
		shape.kv_heads > shape.heads || shape.heads % shape.kv_heads != 0)
		return fail("dim %lld, heads %lld, kv heads %lld: need an even head size and "
					"kv heads dividing heads", (long long) shape.dim,
					(long long) shape.heads, (long long) shape.kv_heads);
	if (alignment && (alignment & (alignment - 1)) != 0)
		return fail("--alignment %lld is not a power of two", (long long) alignment);

	if (gguf_writer_create(&w, &err) != LLM_OK ||
		gguf_writer_set_version(w, (uint32_t) version, &err) != LLM_OK)
		goto llm_fail;
	{
		char		name[64];

		snprintf(name, sizeof(name), "random-%s", shape.name);
		if (gguf_writer_set_str(w, "general.architecture", "llama", &err) ||
			gguf_writer_set_str(w, "general.name", name, &err) ||
			gguf_writer_set_u32(w, "general.file_type", ft->file_type, &err) ||
			(!quant_is_float(ft->base) &&
			 gguf_writer_set_u32(w, "general.quantization_version", 2, &err)) ||
			(alignment && gguf_writer_set_u32(w, "general.alignment", (uint32_t) alignment, &err)) ||
			gguf_writer_set_u32(w, "llama.context_length", (uint32_t) shape.ctx, &err) ||
			gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t) shape.dim, &err) ||
			gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t) shape.hidden, &err) ||
			gguf_writer_set_u32(w, "llama.block_count", (uint32_t) shape.layers, &err) ||
			gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t) shape.heads, &err) ||
			gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t) shape.kv_heads, &err) ||
			gguf_writer_set_u32(w, "llama.rope.dimension_count",
								(uint32_t) (shape.dim / shape.heads), &err) ||
			gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f, &err) ||
			gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err))
			goto llm_fail;
	}
	if (vocab_path != NULL)
	{
		const gguf_value *tokens;

		if (gguf_open(vocab_path, &vf, &err) != LLM_OK)
			goto llm_fail;
		tokens = gguf_get(vf, "tokenizer.ggml.tokens");
		if (tokens == NULL || tokens->type != GGUF_TYPE_ARRAY ||
			tokens->arr.elem_type != GGUF_TYPE_STRING || tokens->arr.n == 0 ||
			tokens->arr.n > (1 << 24))
		{
			rc = fail("%s has no tokenizer.ggml.tokens string array", vocab_path);
			goto done;
		}
		n_vocab = (int64_t) tokens->arr.n;
		for (uint64_t i = 0; i < vf->n_kv; i++)
		{
			gguf_str	k = vf->kv[i].key;

			if (k.len > 10 && memcmp(k.data, "tokenizer.", 10) == 0 &&
				gguf_writer_set_valuen(w, k.data, (size_t) k.len, &vf->kv[i].value, &err))
				goto llm_fail;
		}
	}
	else
	{
		if (n_vocab == 0)
		{
			if (strcmp(shape.name, "tiny") != 0)
			{
				rc = fail("--vocab VOCAB.gguf (or --n-vocab N for a synthetic one) is needed "
						  "for shape %s", shape.name);
				goto done;
			}
			n_vocab = 16;
		}
		if (synth_vocab(w, n_vocab, &err) != LLM_OK)
			goto llm_fail;
	}
	if (gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t) n_vocab, &err))
		goto llm_fail;
	if (zoo && kv_zoo(w, &err) != LLM_OK)
		goto llm_fail;

	/* plan the tensors: embedding, blocks, final norm, output */
	plan = calloc((size_t) (3 + 9 * shape.layers), sizeof(rm_tensor));
	if (plan == NULL)
	{
		rc = fail("out of memory");
		goto done;
	}
	{
		int64_t		D = shape.dim,
					H = shape.hidden,
					KV = shape.kv_heads * (shape.dim / shape.heads);

#define PLAN(nm, nd, a, b, norm) do { \
		rm_tensor *t_ = &plan[n_plan++]; \
		snprintf(t_->name, sizeof(t_->name), "%s", nm); \
		t_->n_dims = nd; t_->ne[0] = (uint64_t) (a); t_->ne[1] = (uint64_t) (b); \
		t_->is_norm = norm; \
	} while (0)
		PLAN("token_embd.weight", 2, D, n_vocab, false);
		for (int64_t l = 0; l < shape.layers; l++)
		{
			char		nm[64];

#define LNAME(s) (snprintf(nm, sizeof(nm), "blk.%lld." s, (long long) l), nm)
			PLAN(LNAME("attn_norm.weight"), 1, D, 1, true);
			PLAN(LNAME("attn_q.weight"), 2, D, D, false);
			PLAN(LNAME("attn_k.weight"), 2, D, KV, false);
			PLAN(LNAME("attn_v.weight"), 2, D, KV, false);
			PLAN(LNAME("attn_output.weight"), 2, D, D, false);
			PLAN(LNAME("ffn_norm.weight"), 1, D, 1, true);
			PLAN(LNAME("ffn_gate.weight"), 2, D, H, false);
			PLAN(LNAME("ffn_down.weight"), 2, H, D, false);
			PLAN(LNAME("ffn_up.weight"), 2, D, H, false);
#undef LNAME
		}
		PLAN("output_norm.weight", 1, D, 1, true);
		PLAN("output.weight", 2, D, n_vocab, false);
#undef PLAN
	}
	for (int i = 0; i < n_plan; i++)
	{
		rm_tensor  *t = &plan[i];

		t->type = quant_mix_type(ft, t->name, t->n_dims, t->ne[0], LLM_F32,
								 (int) shape.layers, strcmp(t->name, "output.weight") == 0);
		if (gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL, false, &err))
			goto llm_fail;
		total += gguf_writer_tensor_nbytes(w, (uint64_t) i);
	}

	if (n_threads == 0)
	{
		long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		n_threads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : ncpu;
	}
	t0 = llm_seconds(CLOCK_MONOTONIC);
	if (gguf_writer_begin(w, out_path, &err) != LLM_OK)
		goto llm_fail;
	chunk = malloc(CHUNK_BYTES + (size_t) shape.hidden * 4 + (size_t) shape.dim * 4);
	if (chunk == NULL)
	{
		gguf_writer_abort(w);
		rc = fail("out of memory");
		goto done;
	}
	for (int i = 0; i < n_plan; i++)
	{
		rm_tensor  *t = &plan[i];
		size_t		rb = llm_row_bytes(t->type, (int64_t) t->ne[0]);
		uint64_t	per_chunk = CHUNK_BYTES / rb ? CHUNK_BYTES / rb : 1;

		for (uint64_t r0 = 0; r0 < t->ne[1]; r0 += per_chunk)
		{
			uint64_t	r1 = t->ne[1] - r0 < per_chunk ? t->ne[1] : r0 + per_chunk;

			if (!rm_fill(t, i, seed, std, r0, r1, chunk, n_threads))
			{
				gguf_writer_abort(w);
				rc = fail("out of memory generating %s", t->name);
				goto done;
			}
			if (gguf_writer_data(w, chunk, (size_t) (r1 - r0) * rb, &err) != LLM_OK)
				goto llm_fail;
		}
	}
	if (gguf_writer_finish(w, &err) != LLM_OK)
		goto llm_fail;
	t1 = llm_seconds(CLOCK_MONOTONIC);
	printf("wrote %s: shape %s (dim %lld, %lld layers, %lld heads, %lld kv heads, hidden %lld, "
		   "ctx %lld, vocab %lld), %s, %.1f MiB of tensors in %.2f s\n",
		   out_path, shape.name, (long long) shape.dim, (long long) shape.layers,
		   (long long) shape.heads, (long long) shape.kv_heads, (long long) shape.hidden,
		   (long long) shape.ctx, (long long) n_vocab, ft->name, total / 1048576.0,
		   t1 - t0);
	rc = 0;
	goto done;

llm_fail:
	rc = fail("%s", err.msg);
done:
	free(chunk);
	free(plan);
	gguf_writer_free(w);
	gguf_close(vf);
	return rc;
}
