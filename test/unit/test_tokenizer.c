/*
 * test_tokenizer.c — tokenizers read from GGUF metadata.
 *
 * The main acceptance tests are llama.cpp's tokenizer test vectors
 * (.inp/.out next to vocab-only GGUF files in $LLM_MODELS_DIR): every string
 * must tokenize (no BOS, no special parsing) to exactly the expected ids and
 * detokenize back to itself, and streaming detokenization must give the same
 * bytes in valid UTF-8 chunks.  Then stories260K (byte fallback, BOS,
 * parse_special), error paths, the pre-tokenizer rules on hand-written
 * cases, hostile vocabularies built in memory, and a 100 KB speed check.
 */
#include "unit.h"

#include "clock.h"
#include "gguf.h"
#include "tokenizer.h"
#include "tokenizer_internal.h"
#include "unicode.h"

#include <time.h>

/* Load a vocabulary from a model-relative path; NULL if absent. */
static llm_vocab *
load_vocab(const char *rel)
{
	char		path[1024];
	gguf_file  *f = NULL;
	llm_vocab  *v = NULL;
	llm_error	err = {0};

	if (unit_model_path(path, sizeof(path), rel) == NULL)
		return NULL;
	if (gguf_open(path, &f, &err) != LLM_OK)
	{
		fprintf(stderr, "gguf_open %s: %s\n", path, err.msg);
		return NULL;
	}
	if (llm_vocab_load(f, &v, &err) != LLM_OK)
		fprintf(stderr, "llm_vocab_load %s: %s\n", path, err.msg);
	/* the vocabulary must not depend on the file staying open */
	gguf_close(f);
	return v;
}

/* Read a whole file; NULL if absent. */
static char *
read_all(const char *path, size_t *len)
{
	FILE	   *fp = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (fread(buf, 1, n, fp) != (size_t) n)
		n = 0;
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t) n;
	return buf;
}

/* Tokenize into a fresh array (no BOS unless asked); returns the count. */
static int
tok(const llm_vocab *v, const char *s, size_t n, bool bos, bool special, int32_t **out)
{
	int			cnt = 0;
	llm_error	err = {0};
	llm_status	st;

	*out = malloc((n + 8) * 2 * sizeof(int32_t));
	st = llm_tokenize(v, s, n, bos, special, *out, (int) ((n + 8) * 2), &cnt, &err);
	if (st != LLM_OK)
	{
		fprintf(stderr, "tokenize: %s\n", err.msg);
		return -1;
	}
	return cnt;
}

/* Detokenize into a malloc'd string. */
static char *
detok(const llm_vocab *v, const int32_t *ids, int n, size_t *len)
{
	size_t		need = llm_detokenize(v, ids, n, NULL, 0);
	char	   *buf = malloc(need);

	*len = llm_detokenize(v, ids, n, buf, need);
	return buf;
}

/*
 * Stream ids one at a time; each chunk must be valid UTF-8 and the whole
 * equal to llm_detokenize.  Returns true when it holds.
 */
static bool
stream_matches(const llm_vocab *v, const int32_t *ids, int n)
{
	size_t		cap = 64 + llm_vocab_max_piece(v);
	char	   *chunk = malloc(cap);
	size_t		whole_len;
	char	   *whole = detok(v, ids, n, &whole_len);
	char	   *acc = malloc(whole_len + 16);
	size_t		acc_len = 0;
	bool		ok = true;
	llm_detok	d;

	llm_detok_init(&d, v);
	for (int i = 0; i <= n; i++)
	{
		size_t		k = i < n ? llm_detok_push(v, &d, ids[i], chunk, cap)
			: llm_detok_flush(&d, chunk, cap);

		if (!llm_utf8_valid(chunk, k))
			ok = false;
		if (acc_len + k > whole_len)
		{
			ok = false;
			break;
		}
		memcpy(acc + acc_len, chunk, k);
		acc_len += k;
	}
	if (acc_len != whole_len || memcmp(acc, whole, whole_len) != 0)
		ok = false;
	free(chunk);
	free(whole);
	free(acc);
	return ok;
}

/* Run one llama.cpp test-vector file pair against its vocabulary. */
static void
run_vectors(const char *rel)
{
	char		path[1024];
	char		inp_path[1100],
				out_path[1100];
	llm_vocab  *v;
	char	   *inp,
			   *outs;
	size_t		inp_len,
				out_len;
	const char *sep = "\n__ggml_vocab_test__\n";
	size_t		sep_len = strlen(sep);
	char	   *p,
			   *line;
	int			n_case = 0,
				n_ok = 0,
				n_rt = 0;

	if (unit_model_path(path, sizeof(path), rel) == NULL)
		SKIP("vocabulary not found");
	snprintf(inp_path, sizeof(inp_path), "%s.inp", path);
	snprintf(out_path, sizeof(out_path), "%s.out", path);
	inp = read_all(inp_path, &inp_len);
	outs = read_all(out_path, &out_len);
	v = load_vocab(rel);
	CHECKF(v != NULL, "%s loads", rel);
	if (v == NULL || inp == NULL || outs == NULL)
	{
		free(inp);
		free(outs);
		llm_vocab_free(v);
		return;
	}
	p = inp;
	line = outs;
	for (;;)
	{
		char	   *end = strstr(p, sep);
		char	   *eol;
		int32_t		want[512];
		int			n_want = 0;
		int32_t    *got;
		int			n_got;
		bool		same;
		char	   *back;
		size_t		back_len;

		if (end == NULL)
			break;
		eol = strchr(line, '\n');
		if (eol == NULL)
			break;
		*eol = '\0';
		for (char *q = line; *q;)
		{
			char	   *e;
			long		id = strtol(q, &e, 10);

			if (e == q)
				break;
			if (n_want < 512)
				want[n_want++] = (int32_t) id;
			q = e;
		}
		n_case++;
		n_got = tok(v, p, end - p, false, false, &got);
		same = n_got == n_want && memcmp(got, want, n_want * sizeof(int32_t)) == 0;
		if (same)
			n_ok++;
		else
		{
			fprintf(stderr, "  %s case %d \"%.*s\": got", rel, n_case - 1, (int) (end - p > 60 ? 60 : end - p), p);
			for (int i = 0; i < n_got && i < 40; i++)
				fprintf(stderr, " %d", got[i]);
			fprintf(stderr, "\n    want");
			for (int i = 0; i < n_want && i < 40; i++)
				fprintf(stderr, " %d", want[i]);
			fprintf(stderr, "\n");
		}
		back = detok(v, got, n_got < 0 ? 0 : n_got, &back_len);
		if (back_len == (size_t) (end - p) && memcmp(back, p, back_len) == 0)
			n_rt++;
		else
			fprintf(stderr, "  %s case %d: round trip gave \"%.*s\"\n", rel, n_case - 1, (int) back_len, back);
		CHECKF(stream_matches(v, got, n_got < 0 ? 0 : n_got), "%s case %d streams", rel, n_case - 1);
		free(back);
		free(got);
		p = end + sep_len;
		line = eol + 1;
	}
	CHECKF(n_case >= 40, "%s: %d cases read", rel, n_case);
	CHECKF(n_ok == n_case, "%s: %d of %d cases match", rel, n_ok, n_case);
	CHECKF(n_rt == n_case, "%s: %d of %d cases round-trip", rel, n_rt, n_case);
	free(inp);
	free(outs);
	llm_vocab_free(v);
}

static void
test_vectors_llama_spm(void)
{
	run_vectors("gguf/ggml-vocab-llama-spm.gguf");
}

static void
test_vectors_phi3(void)
{
	run_vectors("vocab/ggml-vocab-phi-3.gguf");
}

static void
test_vectors_gpt2(void)
{
	run_vectors("vocab/ggml-vocab-gpt-2.gguf");
}

static void
test_vectors_deepseek_coder(void)
{
	run_vectors("vocab/ggml-vocab-deepseek-coder.gguf");
}


/* ---- stories260K: BOS, byte fallback, streaming, specials -------------- */

/* The golden greedy ids decode to the golden text, which tokenizes back. */
static void
test_stories_golden(void)
{
	char		path[1024];
	llm_vocab  *v = load_vocab("stories260K/stories260K.gguf");
	char	   *file;
	size_t		flen;
	char	   *l2,
			   *text;
	int32_t		ids[256];
	int			n = 0;
	int32_t    *got;
	int			n_got;
	char	   *back;
	size_t		back_len;

	if (v == NULL || unit_model_path(path, sizeof(path), "stories260K/greedy_from_bos_200.txt") == NULL)
	{
		llm_vocab_free(v);
		SKIP("stories260K not found");
	}
	CHECK(llm_vocab_type(v) == LLM_VOCAB_SPM);
	CHECK(llm_vocab_n_tokens(v) == 512);
	CHECK(llm_vocab_bos(v) == 1 && llm_vocab_eos(v) == 2);
	CHECK(llm_vocab_add_bos(v));
	CHECK(llm_vocab_is_eog(v, 2) && !llm_vocab_is_eog(v, 1) && !llm_vocab_is_eog(v, 400));
	CHECK(llm_vocab_is_control(v, 1) && !llm_vocab_is_control(v, 300));

	file = read_all(path, &flen);
	l2 = strchr(file, '\n') + 1;
	text = strchr(l2, '\n') + 1;
	for (char *q = l2; q < text - 1 && n < 256;)
	{
		char	   *e;
		long		id = strtol(q, &e, 10);

		if (e == q)
			break;
		ids[n++] = (int32_t) id;
		q = e;
	}
	CHECK(n == 200);
	/* detokenize the golden ids: equals the golden text */
	back = detok(v, ids, n, &back_len);
	while (flen > 0 && file[flen - 1] == '\n' && (size_t) (file + flen - text) > back_len)
		flen--;
	CHECKF(back_len == (size_t) (file + flen - text) && memcmp(back, text, back_len) == 0,
		   "golden ids decode to \"%.60s\"", back);
	CHECK(stream_matches(v, ids, n));
	/* and the golden text tokenizes (with BOS) to BOS + the golden ids */
	n_got = tok(v, text, back_len, true, false, &got);
	CHECKF(n_got == n + 1 && got[0] == 1 && memcmp(got + 1, ids, n * sizeof(int32_t)) == 0,
		   "golden text gives %d tokens, first %d %d %d", n_got, got[0], got[1], got[2]);
	free(got);
	free(back);
	free(file);

	/* "Once upon a time" with BOS: the first four golden ids */
	n_got = tok(v, "Once upon a time", 16, true, false, &got);
	CHECK(n_got == 5 && got[0] == 1 && got[1] == 403 && got[2] == 407 && got[3] == 261 && got[4] == 378);
	back = detok(v, got, n_got, &back_len);
	CHECK(back_len == 16 && strcmp(back, "Once upon a time") == 0);
	free(back);
	free(got);
	llm_vocab_free(v);
}

/* Characters missing from the vocabulary fall back to <0xNN> tokens. */
static void
test_stories_byte_fallback(void)
{
	llm_vocab  *v = load_vocab("stories260K/stories260K.gguf");
	const char *s = "a \xf0\x9f\xa6\x99 \xc3\xa9!";	/* "a 🦙 é!" */
	const unsigned char emoji[4] = {0xF0, 0x9F, 0xA6, 0x99};
	int32_t    *got;
	int			n,
				at = -1;
	char	   *back;
	size_t		back_len;
	char		piece[16];
	char		chunk[600];
	llm_detok	d;
	size_t		k;

	if (v == NULL)
		SKIP("stories260K not found");
	n = tok(v, s, strlen(s), false, false, &got);
	CHECK(n > 6);
	/* the emoji appears as its four byte tokens, in order */
	for (int i = 0; i + 3 < n; i++)
	{
		bool		all = true;

		for (int j = 0; j < 4; j++)
		{
			size_t		tl;
			const char *t = llm_vocab_text(v, got[i + j], &tl);
			char		want[8];

			snprintf(want, sizeof(want), "<0x%02X>", emoji[j]);
			all = all && tl == 6 && memcmp(t, want, 6) == 0;
		}
		if (all)
			at = i;
	}
	CHECKF(at >= 0, "emoji byte tokens found");
	for (int j = 0; at >= 0 && j < 4; j++)
	{
		CHECK(llm_token_to_piece(v, got[at + j], false, piece, sizeof(piece)) == 1);
		CHECK((unsigned char) piece[0] == emoji[j]);
	}
	back = detok(v, got, n, &back_len);
	CHECK(back_len == strlen(s) && strcmp(back, s) == 0);
	CHECK(stream_matches(v, got, n));

	/* streaming holds back the first three bytes, then emits all four */
	if (at >= 0)
	{
		llm_detok_init(&d, v);
		CHECK(llm_detok_push(v, &d, got[at], chunk, sizeof(chunk)) == 0);
		CHECK(llm_detok_push(v, &d, got[at + 1], chunk, sizeof(chunk)) == 0);
		CHECK(llm_detok_push(v, &d, got[at + 2], chunk, sizeof(chunk)) == 0);
		k = llm_detok_push(v, &d, got[at + 3], chunk, sizeof(chunk));
		CHECK(k == 4 && memcmp(chunk, emoji, 4) == 0);
		/* a broken sequence becomes U+FFFD, the next byte survives */
		llm_detok_init(&d, v);
		CHECK(llm_detok_push(v, &d, got[at], chunk, sizeof(chunk)) == 0);
		k = llm_detok_push(v, &d, 3 + 'A', chunk, sizeof(chunk));
		CHECKF(k == 4 && memcmp(chunk, "\xef\xbf\xbd" "A", 4) == 0, "got %zu bytes", k);
		/* an incomplete tail is flushed as U+FFFD */
		CHECK(llm_detok_push(v, &d, got[at], chunk, sizeof(chunk)) == 0);
		CHECK(llm_detok_flush(&d, chunk, sizeof(chunk)) == 3 && memcmp(chunk, "\xef\xbf\xbd", 3) == 0);
		CHECK(llm_detok_flush(&d, chunk, sizeof(chunk)) == 0);
	}
	free(back);
	free(got);
	llm_vocab_free(v);
}

/* parse_special turns "<s>" into BOS; without it "<s>" is plain text. */
static void
test_stories_special(void)
{
	llm_vocab  *v = load_vocab("stories260K/stories260K.gguf");
	int32_t    *got;
	int			n;
	bool		has_bos = false;
	char		buf[16];
	char	   *back;
	size_t		back_len;

	if (v == NULL)
		SKIP("stories260K not found");
	n = tok(v, "<s>Once upon", 12, false, true, &got);
	CHECK(n >= 2 && got[0] == 1);
	/* SentencePiece puts a space before text that follows a special token */
	CHECK(n == 3 && got[1] == 403 && got[2] == 407);
	back = detok(v, got, n, &back_len);
	CHECK(strcmp(back, "Once upon") == 0);
	free(back);
	free(got);

	n = tok(v, "<s>Once upon", 12, false, false, &got);
	for (int i = 0; i < n; i++)
		has_bos |= got[i] == 1;
	CHECK(n > 3 && !has_bos);
	back = detok(v, got, n, &back_len);
	CHECK(strcmp(back, "<s>Once upon") == 0);
	free(back);
	free(got);

	/* control pieces are empty unless special is asked for */
	CHECK(llm_token_to_piece(v, 1, false, buf, sizeof(buf)) == 0);
	CHECK(llm_token_to_piece(v, 1, true, buf, sizeof(buf)) == 3 && memcmp(buf, "<s>", 3) == 0);
	memset(buf, 'x', sizeof(buf));
	CHECK(llm_token_to_piece(v, 1, true, buf, 2) == 3 && buf[0] == 'x');
	CHECK(llm_token_to_piece(v, 512, false, buf, sizeof(buf)) == -1);
	CHECK(llm_token_to_piece(v, -1, false, buf, sizeof(buf)) == -1);
	CHECK(llm_token_to_piece(v, 403, false, buf, sizeof(buf)) == 5 && memcmp(buf, " Once", 5) == 0);
	llm_vocab_free(v);
}

/* Bad input text and too-small buffers. */
static void
test_errors(void)
{
	llm_vocab  *v = load_vocab("stories260K/stories260K.gguf");
	static const char *const bad[] = {
		"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "ok\x80", "\xf0\x9f\xa6"
	};
	int32_t		out[64];
	int			n = -1,
				need;
	llm_error	err = {0};
	char		small[4];
	size_t		r;

	if (v == NULL)
		SKIP("stories260K not found");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECKF(llm_tokenize(v, bad[i], strlen(bad[i]), true, false, out, 64, &n, &err) == LLM_ERR_INVALID_UTF8,
			   "bad utf-8 case %zu", i);
	CHECK(llm_tokenize(v, "Once upon a time", 16, true, false, out, 64, &need, &err) == LLM_OK);
	CHECK(need == 5);
	CHECK(llm_tokenize(v, "Once upon a time", 16, true, false, out, 3, &n, &err) == LLM_ERR_RANGE);
	CHECK(n == need);
	CHECK(llm_tokenize(v, "Once upon a time", 16, true, false, NULL, 0, &n, &err) == LLM_ERR_RANGE && n == need);
	CHECK(llm_tokenize(v, "", 0, false, false, out, 64, &n, &err) == LLM_OK && n == 0);
	CHECK(llm_tokenize(v, "", 0, true, false, out, 64, &n, &err) == LLM_OK && n == 1 && out[0] == 1);
	/* a too-small detokenize buffer: needed length + 1, nothing written */
	CHECK(llm_tokenize(v, "Once upon a time", 16, true, false, out, 64, &n, &err) == LLM_OK);
	memcpy(small, "zzz", 4);
	r = llm_detokenize(v, out, n, small, sizeof(small));
	CHECK(r == 17 && strcmp(small, "zzz") == 0);
	CHECK(llm_utf8_valid("", 0) && llm_utf8_valid("a\xc3\xa9", 3) && !llm_utf8_valid("\xc3", 1));
	llm_vocab_free(v);
}

/* ---- pre-tokenizer rules on hand-written cases -------------------------- */

/* True when text splits into exactly the NULL-terminated words. */
static bool
split_is(llm_pretok pre, const char *text, const char *const *words)
{
	size_t		ends[128];
	size_t		n = 0,
				prev = 0,
				k;
	llm_error	err = {0};

	if (llm_pretok_split(pre, text, strlen(text), ends, 128, &n, &err) != LLM_OK)
		return false;
	for (k = 0; words[k] != NULL; k++)
	{
		size_t		wl = strlen(words[k]);

		if (k >= n || ends[k] - prev != wl || memcmp(text + prev, words[k], wl) != 0)
		{
			fprintf(stderr, "  split of \"%s\": word %zu differs\n", text, k);
			return false;
		}
		prev = ends[k];
	}
	if (k != n)
		fprintf(stderr, "  split of \"%s\": %zu words, want %zu\n", text, n, k);
	return k == n;
}

#define W(...) ((const char *const[]) {__VA_ARGS__, NULL})

static void
test_pretok_gpt2(void)
{
	CHECK(split_is(LLM_PRETOK_GPT2, "Hello world", W("Hello", " world")));
	CHECK(split_is(LLM_PRETOK_GPT2, "  Hello", W(" ", " Hello")));
	CHECK(split_is(LLM_PRETOK_GPT2, "Hello  ", W("Hello", "  ")));
	CHECK(split_is(LLM_PRETOK_GPT2, "I'm'll's", W("I", "'m", "'ll", "'s")));
	CHECK(split_is(LLM_PRETOK_GPT2, "I'M", W("I", "'", "M")));
	CHECK(split_is(LLM_PRETOK_GPT2, "12345 abc", W("12345", " abc")));
	CHECK(split_is(LLM_PRETOK_GPT2, "a,!b", W("a", ",!", "b")));
	CHECK(split_is(LLM_PRETOK_GPT2, "\tx", W("\t", "x")));
	CHECK(split_is(LLM_PRETOK_GPT2, "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87", W("caf\xc3\xa9", " \xe4\xb8\xad\xe6\x96\x87")));
}

static void
test_pretok_llama3(void)
{
	CHECK(split_is(LLM_PRETOK_LLAMA3, "Hello world", W("Hello", " world")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "I'M fine", W("I", "'M", " fine")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "we're", W("we", "'re")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "12345", W("123", "45")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "hello!!\n\nworld", W("hello", "!!\n\n", "world")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "a  \n  b", W("a", "  \n", " ", " b")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, ",hello", W(",hello")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "x\r\ny", W("x", "\r\n", "y")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "a   ", W("a", "   ")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "(x) 2024!", W("(x", ")", " ", "202", "4", "!")));
	CHECK(split_is(LLM_PRETOK_LLAMA3, "\xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe 12", W("\xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe", " ", "12")));
}

static void
test_pretok_qwen2(void)
{
	CHECK(split_is(LLM_PRETOK_QWEN2, "abc123", W("abc", "1", "2", "3")));
	CHECK(split_is(LLM_PRETOK_QWEN2, "I'Ll go", W("I", "'Ll", " go")));
	CHECK(split_is(LLM_PRETOK_QWEN2, "ok.\n\nNext", W("ok", ".\n\n", "Next")));
	CHECK(split_is(LLM_PRETOK_QWEN2, " \xe4\xbd\xa0\xe5\xa5\xbd", W(" \xe4\xbd\xa0\xe5\xa5\xbd")));
}

static void
test_pretok_deepseek_coder(void)
{
	CHECK(split_is(LLM_PRETOK_DEEPSEEK_CODER, "foo(bar)", W("foo", "(", "bar", ")")));
	CHECK(split_is(LLM_PRETOK_DEEPSEEK_CODER, "a 12", W("a", " ", "1", "2")));
	CHECK(split_is(LLM_PRETOK_DEEPSEEK_CODER, "x\ny", W("x", "\n", "y")));
	CHECK(split_is(LLM_PRETOK_DEEPSEEK_CODER, "a == b", W("a", " ==", " b")));
}


/* ---- vocabularies built in memory --------------------------------------- */

/* A minimal GGUF builder (metadata only) for hostile and tiny vocabularies. */
typedef struct gbuf
{
	uint8_t    *b;
	size_t		n;
	size_t		cap;
	uint64_t	n_kv;
} gbuf;

static void
gb_put(gbuf *g, const void *p, size_t n)
{
	if (g->n + n > g->cap)
	{
		g->cap = (g->n + n) * 2 + 64;
		g->b = realloc(g->b, g->cap);
	}
	memcpy(g->b + g->n, p, n);
	g->n += n;
}

static void
gb_u32(gbuf *g, uint32_t v)
{
	gb_put(g, &v, 4);
}

static void
gb_str(gbuf *g, const char *s)
{
	uint64_t	n = strlen(s);

	gb_put(g, &n, 8);
	gb_put(g, s, n);
}

static void
gb_key(gbuf *g, const char *key, gguf_type t)
{
	gb_str(g, key);
	gb_u32(g, t);
	g->n_kv++;
}

static void
kv_str(gbuf *g, const char *key, const char *v)
{
	gb_key(g, key, GGUF_TYPE_STRING);
	gb_str(g, v);
}

static void
kv_u32(gbuf *g, const char *key, uint32_t v)
{
	gb_key(g, key, GGUF_TYPE_UINT32);
	gb_u32(g, v);
}

static void
kv_bool(gbuf *g, const char *key, bool v)
{
	uint8_t		b = v;

	gb_key(g, key, GGUF_TYPE_BOOL);
	gb_put(g, &b, 1);
}

static void
kv_strs(gbuf *g, const char *key, const char *const *v, uint64_t n)
{
	gb_key(g, key, GGUF_TYPE_ARRAY);
	gb_u32(g, GGUF_TYPE_STRING);
	gb_put(g, &n, 8);
	for (uint64_t i = 0; i < n; i++)
		gb_str(g, v[i]);
}

static void
kv_arr(gbuf *g, const char *key, gguf_type t, const void *v, uint64_t n)
{
	gb_key(g, key, GGUF_TYPE_ARRAY);
	gb_u32(g, t);
	gb_put(g, &n, 8);
	gb_put(g, v, n * 4);
}

/* Parse the built metadata and load it as a vocabulary. */
static llm_status
gb_load(gbuf *g, llm_vocab **v, llm_error *err)
{
	gbuf		f = {0};
	uint64_t	zero = 0;
	gguf_file  *gf = NULL;
	llm_status	st;

	gb_put(&f, "GGUF", 4);
	gb_u32(&f, 3);
	gb_put(&f, &zero, 8);
	gb_put(&f, &g->n_kv, 8);
	gb_put(&f, g->b, g->n);
	while (f.n % 32)
		gb_put(&f, "", 1);
	*v = NULL;
	st = gguf_open_buffer(f.b, f.n, &gf, err);
	if (st == LLM_OK)
		st = llm_vocab_load(gf, v, err);
	gguf_close(gf);
	free(f.b);
	free(g->b);
	memset(g, 0, sizeof(*g));
	return st;
}

/*
 * Tiny SentencePiece vocabulary: <unk> <s> </s> a b c ab bc and the 256
 * byte tokens; "mutation" breaks one thing.
 */
static llm_status
tiny_spm(int mutation, float score_ab, float score_bc, llm_vocab **v, llm_error *err)
{
	gbuf		g = {0};
	const char *toks[8 + 256];
	char		bytes[256][8];
	float		scores[8 + 256] = {0};
	int32_t		types[8 + 256];
	int			n = 8 + 256;

	toks[0] = "<unk>";
	toks[1] = "<s>";
	toks[2] = "</s>";
	toks[3] = "a";
	toks[4] = "b";
	toks[5] = "c";
	toks[6] = "ab";
	toks[7] = "bc";
	types[0] = 2;
	types[1] = types[2] = 3;
	for (int i = 3; i < 8; i++)
		types[i] = 1;
	scores[6] = score_ab;
	scores[7] = score_bc;
	for (int b = 0; b < 256; b++)
	{
		snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
		toks[8 + b] = bytes[b];
		types[8 + b] = 6;
	}
	if (mutation == 1)
		toks[4] = "\xc3\x28";	/* invalid utf-8 */
	if (mutation == 2)
		types[5] = 9;			/* no such type */
	if (mutation == 3)
		toks[8] = "<0xZZ>";		/* byte token misspelt */
	kv_str(&g, "tokenizer.ggml.model", mutation == 4 ? "bert" : "llama");
	if (mutation != 5)
		kv_strs(&g, "tokenizer.ggml.tokens", toks, n);
	kv_arr(&g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, mutation == 6 ? n - 1 : n);
	kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n);
	kv_u32(&g, "tokenizer.ggml.bos_token_id", mutation == 7 ? (uint32_t) n : 1);
	kv_u32(&g, "tokenizer.ggml.eos_token_id", 2);
	kv_u32(&g, "tokenizer.ggml.padding_token_id", UINT32_MAX);	/* "none" */
	if (mutation == 8)
		kv_u32(&g, "tokenizer.ggml.add_bos_token", 1);	/* not a bool */
	kv_bool(&g, "tokenizer.ggml.add_space_prefix", false);
	return gb_load(&g, v, err);
}

/* The GPT-2 byte alphabet (bytes_to_unicode of the GPT-2 encoder). */
static void
byte_char(int b, char *out)
{
	int			cp = b,
				n = 0;

	if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174))
	{
		for (int i = 0; i < b; i++)
			if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174))
				n++;
		cp = 256 + n;
	}
	out[llm_utf8_encode(cp, out)] = '\0';
}

/* Tiny byte-level BPE: the byte alphabet + ab, bc, abc and given merges. */
static llm_status
tiny_bpe(const char *const *merges, int n_merges, const char *pre, llm_vocab **v, llm_error *err)
{
	gbuf		g = {0};
	const char *toks[256 + 3];
	char		chars[256][8];

	for (int b = 0; b < 256; b++)
	{
		byte_char(b, chars[b]);
		toks[b] = chars[b];
	}
	toks[256] = "ab";
	toks[257] = "bc";
	toks[258] = "abc";
	kv_str(&g, "tokenizer.ggml.model", "gpt2");
	if (pre)
		kv_str(&g, "tokenizer.ggml.pre", pre);
	kv_strs(&g, "tokenizer.ggml.tokens", toks, 259);
	kv_strs(&g, "tokenizer.ggml.merges", merges, n_merges);
	return gb_load(&g, v, err);
}

/* Every validation rule gives a format (or unsupported) error. */
static void
test_bad_vocab(void)
{
	llm_vocab  *v;
	llm_error	err = {0};
	static const llm_status want[] = {
		LLM_OK, LLM_ERR_FORMAT, LLM_ERR_FORMAT, LLM_ERR_FORMAT, LLM_ERR_UNSUPPORTED,
		LLM_ERR_FORMAT, LLM_ERR_FORMAT, LLM_ERR_FORMAT, LLM_ERR_FORMAT
	};

	for (int m = 0; m < 9; m++)
	{
		llm_status	st = tiny_spm(m, -1, -2, &v, &err);

		CHECKF(st == want[m], "mutation %d: status %d (%s)", m, st, st ? err.msg : "");
		CHECK((st == LLM_OK) == (v != NULL));
		if (st != LLM_OK)
		{
			CHECKF(err.msg[0] != '\0', "mutation %d has a message", m);
			fprintf(stderr, "  mutation %d: %s\n", m, err.msg);
		}
		llm_vocab_free(v);
	}
	{
		const char *const bad_merge[] = {"ab"};
		const char *const ok_merge[] = {"a b"};

		CHECK(tiny_bpe(bad_merge, 1, NULL, &v, &err) == LLM_ERR_FORMAT && v == NULL);
		CHECK(tiny_bpe(ok_merge, 1, "no-such-pre", &v, &err) == LLM_ERR_UNSUPPORTED && v == NULL);
		CHECK(tiny_bpe(ok_merge, 1, "llama-bpe", &v, &err) == LLM_OK && v != NULL);
		llm_vocab_free(v);
	}
}

/* SentencePiece merges the best-scoring pair first. */
static void
test_tiny_spm_scores(void)
{
	llm_vocab  *v;
	llm_error	err = {0};
	int32_t		out[16];
	int			n = 0;

	CHECK(tiny_spm(0, -1, -2, &v, &err) == LLM_OK);
	if (v == NULL)
		return;
	CHECK(llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK);
	CHECK(n == 2 && out[0] == 6 && out[1] == 5);	/* ab c */
	/* a character outside the vocabulary: its UTF-8 bytes */
	CHECK(llm_tokenize(v, "a\xc3\xa9", 3, true, false, out, 16, &n, &err) == LLM_OK);
	CHECK(n == 4 && out[0] == 1 && out[1] == 3 && out[2] == 8 + 0xC3 && out[3] == 8 + 0xA9);
	/* padding id (uint32)-1 means none, no space prefix was asked for */
	CHECK(llm_tokenize(v, " a", 2, false, false, out, 16, &n, &err) == LLM_OK);
	/* "▁" is not a token here: its three bytes, then "a" */
	CHECK(n == 4 && out[0] == 8 + 0xE2 && out[1] == 8 + 0x96 && out[2] == 8 + 0x81 && out[3] == 3);
	llm_vocab_free(v);

	CHECK(tiny_spm(0, -2, -1, &v, &err) == LLM_OK);
	if (v == NULL)
		return;
	CHECK(llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK);
	CHECK(n == 2 && out[0] == 3 && out[1] == 7);	/* a bc */
	llm_vocab_free(v);
}

/* Byte-level BPE applies merges by rank. */
static void
test_tiny_bpe_ranks(void)
{
	const char *const m1[] = {"a b", "b c", "ab c"};
	const char *const m2[] = {"b c", "a b", "a bc"};
	const char *const m3[] = {"a b", "b c"};
	llm_vocab  *v;
	llm_error	err = {0};
	int32_t		out[16];
	int			n = 0;
	char		text[8];
	size_t		len;

	CHECK(tiny_bpe(m1, 3, "gpt-2", &v, &err) == LLM_OK);
	CHECK(v && llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK && n == 1 && out[0] == 258);
	llm_vocab_free(v);
	CHECK(tiny_bpe(m2, 3, "gpt-2", &v, &err) == LLM_OK);
	CHECK(v && llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK && n == 1 && out[0] == 258);
	llm_vocab_free(v);
	CHECK(tiny_bpe(m3, 2, "gpt-2", &v, &err) == LLM_OK);
	CHECK(v && llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK && n == 2 &&
		  out[0] == 256 && out[1] == 'c');
	/* bytes outside ASCII go through the byte alphabet and back */
	CHECK(v && llm_tokenize(v, "\xc3\xa9 \n", 4, false, false, out, 16, &n, &err) == LLM_OK && n == 4);
	len = llm_detokenize(v, out, n, text, sizeof(text));
	CHECK(len == 4 && memcmp(text, "\xc3\xa9 \n", 4) == 0);
	llm_vocab_free(v);
	/* llama3 keeps a whole word that is a token (ignore_merges) */
	CHECK(tiny_bpe(m3, 2, "llama3", &v, &err) == LLM_OK);
	CHECK(v && llm_tokenize(v, "abc", 3, false, false, out, 16, &n, &err) == LLM_OK && n == 1 && out[0] == 258);
	llm_vocab_free(v);
}

/* Metadata flags of real vocabularies. */
static void
test_vocab_flags(void)
{
	llm_vocab  *v = load_vocab("vocab/ggml-vocab-phi-3.gguf");
	int32_t    *got;
	int			n;

	if (v == NULL)
		SKIP("phi-3 vocabulary not found");
	CHECK(llm_vocab_is_eog(v, 32000));	/* eos <|endoftext|> */
	CHECK(llm_vocab_is_eog(v, 32007));	/* <|end|> */
	CHECK(!llm_vocab_is_eog(v, 32010));	/* <|user|> */
	n = tok(v, "<|user|>\nHi<|end|>", 18, true, true, &got);
	CHECK(n >= 4 && got[0] == 1 && got[1] == 32010 && got[n - 1] == 32007);
	free(got);
	llm_vocab_free(v);

	v = load_vocab("vocab/ggml-vocab-gpt-2.gguf");
	if (v == NULL)
		SKIP("gpt-2 vocabulary not found");
	CHECK(llm_vocab_type(v) == LLM_VOCAB_BPE);
	CHECK(!llm_vocab_add_bos(v));
	CHECK(llm_vocab_is_eog(v, 50256));
	n = tok(v, "a<|endoftext|>b", 15, false, true, &got);
	CHECK(n == 3 && got[1] == 50256);
	free(got);
	llm_vocab_free(v);
}

/* A 100 KB prompt tokenizes well under a second, and round-trips. */
static void
test_speed(void)
{
	static const char *const vocabs[] = {
		"gguf/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf",
		"vocab/ggml-vocab-deepseek-coder.gguf"
	};
	const char *para = "The quick brown fox jumps over the lazy dog; 1234567 times! "
		"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\xa6\x99\n"
		"    indented(code) == x[i] + y;\t// comment\n";
	size_t		plen = strlen(para),
				len = 0;
	char	   *text = malloc(102400 + plen);
#if defined(__SANITIZE_ADDRESS__)
	double		limit = 10.0;
#else
	double		limit = 1.0;
#endif

	while (len + plen <= 102400)
	{
		memcpy(text + len, para, plen);
		len += plen;
	}
	for (size_t k = 0; k < sizeof(vocabs) / sizeof(vocabs[0]); k++)
	{
		llm_vocab  *v = load_vocab(vocabs[k]);
		int32_t    *got;
		int			n;
		double		t0,
					dt;
		char	   *back;
		size_t		back_len;

		if (v == NULL)
			continue;
		t0 = llm_seconds(CLOCK_MONOTONIC);
		n = tok(v, text, len, false, false, &got);
		dt = llm_seconds(CLOCK_MONOTONIC) - t0;
		fprintf(stderr, "  %s: %zu bytes -> %d tokens in %.3f s\n", vocabs[k], len, n, dt);
		CHECKF(n > 10000 && dt < limit, "%s: %.3f s", vocabs[k], dt);
		back = detok(v, got, n, &back_len);
		CHECK(back_len == len && memcmp(back, text, len) == 0);
		free(back);
		free(got);
		llm_vocab_free(v);
	}
	/* pathological inputs: one 100 KB word, 100 KB of spaces */
	for (int kind = 0; kind < 2; kind++)
	{
		static const char *const vs[] = {"gguf/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"};

		memset(text, kind == 0 ? 'a' : ' ', 102400);
		for (int k = 0; k < 2; k++)
		{
			llm_vocab  *v = load_vocab(vs[k]);
			int32_t    *got;
			int			n;
			double		t;

			if (v == NULL)
				continue;
			t = llm_seconds(CLOCK_MONOTONIC);
			n = tok(v, text, 102400, false, false, &got);
			t = llm_seconds(CLOCK_MONOTONIC) - t;
			CHECKF(n > 0 && t < limit, "%s kind %d: %d tokens in %.3f s", vs[k], kind, n, t);
			free(got);
			llm_vocab_free(v);
		}
	}
	/* the size limit is enforced before any work */
	{
		llm_vocab  *v = load_vocab("stories260K/stories260K.gguf");
		int			n;
		llm_error	err = {0};

		if (v)
			CHECK(llm_tokenize(v, text, LLM_TOKENIZE_MAX_BYTES + 1, false, false, NULL, 0, &n, &err) == LLM_ERR_RANGE);
		llm_vocab_free(v);
	}
	free(text);
}


/* ---- UTF-8 and Unicode classes ------------------------------------------ */

static void
test_unicode(void)
{
	uint32_t	cp = 0;
	char		buf[4];

	CHECK(llm_utf8_decode((const unsigned char *) "\xc3\xa9", 2, &cp) == 2 && cp == 0xE9);
	CHECK(llm_utf8_decode((const unsigned char *) "\xf0\x9f\xa6\x99", 4, &cp) == 4 && cp == 0x1F999);
	CHECK(llm_utf8_decode((const unsigned char *) "\xf0\x9f\xa6", 3, &cp) == -3);
	CHECK(llm_utf8_decode((const unsigned char *) "\xe0\x80\x80", 3, &cp) == 0);	/* overlong */
	CHECK(llm_utf8_decode((const unsigned char *) "\xed\xbf\xbf", 3, &cp) == 0);	/* surrogate */
	CHECK(llm_utf8_decode((const unsigned char *) "\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10FFFF);
	CHECK(llm_utf8_invalid_len((const unsigned char *) "\xe2\x82" "A", 3) == 2);
	CHECK(llm_utf8_invalid_len((const unsigned char *) "\x80\x80", 2) == 1);
	for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x800 ? 1 : 97))
	{
		int			n;
		uint32_t	back = 0;

		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		n = llm_utf8_encode(c, buf);
		if (llm_utf8_decode((const unsigned char *) buf, n, &back) != n || back != c)
		{
			CHECKF(0, "U+%04X does not round-trip", c);
			break;
		}
	}
	CHECK(llm_unicode_is_letter('a') && llm_unicode_is_letter(0xE9) && llm_unicode_is_letter(0x4E2D));
	CHECK(llm_unicode_is_letter(0x0436) && !llm_unicode_is_letter('1') && !llm_unicode_is_letter(0x1F999));
	CHECK(llm_unicode_is_number('7') && llm_unicode_is_number(0xBD) && llm_unicode_is_number(0x0663));
	CHECK(llm_unicode_is_punct('!') && llm_unicode_is_punct(0x3002) && !llm_unicode_is_punct('$'));
	CHECK(llm_unicode_category('+') == LLM_UCAT_S && llm_unicode_category(0x0301) == LLM_UCAT_M);
	CHECK(llm_unicode_category(0x1F999) == LLM_UCAT_S && llm_unicode_category(0x0378) == LLM_UCAT_NONE);
	CHECK(llm_unicode_category(0x10FFFF) == LLM_UCAT_NONE && llm_unicode_category(0x110000) == LLM_UCAT_NONE);
	CHECK(llm_unicode_is_space(' ') && llm_unicode_is_space('\n') && llm_unicode_is_space(0x3000));
	CHECK(llm_unicode_is_space(0xA0) && llm_unicode_is_space(0x85) && !llm_unicode_is_space(0x200B));
	CHECK(!llm_unicode_is_space(0x1C) && !llm_unicode_is_space('a'));
}

/* A byte-level vocabulary lacking some byte tokens degrades, never crashes. */
static void
test_bpe_missing_bytes(void)
{
	gbuf		g = {0};
	const char *toks[] = {"a", "b", "<unk>", "ab"};
	const char *merges[] = {"a b"};
	int32_t		types[] = {1, 1, 2, 1};
	llm_vocab  *v = NULL;
	llm_error	err = {0};
	int32_t		out[16];
	int			n = 0;

	kv_str(&g, "tokenizer.ggml.model", "gpt2");
	kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
	kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 4);
	kv_strs(&g, "tokenizer.ggml.merges", merges, 1);
	kv_u32(&g, "tokenizer.ggml.unknown_token_id", 2);
	CHECK(gb_load(&g, &v, &err) == LLM_OK);
	if (v == NULL)
		return;
	CHECK(llm_tokenize(v, "abc ab", 6, true, true, out, 16, &n, &err) == LLM_OK);
	/* "ab", c -> <unk>, " " -> <unk>, "ab"; no BOS exists */
	CHECK(n == 4 && out[0] == 3 && out[1] == 2 && out[2] == 2 && out[3] == 3);
	llm_vocab_free(v);
}

int
main(void)
{
	RUN(test_vectors_llama_spm);
	RUN(test_vectors_phi3);
	RUN(test_vectors_gpt2);
	RUN(test_vectors_deepseek_coder);
	RUN(test_stories_golden);
	RUN(test_stories_byte_fallback);
	RUN(test_stories_special);
	RUN(test_errors);
	RUN(test_pretok_gpt2);
	RUN(test_pretok_llama3);
	RUN(test_pretok_qwen2);
	RUN(test_pretok_deepseek_coder);
	RUN(test_bad_vocab);
	RUN(test_tiny_spm_scores);
	RUN(test_tiny_bpe_ranks);
	RUN(test_vocab_flags);
	RUN(test_speed);
	RUN(test_unicode);
	RUN(test_bpe_missing_bytes);
	return unit_finish();
}
