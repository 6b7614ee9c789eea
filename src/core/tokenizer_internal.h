/*
 * tokenizer_internal.h — what tokenizer.c, tokenizer_spm.c and
 * tokenizer_bpe.c share: the vocabulary layout, the token hash, the output
 * buffer, the merge queue and the pre-tokenizer splitter (exposed so tests
 * can check the splitting rules directly).
 */
#ifndef LLM_CORE_TOKENIZER_INTERNAL_H
#define LLM_CORE_TOKENIZER_INTERNAL_H

#include "tokenizer.h"

/* Limits: longest accepted token text, largest text one call tokenizes. */
#define LLM_TOKEN_MAX_BYTES 4096
#define LLM_TOKENIZE_MAX_BYTES ((size_t) 64 << 20)
#define LLM_VOCAB_MAX_TOKENS (1 << 24)

/* tokenizer.ggml.token_type values */
#define LLM_TOKTYPE_UNDEFINED 0
#define LLM_TOKTYPE_NORMAL 1
#define LLM_TOKTYPE_UNKNOWN 2
#define LLM_TOKTYPE_CONTROL 3
#define LLM_TOKTYPE_USER 4
#define LLM_TOKTYPE_UNUSED 5
#define LLM_TOKTYPE_BYTE 6

/* Pre-tokenizers of byte-level BPE (tokenizer.ggml.pre). */
typedef enum llm_pretok
{
	LLM_PRETOK_DEFAULT = 0,		/* llama.cpp's "default" rule chain */
	LLM_PRETOK_GPT2,			/* gpt-2 regex */
	LLM_PRETOK_LLAMA3,			/* llama3 / llama-bpe */
	LLM_PRETOK_QWEN2,			/* qwen2: llama3 with single digits */
	LLM_PRETOK_DEEPSEEK_CODER	/* five chained rules */
} llm_pretok;

typedef struct llm_token_data
{
	uint32_t	text_off;		/* raw text in v->text */
	uint32_t	text_len;
	uint32_t	piece_off;		/* decoded bytes in v->pieces */
	uint32_t	piece_len;
	float		score;
	uint8_t		type;			/* LLM_TOKTYPE_* */
	bool		eog;
} llm_token_data;

struct llm_vocab
{
	llm_vocab_kind kind;
	llm_pretok	pre;
	int32_t		n_tokens;
	llm_token_data *tok;		/* (n_tokens) */
	char	   *text;			/* all token texts, back to back */
	char	   *pieces;			/* all decoded pieces, back to back */
	size_t		max_text_len;
	size_t		max_piece_len;

	/* token text -> id: open addressing, -1 = empty slot */
	int32_t    *hash;
	uint32_t	hash_mask;

	/* BPE merges: (left id, right id) -> rank and result id */
	uint64_t   *merge_key;		/* ((uint64) left << 32) | right, ~0 empty */
	int32_t    *merge_rank;
	int32_t    *merge_result;
	uint32_t	merge_mask;
	int32_t		n_merges;

	int32_t		byte_tok[256];	/* token of each byte (SPM <0xNN>, BPE char) */

	int32_t		bos,
				eos,
				eot,
				eom,
				unk,
				pad;
	bool		add_bos;
	bool		add_eos;
	bool		add_space_prefix;
	bool		ignore_merges;	/* BPE: a word that is a token is kept */

	/* tokens matched in text when parse_special: by first byte, longest first */
	int32_t    *special;
	int32_t		special_start[257];
};

/* Growable token array. */
typedef struct llm_tokbuf
{
	int32_t    *ids;
	size_t		n;
	size_t		cap;
} llm_tokbuf;

llm_status	llm_tokbuf_push(llm_tokbuf *b, int32_t id, llm_error *err);

/* Id of the token whose text is s[0..n), or -1. */
int32_t		llm_vocab_find(const llm_vocab *v, const char *s, size_t n);

/* Rank of merging (left, right) and the merged id; -1 when no merge. */
int32_t		llm_vocab_merge(const llm_vocab *v, int32_t left, int32_t right,
							int32_t *result);

/*
 * Merge queue: a binary max-heap on (pri, then smaller left first) shared by
 * the SPM (pri = score) and BPE (pri = -rank) merge loops.
 */
typedef struct llm_bigram
{
	double		pri;
	int32_t		left;
	int32_t		right;
	int32_t		id;				/* token the merge produces */
	uint32_t	size;			/* SPM: byte length of the merged text */
} llm_bigram;

typedef struct llm_bigram_heap
{
	llm_bigram *a;
	size_t		n;
	size_t		cap;
} llm_bigram_heap;

llm_status	llm_heap_push(llm_bigram_heap *h, const llm_bigram *b, llm_error *err);
bool		llm_heap_pop(llm_bigram_heap *h, llm_bigram *out);

/* Symbol of the merge loops: a span of text in a doubly linked list. */
typedef struct llm_symbol
{
	int32_t		prev;
	int32_t		next;
	uint32_t	off;			/* byte offset in the word/text */
	uint32_t	n;				/* byte length, 0 once merged away */
	int32_t		id;				/* BPE: token of this span, -1 if none */
} llm_symbol;

/* Tokenize one raw-text fragment (valid UTF-8). */
llm_status	llm_spm_tokenize(const llm_vocab *v, const char *text, size_t len,
							 bool space_prefix, llm_tokbuf *out, llm_error *err);
llm_status	llm_bpe_tokenize(const llm_vocab *v, const char *text, size_t len,
							 llm_tokbuf *out, llm_error *err);

/* Pre-tokenizer for a tokenizer.ggml.pre name; false if unknown. */
bool		llm_pretok_from_name(const char *name, size_t len, llm_pretok *out,
								 bool *ignore_merges, bool *add_bos);

/*
 * Split valid UTF-8 text into pre-tokenizer words.  ends (capacity max)
 * receives the byte offset where each word ends; *n_words the count.
 * LLM_ERR_RANGE when more than max words.
 */
llm_status	llm_pretok_split(llm_pretok pre, const char *text, size_t len,
							 size_t *ends, size_t max, size_t *n_words,
							 llm_error *err);

#endif							/* LLM_CORE_TOKENIZER_INTERNAL_H */
