/*
 * sampler.c — turning logits into the next token.
 *
 * Design
 * ------
 * One call of llm_sampler_sample() runs the chain of sampler.h over the
 * logits of one position:
 *
 *   1. penalties    for every distinct token t among the last penalty_last_n
 *                   accepted tokens (count c = occurrences in that window):
 *                     logit = logit > 0 ? logit / repeat : logit * repeat
 *                     logit -= c * frequency + (c > 0) * presence
 *   2. sanitise     NaN becomes -inf (never chosen), +inf becomes FLT_MAX
 *                   (so softmax stays finite); tokens at -inf are dropped.
 *                   If no token is left (all logits NaN or -inf) the
 *                   result is token 0 and probs() is one-hot on token 0.
 *   3. greedy       temperature == 0: argmax, ties go to the lowest id.
 *   4. top-k        a size-k heap keeps the k best candidates in one pass
 *                   (O(n log k)), then sorts them; no full sort.
 *   5. softmax      w_i = expf((l_i - l_max) / T) (float; sums in double),
 *                   so the best token always has weight exactly 1.
 *   6. top-p        smallest prefix, in the order (logit desc, id asc), whose
 *                   weight reaches top_p of the total (at least one token).
 *                   Without top-k we avoid sorting the whole vocabulary: the
 *                   tokens with weight >= t * total are moved to the front
 *                   and only they are sorted, lowering t until they carry
 *                   enough mass (every token outside that set is lighter
 *                   than every token in it, so the prefix is the same).
 *   7. min-p        keep w_i >= min_p * w_max = min_p (w_max is 1).
 *   8. draw         u from xoshiro256** (seeded through splitmix64), walk
 *                   the kept candidates in their current order until the
 *                   running sum exceeds u * total.
 *
 * The order of the candidates is always a total order (logit desc, id asc)
 * or plain id order, so the result never depends on sort stability, and no
 * threads are involved: the same seed, settings and logits give the same
 * tokens on any machine with IEEE arithmetic and the same expf (libm).
 * The penalty window is capped at 2^20 tokens (more than any context).  llm_sampler_probs() runs
 * steps 1-7 and writes w_i / total, which is exactly the distribution step 8
 * draws from (total is summed in the same order as the walk).
 *
 * The logits array is modified in place: on return it holds the penalised
 * logits (before temperature), also sanitised when temperature > 0.  Each
 * call applies the penalties again, so give sample() and probs() fresh
 * logits.  sample() does not record the token it returns: the caller passes
 * every token of the context, generated ones included, to
 * llm_sampler_accept().  sample() takes one uniform from the RNG per draw,
 * none when the result is certain (greedy, or a single candidate left
 * after sanitising).
 */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The history window never needs more than a context's worth of tokens. */
#define LLM_SAMPLER_MAX_HISTORY (1 << 20)

typedef struct llm_cand
{
	int32_t		id;
	float		logit;
	float		w;				/* unnormalised probability, <= 1 */
} llm_cand;

struct llm_sampler
{
	llm_sampling s;
	int32_t		n_vocab;
	uint64_t	rng[4];			/* xoshiro256** state */
	int32_t	   *hist;			/* ring of the last hist_cap tokens */
	int32_t		hist_cap;
	int32_t		hist_len;
	int32_t		hist_pos;		/* next slot to write */
	int32_t    *counts;			/* [n_vocab], zero between calls */
	llm_cand   *cand;			/* [n_vocab] workspace */
};

/* Default settings: greedy, filters off, seed 0. */
llm_sampling
llm_sampling_default(void)
{
	llm_sampling s;

	memset(&s, 0, sizeof(s));
	s.temperature = 0.0f;
	s.top_k = 0;
	s.top_p = 1.0f;
	s.min_p = 0.0f;
	s.repeat_penalty = 1.0f;
	s.frequency_penalty = 0.0f;
	s.presence_penalty = 0.0f;
	s.penalty_last_n = 64;
	s.seed = 0;
	return s;
}

/* Reject a non-finite float parameter with a message naming it. */
static llm_status
check_finite(const char *name, float v, llm_error *err)
{
	if (!isfinite(v))
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "%s must be a finite number, got %g", name,
						  (double) v);
	return LLM_OK;
}

/* Check every sampling parameter against its allowed range. */
llm_status
llm_sampling_validate(const llm_sampling *s, llm_error *err)
{
	llm_status	st;

	if (s == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "sampling settings are missing");
	if ((st = check_finite("temperature", s->temperature, err)) != LLM_OK ||
		(st = check_finite("top_p", s->top_p, err)) != LLM_OK ||
		(st = check_finite("min_p", s->min_p, err)) != LLM_OK ||
		(st = check_finite("repeat_penalty", s->repeat_penalty, err)) != LLM_OK ||
		(st = check_finite("frequency_penalty", s->frequency_penalty, err)) != LLM_OK ||
		(st = check_finite("presence_penalty", s->presence_penalty, err)) != LLM_OK)
		return st;
	if (s->temperature < 0.0f || s->temperature > 100.0f)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "temperature must be between 0 and 100, got %g",
						  (double) s->temperature);
	if (s->top_k < 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "top_k must be 0 (off) or positive, got %d",
						  (int) s->top_k);
	if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "top_p must be greater than 0 and at most 1, got %g",
						  (double) s->top_p);
	if (s->min_p < 0.0f || s->min_p > 1.0f)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "min_p must be between 0 and 1, got %g",
						  (double) s->min_p);
	if (s->repeat_penalty <= 0.0f)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "repeat_penalty must be greater than 0, got %g",
						  (double) s->repeat_penalty);
	if (s->penalty_last_n < 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "penalty_last_n must be 0 or positive, got %d",
						  (int) s->penalty_last_n);
	if (s->frequency_penalty < -2.0f || s->frequency_penalty > 2.0f)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "frequency_penalty must be between -2 and 2, got %g",
						  (double) s->frequency_penalty);
	if (s->presence_penalty < -2.0f || s->presence_penalty > 2.0f)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "presence_penalty must be between -2 and 2, got %g",
						  (double) s->presence_penalty);
	return LLM_OK;
}

/* splitmix64 step: expands the seed into the xoshiro state. */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Rotate left. */
static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** step. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Create a sampler for a vocabulary of n_vocab tokens. */
llm_status
llm_sampler_new(const llm_sampling *s, int32_t n_vocab, llm_sampler **out,
				llm_error *err)
{
	llm_sampler *smp;
	llm_status	st;
	uint64_t	x;

	if (out == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "no output pointer");
	*out = NULL;
	if ((st = llm_sampling_validate(s, err)) != LLM_OK)
		return st;
	if (n_vocab <= 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "vocabulary size must be positive, got %d",
						  (int) n_vocab);
	smp = calloc(1, sizeof(*smp));
	if (smp == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory for sampler");
	smp->s = *s;
	smp->n_vocab = n_vocab;
	smp->hist_cap = s->penalty_last_n < LLM_SAMPLER_MAX_HISTORY ?
		s->penalty_last_n : LLM_SAMPLER_MAX_HISTORY;
	smp->counts = calloc((size_t) n_vocab, sizeof(int32_t));
	smp->cand = malloc((size_t) n_vocab * sizeof(llm_cand));
	if (smp->hist_cap > 0)
		smp->hist = malloc((size_t) smp->hist_cap * sizeof(int32_t));
	if (smp->counts == NULL || smp->cand == NULL ||
		(smp->hist_cap > 0 && smp->hist == NULL))
	{
		llm_sampler_free(smp);
		return llm_errorf(err, LLM_ERR_NOMEM,
						  "out of memory for sampler of %d tokens",
						  (int) n_vocab);
	}
	x = s->seed;
	for (int i = 0; i < 4; i++)
		smp->rng[i] = splitmix64(&x);
	*out = smp;
	return LLM_OK;
}

/* Release a sampler (NULL is fine). */
void
llm_sampler_free(llm_sampler *smp)
{
	if (smp == NULL)
		return;
	free(smp->hist);
	free(smp->counts);
	free(smp->cand);
	free(smp);
}

/* Record a context token for the penalties window. */
void
llm_sampler_accept(llm_sampler *smp, int32_t tok)
{
	if (smp == NULL || smp->hist_cap == 0)
		return;
	smp->hist[smp->hist_pos] = tok;
	smp->hist_pos = (smp->hist_pos + 1) % smp->hist_cap;
	if (smp->hist_len < smp->hist_cap)
		smp->hist_len++;
}

void
llm_sampler_set_history(llm_sampler *smp, const int32_t *toks, int n)
{
	if (smp == NULL || smp->hist_cap == 0)
		return;
	smp->hist_len = 0;
	smp->hist_pos = 0;
	for (int i = n > smp->hist_cap ? n - smp->hist_cap : 0; i < n; i++)
		llm_sampler_accept(smp, toks[i]);
}

/* Uniform double in [0, 1) with 53 random bits. */
double
llm_sampler_uniform(llm_sampler *smp)
{
	return (double) (rng_next(smp->rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Step 1: repetition, frequency and presence penalties. */
static void
apply_penalties(llm_sampler *smp, float *logits)
{
	const llm_sampling *s = &smp->s;
	int32_t		n = smp->n_vocab;

	if (smp->hist_len == 0 ||
		(s->repeat_penalty == 1.0f && s->frequency_penalty == 0.0f &&
		 s->presence_penalty == 0.0f))
		return;
	for (int i = 0; i < smp->hist_len; i++)
	{
		int32_t		t = smp->hist[i];

		if (t >= 0 && t < n)
			smp->counts[t]++;
	}
	/* Apply once per distinct token, clearing its count as we go. */
	for (int i = 0; i < smp->hist_len; i++)
	{
		int32_t		t = smp->hist[i];
		int32_t		c;
		float		l;

		if (t < 0 || t >= n || smp->counts[t] == 0)
			continue;
		c = smp->counts[t];
		smp->counts[t] = 0;
		l = logits[t];
		if (s->repeat_penalty != 1.0f)
			l = l > 0.0f ? l / s->repeat_penalty : l * s->repeat_penalty;
		l -= (float) c * s->frequency_penalty + s->presence_penalty;
		logits[t] = l;
	}
}

/* Step 2: NaN -> -inf, +inf -> FLT_MAX; fill cand with finite tokens. */
static int
gather(llm_sampler *smp, float *logits)
{
	llm_cand   *c = smp->cand;
	int			n = 0;

	for (int32_t i = 0; i < smp->n_vocab; i++)
	{
		float		l = logits[i];

		if (isnan(l))
			l = logits[i] = -INFINITY;
		else if (l == INFINITY)
			l = logits[i] = FLT_MAX;
		if (l == -INFINITY)
			continue;
		c[n].id = i;
		c[n].logit = l;
		c[n].w = 0.0f;
		n++;
	}
	return n;
}

/* Is a ranked before b (logit desc, id asc)? */
static inline bool
cand_before(const llm_cand *a, const llm_cand *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* qsort comparator for the total order (logit desc, id asc). */
static int
cand_cmp(const void *pa, const void *pb)
{
	const llm_cand *a = pa;
	const llm_cand *b = pb;

	if (cand_before(a, b))
		return -1;
	if (cand_before(b, a))
		return 1;
	return 0;
}

/* Restore the heap below i; the root is the worst kept candidate. */
static void
heap_sift_down(llm_cand *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			w = i;
		llm_cand	tmp;

		if (l < n && cand_before(&h[w], &h[l]))
			w = l;
		if (r < n && cand_before(&h[w], &h[r]))
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

/*
 * Step 4: keep the k best of c[0..n) in c[0..k), sorted best first.  The
 * heap lives in c[0..k) itself; candidates are read from behind it.
 */
static void
select_top_k(llm_cand *c, int n, int k)
{
	for (int i = k / 2 - 1; i >= 0; i--)
		heap_sift_down(c, k, i);
	for (int i = k; i < n; i++)
	{
		if (cand_before(&c[i], &c[0]))
		{
			c[0] = c[i];
			heap_sift_down(c, k, 0);
		}
	}
	/* Heap sort: repeatedly move the worst to the end. */
	for (int end = k - 1; end > 0; end--)
	{
		llm_cand	tmp = c[0];

		c[0] = c[end];
		c[end] = tmp;
		heap_sift_down(c, end, 0);
	}
}

/*
 * Step 6 without a sorted list: move the candidates with weight >= t*total
 * to the front, lowering t until they hold at least need of the weight, and
 * sort only those.  Returns how many were sorted.
 */
static int
top_p_prefix(llm_cand *c, int n, double total, double need)
{
	for (double t = 1e-3; t > 1e-12; t /= 64.0)
	{
		double		lim = t * total;
		double		mass = 0.0;
		int			m = 0;

		for (int i = 0; i < n; i++)
		{
			if (c[i].w >= lim)
			{
				llm_cand	tmp = c[m];

				c[m] = c[i];
				c[i] = tmp;
				mass += c[m].w;
				m++;
			}
		}
		if (mass >= need)
		{
			qsort(c, m, sizeof(llm_cand), cand_cmp);
			return m;
		}
	}
	qsort(c, n, sizeof(llm_cand), cand_cmp);
	return n;
}

/*
 * The largest of n floats, or -inf if none is above it (NaN never wins:
 * comparisons with it are false), as GREEDY_LANES running maxima instead
 * of one: a single chain of dependent compare-and-selects costs ~5 cycles
 * a value, and greedy sampling was ~4 % of a step of 8 sequences on a
 * 32000-token vocabulary (50 -> ~7 us a sequence).  The maximum is the
 * same value in any order.
 */
#define GREEDY_LANES 8

static inline float
lanes_max(const float *x, int n)
{
	float		m[GREEDY_LANES];
	float		best = -INFINITY;
	int			i = 0;

#pragma GCC unroll 8
	for (int k = 0; k < GREEDY_LANES; k++)
		m[k] = -INFINITY;
	for (; i + GREEDY_LANES <= n; i += GREEDY_LANES)
#pragma GCC unroll 8
		for (int k = 0; k < GREEDY_LANES; k++)
			m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
	for (; i < n; i++)
		best = x[i] > best ? x[i] : best;
	for (int k = 0; k < GREEDY_LANES; k++)
		best = m[k] > best ? m[k] : best;
	return best;
}

/*
 * Steps 2-3 for temperature 0: the highest logit, lowest id on ties; NaN
 * never wins and +inf is just large.  Token 0 if nothing is above -inf.
 * The maximum, then the first id holding it (-0 and +0 compare equal, so
 * the first zero of either sign, as one scan would find).
 */
static int32_t
greedy(const float *logits, int32_t n)
{
	float		best = lanes_max(logits, n);
	int32_t		i;

	if (best == -INFINITY)
		return 0;
	for (i = 0; logits[i] != best; i++)
		;
	return i;
}

/*
 * Steps 1-7: leave the kept candidates in smp->cand[0..*n_kept) with their
 * weights and return the total weight (summed in that order).  Returns a
 * negative total for a deterministic result (greedy, or nothing finite), in
 * which case *greedy_tok holds the token.
 */
static double
prepare(llm_sampler *smp, float *logits, int *n_kept, int32_t *greedy_tok)
{
	const llm_sampling *s = &smp->s;
	llm_cand   *c = smp->cand;
	bool		sorted = false;
	double		total;
	float		inv_t;
	float		lmax;
	int			n;

	apply_penalties(smp, logits);
	if (s->temperature == 0.0f)
	{
		*greedy_tok = greedy(logits, smp->n_vocab);
		*n_kept = 0;
		return -1.0;
	}
	n = gather(smp, logits);
	*n_kept = n;
	if (n <= 1)
	{
		*greedy_tok = n == 1 ? c[0].id : 0;
		return -1.0;
	}
	if (s->top_k > 0 && s->top_k < n)
	{
		select_top_k(c, n, s->top_k);
		n = s->top_k;
		sorted = true;
	}
	/*
	 * Unsorted, the candidates are every logit above -inf (gather left them
	 * in logits too, NaN made -inf), at least two: the same maximum.
	 */
	lmax = sorted ? c[0].logit : lanes_max(logits, smp->n_vocab);
	inv_t = 1.0f / s->temperature;
	/* l - lmax may be -inf (l = -FLT_MAX, lmax = FLT_MAX): w = 0 */
	for (int i = 0; i < n; i++)
		c[i].w = expf((c[i].logit - lmax) * inv_t);
	/* apart from the calls, so that the sum is not carried through memory */
	total = 0.0;
	for (int i = 0; i < n; i++)
		total += c[i].w;
	if (s->top_p < 1.0f)
	{
		double		need = (double) s->top_p * total;
		double		cum = 0.0;
		int			m = n;

		if (!sorted)
		{
			m = top_p_prefix(c, n, total, need);
			sorted = true;
		}
		for (int i = 0; i < m; i++)
		{
			cum += c[i].w;
			if (cum >= need)
			{
				m = i + 1;
				break;
			}
		}
		n = m;
	}
	if (s->min_p > 0.0f)
	{
		/* The best token has weight exp(0) = 1, so the bound is min_p. */
		float		lim = s->min_p;
		int			m = 0;

		for (int i = 0; i < n; i++)
			if (c[i].w >= lim)
				c[m++] = c[i];
		n = m;					/* >= 1: the best token has w == 1 */
	}
	if (s->top_p < 1.0f || s->min_p > 0.0f)
	{
		/* the kept set (maybe reordered): its own total */
		total = 0.0;
		for (int i = 0; i < n; i++)
			total += c[i].w;
	}
	*n_kept = n;
	return total;
}

/* Sample the next token from logits[n_vocab] (modified in place). */
int32_t
llm_sampler_sample(llm_sampler *smp, float *logits)
{
	llm_cand   *c = smp->cand;
	int32_t		tok = 0;
	int			n;
	double		total = prepare(smp, logits, &n, &tok);
	double		r;
	double		cum = 0.0;

	if (total < 0.0)
		return tok;
	r = llm_sampler_uniform(smp) * total;
	for (int i = 0; i < n; i++)
	{
		if (c[i].w > 0.0)
			tok = c[i].id;		/* fallback: last token with weight */
		cum += c[i].w;
		if (r < cum)
			return c[i].id;
	}
	return tok;
}

/* The distribution sample() would draw from, in probs[n_vocab]. */
void
llm_sampler_probs(llm_sampler *smp, float *logits, float *probs)
{
	llm_cand   *c = smp->cand;
	int32_t		tok = 0;
	int			n;
	double		total = prepare(smp, logits, &n, &tok);

	memset(probs, 0, (size_t) smp->n_vocab * sizeof(float));
	if (total < 0.0)
	{
		probs[tok] = 1.0f;
		return;
	}
	for (int i = 0; i < n; i++)
		probs[c[i].id] = (float) (c[i].w / total);
}
