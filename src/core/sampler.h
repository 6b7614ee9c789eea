/*
 * sampler.h — turning logits into the next token.
 *
 * The chain, in order: repetition/frequency/presence penalties over the
 * last penalty_last_n tokens; greedy if temperature == 0; else top-k,
 * temperature, softmax, top-p, min-p, then a draw from a seeded xoshiro256**
 * RNG.  The same seed and inputs give the same tokens on any machine.
 * llm_sampler_probs exposes the final distribution, which speculative
 * decoding's rejection sampling needs.
 */
#ifndef LLM_CORE_SAMPLER_H
#define LLM_CORE_SAMPLER_H

#include "common.h"

typedef struct llm_sampling
{
	float		temperature;	/* 0 = greedy */
	int32_t		top_k;			/* 0 = off */
	float		top_p;			/* 1 = off */
	float		min_p;			/* 0 = off */
	float		repeat_penalty; /* 1 = off */
	float		frequency_penalty;	/* 0 = off */
	float		presence_penalty;	/* 0 = off */
	int32_t		penalty_last_n; /* tokens considered by penalties */
	uint64_t	seed;
} llm_sampling;

/* Defaults: greedy, filters off, seed 0. */
llm_sampling llm_sampling_default(void);

/* Check ranges (NaN, negative temperature, top_p outside (0,1], ...). */
llm_status	llm_sampling_validate(const llm_sampling *s, llm_error *err);

typedef struct llm_sampler llm_sampler;

llm_status	llm_sampler_new(const llm_sampling *s, int32_t n_vocab,
							llm_sampler **out, llm_error *err);
void		llm_sampler_free(llm_sampler *smp);

/* Tell the sampler about a token in the context (prompt or generated). */
void		llm_sampler_accept(llm_sampler *smp, int32_t tok);

/*
 * Replace the history with the context toks[0 .. n) (its last
 * penalty_last_n tokens count): after the context was rolled back.
 */
void		llm_sampler_set_history(llm_sampler *smp, const int32_t *toks, int n);

/*
 * Sample the next token from logits[n_vocab] (modified in place).  The
 * history passed via accept() drives the penalties.
 */
int32_t		llm_sampler_sample(llm_sampler *smp, float *logits);

/*
 * The probability distribution sample() would draw from, written to
 * probs[n_vocab] (zeros outside the kept set); logits modified in place.
 * Greedy gives a one-hot vector.
 */
void		llm_sampler_probs(llm_sampler *smp, float *logits, float *probs);

/* Uniform draw in [0, 1) from the sampler's RNG. */
double		llm_sampler_uniform(llm_sampler *smp);

#endif							/* LLM_CORE_SAMPLER_H */
