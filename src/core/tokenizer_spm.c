/*
 * tokenizer_spm.c — SentencePiece-style BPE ("tokenizer.ggml.model" =
 * "llama"), as llama.cpp runs it.
 *
 * Spaces become "▁" (U+2581) and, when asked, one "▁" is put in front.
 * The text is cut into one symbol per UTF-8 character, kept in a doubly
 * linked list.  Every adjacent pair whose concatenation is a token goes into
 * a priority queue keyed by that token's score (ties: leftmost first).  The
 * best pair is merged, stale pairs (a side already merged away or grown) are
 * skipped, and the new neighbours are queued, until nothing merges.  Each
 * final symbol is a token — merged symbols always are — or a single
 * character missing from the vocabulary, which falls back to its bytes as
 * <0xNN> tokens (or <unk> when the vocabulary has no byte tokens).
 *
 * Cost: O(n log n) in the text length, one hash lookup per candidate pair;
 * no recursion.
 */
#include "tokenizer_internal.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_state
{
	const llm_vocab *v;
	const char *text;			/* escaped text */
	llm_symbol *sym;
	llm_bigram_heap heap;
} spm_state;

/* Queue the pair (left, right) when its concatenation is a token. */
static llm_status
try_add_bigram(spm_state *s, int32_t left, int32_t right, llm_error *err)
{
	llm_bigram	b;
	size_t		n;
	int32_t		id;

	if (left < 0 || right < 0)
		return LLM_OK;
	n = (size_t) s->sym[left].n + s->sym[right].n;
	if (n > s->v->max_text_len)
		return LLM_OK;
	id = llm_vocab_find(s->v, s->text + s->sym[left].off, n);
	if (id < 0)
		return LLM_OK;
	b.pri = s->v->tok[id].score;
	b.left = left;
	b.right = right;
	b.id = id;
	b.size = (uint32_t) n;
	return llm_heap_push(&s->heap, &b, err);
}

/* Emit one final symbol: its token, or its bytes. */
static llm_status
emit_symbol(spm_state *s, const llm_symbol *sym, llm_tokbuf *out, llm_error *err)
{
	const llm_vocab *v = s->v;
	int32_t		id = llm_vocab_find(v, s->text + sym->off, sym->n);
	llm_status	st = LLM_OK;

	if (id >= 0)
		return llm_tokbuf_push(out, id, err);
	for (uint32_t j = 0; j < sym->n && st == LLM_OK; j++)
	{
		int32_t		b = v->byte_tok[(unsigned char) s->text[sym->off + j]];

		if (b < 0)
		{
			b = v->unk;
			if (b < 0)
				continue;		/* nothing can stand for this byte */
			j = sym->n;			/* one <unk> for the whole character */
		}
		st = llm_tokbuf_push(out, b, err);
	}
	return st;
}

/* Tokenize one raw fragment. */
llm_status
llm_spm_tokenize(const llm_vocab *v, const char *text, size_t len,
				 bool space_prefix, llm_tokbuf *out, llm_error *err)
{
	spm_state	s = {0};
	char	   *buf;
	size_t		n = 0,
				spaces = 0,
				size;
	int32_t		n_sym = 0;
	llm_status	st = LLM_OK;
	llm_bigram	b;

	for (size_t i = 0; i < len; i++)
		spaces += text[i] == ' ';
	size = len + 2 * spaces + (space_prefix ? 3 : 0);
	buf = malloc(size ? size : 1);
	s.sym = malloc((size ? size : 1) * sizeof(llm_symbol));
	if (buf == NULL || s.sym == NULL)
	{
		free(buf);
		free(s.sym);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
	}
	if (space_prefix)
	{
		memcpy(buf, "\xe2\x96\x81", 3);
		n = 3;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (text[i] == ' ')
		{
			memcpy(buf + n, "\xe2\x96\x81", 3);
			n += 3;
		}
		else
			buf[n++] = text[i];
	}
	s.v = v;
	s.text = buf;

	/* one symbol per character */
	for (size_t off = 0; off < n;)
	{
		size_t		cl = llm_utf8_seq_len((unsigned char) buf[off]);

		if (cl > n - off)
			cl = n - off;
		s.sym[n_sym].off = (uint32_t) off;
		s.sym[n_sym].n = (uint32_t) cl;
		s.sym[n_sym].prev = n_sym - 1;
		s.sym[n_sym].next = off + cl < n ? n_sym + 1 : -1;
		s.sym[n_sym].id = -1;
		n_sym++;
		off += cl;
	}

	for (int32_t i = 1; i < n_sym && st == LLM_OK; i++)
		st = try_add_bigram(&s, i - 1, i, err);

	while (st == LLM_OK && llm_heap_pop(&s.heap, &b))
	{
		llm_symbol *l = &s.sym[b.left];
		llm_symbol *r = &s.sym[b.right];

		/* skip pairs one of whose sides changed since they were queued */
		if (l->n == 0 || r->n == 0 || l->next != b.right || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s.sym[r->next].prev = b.left;
		st = try_add_bigram(&s, l->prev, b.left, err);
		if (st == LLM_OK)
			st = try_add_bigram(&s, b.left, l->next, err);
	}

	for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0 && st == LLM_OK; i = s.sym[i].next)
		st = emit_symbol(&s, &s.sym[i], out, err);

	free(s.heap.a);
	free(s.sym);
	free(buf);
	return st;
}
