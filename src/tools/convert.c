/*
 * convert.c — llm-convert: turn a llama2.c checkpoint and tokenizer into a
 * GGUF file that llama.cpp (and this engine) load as a "llama" model.
 *
 *   llm-convert --checkpoint model.bin --tokenizer tok.bin -o out.gguf
 *               [--type f32|f16] [--name NAME]
 *
 * Inputs (see /work/shared/models/README.md for the byte layouts):
 *   - legacy float32 checkpoints: 7 int32 (dim, hidden_dim, n_layers,
 *     n_heads, n_kv_heads, vocab_size, seq_len; negative vocab_size means a
 *     separate classifier), the weights, the unused freq_cis tables, then
 *     wcls if unshared;
 *   - "ak42" version 1 checkpoints: a 256-byte header (magic 0x616b3432,
 *     version, the 7 params, uint8 shared_classifier), norms first, then the
 *     embedding and matrices, no freq_cis;
 *   - llama2.c tokenizer .bin: int32 max_token_length, then per token a
 *     float32 score, an int32 length and the bytes.
 * The size of each input must match its header exactly.
 *
 * Output: the tensor names, shapes, order and metadata of llama.cpp's
 * convert-llama2c-to-ggml (so the result matches its stories260K.gguf
 * tensor for tensor), plus general.file_type.  llama2.c matrices are
 * (out, in) row-major, which is ggml's [ne0 = in, ne1 = out]: the bytes are
 * copied unchanged, and llama2.c already uses the RoPE pairing llama.cpp's
 * LLAMA architecture expects, so nothing is permuted.  With --type f16 the
 * 2-D tensors are stored as F16 and the norms stay F32.
 */
#include "common.h"
#include "gguf_write.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define AK42_MAGIC 0x616b3432u
#define AK42_HEADER 256
#define LEGACY_HEADER 28
#define PARAM_MAX (1 << 24)

typedef struct conv_config
{
	int64_t		dim;
	int64_t		hidden;
	int64_t		n_layers;
	int64_t		n_heads;
	int64_t		n_kv_heads;
	int64_t		vocab;
	int64_t		seq_len;
	bool		shared;
	int			version;		/* 0 legacy, 1 ak42 v1 */
} conv_config;

/* One output tensor: a name, a shape and where its float32 data lives. */
typedef struct conv_tensor
{
	char		name[64];
	uint32_t	n_dims;
	uint64_t	ne[2];
	const float *src;
} conv_tensor;

typedef struct mapped_file
{
	const uint8_t *data;
	size_t		size;
} mapped_file;

/* Print an error and return 1 (the exit status). */
static int
fail(const char *fmt,...)
{
	va_list		ap;

	fputs("llm-convert: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Map a whole file read-only. */
static bool
map_file(const char *path, mapped_file *m)
{
	int			fd = open(path, O_RDONLY);
	struct stat st;

	m->data = NULL;
	m->size = 0;
	if (fd < 0)
	{
		fail("cannot open %s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		fail("%s is not a regular file", path);
		close(fd);
		return false;
	}
	m->size = (size_t) st.st_size;
	if (m->size > 0)
	{
		void	   *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED)
		{
			fail("cannot map %s: %s", path, strerror(errno));
			close(fd);
			return false;
		}
		m->data = p;
	}
	close(fd);
	return true;
}

/* Read a little-endian int32 at byte offset off. */
static int32_t
rd_i32(const uint8_t *p, size_t off)
{
	int32_t		v;

	memcpy(&v, p + off, 4);
	return v;
}

/* Check the hyperparameters for sanity (before any size arithmetic). */
static bool
check_config(const conv_config *c, const char *path)
{
	if (c->dim <= 0 || c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
		c->n_kv_heads <= 0 || c->vocab <= 0 || c->seq_len <= 0 ||
		c->dim > PARAM_MAX || c->hidden > PARAM_MAX || c->n_layers > 4096 ||
		c->n_heads > 4096 || c->vocab > PARAM_MAX || c->seq_len > PARAM_MAX)
	{
		fail("%s: implausible header (dim %lld, hidden_dim %lld, n_layers %lld, n_heads %lld, "
			 "n_kv_heads %lld, vocab_size %lld, seq_len %lld): not a llama2.c checkpoint?",
			 path, (long long) c->dim, (long long) c->hidden, (long long) c->n_layers,
			 (long long) c->n_heads, (long long) c->n_kv_heads, (long long) c->vocab,
			 (long long) c->seq_len);
		return false;
	}
	if (c->dim % c->n_heads != 0 || c->n_kv_heads > c->n_heads ||
		c->n_heads % c->n_kv_heads != 0 || (c->dim / c->n_heads) % 2 != 0)
	{
		fail("%s: dim %lld, n_heads %lld, n_kv_heads %lld do not give an even head size "
			 "shared evenly by the kv heads", path, (long long) c->dim,
			 (long long) c->n_heads, (long long) c->n_kv_heads);
		return false;
	}
	return true;
}

/* Floats per layer and in total (excluding freq_cis); all fit in int64. */
static int64_t
param_count(const conv_config *c)
{
	int64_t		kv_dim = c->n_kv_heads * (c->dim / c->n_heads);
	int64_t		per_layer = 2 * c->dim + 2 * c->dim * c->dim + 2 * kv_dim * c->dim +
		3 * c->hidden * c->dim;

	return c->vocab * c->dim * (c->shared ? 1 : 2) + c->n_layers * per_layer + c->dim;
}

/* Parse the checkpoint header and verify the file size. */
static bool
read_config(const mapped_file *m, const char *path, conv_config *c)
{
	uint32_t	magic = 0;
	uint64_t	expect;

	memset(c, 0, sizeof(*c));
	if (m->size >= 4)
		memcpy(&magic, m->data, 4);
	if (magic == AK42_MAGIC)
	{
		int32_t		version;

		if (m->size < AK42_HEADER)
		{
			fail("%s: truncated header (%zu bytes, need %d)", path, m->size, AK42_HEADER);
			return false;
		}
		version = rd_i32(m->data, 4);
		if (version != 1)
		{
			fail("%s: llama2.c export version %d is not supported (only the legacy "
				 "format and version 1 are; version 2 is int8-quantized)", path, version);
			return false;
		}
		c->version = 1;
		c->dim = rd_i32(m->data, 8);
		c->hidden = rd_i32(m->data, 12);
		c->n_layers = rd_i32(m->data, 16);
		c->n_heads = rd_i32(m->data, 20);
		c->n_kv_heads = rd_i32(m->data, 24);
		c->vocab = rd_i32(m->data, 28);
		c->seq_len = rd_i32(m->data, 32);
		c->shared = m->data[36] != 0;
		if (m->data[36] > 1)
		{
			fail("%s: shared_classifier byte is %u (0 or 1 expected)", path, m->data[36]);
			return false;
		}
	}
	else
	{
		if (m->size < LEGACY_HEADER)
		{
			fail("%s: truncated header (%zu bytes, need %d)", path, m->size, LEGACY_HEADER);
			return false;
		}
		c->dim = rd_i32(m->data, 0);
		c->hidden = rd_i32(m->data, 4);
		c->n_layers = rd_i32(m->data, 8);
		c->n_heads = rd_i32(m->data, 12);
		c->n_kv_heads = rd_i32(m->data, 16);
		c->vocab = rd_i32(m->data, 20);
		c->seq_len = rd_i32(m->data, 24);
		c->shared = c->vocab > 0;
		if (c->vocab < 0 && c->vocab > INT32_MIN)
			c->vocab = -c->vocab;
	}
	if (!check_config(c, path))
		return false;
	if (c->version == 0)
		expect = LEGACY_HEADER + 4 * (uint64_t) (param_count(c) +
												 c->seq_len * (c->dim / c->n_heads));
	else
		expect = AK42_HEADER + 4 * (uint64_t) param_count(c);
	if (expect != m->size)
	{
		fail("%s: file is %zu bytes but its header (%s, dim %lld, hidden_dim %lld, "
			 "n_layers %lld, n_heads %lld, n_kv_heads %lld, vocab_size %lld, seq_len %lld, "
			 "%s classifier) implies %llu bytes", path, m->size,
			 c->version ? "version 1" : "legacy", (long long) c->dim, (long long) c->hidden,
			 (long long) c->n_layers, (long long) c->n_heads, (long long) c->n_kv_heads,
			 (long long) c->vocab, (long long) c->seq_len, c->shared ? "shared" : "separate",
			 (unsigned long long) expect);
		return false;
	}
	return true;
}

/* Append a tensor to the list. */
static void
add_tensor(conv_tensor *list, int *n, const char *name, uint32_t n_dims,
		   int64_t ne0, int64_t ne1, const float *src)
{
	conv_tensor *t = &list[(*n)++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->n_dims = n_dims;
	t->ne[0] = (uint64_t) ne0;
	t->ne[1] = (uint64_t) ne1;
	t->src = src;
}

/*
 * Lay out the tensors in llama.cpp's order with pointers into the mapped
 * checkpoint.  Returns a malloc'ed list of *n tensors.
 */
static conv_tensor *
plan_tensors(const conv_config *c, const uint8_t *base, int *n)
{
	int64_t		L = c->n_layers,
				D = c->dim,
				H = c->hidden,
				V = c->vocab;
	int64_t		KV = c->n_kv_heads * (D / c->n_heads);
	const float *p = (const float *) (base + (c->version ? AK42_HEADER : LEGACY_HEADER));
	const float *emb,
			   *rms_att,
			   *wq,
			   *wk,
			   *wv,
			   *wo,
			   *rms_ffn,
			   *w1,
			   *w2,
			   *w3,
			   *rms_final,
			   *wcls;
	conv_tensor *list = calloc((size_t) (3 + 9 * L), sizeof(conv_tensor));
	char		name[64];

	if (list == NULL)
		return NULL;
	if (c->version == 0)
	{
		emb = p;
		p += V * D;
		rms_att = p;
		p += L * D;
		wq = p;
		p += L * D * D;
		wk = p;
		p += L * KV * D;
		wv = p;
		p += L * KV * D;
		wo = p;
		p += L * D * D;
		rms_ffn = p;
		p += L * D;
		w1 = p;
		p += L * H * D;
		w2 = p;
		p += L * D * H;
		w3 = p;
		p += L * H * D;
		rms_final = p;
		p += D;
		p += c->seq_len * (D / c->n_heads);	/* freq_cis_real, freq_cis_imag */
		wcls = c->shared ? emb : p;
	}
	else
	{
		rms_att = p;
		p += L * D;
		rms_ffn = p;
		p += L * D;
		rms_final = p;
		p += D;
		emb = p;
		p += V * D;
		wq = p;
		p += L * D * D;
		wk = p;
		p += L * KV * D;
		wv = p;
		p += L * KV * D;
		wo = p;
		p += L * D * D;
		w1 = p;
		p += L * H * D;
		w2 = p;
		p += L * D * H;
		w3 = p;
		p += L * H * D;
		wcls = c->shared ? emb : p;
	}
	*n = 0;
	add_tensor(list, n, "token_embd.weight", 2, D, V, emb);
	add_tensor(list, n, "output_norm.weight", 1, D, 1, rms_final);
	add_tensor(list, n, "output.weight", 2, D, V, wcls);
	for (int64_t l = 0; l < L; l++)
	{
#define LAYER(suffix) (snprintf(name, sizeof(name), "blk.%lld." suffix, (long long) l), name)
		add_tensor(list, n, LAYER("attn_q.weight"), 2, D, D, wq + l * D * D);
		add_tensor(list, n, LAYER("attn_k.weight"), 2, D, KV, wk + l * KV * D);
		add_tensor(list, n, LAYER("attn_v.weight"), 2, D, KV, wv + l * KV * D);
		add_tensor(list, n, LAYER("attn_output.weight"), 2, D, D, wo + l * D * D);
		add_tensor(list, n, LAYER("attn_norm.weight"), 1, D, 1, rms_att + l * D);
		add_tensor(list, n, LAYER("ffn_gate.weight"), 2, D, H, w1 + l * H * D);
		add_tensor(list, n, LAYER("ffn_down.weight"), 2, H, D, w2 + l * D * H);
		add_tensor(list, n, LAYER("ffn_up.weight"), 2, D, H, w3 + l * H * D);
		add_tensor(list, n, LAYER("ffn_norm.weight"), 1, D, 1, rms_ffn + l * D);
#undef LAYER
	}
	return list;
}

/* The parsed tokenizer, in the GGUF form. */
typedef struct conv_vocab
{
	int64_t		n;
	char	  **text;
	size_t	   *len;
	float	   *score;
	int32_t    *type;
} conv_vocab;

/* Free a vocabulary. */
static void
vocab_free(conv_vocab *v)
{
	if (v->text)
		for (int64_t i = 0; i < v->n; i++)
			free(v->text[i]);
	free(v->text);
	free(v->len);
	free(v->score);
	free(v->type);
	memset(v, 0, sizeof(*v));
}

/* Is s (len bytes) a byte-fallback token "<0xHH>"? */
static bool
is_byte_token(const uint8_t *s, size_t len)
{
	const char *hex = "0123456789ABCDEFabcdef";

	return len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
		s[3] != '\0' && strchr(hex, s[3]) != NULL &&
		s[4] != '\0' && strchr(hex, s[4]) != NULL;
}

/*
 * Parse a llama2.c tokenizer of exactly n_vocab tokens.  Ids 0, 1, 2 become
 * <unk>, <s>, </s>; spaces become U+2581; types follow llama.cpp.
 */
static bool
read_vocab(const mapped_file *m, const char *path, int64_t n_vocab, conv_vocab *v)
{
	size_t		pos = 4;
	int32_t		max_len;

	memset(v, 0, sizeof(*v));
	if (m->size < 4)
	{
		fail("%s: truncated tokenizer (%zu bytes)", path, m->size);
		return false;
	}
	max_len = rd_i32(m->data, 0);
	if (max_len <= 0 || max_len > 65536)
	{
		fail("%s: max_token_length %d is implausible: not a llama2.c tokenizer?", path, max_len);
		return false;
	}
	v->n = n_vocab;
	v->text = calloc((size_t) n_vocab, sizeof(char *));
	v->len = calloc((size_t) n_vocab, sizeof(size_t));
	v->score = calloc((size_t) n_vocab, sizeof(float));
	v->type = calloc((size_t) n_vocab, sizeof(int32_t));
	if (!v->text || !v->len || !v->score || !v->type)
	{
		fail("out of memory for %lld tokens", (long long) n_vocab);
		return false;
	}
	for (int64_t i = 0; i < n_vocab; i++)
	{
		int32_t		len;
		const uint8_t *s;
		size_t		spaces = 0,
					o = 0;
		char	   *out;

		if (m->size - pos < 8)
		{
			fail("%s: ends after %lld tokens, but the checkpoint has vocab_size %lld",
				 path, (long long) i, (long long) n_vocab);
			return false;
		}
		memcpy(&v->score[i], m->data + pos, 4);
		len = rd_i32(m->data, pos + 4);
		pos += 8;
		if (len < 0 || len > max_len || (size_t) len > m->size - pos)
		{
			fail("%s: token %lld has length %d (max_token_length %d, %zu bytes left)",
				 path, (long long) i, len, max_len, m->size - pos);
			return false;
		}
		s = m->data + pos;
		pos += (size_t) len;
		if (i == 0 || i == 1 || i == 2)
		{
			const char *fixed = i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>";

			v->text[i] = strdup(fixed);
			v->len[i] = strlen(fixed);
			v->type[i] = i == 0 ? 2 : 3;
			if (v->text[i] == NULL)
			{
				fail("out of memory");
				return false;
			}
			continue;
		}
		v->type[i] = is_byte_token(s, (size_t) len) ? 6 : 1;
		for (int32_t k = 0; k < len; k++)
			spaces += s[k] == ' ';
		out = malloc((size_t) len + 2 * spaces + 1);
		if (out == NULL)
		{
			fail("out of memory");
			return false;
		}
		for (int32_t k = 0; k < len; k++)
		{
			if (s[k] == ' ')
			{
				out[o++] = (char) 0xE2;
				out[o++] = (char) 0x96;
				out[o++] = (char) 0x81;
			}
			else
				out[o++] = (char) s[k];
		}
		out[o] = '\0';
		v->text[i] = out;
		v->len[i] = o;
	}
	if (pos != m->size)
	{
		fail("%s: %zu bytes left after %lld tokens: the tokenizer does not match the "
			 "checkpoint's vocab_size %lld", path, m->size - pos, (long long) n_vocab,
			 (long long) n_vocab);
		return false;
	}
	return true;
}

/* Report a writer error and return 1. */
static int
fail_llm(const llm_error *e)
{
	return fail("%s", e->msg);
}

/* Write the metadata keys (llama.cpp's names and types). */
static llm_status
write_metadata(gguf_writer *w, const conv_config *c, const conv_vocab *v,
			   const char *name, uint32_t file_type, llm_error *err)
{
	llm_status	st;

	if ((st = gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
		(st = gguf_writer_set_str(w, "general.name", name, err)) ||
		(st = gguf_writer_set_u32(w, "general.file_type", file_type, err)) ||
		(st = gguf_writer_set_u32(w, "llama.context_length", (uint32_t) c->seq_len, err)) ||
		(st = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t) c->dim, err)) ||
		(st = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t) c->hidden, err)) ||
		(st = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t) c->n_heads, err)) ||
		(st = gguf_writer_set_u32(w, "llama.attention.head_count_kv",
								  (uint32_t) c->n_kv_heads, err)) ||
		(st = gguf_writer_set_u32(w, "llama.block_count", (uint32_t) c->n_layers, err)) ||
		(st = gguf_writer_set_u32(w, "llama.rope.dimension_count",
								  (uint32_t) (c->dim / c->n_heads), err)) ||
		(st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err)) ||
		(st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
		(st = gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens",
									  (const char *const *) v->text, v->len,
									  (uint64_t) v->n, err)) ||
		(st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32,
								  v->score, (uint64_t) v->n, err)) ||
		(st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
								  v->type, (uint64_t) v->n, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", UINT32_MAX, err)) ||
		(st = gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", UINT32_MAX, err)))
		return st;
	return LLM_OK;
}

/* Stream one tensor's data, converting to F16 when asked. */
static llm_status
write_tensor_data(gguf_writer *w, const conv_tensor *t, uint32_t type, llm_error *err)
{
	size_t		n = (size_t) (t->ne[0] * t->ne[1]);
	uint16_t	buf[4096];

	if (type == LLM_F32)
		return gguf_writer_data(w, t->src, n * sizeof(float), err);
	for (size_t i = 0; i < n; i += 4096)
	{
		size_t		k = n - i < 4096 ? n - i : 4096;
		llm_status	st;

		for (size_t j = 0; j < k; j++)
		{
			float		x;

			memcpy(&x, &t->src[i + j], sizeof(float));
			buf[j] = llm_f32_to_f16(x);
		}
		if ((st = gguf_writer_data(w, buf, k * sizeof(uint16_t), err)) != LLM_OK)
			return st;
	}
	return LLM_OK;
}

/* Print the command line summary. */
static void
usage(void)
{
	fprintf(stderr,
			"usage: llm-convert --checkpoint MODEL.bin --tokenizer TOK.bin -o OUT.gguf\n"
			"                   [--type f32|f16] [--name NAME]\n"
			"Converts a llama2.c checkpoint (legacy float32 or version 1) and its\n"
			"tokenizer into a GGUF llama model.\n");
}

/* Parse arguments, validate both inputs, stream the GGUF out. */
int
main(int argc, char **argv)
{
	const char *ckpt_path = NULL,
			   *tok_path = NULL,
			   *out_path = NULL,
			   *name = "llama",
			   *type_name = "f32";
	uint32_t	wtype;
	mapped_file ckpt,
				tok;
	conv_config cfg;
	conv_vocab	vocab;
	conv_tensor *tensors;
	int			n_tensors = 0;
	gguf_writer *w = NULL;
	llm_error	err = {0};
	int			rc = 1;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		bool		has_val = i + 1 < argc;

		if ((strcmp(a, "--checkpoint") == 0 || strcmp(a, "-c") == 0) && has_val)
			ckpt_path = argv[++i];
		else if ((strcmp(a, "--tokenizer") == 0 || strcmp(a, "-z") == 0) && has_val)
			tok_path = argv[++i];
		else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_val)
			out_path = argv[++i];
		else if (strcmp(a, "--type") == 0 && has_val)
			type_name = argv[++i];
		else if (strcmp(a, "--name") == 0 && has_val)
			name = argv[++i];
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		{
			usage();
			return 0;
		}
		else
		{
			fprintf(stderr, "llm-convert: unknown or incomplete argument '%s'\n", a);
			usage();
			return 2;
		}
	}
	if (ckpt_path == NULL || tok_path == NULL || out_path == NULL)
	{
		usage();
		return 2;
	}
	if (strcmp(type_name, "f32") == 0)
		wtype = LLM_F32;
	else if (strcmp(type_name, "f16") == 0)
		wtype = LLM_F16;
	else
	{
		fprintf(stderr, "llm-convert: --type must be f32 or f16, not '%s'\n", type_name);
		return 2;
	}

	if (!map_file(ckpt_path, &ckpt))
		return 1;
	if (!read_config(&ckpt, ckpt_path, &cfg))
		return 1;
	if (!map_file(tok_path, &tok))
		return 1;
	if (!read_vocab(&tok, tok_path, cfg.vocab, &vocab))
	{
		vocab_free(&vocab);
		return 1;
	}
	tensors = plan_tensors(&cfg, ckpt.data, &n_tensors);
	if (tensors == NULL)
	{
		vocab_free(&vocab);
		return fail("out of memory");
	}

	if (gguf_writer_create(&w, &err) != LLM_OK ||
		write_metadata(w, &cfg, &vocab, name, wtype == LLM_F16 ? 1 : 0, &err) != LLM_OK)
	{
		rc = fail_llm(&err);
		goto done;
	}
	for (int i = 0; i < n_tensors; i++)
	{
		uint32_t	type = tensors[i].n_dims == 2 ? wtype : LLM_F32;

		if (gguf_writer_add_tensor(w, tensors[i].name, type, tensors[i].n_dims,
								   tensors[i].ne, NULL, false, &err) != LLM_OK)
		{
			rc = fail_llm(&err);
			goto done;
		}
	}
	if (gguf_writer_begin(w, out_path, &err) != LLM_OK)
	{
		rc = fail_llm(&err);
		goto done;
	}
	for (int i = 0; i < n_tensors; i++)
	{
		uint32_t	type = tensors[i].n_dims == 2 ? wtype : LLM_F32;

		if (write_tensor_data(w, &tensors[i], type, &err) != LLM_OK)
		{
			rc = fail_llm(&err);
			goto done;
		}
	}
	if (gguf_writer_finish(w, &err) != LLM_OK)
	{
		rc = fail_llm(&err);
		goto done;
	}
	printf("wrote %s: %s checkpoint, dim %lld, %lld layers, %lld heads (%lld kv), "
		   "hidden %lld, vocab %lld, ctx %lld, %d tensors, %s\n",
		   out_path, cfg.version ? "version 1" : "legacy", (long long) cfg.dim,
		   (long long) cfg.n_layers, (long long) cfg.n_heads, (long long) cfg.n_kv_heads,
		   (long long) cfg.hidden, (long long) cfg.vocab, (long long) cfg.seq_len,
		   n_tensors, type_name);
	rc = 0;
done:
	gguf_writer_free(w);
	free(tensors);
	vocab_free(&vocab);
	return rc;
}
