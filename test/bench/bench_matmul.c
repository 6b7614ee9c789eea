/*
 * bench_matmul.c — single-thread throughput of llm_matmul_rows.
 *
 * For a 2048 x 5632 weight matrix (rows x n, TinyLlama's ffn_down) in each
 * type, at each ISA level this CPU supports, prints the GB/s of weight bytes
 * streamed by one-token decode (nt = 1) and by 4- and 16-token batches
 * (prefill; AMX takes nt >= 8 for Q8_0/Q4_0), next to a
 * plain prefetching memory-read loop: decode is memory-bound, so the read
 * loop is the roofline.  The matrix is replicated to about 1 GiB and the
 * copies visited round-robin, so the weights come from DRAM and not from
 * the (large) last-level cache.  A "hot" figure on 64 L2-resident rows
 * shows the kernel's own speed.  Each figure is the best of 5 slices, and
 * times are the thread's CPU time, so other
 * load on the machine (time slicing) does not distort the figures, though
 * it still competes for memory bandwidth.
 *
 *   build/bench_matmul [seconds-per-figure [type]]   (default 0.4, all types)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>

#include "quant.h"

#define ROWS 2048
#define COLS 5632
#define TOTAL_BYTES ((size_t) 1 << 30)

/* CPU time of this thread: other processes on the machine do not count. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Plain read of buf with software prefetch (AVX2 loads). */
__attribute__((target("avx2"))) static uint64_t
read_avx2(const uint8_t *buf, size_t len)
{
	__m256i		acc0 = _mm256_setzero_si256(),
				acc1 = acc0;

	for (size_t i = 0; i + 128 <= len; i += 128)
	{
		_mm_prefetch((const char *) buf + i + 1024, _MM_HINT_T0);
		acc0 = _mm256_xor_si256(acc0, _mm256_load_si256((const __m256i *) (buf + i)));
		acc1 = _mm256_xor_si256(acc1, _mm256_load_si256((const __m256i *) (buf + i + 32)));
		acc0 = _mm256_xor_si256(acc0, _mm256_load_si256((const __m256i *) (buf + i + 64)));
		acc1 = _mm256_xor_si256(acc1, _mm256_load_si256((const __m256i *) (buf + i + 96)));
	}
	acc0 = _mm256_xor_si256(acc0, acc1);
	return (uint64_t) _mm256_extract_epi64(acc0, 0) ^ (uint64_t) _mm256_extract_epi64(acc0, 2);
}

/* Same with 8-byte loads, for CPUs without AVX2. */
static uint64_t
read_plain(const uint8_t *buf, size_t len)
{
	uint64_t	acc = 0;

	for (size_t i = 0; i + 8 <= len; i += 8)
		acc ^= *(const uint64_t *) (buf + i);
	return acc;
}

/* Read bandwidth over chunks of the buffer, visiting them round-robin. */
static double
bench_read(const uint8_t *buf, size_t chunk, size_t nchunks, double secs)
{
	double		t0 = now(),
				t;
	size_t		bytes = 0,
				c = 0;
	volatile uint64_t sink = 0;
	int			avx2 = __builtin_cpu_supports("avx2");

	do
	{
		sink ^= avx2 ? read_avx2(buf + c * chunk, chunk) : read_plain(buf + c * chunk, chunk);
		bytes += chunk;
		c = (c + 1) % nchunks;
		t = now();
	} while (t - t0 < secs);
	(void) sink;
	return bytes / (t - t0) / 1e9;
}

/* Measure and print every figure. */
int
main(int argc, char **argv)
{
	static const uint32_t types[] = {LLM_F32, LLM_F16, LLM_BF16, LLM_Q8_0, LLM_Q4_0,
	LLM_Q4_K, LLM_Q6_K};
	double		secs = argc > 1 ? atof(argv[1]) : 0.4;
	float	   *wf = malloc((size_t) 64 * COLS * sizeof(float));
	float	   *af = malloc((size_t) 16 * COLS * sizeof(float));
	float	   *y = malloc((size_t) 16 * ROWS * sizeof(float));
	uint8_t    *buf = aligned_alloc(64, TOTAL_BYTES);
	llm_isa		top = quant_cpu_isa();
	size_t		chunk = (size_t) 16 << 20;
	double		mem;

	if (!wf || !af || !y || !buf)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	srand(1);
	for (size_t i = 0; i < (size_t) 64 * COLS; i++)
		wf[i] = (float) rand() / RAND_MAX - 0.5f;
	for (size_t i = 0; i < (size_t) 16 * COLS; i++)
		af[i] = (float) rand() / RAND_MAX - 0.5f;
	memset(buf, 1, TOTAL_BYTES);
	mem = 0;
	for (int rep = 0; rep < 5; rep++)
	{
		double		m = bench_read(buf, chunk, TOTAL_BYTES / chunk, secs / 5);

		mem = m > mem ? m : mem;
	}

	printf("matmul_rows %d x %d, single thread, GB/s of weight bytes per CPU-second\n",
		   ROWS, COLS);
	printf("  dram:  nt=1 over ~1 GiB of copies (weights come from memory)\n");
	printf("  hot:   nt=1 over 64 rows that stay in L2 (kernel speed alone)\n");
	printf("  nt=4, nt=16: 4 or 16 tokens per call from memory (bytes counted once)\n");
	printf("memory read (prefetching loop, 1 GiB): %.2f GB/s\n\n", mem);
	printf("%-6s %-7s %8s %8s %8s %8s %9s\n", "type", "isa", "dram", "hot", "nt=4", "nt=16",
		   "dram/mem");

	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
	{
		uint32_t	wt = types[ti];
		uint32_t	at = llm_dot_type(wt);
		size_t		rb = llm_row_bytes(wt, COLS);
		size_t		mbytes = rb * ROWS;
		size_t		ncopies = TOTAL_BYTES / mbytes;
		size_t		arb = llm_row_bytes(at, COLS);
		uint8_t    *A;
		size_t		c = 0;

		if (argc > 2 && strcmp(argv[2], llm_dtype_name(wt)) != 0)
			continue;
		A = malloc(16 * arb);
		if (ncopies < 1)
			ncopies = 1;
		/* 64 distinct quantized rows, replicated over every copy */
		quant_init(top);
		for (int r = 0; r < 64; r++)
			llm_quantize_row(wt, wf + (size_t) r * COLS, buf + r * rb, COLS);
		for (size_t r = 64; r < (size_t) ROWS * ncopies; r++)
			memcpy(buf + r * rb, buf + (r % 64) * rb, rb);
		for (int t = 0; t < 16; t++)
			llm_quantize_row(at, af + (size_t) t * COLS, A + t * arb, COLS);

		for (int l = 0; l <= (int) top; l++)
		{
			double		gbs[4];

			quant_init((llm_isa) l);
			for (int k = 0; k < 4; k++)
			{
				int			nt = k == 2 ? 4 : k == 3 ? 16 : 1;
				int64_t		rows = k == 1 ? 64 : ROWS;

				/* best of 5 slices: filters out interference */
				gbs[k] = 0;
				for (int rep = 0; rep < 5; rep++)
				{
					double		t0 = now(),
								t;
					size_t		bytes = 0;

					do
					{
						const uint8_t *W = k == 1 ? buf : buf + c * mbytes;

						llm_matmul_rows(wt, COLS, W, A, arb, nt, y, ROWS, 0, rows);
						bytes += rows * rb;
						if (k != 1)
							c = (c + 1) % ncopies;
						t = now();
					} while (t - t0 < secs / 5);
					if (bytes / (t - t0) / 1e9 > gbs[k])
						gbs[k] = bytes / (t - t0) / 1e9;
				}
			}
			printf("%-6s %-7s %8.2f %8.2f %8.2f %8.2f %8.0f%%\n", llm_dtype_name(wt),
				   quant_isa_name((llm_isa) l), gbs[0], gbs[1], gbs[2], gbs[3],
				   100 * gbs[0] / mem);
			fflush(stdout);
		}
		free(A);
	}
	free(wf);
	free(af);
	free(y);
	free(buf);
	return 0;
}
