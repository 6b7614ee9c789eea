/*
 * fuzz_tokenizer_common.h — the body shared by fuzz_tokenizer_spm.c and
 * fuzz_tokenizer_bpe.c.  The including file defines FUZZ_DEFAULT_VOCAB (a
 * path under $LLM_MODELS_DIR); env LLM_FUZZ_VOCAB overrides it.
 *
 * Input: byte 0 holds flags (bit 0 add_bos, bit 1 parse_special, bit 2
 * "treat the rest as token ids"), the rest is text (or little-endian ids).
 * Properties checked, each a crash when violated:
 *   - tokenize returns LLM_ERR_INVALID_UTF8 exactly when the text is not
 *     valid UTF-8, otherwise LLM_OK with ids in range; a too-small buffer
 *     gives LLM_ERR_RANGE with the same count;
 *   - detokenize(tokenize(text)) == text for valid UTF-8 without special
 *     parsing;
 *   - streaming detokenization (one token at a time, then flush) emits only
 *     valid UTF-8 and the same bytes as llm_detokenize, also for arbitrary
 *     id sequences.
 */
#define _GNU_SOURCE				/* memmem */
#include "gguf.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static llm_vocab *fuzz_vocab;

#define FUZZ_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

/* Load the vocabulary once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("LLM_FUZZ_VOCAB");
	char		buf[4096];
	gguf_file  *f = NULL;
	llm_error	err = {0};

	if (path == NULL || *path == '\0')
	{
		const char *dir = getenv("LLM_MODELS_DIR");

		if (dir == NULL || *dir == '\0')
			dir = "../shared/models";
		snprintf(buf, sizeof(buf), "%s/%s", dir, FUZZ_DEFAULT_VOCAB);
		path = buf;
	}
	if (gguf_open(path, &f, &err) != LLM_OK ||
		llm_vocab_load(f, &fuzz_vocab, &err) != LLM_OK)
	{
		fprintf(stderr, "cannot load vocabulary %s: %s\n", path, err.msg);
		exit(1);
	}
	gguf_close(f);
	return 0;
}

/* Stream ids through llm_detok and compare with llm_detokenize. */
static void
check_stream(const int32_t *ids, int n)
{
	const llm_vocab *v = fuzz_vocab;
	size_t		cap = 64 + llm_vocab_max_piece(v);
	char	   *chunk = malloc(cap);
	size_t		need = llm_detokenize(v, ids, n, NULL, 0);
	char	   *whole = malloc(need);
	size_t		whole_len = llm_detokenize(v, ids, n, whole, need);
	char	   *acc = malloc(whole_len + cap);
	size_t		acc_len = 0;
	llm_detok	d;

	FUZZ_CHECK(whole_len + 1 == need && whole[whole_len] == '\0');
	FUZZ_CHECK(llm_utf8_valid(whole, whole_len));
	llm_detok_init(&d, v);
	for (int i = 0; i <= n; i++)
	{
		size_t		k = i < n ? llm_detok_push(v, &d, ids[i], chunk, cap)
			: llm_detok_flush(&d, chunk, cap);

		FUZZ_CHECK(k <= cap && llm_utf8_valid(chunk, k));
		FUZZ_CHECK(acc_len + k <= whole_len);
		memcpy(acc + acc_len, chunk, k);
		acc_len += k;
	}
	FUZZ_CHECK(acc_len == whole_len && memcmp(acc, whole, whole_len) == 0);
	free(chunk);
	free(whole);
	free(acc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const llm_vocab *v = fuzz_vocab;
	const char *text;
	size_t		len;
	bool		add_bos,
				special;
	int			max,
				n = -1,
				n2 = -1;
	int32_t    *ids;
	llm_error	err = {0};
	llm_status	st;
	bool		valid;

	if (size < 1 || size > 8192)
		return 0;
	add_bos = data[0] & 1;
	special = (data[0] & 2) != 0;
	text = (const char *) data + 1;
	len = size - 1;

	if (data[0] & 4)
	{
		/* arbitrary id sequences: detokenization must stay well-formed */
		int			cnt = (int) (len / 2);
		int32_t    *seq = malloc((cnt ? cnt : 1) * sizeof(int32_t));
		int32_t		nt = llm_vocab_n_tokens(v);

		for (int i = 0; i < cnt; i++)
		{
			int32_t		id = (int32_t) (data[1 + 2 * i] | (data[2 + 2 * i] << 8));

			seq[i] = id % (nt + 2) - 1;	/* include -1 and n_tokens */
		}
		check_stream(seq, cnt);
		for (int i = 0; i < cnt; i++)
		{
			char		piece[16];
			int			r = llm_token_to_piece(v, seq[i], special, piece, sizeof(piece));

			FUZZ_CHECK((seq[i] < 0 || seq[i] >= nt) ? r == -1 : r >= 0);
		}
		free(seq);
		return 0;
	}

	valid = llm_utf8_valid(text, len);
	max = (int) (4 * len + 16);
	ids = malloc(max * sizeof(int32_t));
	st = llm_tokenize(v, text, len, add_bos, special, ids, max, &n, &err);
	if (!valid)
	{
		FUZZ_CHECK(st == LLM_ERR_INVALID_UTF8);
		free(ids);
		return 0;
	}
	FUZZ_CHECK(st == LLM_OK);
	FUZZ_CHECK(n >= 0 && n <= max);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(ids[i] >= 0 && ids[i] < llm_vocab_n_tokens(v));
	if (n > 0)
	{
		st = llm_tokenize(v, text, len, add_bos, special, ids, n - 1, &n2, &err);
		FUZZ_CHECK(st == LLM_ERR_RANGE && n2 == n);
		st = llm_tokenize(v, text, len, add_bos, special, ids, max, &n2, &err);
		FUZZ_CHECK(st == LLM_OK && n2 == n);
	}
	/*
	 * Round trip.  SentencePiece writes spaces as U+2581, so a text that
	 * already holds U+2581 comes back with spaces there (as in llama.cpp).
	 */
	if (!special && !(llm_vocab_type(v) == LLM_VOCAB_SPM &&
					  memmem(text, len, "\xe2\x96\x81", 3) != NULL))
	{
		size_t		need = llm_detokenize(v, ids, n, NULL, 0);
		char	   *back = malloc(need);
		size_t		blen = llm_detokenize(v, ids, n, back, need);

		if (blen != len || memcmp(back, text, len) != 0)
		{
			fprintf(stderr, "round trip: %zu bytes in, %zu out: \"%.*s\"\n",
					len, blen, (int) blen, back);
			FUZZ_CHECK(0);
		}
		free(back);
	}
	check_stream(ids, n);
	free(ids);
	return 0;
}
