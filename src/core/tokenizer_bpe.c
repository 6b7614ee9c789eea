/*
 * tokenizer_bpe.c — byte-level BPE ("tokenizer.ggml.model" = "gpt2") with
 * the pre-tokenizers llama.cpp knows by tokenizer.ggml.pre.
 *
 * 1. Pre-tokenize: the text is decoded to code points and classified once
 *    (letter, number, punctuation, whitespace, assigned).  A pre-tokenizer
 *    is a chain of passes; each pass cuts every current fragment into the
 *    matches of its rule and the gaps between them (the way llama.cpp chains
 *    regexes).  The rules are hand-written matchers of these regexes:
 *      gpt2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      llama3   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *               ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *      qwen2    the llama3 rule with \p{N} (one digit)
 *      deepseek-coder  [\r\n] ; \s?\p{L}+ ; \s?\p{P}+ ; [一-龥ࠀ-一가-퟿]+ ; \p{N}
 *      default  [\p{P}$+<=>^~|]+ ; gpt2 ; \p{N}+ ; [0-9]{3}
 *    As in llama.cpp's hand-written splitters, the gpt2/llama3 "other"
 *    class ([^\s\p{L}\p{N}]) excludes unassigned code points.
 * 2. Each word's bytes become the byte-alphabet tokens; a word that is a
 *    token as a whole is kept when the pre-tokenizer says so (llama3's
 *    ignore_merges).
 * 3. Ranked merges: adjacent pairs with a merge rule go into a priority
 *    queue (lowest rank first, then leftmost); the best is merged, stale
 *    pairs are skipped, new neighbours queued, until nothing merges.
 *
 * Cost: linear pre-tokenization, O(w log w) merging per word of w bytes.
 */
#include "tokenizer_internal.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* Per-code-point class bits. */
#define F_L		0x01
#define F_N		0x02
#define F_P		0x04
#define F_WS	0x08
#define F_ANY	0x10			/* assigned (or whitespace) */

typedef struct pretok_text
{
	const uint32_t *cp;
	const uint8_t *fl;
} pretok_text;

/* A rule: length of its match at pos within [pos, end), 0 for none. */
typedef size_t (*pretok_rule) (const pretok_text *t, size_t pos, size_t end);

/* Class bits of a code point. */
static uint8_t
classify(uint32_t cp)
{
	uint8_t		f = 0;

	if (llm_unicode_is_space(cp))
		return F_WS | F_ANY;
	switch (llm_unicode_category(cp))
	{
		case LLM_UCAT_L:
			f = F_L;
			break;
		case LLM_UCAT_N:
			f = F_N;
			break;
		case LLM_UCAT_P:
			f = F_P;
			break;
		case LLM_UCAT_NONE:
			return 0;
		default:
			break;
	}
	return f | F_ANY;
}

static inline bool
is_nl(uint32_t c)
{
	return c == '\r' || c == '\n';
}

/* Flags of position p, 0 past the end (like llama.cpp's OUT_OF_RANGE). */
static inline uint8_t
flags_at(const pretok_text *t, size_t p, size_t end)
{
	return p < end ? t->fl[p] : 0;
}

/* Whitespace: \s+(?!\S) then \s+, with llama3's \s*[\r\n]+ in front. */
static size_t
match_space(const pretok_text *t, size_t pos, size_t end, bool newline_rule)
{
	size_t		n = 0,
				last_nl = 0;

	while (pos + n < end && (t->fl[pos + n] & F_WS))
	{
		if (is_nl(t->cp[pos + n]))
			last_nl = n + 1;
		n++;
	}
	if (newline_rule && last_nl > 0)
		return last_nl;
	if (n > 1 && pos + n < end)
		return n - 1;			/* leave one space for the next word */
	if (n > 0 && pos + n == end)
		return n;
	return 1;
}

/* Run of code points that are not space, letter or number. */
static size_t
other_run(const pretok_text *t, size_t p, size_t end, bool need_assigned)
{
	while (p < end && !(t->fl[p] & (F_WS | F_L | F_N)) &&
		   (!need_assigned || (t->fl[p] & F_ANY)))
		p++;
	return p;
}

/* gpt2 rule. */
static size_t
rule_gpt2(const pretok_text *t, size_t pos, size_t end)
{
	uint32_t	c = t->cp[pos];
	uint8_t		f2;
	size_t		p;

	if (c == '\'' && pos + 1 < end)
	{
		uint32_t	c1 = t->cp[pos + 1];

		if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
			return 2;
		if (pos + 2 < end)
		{
			uint32_t	c2 = t->cp[pos + 2];

			if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
				return 3;
		}
	}
	f2 = c == ' ' ? flags_at(t, pos + 1, end) : t->fl[pos];
	p = pos + (c == ' ');
	if (f2 & F_L)
	{
		while (p < end && (t->fl[p] & F_L))
			p++;
		return p - pos;
	}
	if (f2 & F_N)
	{
		while (p < end && (t->fl[p] & F_N))
			p++;
		return p - pos;
	}
	if (!(f2 & (F_WS | F_L | F_N)) && (f2 & F_ANY))
		return other_run(t, p, end, true) - pos;
	return match_space(t, pos, end, false);
}

/* llama3 and qwen2 rules; max_digits is 3 or 1. */
static size_t
rule_llama3_common(const pretok_text *t, size_t pos, size_t end, size_t max_digits,
				   bool need_assigned)
{
	uint32_t	c = t->cp[pos];
	uint8_t		f = t->fl[pos];
	uint8_t		f2;
	size_t		p;

	if (c == '\'' && pos + 1 < end)
	{
		uint32_t	c1 = t->cp[pos + 1] | 0x20;	/* ASCII lower case */

		if (t->cp[pos + 1] < 0x80)
		{
			if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
				return 2;
			if (pos + 2 < end && t->cp[pos + 2] < 0x80)
			{
				uint32_t	c2 = t->cp[pos + 2] | 0x20;

				if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
					return 3;
			}
		}
	}
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (!is_nl(c) && !(f & F_N) && ((f & F_L) || (flags_at(t, pos + 1, end) & F_L)))
	{
		p = pos + 1;
		while (p < end && (t->fl[p] & F_L))
			p++;
		return p - pos;
	}
	/* \p{N}{1,max} */
	if (f & F_N)
	{
		p = pos + 1;
		while (p < end && p - pos < max_digits && (t->fl[p] & F_N))
			p++;
		return p - pos;
	}
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
	f2 = c == ' ' ? flags_at(t, pos + 1, end) : f;
	if (!(f2 & (F_WS | F_L | F_N)) && (pos + (c == ' ') < end) &&
		(!need_assigned || (f2 & F_ANY)))
	{
		p = other_run(t, pos + (c == ' '), end, need_assigned);
		while (p < end && is_nl(t->cp[p]))
			p++;
		return p - pos;
	}
	return match_space(t, pos, end, true);
}

static size_t
rule_llama3(const pretok_text *t, size_t pos, size_t end)
{
	return rule_llama3_common(t, pos, end, 3, true);
}

/* qwen2 goes through llama.cpp's generic regex: unassigned count as "other". */
static size_t
rule_qwen2(const pretok_text *t, size_t pos, size_t end)
{
	return rule_llama3_common(t, pos, end, 1, false);
}

/* [\r\n] */
static size_t
rule_newline(const pretok_text *t, size_t pos, size_t end)
{
	return is_nl(t->cp[pos]) ? 1 : 0;
}

/* \s?<class>+ */
static size_t
space_then_run(const pretok_text *t, size_t pos, size_t end, uint8_t cls)
{
	size_t		p = pos;

	if ((t->fl[p] & F_WS) && (flags_at(t, p + 1, end) & cls))
		p++;
	if (!(t->fl[p] & cls))
		return 0;
	while (p < end && (t->fl[p] & cls))
		p++;
	return p - pos;
}

static size_t
rule_space_letters(const pretok_text *t, size_t pos, size_t end)
{
	return space_then_run(t, pos, end, F_L);
}

static size_t
rule_space_punct(const pretok_text *t, size_t pos, size_t end)
{
	return space_then_run(t, pos, end, F_P);
}

/* [一-龥ࠀ-一가-퟿]+ (whitespace excluded, as llama.cpp maps it to \v) */
static size_t
rule_cjk(const pretok_text *t, size_t pos, size_t end)
{
	size_t		p = pos;

	while (p < end)
	{
		uint32_t	c = t->cp[p];

		if (t->fl[p] & F_WS)
			break;
		if (!((c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) ||
			  (c >= 0xAC00 && c <= 0xD7FF)))
			break;
		p++;
	}
	return p - pos;
}

/* \p{N} */
static size_t
rule_digit(const pretok_text *t, size_t pos, size_t end)
{
	return (t->fl[pos] & F_N) ? 1 : 0;
}

/* \p{N}+ */
static size_t
rule_digits(const pretok_text *t, size_t pos, size_t end)
{
	size_t		p = pos;

	while (p < end && (t->fl[p] & F_N))
		p++;
	return p - pos;
}

/* [0-9][0-9][0-9] */
static size_t
rule_ascii3(const pretok_text *t, size_t pos, size_t end)
{
	for (size_t k = 0; k < 3; k++)
		if (pos + k >= end || t->cp[pos + k] < '0' || t->cp[pos + k] > '9')
			return 0;
	return 3;
}

/* [\p{P}$+<=>^~|]+ */
static size_t
rule_punct_sym(const pretok_text *t, size_t pos, size_t end)
{
	size_t		p = pos;

	while (p < end)
	{
		uint32_t	c = t->cp[p];

		if (!((t->fl[p] & F_P) || c == '$' || c == '+' || c == '<' || c == '=' ||
			  c == '>' || c == '^' || c == '~' || c == '|'))
			break;
		p++;
	}
	return p - pos;
}

/* The chain of rules of a pre-tokenizer; returns the count. */
static int
pretok_rules(llm_pretok pre, pretok_rule *rules)
{
	switch (pre)
	{
		case LLM_PRETOK_GPT2:
			rules[0] = rule_gpt2;
			return 1;
		case LLM_PRETOK_LLAMA3:
			rules[0] = rule_llama3;
			return 1;
		case LLM_PRETOK_QWEN2:
			rules[0] = rule_qwen2;
			return 1;
		case LLM_PRETOK_DEEPSEEK_CODER:
			rules[0] = rule_newline;
			rules[1] = rule_space_letters;
			rules[2] = rule_space_punct;
			rules[3] = rule_cjk;
			rules[4] = rule_digit;
			return 5;
		case LLM_PRETOK_DEFAULT:
		default:
			rules[0] = rule_punct_sym;
			rules[1] = rule_gpt2;
			rules[2] = rule_digits;
			rules[3] = rule_ascii3;
			return 4;
	}
}

/* Map a tokenizer.ggml.pre name to a pre-tokenizer and its flags. */
bool
llm_pretok_from_name(const char *name, size_t len, llm_pretok *out,
					 bool *ignore_merges, bool *add_bos)
{
	static const struct
	{
		const char *name;
		llm_pretok	pre;
		bool		ignore_merges;
		bool		add_bos;
	}			names[] = {
		{"default", LLM_PRETOK_DEFAULT, false, false},
		{"gpt-2", LLM_PRETOK_GPT2, false, false},
		{"gpt2", LLM_PRETOK_GPT2, false, false},
		{"mpt", LLM_PRETOK_GPT2, false, false},
		{"olmo", LLM_PRETOK_GPT2, false, false},
		{"jais", LLM_PRETOK_GPT2, false, false},
		{"llama3", LLM_PRETOK_LLAMA3, true, true},
		{"llama-v3", LLM_PRETOK_LLAMA3, true, true},
		{"llama-bpe", LLM_PRETOK_LLAMA3, true, true},
		{"falcon3", LLM_PRETOK_LLAMA3, true, true},
		{"smaug-bpe", LLM_PRETOK_LLAMA3, false, false},
		{"qwen2", LLM_PRETOK_QWEN2, false, false},
		{"deepseek-r1-qwen", LLM_PRETOK_QWEN2, false, false},
		{"deepseek-coder", LLM_PRETOK_DEEPSEEK_CODER, false, false},
	};

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
	{
		if (strlen(names[k].name) == len && memcmp(names[k].name, name, len) == 0)
		{
			*out = names[k].pre;
			*ignore_merges = names[k].ignore_merges;
			*add_bos = names[k].add_bos;
			return true;
		}
	}
	return false;
}

/*
 * Split cp[0..n) into words; ends receives each word's end index (room for
 * n entries), tmp is scratch of the same size.  Returns the word count.
 */
static size_t
pretok_split_cps(llm_pretok pre, const pretok_text *t, size_t n, size_t *ends, size_t *tmp)
{
	pretok_rule rules[8];
	int			n_rules = pretok_rules(pre, rules);
	size_t		n_frag = 0;

	if (n == 0)
		return 0;
	ends[n_frag++] = n;
	for (int r = 0; r < n_rules; r++)
	{
		size_t		n_new = 0,
					start = 0;

		for (size_t k = 0; k < n_frag; k++)
		{
			size_t		end = ends[k];
			size_t		gap = start;

			for (size_t pos = start; pos < end;)
			{
				size_t		m = rules[r] (t, pos, end);

				if (m == 0)
				{
					pos++;
					continue;
				}
				if (m > end - pos)
					m = end - pos;	/* cannot happen; keeps the split sane */
				if (gap < pos)
					tmp[n_new++] = pos;
				pos += m;
				tmp[n_new++] = pos;
				gap = pos;
			}
			if (gap < end)
				tmp[n_new++] = end;
			start = end;
		}
		memcpy(ends, tmp, n_new * sizeof(size_t));
		n_frag = n_new;
	}
	return n_frag;
}

/* Decoded code points, their classes and byte offsets of a text. */
typedef struct cp_buf
{
	uint32_t   *cp;
	uint8_t    *fl;
	size_t	   *off;			/* byte offset of each code point, n + 1 */
	size_t	   *ends;
	size_t	   *tmp;
	size_t		n;
} cp_buf;

/* Free a cp_buf. */
static void
cp_buf_free(cp_buf *b)
{
	free(b->cp);
	free(b->fl);
	free(b->off);
	free(b->ends);
	free(b->tmp);
}

/* Decode valid UTF-8 text into b. */
static llm_status
cp_buf_fill(cp_buf *b, const char *text, size_t len, llm_error *err)
{
	size_t		n = 0;
	size_t		m = len ? len : 1;

	memset(b, 0, sizeof(*b));
	b->cp = malloc(m * sizeof(uint32_t));
	b->fl = malloc(m);
	b->off = malloc((m + 1) * sizeof(size_t));
	b->ends = malloc(m * sizeof(size_t));
	b->tmp = malloc(m * sizeof(size_t));
	if (!b->cp || !b->fl || !b->off || !b->ends || !b->tmp)
	{
		cp_buf_free(b);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory pre-tokenizing %zu bytes", len);
	}
	for (size_t i = 0; i < len;)
	{
		uint32_t	c;
		int			r = llm_utf8_decode((const unsigned char *) text + i, len - i, &c);

		if (r <= 0)
		{
			cp_buf_free(b);
			return llm_errorf(err, LLM_ERR_INVALID_UTF8, "text is not valid utf-8 at byte %zu", i);
		}
		b->cp[n] = c;
		b->fl[n] = classify(c);
		b->off[n] = i;
		n++;
		i += r;
	}
	b->off[n] = len;
	b->n = n;
	return LLM_OK;
}

/* Split text into pre-tokenizer words (byte offsets of their ends). */
llm_status
llm_pretok_split(llm_pretok pre, const char *text, size_t len,
				 size_t *ends, size_t max, size_t *n_words, llm_error *err)
{
	cp_buf		b;
	pretok_text t;
	size_t		nw;
	llm_status	st;

	*n_words = 0;
	if ((st = cp_buf_fill(&b, text, len, err)) != LLM_OK)
		return st;
	t.cp = b.cp;
	t.fl = b.fl;
	nw = pretok_split_cps(pre, &t, b.n, b.ends, b.tmp);
	*n_words = nw;
	if (nw > max)
		st = llm_errorf(err, LLM_ERR_RANGE, "text splits into %zu words, room for %zu", nw, max);
	else
		for (size_t k = 0; k < nw; k++)
			ends[k] = b.off[b.ends[k]];
	cp_buf_free(&b);
	return st;
}

typedef struct bpe_state
{
	const llm_vocab *v;
	llm_symbol *sym;
	llm_bigram_heap heap;
} bpe_state;

/* Queue the pair (left, right) when a merge rule joins them. */
static llm_status
add_bigram(bpe_state *s, int32_t left, int32_t right, llm_error *err)
{
	llm_bigram	b;
	int32_t		res;
	int32_t		rank;

	if (left < 0 || right < 0)
		return LLM_OK;
	rank = llm_vocab_merge(s->v, s->sym[left].id, s->sym[right].id, &res);
	if (rank < 0)
		return LLM_OK;
	b.pri = -(double) rank;
	b.left = left;
	b.right = right;
	b.id = res;
	b.size = s->sym[left].n + s->sym[right].n;
	return llm_heap_push(&s->heap, &b, err);
}

/* Tokenize one pre-tokenizer word of n bytes. */
static llm_status
bpe_word(bpe_state *s, const unsigned char *w, size_t n, llm_tokbuf *out,
		 char *scratch, llm_error *err)
{
	const llm_vocab *v = s->v;
	llm_status	st = LLM_OK;
	llm_bigram	b;

	if (v->ignore_merges)
	{
		size_t		k = 0;
		int32_t		id;

		for (size_t i = 0; i < n; i++)
		{
			uint32_t	cp = w[i];

			/* byte-level alphabet, as in byte_to_cp() of tokenizer.c */
			if (!((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || cp >= 174))
			{
				uint32_t	idx = 0;

				for (uint32_t j = 0; j < w[i]; j++)
					if (!((j >= 33 && j <= 126) || (j >= 161 && j <= 172) || j >= 174))
						idx++;
				cp = 256 + idx;
			}
			k += llm_utf8_encode(cp, scratch + k);
		}
		id = llm_vocab_find(v, scratch, k);
		if (id >= 0)
			return llm_tokbuf_push(out, id, err);
	}

	for (size_t i = 0; i < n; i++)
	{
		s->sym[i].off = (uint32_t) i;
		s->sym[i].n = 1;
		s->sym[i].prev = (int32_t) i - 1;
		s->sym[i].next = i + 1 < n ? (int32_t) i + 1 : -1;
		s->sym[i].id = v->byte_tok[w[i]];
	}
	s->heap.n = 0;
	for (size_t i = 1; i < n && st == LLM_OK; i++)
		st = add_bigram(s, (int32_t) i - 1, (int32_t) i, err);

	while (st == LLM_OK && llm_heap_pop(&s->heap, &b))
	{
		llm_symbol *l = &s->sym[b.left];
		llm_symbol *r = &s->sym[b.right];

		if (l->n == 0 || r->n == 0 || l->next != b.right || l->n + r->n != b.size)
			continue;			/* stale */
		l->n += r->n;
		l->id = b.id;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s->sym[r->next].prev = b.left;
		st = add_bigram(s, l->prev, b.left, err);
		if (st == LLM_OK)
			st = add_bigram(s, b.left, l->next, err);
	}
	for (int32_t i = n > 0 ? 0 : -1; i >= 0 && st == LLM_OK; i = s->sym[i].next)
	{
		int32_t		id = s->sym[i].id >= 0 ? s->sym[i].id : v->unk;

		if (id >= 0)
			st = llm_tokbuf_push(out, id, err);
	}
	return st;
}

/* Tokenize one raw fragment. */
llm_status
llm_bpe_tokenize(const llm_vocab *v, const char *text, size_t len,
				 llm_tokbuf *out, llm_error *err)
{
	cp_buf		cb;
	pretok_text t;
	bpe_state	s = {0};
	char	   *scratch = NULL;
	size_t		nw,
				longest = 0,
				prev = 0;
	llm_status	st;

	if ((st = cp_buf_fill(&cb, text, len, err)) != LLM_OK)
		return st;
	t.cp = cb.cp;
	t.fl = cb.fl;
	nw = pretok_split_cps(v->pre, &t, cb.n, cb.ends, cb.tmp);
	for (size_t k = 0; k < nw; k++)
	{
		size_t		bytes = cb.off[cb.ends[k]] - prev;

		if (bytes > longest)
			longest = bytes;
		prev = cb.off[cb.ends[k]];
	}
	s.v = v;
	s.sym = malloc((longest ? longest : 1) * sizeof(llm_symbol));
	scratch = malloc(2 * longest + 1);
	if (s.sym == NULL || scratch == NULL)
		st = llm_errorf(err, LLM_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
	prev = 0;
	for (size_t k = 0; k < nw && st == LLM_OK; k++)
	{
		size_t		end = cb.off[cb.ends[k]];

		st = bpe_word(&s, (const unsigned char *) text + prev, end - prev, out, scratch, err);
		prev = end;
	}
	free(scratch);
	free(s.heap.a);
	free(s.sym);
	cp_buf_free(&cb);
	return st;
}
