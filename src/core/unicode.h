/*
 * unicode.h — UTF-8 decoding/encoding and the Unicode character classes the
 * tokenizers' pre-tokenizer rules need (\p{L}, \p{N}, \p{P}, \s, ...).
 *
 * Categories come from a generated run table (src/tools/gen_unicode_tables.py,
 * from Python's unicodedata); whitespace is the Unicode White_Space property.
 */
#ifndef LLM_CORE_UNICODE_H
#define LLM_CORE_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Major general categories (values shared with the generator). */
#define LLM_UCAT_NONE	0		/* unassigned (Cn) */
#define LLM_UCAT_L		1		/* letters */
#define LLM_UCAT_N		2		/* numbers */
#define LLM_UCAT_P		3		/* punctuation */
#define LLM_UCAT_S		4		/* symbols */
#define LLM_UCAT_M		5		/* marks */
#define LLM_UCAT_Z		6		/* separators */
#define LLM_UCAT_C		7		/* control, format, surrogate, private */

#define LLM_UNICODE_MAX 0x10FFFF

/*
 * Decode one code point from s[0..n).  Returns the sequence length (1..4)
 * and sets *cp; returns 0 for an invalid sequence (overlong, surrogate,
 * beyond U+10FFFF, bad continuation) and -k when the k available bytes are
 * a valid but incomplete prefix.
 */
int			llm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Length of the longest prefix of s[0..n) that could start a valid sequence (>= 1 when n > 0). */
int			llm_utf8_invalid_len(const unsigned char *s, size_t n);

/* Encode cp (<= U+10FFFF) into out[0..4); returns the byte count. */
int			llm_utf8_encode(uint32_t cp, char *out);

/* Length of the sequence a lead byte announces (1 for invalid leads). */
int			llm_utf8_seq_len(unsigned char lead);

/* Major general category of a code point (LLM_UCAT_*). */
int			llm_unicode_category(uint32_t cp);

/* Unicode White_Space property (what the \s of the pre-tokenizers matches). */
bool		llm_unicode_is_space(uint32_t cp);

static inline bool
llm_unicode_is_letter(uint32_t cp)
{
	return llm_unicode_category(cp) == LLM_UCAT_L;
}

static inline bool
llm_unicode_is_number(uint32_t cp)
{
	return llm_unicode_category(cp) == LLM_UCAT_N;
}

static inline bool
llm_unicode_is_punct(uint32_t cp)
{
	return llm_unicode_category(cp) == LLM_UCAT_P;
}

#endif							/* LLM_CORE_UNICODE_H */
