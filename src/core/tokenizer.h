/*
 * tokenizer.h — tokenizers read from GGUF metadata.
 *
 * tokenizer.ggml.model selects the algorithm:
 *   "llama"  SentencePiece BPE: merge by score, byte fallback (<0xNN>),
 *            add_space_prefix (leading "▁"), spaces written as "▁";
 *   "gpt2"   byte-level BPE with ranked merges (tokenizer.ggml.merges) and a
 *            pre-tokenizer chosen by tokenizer.ggml.pre (gpt-2 default,
 *            llama3/llama-bpe, qwen2, deepseek-coder, ...).
 * Control, user-defined and unknown tokens (tokenizer.ggml.token_type 3, 4
 * and 2) are matched in the text only when parse_special is true (longest
 * match first).  llm_tokenize adds EOS after the text when add_bos is true
 * and tokenizer.ggml.add_eos_token says so.  A loaded vocabulary is
 * read-only: any number of threads may use it at once.
 *
 * Detokenization streams: llm_detok holds back an incomplete UTF-8 sequence
 * until the token that completes it arrives, so every piece handed out is
 * valid UTF-8.
 */
#ifndef LLM_CORE_TOKENIZER_H
#define LLM_CORE_TOKENIZER_H

#include "common.h"
#include "gguf.h"

typedef struct llm_vocab llm_vocab;

typedef enum llm_vocab_kind
{
	LLM_VOCAB_SPM = 1,
	LLM_VOCAB_BPE = 2
} llm_vocab_kind;

/* Build the vocabulary from a parsed GGUF file (copies what it keeps). */
llm_status	llm_vocab_load(const gguf_file *f, llm_vocab **out, llm_error *err);
void		llm_vocab_free(llm_vocab *v);

llm_vocab_kind llm_vocab_type(const llm_vocab *v);
int32_t		llm_vocab_n_tokens(const llm_vocab *v);
int32_t		llm_vocab_bos(const llm_vocab *v);	/* -1 if none */
int32_t		llm_vocab_eos(const llm_vocab *v);	/* -1 if none */
bool		llm_vocab_add_bos(const llm_vocab *v);	/* add BOS by default */
/* End of generation: eos, eot, or any token the metadata marks as such. */
bool		llm_vocab_is_eog(const llm_vocab *v, int32_t tok);
bool		llm_vocab_is_control(const llm_vocab *v, int32_t tok);
/* Longest piece any token decodes to (sizes llm_detok_push buffers). */
size_t		llm_vocab_max_piece(const llm_vocab *v);
/* Raw token text as stored in the vocabulary (not NUL-terminated). */
const char *llm_vocab_text(const llm_vocab *v, int32_t tok, size_t *len);

/*
 * Tokenize len bytes of text.  The text must be valid UTF-8
 * (LLM_ERR_INVALID_UTF8 otherwise).  Writes at most max tokens; if more are
 * needed returns LLM_ERR_RANGE and sets *n_out to the number needed.
 */
llm_status	llm_tokenize(const llm_vocab *v, const char *text, size_t len,
						 bool add_bos, bool parse_special,
						 int32_t *out, int max, int *n_out, llm_error *err);

/*
 * The bytes one token stands for (byte tokens give their byte, "▁" gives a
 * space, byte-level BPE is mapped back to bytes).  Control tokens give ""
 * unless special is true.  Returns the length; if it exceeds cap, nothing is
 * written and the needed length is returned.  Out-of-range ids give -1.
 */
int			llm_token_to_piece(const llm_vocab *v, int32_t tok, bool special,
							   char *buf, int cap);

/* Streaming detokenizer state; zero-initialise with llm_detok_init. */
typedef struct llm_detok
{
	char		pending[8];		/* bytes of an incomplete UTF-8 sequence */
	int			n_pending;
	bool		at_start;		/* strip the SPM leading space once */
} llm_detok;

void		llm_detok_init(llm_detok *d, const llm_vocab *v);

/*
 * Append the text of tok to out (capacity cap, at least 64 + the longest
 * token); returns the number of bytes written, all of them complete UTF-8.
 * Invalid byte sequences are replaced by U+FFFD.
 */
size_t		llm_detok_push(const llm_vocab *v, llm_detok *d, int32_t tok,
						   char *out, size_t cap);
/* Flush held-back bytes at the end of the stream (as U+FFFD). */
size_t		llm_detok_flush(llm_detok *d, char *out, size_t cap);

/*
 * Detokenize a whole array into a NUL-terminated string; returns the byte
 * length, or the needed length + 1 when cap is too small (nothing written).
 * Control tokens are skipped; a leading SPM space is removed, so that
 * detokenize(tokenize(s)) == s.
 */
size_t		llm_detokenize(const llm_vocab *v, const int32_t *toks, int n,
						   char *out, size_t cap);

/* True when the n bytes are valid UTF-8. */
bool		llm_utf8_valid(const char *s, size_t n);

#endif							/* LLM_CORE_TOKENIZER_H */
