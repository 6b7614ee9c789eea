/*
 * quant_mix.h — which weight type each tensor gets for a target file type;
 * shared by llm-quantize and llm-random-model (header-only: every tool is
 * one .c file linked with libllmcore.a).
 *
 * The rules follow llama.cpp's llama_tensor_get_type, reduced to the types
 * this engine implements:
 *   - only 2-D (or higher) tensors whose name ends in "weight" are
 *     converted; norms and other 1-D tensors keep their type;
 *   - output.weight (or token_embd.weight when the output is tied) becomes
 *     Q6_K for every quantized target except Q8_0;
 *   - q4_k_m gives Q6_K to attn_v and ffn_down of the layers where
 *     llama.cpp's use_more_bits() holds (the first and last eighth of the
 *     layers and every third one in between), Q4_K to the rest;
 *   - when a row does not fit the block, a K-quant falls back to Q8_0 (where
 *     llama.cpp would pick Q5_0/Q5_1/Q8_0, which this engine partly lacks)
 *     and anything that still does not fit becomes F16.
 * File type numbers are llama.cpp's llama_ftype values.
 */
#ifndef LLM_TOOLS_QUANT_MIX_H
#define LLM_TOOLS_QUANT_MIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quant.h"

typedef struct quant_ftype
{
	const char *name;			/* command-line name */
	uint32_t	base;			/* type of ordinary matrices */
	uint32_t	file_type;		/* llama_ftype for general.file_type */
	bool		km_mix;			/* Q4_K_M: Q6_K for some attn_v/ffn_down */
} quant_ftype;

static const quant_ftype quant_ftypes[] = {
	{"f32", LLM_F32, 0, false},		/* LLAMA_FTYPE_ALL_F32 */
	{"f16", LLM_F16, 1, false},		/* LLAMA_FTYPE_MOSTLY_F16 */
	{"bf16", LLM_BF16, 32, false},	/* LLAMA_FTYPE_MOSTLY_BF16 */
	{"q8_0", LLM_Q8_0, 7, false},	/* LLAMA_FTYPE_MOSTLY_Q8_0 */
	{"q4_0", LLM_Q4_0, 2, false},	/* LLAMA_FTYPE_MOSTLY_Q4_0 */
	{"q4_k", LLM_Q4_K, 14, false},	/* LLAMA_FTYPE_MOSTLY_Q4_K_S */
	{"q4_k_s", LLM_Q4_K, 14, false},
	{"q4_k_m", LLM_Q4_K, 15, true},	/* LLAMA_FTYPE_MOSTLY_Q4_K_M */
	{"q6_k", LLM_Q6_K, 18, false},	/* LLAMA_FTYPE_MOSTLY_Q6_K */
};

/* Look a target type up by name (case-insensitive); NULL if unknown. */
static inline const quant_ftype *
quant_ftype_find(const char *name)
{
	for (size_t i = 0; i < sizeof(quant_ftypes) / sizeof(quant_ftypes[0]); i++)
		if (strcasecmp(quant_ftypes[i].name, name) == 0)
			return &quant_ftypes[i];
	return NULL;
}

/* Is t one of the float types? */
static inline bool
quant_is_float(uint32_t t)
{
	return t == LLM_F32 || t == LLM_F16 || t == LLM_BF16;
}

/* llama.cpp's use_more_bits(i_layer, n_layers). */
static inline bool
quant_use_more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Layer number of a "blk.N." tensor name, or -1. */
static inline int
quant_layer_of(const char *name)
{
	if (strncmp(name, "blk.", 4) != 0)
		return -1;
	return atoi(name + 4);
}

/* Does name end with suffix? */
static inline bool
quant_ends_with(const char *name, const char *suffix)
{
	size_t		n = strlen(name),
				k = strlen(suffix);

	return n >= k && strcmp(name + n - k, suffix) == 0;
}

/*
 * The type a tensor should be stored as.  src_type is its current type,
 * n_layers the model's block count, is_output true for output.weight (or
 * the tied token_embd.weight).
 */
static inline uint32_t
quant_mix_type(const quant_ftype *ft, const char *name, uint32_t n_dims,
			   uint64_t ne0, uint32_t src_type, int n_layers, bool is_output)
{
	uint32_t	t = ft->base;

	if (n_dims < 2 || !quant_ends_with(name, "weight"))
		return src_type;
	if (!quant_is_float(t))
	{
		if (is_output && t != LLM_Q8_0)
			t = LLM_Q6_K;
		else if (ft->km_mix && n_layers > 0 &&
				 (strstr(name, ".attn_v.") != NULL || strstr(name, ".ffn_down.") != NULL))
		{
			int			layer = quant_layer_of(name);

			if (layer >= 0 && quant_use_more_bits(layer, n_layers))
				t = LLM_Q6_K;
		}
	}
	if (ne0 % (uint64_t) llm_dtype_block(t) != 0)
	{
		if (t == LLM_Q4_K || t == LLM_Q6_K)
			t = LLM_Q8_0;
		if (ne0 % (uint64_t) llm_dtype_block(t) != 0)
			t = LLM_F16;
	}
	return t;
}

#endif							/* LLM_TOOLS_QUANT_MIX_H */
