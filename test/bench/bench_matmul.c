/*
 * bench_matmul.c — single-thread throughput of llm_matmul_rows.
 *
 * For a 2048 x 5632 weight matrix (rows x n, TinyLlama's ffn_down) in each
 * type, at each ISA level this CPU supports, prints the GB/s of weight bytes
 * streamed by one-token decode (nt = 1) and by 4- and 16-token batches
 * (AMX takes nt >= 5 for Q8_0 and Q4_K, 6 for Q4_0), next to a
 * plain prefetching memory-read loop: decode is memory-bound, so the read
 * loop is the roofline.  The matrix is replicated to about 1 GiB and the
 * copies visited round-robin, so the weights come from DRAM and not from
 * the (large) last-level cache.  A "hot" figure on 64 L2-resident rows
 * shows the kernel's own speed.  On a CPU with AMX a "packed" row follows
 * each type the engine packs: the same copies packed for the AMX level
 * (quant_packed_pack), read by quant_packed_matmul as the engine's decode
 * does (0: more tokens than the packed kernels take).  Each figure is the
 * best of 5 slices, and
 * times are the thread's CPU time, so other
 * load on the machine (time slicing) does not distort the figures, though
 * it still competes for memory bandwidth.
 *
 * A second table ("prefill") gives GMAC/s (rows x n x nt multiply-adds per
 * CPU-second, one thread) of the types the AMX level takes, at the levels
 * from AVX-512 up, for nt = 16 .. 256 tokens per call and the TinyLlama
 * shapes 2048 x 2048 (attention), 2048 x 5632 (ffn_down) and 5632 x 2048
 * (ffn_gate/up), weights again visited round-robin over ~1 GiB of copies,
 * called 64 rows at a time as the forward pass does (each call prepares
 * its activations again, or up to 32 tokens finds them kept from the call
 * before); each figure is the fastest pass over the matrix.  The float
 * types (F32, F16, BF16) follow at the 110M model's shapes 768 x 768,
 * 2048 x 768 and 768 x 2048, for nt = 2 .. 512.
 *
 * A third table ("batch") does the same for small batches, nt = 1 .. 24
 * (several sessions decoding at once, maybe with a prefill chunk mixed in),
 * at the 110M model's shapes 768 x 768 (attention), 2048 x 768 (ffn_gate/up),
 * 768 x 2048 (ffn_down) and 2048 x 2048: where the AMX level starts to beat
 * the AVX-512 tiles, and on a CPU with AMX the packed copies' kernels
 * beside them.  Its weights are copied over 128 MiB only, about the
 * 110M model's size, so where the last-level cache holds that much they
 * come from there, as they would when that model decodes.
 *
 *   build/bench_matmul [seconds-per-figure [type|all [decode|prefill|batch|all]]]
 *   (defaults 0.4, all, all)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>

#include "quant.h"
#include "clock.h"

#define ROWS 2048
#define COLS 5632
#define TOTAL_BYTES ((size_t) 1 << 30)
#define BATCH_BYTES ((size_t) 128 << 20)
#define MAX_NT 512
#define PREFILL_CHUNK 64

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
	double		t0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID),
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
		t = llm_seconds(CLOCK_THREAD_CPUTIME_ID);
	} while (t - t0 < secs);
	(void) sink;
	return bytes / (t - t0) / 1e9;
}

/*
 * Fill the first total bytes of buf with as many copies of a rows x n matrix of type wt as fit (at
 * least one): 64 distinct quantized rows of wf, replicated.  Returns the
 * number of copies; *mbytes is the size of one.
 */
static size_t
fill_copies_in(uint8_t *buf, size_t total, uint32_t wt, int64_t rows, int64_t n,
			   const float *wf, size_t *mbytes)
{
	size_t		rb = llm_row_bytes(wt, n);
	size_t		ncopies;

	*mbytes = rb * rows;
	ncopies = total / *mbytes;
	if (ncopies < 1)
		ncopies = 1;
	for (int r = 0; r < 64; r++)
		llm_quantize_row(wt, wf + (size_t) r * n, buf + r * rb, n);
	for (size_t r = 64; r < (size_t) rows * ncopies; r++)
		memcpy(buf + r * rb, buf + (r % 64) * rb, rb);
	return ncopies;
}

/* Same over all of buf (TOTAL_BYTES). */
static size_t
fill_copies(uint8_t *buf, uint32_t wt, int64_t rows, int64_t n, const float *wf,
			size_t *mbytes)
{
	return fill_copies_in(buf, TOTAL_BYTES, wt, rows, n, wf, mbytes);
}

/*
 * Best-of-5 rate of llm_matmul_rows(rows x n, nt tokens) in calls per
 * CPU-second, the weights taken from the copies round-robin (*c is the
 * next copy) or, with ncopies = 0, always from the first.  With packed,
 * the copies are Q8_0 matrices packed for the AMX level and the call is
 * quant_packed_matmul.
 */
static double
bench_calls(uint32_t wt, int64_t n, const uint8_t *buf, size_t mbytes, size_t ncopies,
			size_t *c, const uint8_t *A, size_t arb, int nt, float *y, int64_t rows,
			double secs, bool packed)
{
	double		best = 0;

	for (int rep = 0; rep < 5; rep++)
	{
		double		t0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID),
					t;
		size_t		calls = 0;

		do
		{
			const uint8_t *W = ncopies == 0 ? buf : buf + *c * mbytes;

			if (packed)
				quant_packed_matmul(wt, n, W, A, arb, nt, y, rows, 0, rows);
			else
				llm_matmul_rows(wt, n, W, A, arb, nt, y, rows, 0, rows);
			calls++;
			if (ncopies != 0)
				*c = (*c + 1) % ncopies;
			t = llm_seconds(CLOCK_THREAD_CPUTIME_ID);
		} while (t - t0 < secs / 5);
		if (calls / (t - t0) > best)
			best = calls / (t - t0);
	}
	return best;
}

/*
 * One row of the decode table: dram (nt = 1 over the copies), hot (64
 * rows), nt = 4 and nt = 16 in GB/s, and dram as a share of the read loop's
 * mem; 0 where the packed kernels do not take that many tokens.
 */
static void
decode_row(uint32_t wt, const uint8_t *buf, size_t mbytes, size_t ncopies, size_t *c,
		   const uint8_t *A, size_t arb, float *y, double secs, bool packed,
		   const char *label, double mem)
{
	size_t		rb = llm_row_bytes(wt, COLS);
	double		gbs[4];

	for (int k = 0; k < 4; k++)
	{
		int			nt = k == 2 ? 4 : k == 3 ? 16 : 1;
		int64_t		rows = k == 1 ? 64 : ROWS;

		gbs[k] = packed && nt > quant_packed_max_tokens(wt) ? 0 :
			rows * rb * bench_calls(wt, COLS, buf, mbytes, k == 1 ? 0 : ncopies, c, A, arb, nt,
									y, rows, secs, packed) / 1e9;
	}
	printf("%-6s %-7s %8.2f %8.2f %8.2f %8.2f %8.0f%%\n", llm_dtype_name(wt), label,
		   gbs[0], gbs[1], gbs[2], gbs[3], 100 * gbs[0] / mem);
	fflush(stdout);
}

/* The decode table: GB/s of weight bytes, every type and level. */
static void
bench_decode(const char *only, uint8_t *buf, const float *wf, const float *af,
			 float *y, double secs)
{
	static const uint32_t types[] = {LLM_F32, LLM_F16, LLM_BF16, LLM_Q8_0, LLM_Q4_0,
	LLM_Q4_K, LLM_Q6_K};
	llm_isa		top = quant_cpu_isa();
	size_t		chunk = (size_t) 16 << 20;
	double		mem = 0;

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
		size_t		arb = llm_row_bytes(at, COLS);
		size_t		mbytes,
					ncopies,
					c = 0;
		uint8_t    *A;

		if (only != NULL && strcmp(only, llm_dtype_name(wt)) != 0)
			continue;
		A = malloc(16 * arb);
		quant_init(top);
		ncopies = fill_copies(buf, wt, ROWS, COLS, wf, &mbytes);
		for (int t = 0; t < 16; t++)
			llm_quantize_row(at, af + (size_t) t * COLS, A + t * arb, COLS);

		for (int l = 0; l <= (int) top; l++)
		{
			quant_init((llm_isa) l);
			decode_row(wt, buf, mbytes, ncopies, &c, A, arb, y, secs, false,
					   quant_isa_name((llm_isa) l), mem);
		}
		if (top == LLM_ISA_AMX && quant_packed_shape_ok(wt, ROWS, COLS))
		{
			/* the same copies packed for the AMX level (what the engine reads) */
			uint8_t    *pbuf = aligned_alloc(64, TOTAL_BYTES);

			if (pbuf != NULL)
			{
				quant_init(top);
				for (size_t k = 0; k < ncopies; k++)
					quant_packed_pack(wt, buf + k * mbytes, ROWS, COLS, pbuf + k * mbytes);
				decode_row(wt, pbuf, mbytes, ncopies, &c, A, arb, y, secs, true, "packed", mem);
				free(pbuf);
			}
		}
		free(A);
	}
}

/*
 * Fastest single pass over a rows x n matrix (weights from the next copy,
 * round-robin), in 64-row calls as the forward pass makes them, in passes
 * per CPU-second.  The fastest of many passes rather than an average:
 * passes are milliseconds long, so one that no other process disturbed is
 * nearly always among them.
 */
static double
bench_pass(uint32_t wt, int64_t n, const uint8_t *buf, size_t mbytes, size_t ncopies,
		   size_t *c, const uint8_t *A, size_t arb, int nt, float *y, int64_t rows,
		   double secs, bool packed)
{
	double		t0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID),
				t = t0,
				best = 1e30;

	do
	{
		const uint8_t *W = buf + *c * mbytes;
		double		p0 = t;

		for (int64_t r = 0; r < rows; r += PREFILL_CHUNK)
		{
			int64_t		r1 = r + PREFILL_CHUNK < rows ? r + PREFILL_CHUNK : rows;

			if (packed)
				quant_packed_matmul(wt, n, W, A, arb, nt, y, rows, r, r1);
			else
				llm_matmul_rows(wt, n, W, A, arb, nt, y, rows, r, r1);
		}
		*c = (*c + 1) % ncopies;
		t = llm_seconds(CLOCK_THREAD_CPUTIME_ID);
		if (t - p0 < best)
			best = t - p0;
	} while (t - t0 < secs);
	return 1 / best;
}

/*
 * One line of a prefill or batch table: GMAC/s of wt at rows x n for each
 * token count ("-" where the packed kernels do not take that many).
 */
static void
shape_row(uint32_t wt, int64_t n, const int *nts, size_t nnts, const char *label,
		  const char *shape, const uint8_t *buf, size_t mbytes, size_t ncopies, size_t *c,
		  const uint8_t *A, size_t arb, float *y, int64_t rows, double secs, bool packed)
{
	printf("%-6s %-7s %-10s", llm_dtype_name(wt), label, shape);
	for (size_t k = 0; k < nnts; k++)
	{
		if (packed && nts[k] > quant_packed_max_tokens(wt))
		{
			printf(" %9s", "-");
			continue;
		}
		printf(" %9.1f", bench_pass(wt, n, buf, mbytes, ncopies, c, A, arb, nts[k], y, rows,
									secs / 2, packed) * rows * n * nts[k] / 1e9);
		fflush(stdout);
	}
	printf("\n");
}

/*
 * One row per level from lo to top of a prefill or batch table: GMAC/s of
 * wt at rows x n for each token count, over copies of the weights filling
 * total bytes of buf.  Skips shapes the type cannot have (K-quants need n
 * a multiple of 256).
 */
static void
bench_shape(uint32_t wt, int64_t rows, int64_t n, const int *nts, size_t nnts, int lo,
			llm_isa top, uint8_t *buf, size_t total, const float *wf, const float *af,
			float *y, double secs)
{
	uint32_t	at = llm_dot_type(wt);
	size_t		arb = llm_row_bytes(at, n);
	uint8_t    *A;
	size_t		mbytes,
				ncopies,
				c = 0;
	char		shape[32];

	if ((wt == LLM_Q4_K || wt == LLM_Q6_K) && n % 256 != 0)
		return;
	A = malloc(MAX_NT * arb);
	quant_init(top);
	ncopies = fill_copies_in(buf, total, wt, rows, n, wf, &mbytes);
	for (int t = 0; t < MAX_NT; t++)
		llm_quantize_row(at, af + (size_t) t * n, A + t * arb, n);
	snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
	for (int l = lo; l <= (int) top; l++)
	{
		quant_init((llm_isa) l);
		shape_row(wt, n, nts, nnts, quant_isa_name((llm_isa) l), shape, buf, mbytes, ncopies,
				  &c, A, arb, y, rows, secs, false);
	}
	if (top == LLM_ISA_AMX && quant_packed_shape_ok(wt, rows, n))
	{
		/* the same copies packed for the AMX level, as the engine decodes */
		uint8_t    *pbuf = aligned_alloc(64, ncopies * mbytes);

		if (pbuf != NULL)
		{
			for (size_t k = 0; k < ncopies; k++)
				quant_packed_pack(wt, buf + k * mbytes, rows, n, pbuf + k * mbytes);
			shape_row(wt, n, nts, nnts, "packed", shape, pbuf, mbytes, ncopies, &c, A, arb, y,
					  rows, secs, true);
			free(pbuf);
		}
	}
	free(A);
}

/*
 * The prefill table: GMAC/s of the AMX types at 16 .. 256 tokens per call,
 * three weight shapes, levels from AVX-512 up.
 */
static void
bench_prefill(const char *only, uint8_t *buf, const float *wf, const float *af,
			  float *y, double secs)
{
	static const uint32_t types[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K, LLM_F32, LLM_F16,
	LLM_BF16};
	static const int64_t qshapes[][2] = {{2048, 2048}, {2048, 5632}, {5632, 2048}};
	static const int64_t fshapes[][2] = {{768, 768}, {2048, 768}, {768, 2048}};
	static const int qnts[] = {16, 32, 64, 128, 256};
	static const int fnts[] = {2, 8, 16, 64, 256, 512};
	llm_isa		top = quant_cpu_isa();
	int			lo = top >= LLM_ISA_AVX512 ? LLM_ISA_AVX512 : (int) top;
	int			header = -1;	/* which header (0 quantized, 1 float) was printed */

	printf("\nprefill: GMAC/s per thread (rows x n x nt per CPU-second), rows x n weights\n");
	printf("from ~1 GiB of copies, nt tokens, calls of %d rows (as the forward pass);\n",
		   PREFILL_CHUNK);
	printf("fastest pass over the matrix\n");
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
	{
		uint32_t	wt = types[ti];
		int			fl = wt == LLM_F32 || wt == LLM_F16 || wt == LLM_BF16;
		const int64_t (*shapes)[2] = fl ? fshapes : qshapes;
		const int  *nts = fl ? fnts : qnts;
		size_t		nnts = fl ? sizeof(fnts) / sizeof(fnts[0]) : sizeof(qnts) / sizeof(qnts[0]);

		if (only != NULL && strcmp(only, llm_dtype_name(wt)) != 0)
			continue;
		if (header != fl)
		{
			header = fl;
			printf("\n%-6s %-7s %-10s", "type", "isa", "rows x n");
			for (size_t k = 0; k < nnts; k++)
				printf(" %5s=%-3d", "nt", nts[k]);
			printf("\n");
		}
		for (size_t si = 0; si < 3; si++)
			bench_shape(wt, shapes[si][0], shapes[si][1], nts, nnts, lo, top, buf, TOTAL_BYTES,
						wf, af, y, secs);
	}
}

/*
 * The batch table: GMAC/s of the AMX types at 1 .. 24 tokens per call,
 * small shapes, levels from AVX-512 up, and the packed copies (as many
 * tokens as their kernels take).
 */
static void
bench_batch(const char *only, uint8_t *buf, const float *wf, const float *af,
			float *y, double secs)
{
	static const uint32_t types[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};
	static const int64_t shapes[][2] = {{768, 768}, {2048, 768}, {768, 2048}, {2048, 2048}};
	static const int nts[] = {1, 4, 6, 8, 12, 16, 24};
	llm_isa		top = quant_cpu_isa();
	int			lo = top >= LLM_ISA_AVX512 ? LLM_ISA_AVX512 : (int) top;

	printf("\nbatch: GMAC/s per thread (rows x n x nt per CPU-second), rows x n weights\n");
	printf("from ~%d MiB of copies (a 110M model's size: from the LLC where it fits),\n",
		   (int) (BATCH_BYTES >> 20));
	printf("nt tokens, calls of %d rows (as the forward pass);\n", PREFILL_CHUNK);
	printf("fastest pass over the matrix\n\n");
	printf("%-6s %-7s %-10s", "type", "isa", "rows x n");
	for (size_t k = 0; k < sizeof(nts) / sizeof(nts[0]); k++)
		printf(" %5s=%-3d", "nt", nts[k]);
	printf("\n");
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
	{
		uint32_t	wt = types[ti];

		if (only != NULL && strcmp(only, llm_dtype_name(wt)) != 0)
			continue;
		for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
			bench_shape(wt, shapes[si][0], shapes[si][1], nts, sizeof(nts) / sizeof(nts[0]), lo,
						top, buf, BATCH_BYTES, wf, af, y, secs);
	}
}

/* Measure and print every figure. */
int
main(int argc, char **argv)
{
	double		secs = argc > 1 ? atof(argv[1]) : 0.4;
	const char *only = argc > 2 && strcmp(argv[2], "all") != 0 ? argv[2] : NULL;
	const char *mode = argc > 3 ? argv[3] : "all";
	float	   *wf = malloc((size_t) 64 * COLS * sizeof(float));
	float	   *af = malloc((size_t) MAX_NT * COLS * sizeof(float));
	float	   *y = malloc((size_t) MAX_NT * COLS * sizeof(float));
	uint8_t    *buf = aligned_alloc(64, TOTAL_BYTES);

	if (!wf || !af || !y || !buf)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	srand(1);
	for (size_t i = 0; i < (size_t) 64 * COLS; i++)
		wf[i] = (float) rand() / RAND_MAX - 0.5f;
	for (size_t i = 0; i < (size_t) MAX_NT * COLS; i++)
		af[i] = (float) rand() / RAND_MAX - 0.5f;
	memset(buf, 1, TOTAL_BYTES);
	if (strcmp(mode, "all") == 0 || strcmp(mode, "decode") == 0)
		bench_decode(only, buf, wf, af, y, secs);
	if (strcmp(mode, "all") == 0 || strcmp(mode, "prefill") == 0)
		bench_prefill(only, buf, wf, af, y, secs);
	if (strcmp(mode, "all") == 0 || strcmp(mode, "batch") == 0)
		bench_batch(only, buf, wf, af, y, secs);
	free(wf);
	free(af);
	free(y);
	free(buf);
	return 0;
}
