/*
 * tokenizer.c — vocabulary loading from GGUF metadata, the pieces shared by
 * both tokenizer algorithms, special-token matching and detokenization.
 *
 * Loading copies everything the tokenizer needs out of the gguf_file, so the
 * file may be closed afterwards.  Token texts are stored back to back in one
 * blob; so are the decoded "pieces" (the bytes each token stands for:
 * "▁" turned into a space for SentencePiece, the byte-level alphabet mapped
 * back to bytes for GPT-2 style BPE, <0xNN> tokens to their byte).  A hash
 * table maps token text to id, a second one maps a BPE merge (left id,
 * right id) to its rank and result.  Everything read from the file is
 * validated: array types and lengths, token types, UTF-8 of every token,
 * byte-token spelling, merge syntax and special ids; a bad vocabulary gives
 * LLM_ERR_FORMAT naming the key and index.
 *
 * llm_tokenize checks the input (size limit, UTF-8), optionally splits out
 * special tokens (control, user-defined and unknown tokens, longest match
 * first at each position), and hands each raw fragment to the SPM
 * (tokenizer_spm.c) or BPE (tokenizer_bpe.c) algorithm.  SentencePiece
 * prefixes a space to the first fragment and to every fragment that follows
 * a special token, as llama.cpp does.
 *
 * Detokenization runs every piece through a small UTF-8 assembler that holds
 * back an incomplete sequence until it is completed and replaces invalid
 * bytes by U+FFFD (one per maximal subpart), so that streamed chunks are
 * always valid UTF-8; the whole-array llm_detokenize uses the same code, so
 * both give identical bytes.
 */
#include "tokenizer_internal.h"
#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPM_SPACE "\xe2\x96\x81"	/* U+2581, SentencePiece's space */

/* ---- small helpers --------------------------------------------------- */

/* FNV-1a over the bytes, finished with a multiplicative mix. */
static uint32_t
hash_bytes(const char *s, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return (uint32_t) (h ^ (h >> 32));
}

/* Hash of a merge key. */
static uint32_t
hash_pair(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (uint32_t) k;
}

/* Smallest power of two >= 2n (and >= 16). */
static uint32_t
table_size(size_t n)
{
	uint32_t	s = 16;

	while (s < 2 * n)
		s <<= 1;
	return s;
}

/* Code point of byte b in the GPT-2 byte-level alphabet. */
static uint32_t
byte_to_cp(int b)
{
	int			n = 0;

	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
		return (uint32_t) b;
	/* the others are numbered 256.. in byte order */
	for (int i = 0; i < b; i++)
		if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174))
			n++;
	return 256 + (uint32_t) n;
}

/* Byte a byte-level alphabet code point stands for, or -1. */
static int
cp_to_byte(uint32_t cp)
{
	if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) ||
		(cp >= 174 && cp <= 255))
		return (int) cp;
	if (cp >= 256 && cp < 256 + 68)
	{
		int			n = (int) (cp - 256);

		for (int b = 0; b < 256; b++)
			if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174))
			{
				if (n == 0)
					return b;
				n--;
			}
	}
	return -1;
}

/* Parse "<0xNN>" into its byte; -1 if it is not spelled that way. */
static int
parse_byte_token(const char *s, size_t n)
{
	int			v = 0;

	if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
		return -1;
	for (int i = 3; i < 5; i++)
	{
		char		c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else
			return -1;
	}
	return v;
}

/* Append to the token buffer, growing it. */
llm_status
llm_tokbuf_push(llm_tokbuf *b, int32_t id, llm_error *err)
{
	if (b->n == b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 64;
		int32_t    *ids;

		if (cap > (size_t) INT32_MAX)
			return llm_errorf(err, LLM_ERR_RANGE, "too many tokens");
		ids = realloc(b->ids, cap * sizeof(int32_t));
		if (ids == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory growing the token buffer");
		b->ids = ids;
		b->cap = cap;
	}
	b->ids[b->n++] = id;
	return LLM_OK;
}

/* True when bigram a comes out of the queue before b. */
static bool
bigram_before(const llm_bigram *a, const llm_bigram *b)
{
	if (a->pri != b->pri)
		return a->pri > b->pri;
	return a->left < b->left;
}

/* Push onto the merge queue. */
llm_status
llm_heap_push(llm_bigram_heap *h, const llm_bigram *b, llm_error *err)
{
	size_t		i;

	if (h->n == h->cap)
	{
		size_t		cap = h->cap ? h->cap * 2 : 64;
		llm_bigram *a = realloc(h->a, cap * sizeof(llm_bigram));

		if (a == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory growing the merge queue");
		h->a = a;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (!bigram_before(b, &h->a[parent]))
			break;
		h->a[i] = h->a[parent];
		i = parent;
	}
	h->a[i] = *b;
	return LLM_OK;
}

/* Pop the best bigram; false when empty. */
bool
llm_heap_pop(llm_bigram_heap *h, llm_bigram *out)
{
	llm_bigram	last;
	size_t		i = 0;

	if (h->n == 0)
		return false;
	*out = h->a[0];
	last = h->a[--h->n];
	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && bigram_before(&h->a[c + 1], &h->a[c]))
			c++;
		if (!bigram_before(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n > 0)
		h->a[i] = last;
	return true;
}

/* Token id of a text, or -1. */
int32_t
llm_vocab_find(const llm_vocab *v, const char *s, size_t n)
{
	uint32_t	i = hash_bytes(s, n) & v->hash_mask;

	for (;;)
	{
		int32_t		id = v->hash[i];

		if (id < 0)
			return -1;
		if (v->tok[id].text_len == n &&
			memcmp(v->text + v->tok[id].text_off, s, n) == 0)
			return id;
		i = (i + 1) & v->hash_mask;
	}
}

/* Rank and result of a BPE merge, or -1. */
int32_t
llm_vocab_merge(const llm_vocab *v, int32_t left, int32_t right, int32_t *result)
{
	uint64_t	key = ((uint64_t) (uint32_t) left << 32) | (uint32_t) right;
	uint32_t	i;

	if (v->merge_key == NULL || left < 0 || right < 0)
		return -1;
	i = hash_pair(key) & v->merge_mask;
	for (;;)
	{
		if (v->merge_key[i] == UINT64_MAX)
			return -1;
		if (v->merge_key[i] == key)
		{
			*result = v->merge_result[i];
			return v->merge_rank[i];
		}
		i = (i + 1) & v->merge_mask;
	}
}

/* ---- loading ---------------------------------------------------------- */

/* Fetch an array-valued key; NULL when absent, FORMAT when mistyped. */
static llm_status
get_array(const gguf_file *f, const char *key, bool required, bool strings,
		  uint64_t want_n, const gguf_value **out, llm_error *err)
{
	const gguf_value *a = gguf_get(f, key);

	*out = NULL;
	if (a == NULL)
	{
		if (required)
			return llm_errorf(err, LLM_ERR_FORMAT, "vocabulary has no %s", key);
		return LLM_OK;
	}
	if (a->type != GGUF_TYPE_ARRAY)
		return llm_errorf(err, LLM_ERR_FORMAT, "%s is a %s, not an array",
						  key, gguf_type_name(a->type));
	if (want_n && a->arr.n != want_n)
		return llm_errorf(err, LLM_ERR_FORMAT, "%s has %llu entries but tokenizer.ggml.tokens has %llu",
						  key, (unsigned long long) a->arr.n, (unsigned long long) want_n);
	if (strings)
	{
		if (a->arr.elem_type != GGUF_TYPE_STRING || (a->arr.n > 0 && a->arr.items == NULL))
			return llm_errorf(err, LLM_ERR_FORMAT, "%s must be an array of strings, not of %s",
							  key, gguf_type_name(a->arr.elem_type));
	}
	else if (a->arr.elem_type == GGUF_TYPE_STRING ||
			 a->arr.elem_type == GGUF_TYPE_ARRAY ||
			 a->arr.elem_type >= GGUF_TYPE_COUNT || (a->arr.n > 0 && a->arr.raw == NULL))
		return llm_errorf(err, LLM_ERR_FORMAT, "%s must be an array of numbers, not of %s",
						  key, gguf_type_name(a->arr.elem_type));
	*out = a;
	return LLM_OK;
}

/* Read an optional token id key into *out (-1 when absent or "none"). */
static llm_status
get_id(const gguf_file *f, const char *name, int32_t n_tokens, int32_t *out,
	   llm_error *err)
{
	char		key[64];
	const gguf_value *val;
	int64_t		id;

	snprintf(key, sizeof(key), "tokenizer.ggml.%s", name);
	*out = -1;
	val = gguf_get(f, key);
	if (val == NULL)
		return LLM_OK;
	switch (val->type)
	{
		case GGUF_TYPE_INT8:
		case GGUF_TYPE_INT16:
		case GGUF_TYPE_INT32:
		case GGUF_TYPE_INT64:
			id = val->i64;
			break;
		case GGUF_TYPE_UINT8:
		case GGUF_TYPE_UINT16:
		case GGUF_TYPE_UINT32:
		case GGUF_TYPE_UINT64:
			/* converters write "none" as (uint32) -1 */
			if (val->u64 == UINT32_MAX || val->u64 == UINT64_MAX)
				return LLM_OK;
			id = val->u64 > (uint64_t) INT32_MAX ? INT64_MAX : (int64_t) val->u64;
			break;
		default:
			return llm_errorf(err, LLM_ERR_FORMAT, "%s is a %s, not an integer",
							  key, gguf_type_name(val->type));
	}
	if (id == -1)
		return LLM_OK;
	if (id < 0 || id >= n_tokens)
		return llm_errorf(err, LLM_ERR_FORMAT, "%s = %lld is out of range (%d tokens)",
						  key, (long long) id, n_tokens);
	*out = (int32_t) id;
	return LLM_OK;
}

/* Read an optional boolean key. */
static llm_status
get_flag(const gguf_file *f, const char *name, bool *out, llm_error *err)
{
	char		key[64];

	snprintf(key, sizeof(key), "tokenizer.ggml.%s", name);
	if (gguf_get(f, key) == NULL)
		return LLM_OK;
	if (!gguf_get_bool(f, key, out))
		return llm_errorf(err, LLM_ERR_FORMAT, "%s is not a bool", key);
	return LLM_OK;
}

/* Copy the token texts, check them and build the text hash. */
static llm_status
load_tokens(llm_vocab *v, const gguf_value *toks, const gguf_value *scores,
			const gguf_value *types, llm_error *err)
{
	size_t		total = 0;
	size_t		off = 0;
	uint32_t	size;

	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		const gguf_value *t = &toks->arr.items[i];

		if (t->type != GGUF_TYPE_STRING)
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is not a string", i);
		if (t->str.len > LLM_TOKEN_MAX_BYTES)
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is %llu bytes long (limit %d)",
							  i, (unsigned long long) t->str.len, LLM_TOKEN_MAX_BYTES);
		if (!llm_utf8_valid(t->str.data, t->str.len))
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is not valid utf-8", i);
		total += t->str.len;
	}
	if (total > UINT32_MAX / 2)
		return llm_errorf(err, LLM_ERR_FORMAT, "token texts total %zu bytes", total);
	v->tok = calloc(v->n_tokens, sizeof(llm_token_data));
	v->text = malloc(total + 1);
	size = table_size(v->n_tokens);
	v->hash = malloc((size_t) size * sizeof(int32_t));
	if (v->tok == NULL || v->text == NULL || v->hash == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory loading %d tokens", v->n_tokens);
	v->hash_mask = size - 1;
	memset(v->hash, 0xff, (size_t) size * sizeof(int32_t));

	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		const gguf_str *s = &toks->arr.items[i].str;
		llm_token_data *d = &v->tok[i];

		memcpy(v->text + off, s->data, s->len);
		d->text_off = (uint32_t) off;
		d->text_len = (uint32_t) s->len;
		off += s->len;
		if (s->len > v->max_text_len)
			v->max_text_len = s->len;
		d->score = scores ? (float) gguf_arr_f64(scores, i) : 0.0f;
		d->type = LLM_TOKTYPE_NORMAL;
		if (types)
		{
			int64_t		ty = gguf_arr_i64(types, i);

			if (ty < LLM_TOKTYPE_UNDEFINED || ty > LLM_TOKTYPE_BYTE)
				return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.token_type[%d] = %lld is not a token type (0..6)",
								  i, (long long) ty);
			d->type = (uint8_t) (ty == LLM_TOKTYPE_UNDEFINED ? LLM_TOKTYPE_NORMAL : ty);
		}
		if (d->type == LLM_TOKTYPE_BYTE && parse_byte_token(s->data, s->len) < 0)
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens[%d] has type byte but is not spelled <0xNN>", i);
	}

	/* text -> id; a later duplicate replaces an earlier one */
	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		const llm_token_data *d = &v->tok[i];
		uint32_t	h;

		if (d->text_len == 0)
			continue;
		h = hash_bytes(v->text + d->text_off, d->text_len) & v->hash_mask;
		for (;;)
		{
			int32_t		id = v->hash[h];

			if (id < 0)
			{
				v->hash[h] = i;
				break;
			}
			if (v->tok[id].text_len == d->text_len &&
				memcmp(v->text + v->tok[id].text_off, v->text + d->text_off, d->text_len) == 0)
			{
				v->hash[h] = i;
				break;
			}
			h = (h + 1) & v->hash_mask;
		}
	}
	return LLM_OK;
}

/* Decoded bytes of token i, written to out (room for 4 * text_len). */
static size_t
decode_piece(const llm_vocab *v, int32_t i, char *out)
{
	const llm_token_data *d = &v->tok[i];
	const char *s = v->text + d->text_off;
	size_t		n = d->text_len;
	size_t		o = 0;

	switch (d->type)
	{
		case LLM_TOKTYPE_BYTE:
			out[0] = (char) parse_byte_token(s, n);
			return 1;
		case LLM_TOKTYPE_USER:
			memcpy(out, s, n);
			return n;
		case LLM_TOKTYPE_NORMAL:
			break;
		default:
			return 0;			/* control, unknown, unused: no text */
	}
	if (v->kind == LLM_VOCAB_SPM)
	{
		for (size_t k = 0; k < n;)
		{
			if (k + 3 <= n && memcmp(s + k, SPM_SPACE, 3) == 0)
			{
				out[o++] = ' ';
				k += 3;
			}
			else
				out[o++] = s[k++];
		}
		return o;
	}
	/* byte-level BPE: every code point of the text is one byte */
	for (size_t k = 0; k < n;)
	{
		uint32_t	cp;
		int			len = llm_utf8_decode((const unsigned char *) s + k, n - k, &cp);
		int			b;

		if (len <= 0)
			break;				/* cannot happen: texts were validated */
		b = cp_to_byte(cp);
		if (b >= 0)
			out[o++] = (char) b;
		else
			o += llm_utf8_encode(cp, out + o);
		k += len;
	}
	return o;
}

/* Build the decoded piece of every token. */
static llm_status
load_pieces(llm_vocab *v, llm_error *err)
{
	size_t		total = 0;
	size_t		off = 0;

	for (int32_t i = 0; i < v->n_tokens; i++)
		total += v->tok[i].text_len;
	/* a piece is never longer than its text (U+2581 -> ' ', 2..3 bytes -> 1) */
	v->pieces = malloc(total + 1);
	if (v->pieces == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory decoding tokens");
	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		size_t		n;

		/* byte tokens decode to 1 byte from 6: fits */
		n = decode_piece(v, i, v->pieces + off);
		v->tok[i].piece_off = (uint32_t) off;
		v->tok[i].piece_len = (uint32_t) n;
		off += n;
		if (n > v->max_piece_len)
			v->max_piece_len = n;
		if (v->tok[i].text_len > v->max_piece_len &&
			(v->tok[i].type == LLM_TOKTYPE_CONTROL || v->tok[i].type == LLM_TOKTYPE_UNKNOWN ||
			 v->tok[i].type == LLM_TOKTYPE_UNUSED))
			v->max_piece_len = v->tok[i].text_len;	/* shown when special */
	}
	return LLM_OK;
}

/* Token of each byte value. */
static void
load_byte_tokens(llm_vocab *v)
{
	for (int b = 0; b < 256; b++)
	{
		char		buf[8];
		int			n;
		int32_t		id;

		if (v->kind == LLM_VOCAB_SPM)
		{
			static const char hex[] = "0123456789ABCDEF";

			buf[0] = '<';
			buf[1] = '0';
			buf[2] = 'x';
			buf[3] = hex[b >> 4];
			buf[4] = hex[b & 15];
			buf[5] = '>';
			id = llm_vocab_find(v, buf, 6);
			if (id < 0)
			{
				buf[0] = (char) b;
				id = llm_vocab_find(v, buf, 1);
			}
		}
		else
		{
			n = llm_utf8_encode(byte_to_cp(b), buf);
			id = llm_vocab_find(v, buf, n);
		}
		v->byte_tok[b] = id;
	}
}

/* Parse tokenizer.ggml.merges into the merge table. */
static llm_status
load_merges(llm_vocab *v, const gguf_value *merges, llm_error *err)
{
	uint64_t	n = merges->arr.n;
	uint32_t	size;

	if (n > (uint64_t) LLM_VOCAB_MAX_TOKENS * 4)
		return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.merges has %llu entries",
						  (unsigned long long) n);
	size = table_size(n);
	v->merge_key = malloc((size_t) size * sizeof(uint64_t));
	v->merge_rank = malloc((size_t) size * sizeof(int32_t));
	v->merge_result = malloc((size_t) size * sizeof(int32_t));
	if (v->merge_key == NULL || v->merge_rank == NULL || v->merge_result == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory loading %llu merges",
						  (unsigned long long) n);
	memset(v->merge_key, 0xff, (size_t) size * sizeof(uint64_t));
	v->merge_mask = size - 1;

	for (uint64_t r = 0; r < n; r++)
	{
		const gguf_value *m = &merges->arr.items[r];
		const char *s = m->str.data;
		size_t		len = m->str.len;
		const char *sp;
		int32_t		a,
					b,
					res;
		uint64_t	key;
		uint32_t	h;

		if (m->type != GGUF_TYPE_STRING)
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.merges[%llu] is not a string",
							  (unsigned long long) r);
		/* "left right": the separator is the first space after byte 0 */
		sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		if (sp == NULL || sp + 1 == s + len)
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.merges[%llu] is not \"left right\"",
							  (unsigned long long) r);
		a = llm_vocab_find(v, s, sp - s);
		b = llm_vocab_find(v, sp + 1, s + len - sp - 1);
		if (a < 0 || b < 0 || len - 1 > LLM_TOKEN_MAX_BYTES)
			continue;			/* a merge of non-tokens can never apply */
		{
			char		buf[LLM_TOKEN_MAX_BYTES];

			memcpy(buf, s, sp - s);
			memcpy(buf + (sp - s), sp + 1, s + len - sp - 1);
			res = llm_vocab_find(v, buf, len - 1);
		}
		if (res < 0)
			continue;			/* the merged text is not a token */
		key = ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;
		h = hash_pair(key) & v->merge_mask;
		while (v->merge_key[h] != UINT64_MAX && v->merge_key[h] != key)
			h = (h + 1) & v->merge_mask;
		if (v->merge_key[h] == key)
			continue;			/* keep the first (best) rank */
		v->merge_key[h] = key;
		v->merge_rank[h] = (int32_t) r;
		v->merge_result[h] = res;
		v->n_merges++;
	}
	return LLM_OK;
}

/* Sort key of a special token: first byte, then longest first, then id. */
typedef struct special_key
{
	uint32_t	first;
	uint32_t	len;
	int32_t		id;
} special_key;

/* qsort comparator for special_key. */
static int
special_cmp(const void *pa, const void *pb)
{
	const special_key *a = pa;
	const special_key *b = pb;

	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->id < b->id ? -1 : (a->id > b->id);
}

/* Collect the tokens parse_special matches, bucketed by first byte. */
static llm_status
load_specials(llm_vocab *v, llm_error *err)
{
	int32_t		n = 0;
	special_key *keys;

	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		uint8_t		t = v->tok[i].type;

		if ((t == LLM_TOKTYPE_CONTROL || t == LLM_TOKTYPE_USER || t == LLM_TOKTYPE_UNKNOWN) &&
			v->tok[i].text_len > 0)
			n++;
	}
	keys = malloc((size_t) (n ? n : 1) * sizeof(special_key));
	v->special = malloc((size_t) (n ? n : 1) * sizeof(int32_t));
	if (keys == NULL || v->special == NULL)
	{
		free(keys);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory listing special tokens");
	}
	n = 0;
	for (int32_t i = 0; i < v->n_tokens; i++)
	{
		const llm_token_data *d = &v->tok[i];

		/* a duplicate text is matched as the id the hash keeps */
		if ((d->type == LLM_TOKTYPE_CONTROL || d->type == LLM_TOKTYPE_USER ||
			 d->type == LLM_TOKTYPE_UNKNOWN) &&
			d->text_len > 0 && llm_vocab_find(v, v->text + d->text_off, d->text_len) == i)
		{
			keys[n].first = (unsigned char) v->text[d->text_off];
			keys[n].len = d->text_len;
			keys[n].id = i;
			n++;
		}
	}
	qsort(keys, n, sizeof(special_key), special_cmp);
	for (int32_t k = 0; k < n; k++)
		v->special[k] = keys[k].id;
	for (int b = 0, k = 0; b <= 256; b++)
	{
		while (k < n && keys[k].first < (uint32_t) b)
			k++;
		v->special_start[b] = k;
	}
	v->special_start[256] = n;
	free(keys);
	return LLM_OK;
}

/* Mark end-of-generation tokens. */
static void
load_eog(llm_vocab *v)
{
	static const char *const names[] = {
		"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<EOT>", "<|EOT|>", "<|eom_id|>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
	};

	if (v->eos >= 0)
		v->tok[v->eos].eog = true;
	if (v->eot >= 0)
		v->tok[v->eot].eog = true;
	if (v->eom >= 0)
		v->tok[v->eom].eog = true;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
	{
		int32_t		id = llm_vocab_find(v, names[k], strlen(names[k]));

		if (id >= 0 && (v->tok[id].type == LLM_TOKTYPE_CONTROL || v->tok[id].type == LLM_TOKTYPE_USER))
			v->tok[id].eog = true;
	}
}

/* Fill v from the file (v is freed by the caller on error). */
static llm_status
vocab_build(const gguf_file *f, llm_vocab *v, llm_error *err)
{
	gguf_str	model,
				pre;
	const gguf_value *toks,
			   *scores,
			   *types,
			   *merges = NULL;
	llm_status	st;
	uint64_t	n;

	if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
		return llm_errorf(err, LLM_ERR_FORMAT, gguf_get(f, "tokenizer.ggml.model") ?
						  "tokenizer.ggml.model is not a string" :
						  "file has no tokenizer (tokenizer.ggml.model is missing)");
	if (gguf_str_eq(model, "llama"))
		v->kind = LLM_VOCAB_SPM;
	else if (gguf_str_eq(model, "gpt2"))
		v->kind = LLM_VOCAB_BPE;
	else
		return llm_errorf(err, LLM_ERR_UNSUPPORTED, "tokenizer model \"%.*s\" is not supported (only \"llama\" and \"gpt2\")",
						  (int) (model.len > 64 ? 64 : model.len), model.data);

	if ((st = get_array(f, "tokenizer.ggml.tokens", true, true, 0, &toks, err)) != LLM_OK)
		return st;
	n = toks->arr.n;
	if (n == 0 || n > LLM_VOCAB_MAX_TOKENS)
		return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries (1..%d allowed)",
						  (unsigned long long) n, LLM_VOCAB_MAX_TOKENS);
	v->n_tokens = (int32_t) n;
	if ((st = get_array(f, "tokenizer.ggml.scores", v->kind == LLM_VOCAB_SPM, false, n, &scores, err)) != LLM_OK)
		return st;
	if (scores && scores->arr.elem_type != GGUF_TYPE_FLOAT32 && scores->arr.elem_type != GGUF_TYPE_FLOAT64)
		return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.scores must be floats, not %s",
						  gguf_type_name(scores->arr.elem_type));
	if ((st = get_array(f, "tokenizer.ggml.token_type", false, false, n, &types, err)) != LLM_OK)
		return st;
	if (types && (types->arr.elem_type == GGUF_TYPE_FLOAT32 || types->arr.elem_type == GGUF_TYPE_FLOAT64))
		return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.token_type must be integers, not %s",
						  gguf_type_name(types->arr.elem_type));
	if (v->kind == LLM_VOCAB_BPE &&
		(st = get_array(f, "tokenizer.ggml.merges", true, true, 0, &merges, err)) != LLM_OK)
		return st;

	/* defaults, then what the file says */
	v->pre = LLM_PRETOK_DEFAULT;
	v->add_bos = v->kind == LLM_VOCAB_SPM;
	v->add_space_prefix = v->kind == LLM_VOCAB_SPM;
	if (v->kind == LLM_VOCAB_BPE && gguf_get(f, "tokenizer.ggml.pre") != NULL)
	{
		if (!gguf_get_str(f, "tokenizer.ggml.pre", &pre))
			return llm_errorf(err, LLM_ERR_FORMAT, "tokenizer.ggml.pre is not a string");
		if (!llm_pretok_from_name(pre.data, pre.len, &v->pre, &v->ignore_merges, &v->add_bos))
			return llm_errorf(err, LLM_ERR_UNSUPPORTED, "pre-tokenizer \"%.*s\" is not supported",
							  (int) (pre.len > 64 ? 64 : pre.len), pre.data);
	}
	if ((st = get_flag(f, "add_bos_token", &v->add_bos, err)) != LLM_OK ||
		(st = get_flag(f, "add_eos_token", &v->add_eos, err)) != LLM_OK ||
		(st = get_flag(f, "add_space_prefix", &v->add_space_prefix, err)) != LLM_OK)
		return st;

	if ((st = load_tokens(v, toks, scores, types, err)) != LLM_OK ||
		(st = load_pieces(v, err)) != LLM_OK)
		return st;
	load_byte_tokens(v);
	if (merges && (st = load_merges(v, merges, err)) != LLM_OK)
		return st;

	if ((st = get_id(f, "bos_token_id", v->n_tokens, &v->bos, err)) != LLM_OK ||
		(st = get_id(f, "eos_token_id", v->n_tokens, &v->eos, err)) != LLM_OK ||
		(st = get_id(f, "eot_token_id", v->n_tokens, &v->eot, err)) != LLM_OK ||
		(st = get_id(f, "eom_token_id", v->n_tokens, &v->eom, err)) != LLM_OK ||
		(st = get_id(f, "unknown_token_id", v->n_tokens, &v->unk, err)) != LLM_OK ||
		(st = get_id(f, "padding_token_id", v->n_tokens, &v->pad, err)) != LLM_OK)
		return st;
	load_eog(v);
	return load_specials(v, err);
}

/* Build the vocabulary from a parsed GGUF file. */
llm_status
llm_vocab_load(const gguf_file *f, llm_vocab **out, llm_error *err)
{
	llm_vocab  *v;
	llm_status	st;

	if (out == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "llm_vocab_load: out is NULL");
	*out = NULL;
	if (f == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "llm_vocab_load: file is NULL");
	v = calloc(1, sizeof(llm_vocab));
	if (v == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory allocating the vocabulary");
	st = vocab_build(f, v, err);
	if (st != LLM_OK)
	{
		llm_vocab_free(v);
		return st;
	}
	*out = v;
	return LLM_OK;
}

/* Free a vocabulary (NULL is fine). */
void
llm_vocab_free(llm_vocab *v)
{
	if (v == NULL)
		return;
	free(v->tok);
	free(v->text);
	free(v->pieces);
	free(v->hash);
	free(v->merge_key);
	free(v->merge_rank);
	free(v->merge_result);
	free(v->special);
	free(v);
}

/* ---- accessors ---------------------------------------------------------- */

/* Algorithm of the vocabulary. */
llm_vocab_kind
llm_vocab_type(const llm_vocab *v)
{
	return v->kind;
}

/* Number of tokens. */
int32_t
llm_vocab_n_tokens(const llm_vocab *v)
{
	return v->n_tokens;
}

/* BOS id, -1 if none. */
int32_t
llm_vocab_bos(const llm_vocab *v)
{
	return v->bos;
}

/* EOS id, -1 if none. */
int32_t
llm_vocab_eos(const llm_vocab *v)
{
	return v->eos;
}

/* Whether a BOS is added by default (and exists). */
bool
llm_vocab_add_bos(const llm_vocab *v)
{
	return v->add_bos && v->bos >= 0;
}

/* End of generation: eos, eot, eom or a known end-of-turn control token. */
bool
llm_vocab_is_eog(const llm_vocab *v, int32_t tok)
{
	return tok >= 0 && tok < v->n_tokens && v->tok[tok].eog;
}

/* Control token (type 3)? */
bool
llm_vocab_is_control(const llm_vocab *v, int32_t tok)
{
	return tok >= 0 && tok < v->n_tokens && v->tok[tok].type == LLM_TOKTYPE_CONTROL;
}

/* Longest decoded piece, or raw text of a control token. */
size_t
llm_vocab_max_piece(const llm_vocab *v)
{
	return v->max_piece_len;
}

/* Raw token text. */
const char *
llm_vocab_text(const llm_vocab *v, int32_t tok, size_t *len)
{
	if (tok < 0 || tok >= v->n_tokens)
	{
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = v->tok[tok].text_len;
	return v->text + v->tok[tok].text_off;
}

/* ---- tokenize ------------------------------------------------------------- */

/* Tokenize one raw fragment with the vocabulary's algorithm. */
static llm_status
tokenize_fragment(const llm_vocab *v, const char *s, size_t n, bool after_special,
				  llm_tokbuf *out, llm_error *err)
{
	if (n == 0)
		return LLM_OK;
	if (v->kind == LLM_VOCAB_SPM)
		return llm_spm_tokenize(v, s, n, v->add_space_prefix && after_special, out, err);
	return llm_bpe_tokenize(v, s, n, out, err);
}

/* Longest special token starting at s[0..n), or -1. */
static int32_t
match_special(const llm_vocab *v, const char *s, size_t n)
{
	unsigned char b = (unsigned char) s[0];

	for (int32_t k = v->special_start[b]; k < v->special_start[b + 1]; k++)
	{
		const llm_token_data *d = &v->tok[v->special[k]];

		if (d->text_len <= n && memcmp(v->text + d->text_off, s, d->text_len) == 0)
			return v->special[k];
	}
	return -1;
}

/* Tokenize text (see tokenizer.h). */
llm_status
llm_tokenize(const llm_vocab *v, const char *text, size_t len,
			 bool add_bos, bool parse_special,
			 int32_t *out, int max, int *n_out, llm_error *err)
{
	llm_tokbuf	buf = {0};
	llm_status	st = LLM_OK;
	bool		after_special = true;	/* SPM: prefix the first fragment */

	if (n_out)
		*n_out = 0;
	if (v == NULL || (text == NULL && len > 0) || max < 0 || (out == NULL && max > 0))
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "llm_tokenize: bad arguments");
	if (len > LLM_TOKENIZE_MAX_BYTES)
		return llm_errorf(err, LLM_ERR_RANGE, "text of %zu bytes exceeds the tokenizer limit of %zu bytes",
						  len, LLM_TOKENIZE_MAX_BYTES);
	if (!llm_utf8_valid(text, len))
		return llm_errorf(err, LLM_ERR_INVALID_UTF8, "text to tokenize is not valid utf-8");

	if (add_bos && v->bos >= 0)
		st = llm_tokbuf_push(&buf, v->bos, err);

	if (st == LLM_OK && parse_special && v->special_start[256] > 0)
	{
		size_t		start = 0;

		for (size_t pos = 0; pos < len && st == LLM_OK;)
		{
			int32_t		id = match_special(v, text + pos, len - pos);

			if (id < 0)
			{
				pos++;
				continue;
			}
			st = tokenize_fragment(v, text + start, pos - start, after_special, &buf, err);
			if (st == LLM_OK)
				st = llm_tokbuf_push(&buf, id, err);
			pos += v->tok[id].text_len;
			start = pos;
			after_special = true;
		}
		if (st == LLM_OK)
			st = tokenize_fragment(v, text + start, len - start, after_special, &buf, err);
	}
	else if (st == LLM_OK)
		st = tokenize_fragment(v, text, len, true, &buf, err);

	if (st == LLM_OK && add_bos && v->add_eos && v->eos >= 0)
		st = llm_tokbuf_push(&buf, v->eos, err);
	if (st == LLM_OK)
	{
		if (buf.n > (size_t) INT32_MAX)
			st = llm_errorf(err, LLM_ERR_RANGE, "text needs more than %d tokens", INT32_MAX);
		else
		{
			if (n_out)
				*n_out = (int) buf.n;
			if (buf.n > (size_t) max)
				st = llm_errorf(err, LLM_ERR_RANGE, "text needs %zu tokens but the buffer holds %d",
								buf.n, max);
			else if (buf.n > 0)
				memcpy(out, buf.ids, buf.n * sizeof(int32_t));
		}
	}
	free(buf.ids);
	return st;
}

/* ---- detokenize ------------------------------------------------------------ */

/* Bytes of a token; control/unknown/unused ones only when special. */
static const char *
token_piece(const llm_vocab *v, int32_t tok, bool special, size_t *len)
{
	const llm_token_data *d = &v->tok[tok];

	if (special && (d->type == LLM_TOKTYPE_CONTROL || d->type == LLM_TOKTYPE_UNKNOWN ||
					d->type == LLM_TOKTYPE_UNUSED))
	{
		*len = d->text_len;
		return v->text + d->text_off;
	}
	*len = d->piece_len;
	return v->pieces + d->piece_off;
}

/* The bytes one token stands for. */
int
llm_token_to_piece(const llm_vocab *v, int32_t tok, bool special, char *buf, int cap)
{
	const char *p;
	size_t		n;

	if (v == NULL || tok < 0 || tok >= v->n_tokens)
		return -1;
	p = token_piece(v, tok, special, &n);
	if (n <= (size_t) (cap < 0 ? 0 : cap) && n > 0)
		memcpy(buf, p, n);
	return (int) n;
}

/* Where assembled bytes go: written while they fit, always counted. */
typedef struct detok_sink
{
	char	   *out;
	size_t		cap;
	size_t		pos;			/* bytes written */
	size_t		need;			/* bytes produced */
} detok_sink;

/* Emit n bytes to the sink. */
static void
sink_put(detok_sink *k, const char *s, size_t n)
{
	if (k->out != NULL && k->pos == k->need && k->pos + n <= k->cap)
	{
		memcpy(k->out + k->pos, s, n);
		k->pos += n;
	}
	k->need += n;
}

static const char replacement[3] = {'\xef', '\xbf', '\xbd'};

/* Feed piece bytes through the UTF-8 assembler. */
static void
detok_feed(llm_detok *d, const char *piece, size_t n, detok_sink *k)
{
	const unsigned char *p = (const unsigned char *) piece;
	size_t		i = 0;

	if (d->at_start && n > 0)
	{
		if (p[0] == ' ')
			i = 1;
		d->at_start = false;
	}
	/* first complete (or reject) a held-back sequence */
	if (d->n_pending > 0 && i < n)
	{
		unsigned char tmp[8];
		size_t		kk = (size_t) d->n_pending;
		size_t		from_piece;
		uint32_t	cp;
		int			r;

		memcpy(tmp, d->pending, kk);
		from_piece = i;
		while (kk < 4 && i < n)
			tmp[kk++] = p[i++];
		r = llm_utf8_decode(tmp, kk, &cp);
		if (r < 0)
		{
			/* still incomplete: everything is held back */
			memcpy(d->pending, tmp, kk);
			d->n_pending = (int) kk;
			return;
		}
		if (r > 0)
			sink_put(k, (const char *) tmp, r);
		else
		{
			r = llm_utf8_invalid_len(tmp, kk);
			sink_put(k, replacement, 3);
		}
		/* the pending bytes were a valid prefix, so r >= n_pending */
		if (r < d->n_pending)
			r = d->n_pending;
		i = from_piece + (size_t) (r - d->n_pending);
		d->n_pending = 0;
	}
	while (i < n)
	{
		size_t		j = i;
		uint32_t	cp;
		int			r;

		while (j < n && p[j] < 0x80)
			j++;
		if (j > i)
		{
			sink_put(k, (const char *) p + i, j - i);
			i = j;
			continue;
		}
		r = llm_utf8_decode(p + i, n - i, &cp);
		if (r > 0)
		{
			sink_put(k, (const char *) p + i, r);
			i += r;
		}
		else if (r < 0)
		{
			memcpy(d->pending, p + i, n - i);
			d->n_pending = (int) (n - i);
			return;
		}
		else
		{
			sink_put(k, replacement, 3);
			i += llm_utf8_invalid_len(p + i, n - i);
		}
	}
}

/* Reset the streaming state. */
void
llm_detok_init(llm_detok *d, const llm_vocab *v)
{
	memset(d, 0, sizeof(*d));
	d->at_start = v != NULL && v->kind == LLM_VOCAB_SPM && v->add_space_prefix;
}

/* Append the text of tok; returns bytes written (complete UTF-8 only). */
size_t
llm_detok_push(const llm_vocab *v, llm_detok *d, int32_t tok, char *out, size_t cap)
{
	detok_sink	k = {out, cap, 0, 0};
	const char *p;
	size_t		n;

	if (v == NULL || d == NULL || tok < 0 || tok >= v->n_tokens)
		return 0;
	p = token_piece(v, tok, false, &n);
	detok_feed(d, p, n, &k);
	return k.pos;
}

/* Flush held-back bytes as U+FFFD. */
size_t
llm_detok_flush(llm_detok *d, char *out, size_t cap)
{
	detok_sink	k = {out, cap, 0, 0};

	if (d == NULL)
		return 0;
	if (d->n_pending > 0)
		sink_put(&k, replacement, 3);
	d->n_pending = 0;
	return k.pos;
}

/* Run the whole array through the assembler into the sink. */
static void
detok_all(const llm_vocab *v, const int32_t *toks, int n, detok_sink *k)
{
	llm_detok	d;

	llm_detok_init(&d, v);
	for (int i = 0; i < n; i++)
	{
		const char *p;
		size_t		len;

		if (toks[i] < 0 || toks[i] >= v->n_tokens)
			continue;
		p = token_piece(v, toks[i], false, &len);
		detok_feed(&d, p, len, k);
	}
	if (d.n_pending > 0)
		sink_put(k, replacement, 3);
}

/* Detokenize a whole array into a NUL-terminated string. */
size_t
llm_detokenize(const llm_vocab *v, const int32_t *toks, int n, char *out, size_t cap)
{
	detok_sink	count = {NULL, 0, 0, 0};
	detok_sink	k = {out, cap, 0, 0};

	if (v == NULL || (toks == NULL && n > 0))
		n = 0;
	if (v != NULL)
		detok_all(v, toks, n, &count);
	if (out == NULL || count.need + 1 > cap)
		return count.need + 1;
	if (v != NULL)
		detok_all(v, toks, n, &k);
	out[k.pos] = '\0';
	return k.pos;
}

/* Strict UTF-8 validation. */
bool
llm_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < n)
	{
		uint32_t	cp;
		int			r;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		r = llm_utf8_decode(p + i, n - i, &cp);
		if (r <= 0)
			return false;
		i += r;
	}
	return true;
}
