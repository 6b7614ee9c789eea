/*
 * bench_attn.c — single-thread speed of the attention block (attn.h).
 *
 * Nanoseconds per query and block of 16 cached positions, F16 cache, 768
 * positions (a prefill chunk late in a long prompt, or a decode step deep in
 * a conversation), for tiles of 1, 4 and 16 batch rows x 1 or 8 query heads
 * per KV head (8: TinyLlama's GQA groups), head sizes 64 and 128.  Each
 * variant this CPU supports is measured in the same run: the AVX2 one takes
 * the tile's queries one at a time, the AVX-512 one converts a block once
 * per tile, so the "tile ÷ lone" column (a query's cost in the tile over
 * its cost alone) shows what sharing a block saves.  Best of 5 passes, CPU
 * time of the thread.
 *
 *   build/bench_attn [passes-per-figure]   (default 40)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "attn.h"
#include "clock.h"
#include "quant.h"

#define NPOS 768

/* ns per (query, block) of a tile of rows x group queries over NPOS positions. */
static double
bench_tile(const llm_attn_ops *ops, int hd, int rows, int group, const uint16_t *k,
		   const uint16_t *v, const float *q, float *out, int passes)
{
	float		ml[2 * 16 * 8];
	double		best = INFINITY;

	for (int rep = 0; rep < 5; rep++)
	{
		double		t0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID);

		for (int it = 0; it < passes; it++)
			for (int p = 0; p < NPOS; p += LLM_ATTN_BLOCK)
			{
				int			nkr[16];

				for (int r = 0; r < rows; r++)
					nkr[r] = LLM_ATTN_BLOCK;
				if (p == 0)
					for (int i = 0; i < rows * group; i++)
					{
						ml[2 * i] = -INFINITY;
						ml[2 * i + 1] = 0;
					}
				ops->block_f16(q, (size_t) group * hd, rows, group, nkr, k + (size_t) p * hd,
							   v + (size_t) p * hd, hd, hd, 1.0f / sqrtf((float) hd), ml, out);
			}
		t0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
		best = t0 < best ? t0 : best;
	}
	return best * 1e9 / passes / (NPOS / LLM_ATTN_BLOCK) / (rows * group);
}

int
main(int argc, char **argv)
{
	int			passes = argc > 1 ? atoi(argv[1]) : 40;
	const llm_attn_ops *variants[2] = {&llm_attn_avx2, &llm_attn_avx512};
	const char *names[2] = {"avx2", "avx512"};
	llm_isa		need[2] = {LLM_ISA_AVX2, LLM_ISA_AVX512};
	uint16_t   *k = malloc((size_t) NPOS * 128 * sizeof(uint16_t)),
			   *v = malloc((size_t) NPOS * 128 * sizeof(uint16_t));
	float	   *q = malloc((size_t) 16 * 8 * 128 * sizeof(float)),
			   *out = calloc((size_t) 16 * 8 * 128, sizeof(float));

	if (!k || !v || !q || !out)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	srand(1);
	for (int i = 0; i < NPOS * 128; i++)
	{
		k[i] = llm_f32_to_f16((float) rand() / RAND_MAX - 0.5f);
		v[i] = llm_f32_to_f16((float) rand() / RAND_MAX - 0.5f);
	}
	for (int i = 0; i < 16 * 8 * 128; i++)
		q[i] = 3.0f * ((float) rand() / RAND_MAX - 0.5f);
	quant_init(quant_cpu_isa());
	printf("attention: ns per query per block of %d positions (F16 cache, %d positions, one thread)\n\n",
		   LLM_ATTN_BLOCK, NPOS);
	printf("%-7s %4s %5s %6s %9s %12s\n", "isa", "hd", "rows", "heads", "ns", "tile ÷ lone");
	for (int vi = 0; vi < 2; vi++)
	{
		if (quant_cpu_isa() < need[vi])
			continue;
		for (int hd = 64; hd <= 128; hd *= 2)
			for (int group = 1; group <= 8; group *= 8)
			{
				double		lone;

				/* the first figure of a series, once to warm up */
				bench_tile(variants[vi], hd, 1, 1, k, v, q, out, passes);
				lone = bench_tile(variants[vi], hd, 1, 1, k, v, q, out, passes);

				for (int rows = 1; rows <= 16; rows *= 4)
				{
					double		ns = bench_tile(variants[vi], hd, rows, group, k, v, q, out, passes);

					printf("%-7s %4d %5d %6d %9.1f %11.2f\n", names[vi], hd, rows, group, ns, ns / lone);
				}
			}
	}
	free(k);
	free(v);
	free(q);
	free(out);
	return 0;
}
