/*
 * bandwidth.c — measured memory read bandwidth: the roofline of decode.
 *
 * Generating one token reads every weight matrix once, so single-token
 * decode is bound by how fast the CPU can stream bytes from memory.  This
 * program measures that speed the way a well-written decode kernel reads:
 * T pthreads each stream their own contiguous slice of one large buffer
 * with wide vector loads (AVX-512 when the CPU has it, else AVX2, else
 * 64-bit scalar) and software prefetch a fixed distance ahead.  The loaded
 * values are summed into a per-thread result that is printed at the end, so
 * the compiler cannot drop the loads.
 *
 * The buffer (1 GiB by default) is much larger than the last-level cache
 * (300 MiB on the machine this was written on), so the figure is DRAM
 * bandwidth; a smaller -s gives the bandwidth at another working-set size
 * (e.g. the size of a model that fits in the LLC).  Pages are first touched
 * by the thread that reads them.  A pass is timed on the wall clock from a
 * barrier before the first thread starts to a barrier after the last one
 * ends; the figure is the best of several passes, so a pass that another
 * process on the machine interrupted does not count.
 *
 *   build/bandwidth [-t 1,2] [-s MIB] [-r PASSES] [-d PREFETCH_BYTES] [--isa avx512|avx2|scalar]
 *
 * One line per thread count, meant to be read by scripts:
 *   bandwidth threads=1 size_mib=1024 passes=10 isa=avx512 prefetch=2048
 *             best_gbps=12.34 median_gbps=11.90 cpu_best_gbps=12.50 checksum=...
 * (GB/s = 1e9 bytes per second).  cpu_best_gbps divides by the slowest
 * thread's CPU time instead of the wall clock: on a machine shared with
 * other work it leaves out the time slices other processes took (though not
 * their competition for memory bandwidth); on an idle machine the two agree.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <immintrin.h>

#include "clock.h"

#define MAX_THREADS 64
#define MAX_PASSES 100
#define CHUNK 256				/* bytes per loop iteration, every ISA */

typedef uint64_t (*read_fn) (const uint8_t *p, size_t len, size_t dist);

typedef struct bw_shared
{
	uint8_t    *buf;
	size_t		size;
	int			threads;
	int			passes;
	size_t		dist;
	read_fn		fn;
	pthread_barrier_t barrier;
	double		t_start[MAX_PASSES];
	double		t_end[MAX_PASSES];
} bw_shared;

typedef struct bw_thread
{
	bw_shared  *sh;
	int			index;
	uint64_t	sum;
	double		cpu[MAX_PASSES];	/* this thread's CPU seconds per pass */
	pthread_t	tid;
} bw_thread;

/* Sum of p[0..len) as 64-bit words with AVX-512 loads; len % CHUNK == 0. */
__attribute__((target("avx512f"))) static uint64_t
read_avx512(const uint8_t *p, size_t len, size_t dist)
{
	__m512i		a0 = _mm512_setzero_si512(),
				a1 = a0,
				a2 = a0,
				a3 = a0;

	for (size_t i = 0; i < len; i += CHUNK)
	{
		if (dist)
		{
			_mm_prefetch((const char *) p + i + dist, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 64, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 128, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 192, _MM_HINT_T0);
		}
		a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *) (p + i)));
		a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *) (p + i + 64)));
		a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *) (p + i + 128)));
		a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *) (p + i + 192)));
	}
	a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
	return (uint64_t) _mm512_reduce_add_epi64(a0);
}

/* Sum of p[0..len) as 64-bit words with AVX2 loads; len % CHUNK == 0. */
__attribute__((target("avx2"))) static uint64_t
read_avx2(const uint8_t *p, size_t len, size_t dist)
{
	__m256i		a0 = _mm256_setzero_si256(),
				a1 = a0,
				a2 = a0,
				a3 = a0;

	for (size_t i = 0; i < len; i += CHUNK)
	{
		if (dist)
		{
			_mm_prefetch((const char *) p + i + dist, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 64, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 128, _MM_HINT_T0);
			_mm_prefetch((const char *) p + i + dist + 192, _MM_HINT_T0);
		}
		a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *) (p + i)));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *) (p + i + 32)));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *) (p + i + 64)));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *) (p + i + 96)));
		a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *) (p + i + 128)));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *) (p + i + 160)));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *) (p + i + 192)));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *) (p + i + 224)));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	return (uint64_t) _mm256_extract_epi64(a0, 0) + (uint64_t) _mm256_extract_epi64(a0, 1) +
		(uint64_t) _mm256_extract_epi64(a0, 2) + (uint64_t) _mm256_extract_epi64(a0, 3);
}

/* Sum of p[0..len) as 64-bit words, plain C; len % CHUNK == 0. */
static uint64_t
read_scalar(const uint8_t *p, size_t len, size_t dist)
{
	const uint64_t *w = (const uint64_t *) p;
	uint64_t	s0 = 0,
				s1 = 0;

	for (size_t i = 0; i < len / 8; i += 4)
	{
		if (dist && i % 8 == 0)
			__builtin_prefetch(p + i * 8 + dist);
		s0 += w[i] + w[i + 2];
		s1 += w[i + 1] + w[i + 3];
	}
	return s0 + s1;
}

/* One thread: first-touch its slice, then read it once per pass. */
static void *
bw_thread_main(void *arg)
{
	bw_thread  *t = arg;
	bw_shared  *sh = t->sh;
	size_t		slice = sh->size / sh->threads / CHUNK * CHUNK;
	uint8_t    *mine = sh->buf + slice * t->index;

	/* non-zero contents so no page can be the shared zero page */
	for (size_t i = 0; i < slice; i += 8)
		*(uint64_t *) (mine + i) = i * 0x9E3779B97F4A7C15ull + t->index;
	/* the prefetcher must not run off the end of the buffer: stop early */
	if (slice > sh->dist + CHUNK)
		slice -= sh->dist;
	for (int p = 0; p < sh->passes; p++)
	{
		pthread_barrier_wait(&sh->barrier);
		if (t->index == 0)
			sh->t_start[p] = llm_seconds(CLOCK_MONOTONIC);
		double		c0;

		pthread_barrier_wait(&sh->barrier);
		c0 = llm_seconds(CLOCK_THREAD_CPUTIME_ID);
		t->sum += sh->fn(mine, slice, sh->dist);
		t->cpu[p] = llm_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
		pthread_barrier_wait(&sh->barrier);
		if (t->index == 0)
			sh->t_end[p] = llm_seconds(CLOCK_MONOTONIC);
	}
	return NULL;
}

/* Sort a small array of doubles in place. */
static void
sort_doubles(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--)
		{
			double		x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
}

/* Measure with one thread count; prints one line; false on error. */
static bool
bw_measure(uint8_t *buf, size_t size, int threads, int passes, size_t dist,
		   read_fn fn, const char *isa)
{
	bw_shared	sh;
	bw_thread	th[MAX_THREADS];
	double		gbps[MAX_PASSES],
				cpu_gbps[MAX_PASSES];
	size_t		slice = size / threads / CHUNK * CHUNK;
	size_t		bytes;
	uint64_t	sum = 0;

	memset(&sh, 0, sizeof(sh));
	sh.buf = buf;
	sh.size = size;
	sh.threads = threads;
	sh.passes = passes;
	sh.dist = dist;
	sh.fn = fn;
	if (slice > dist + CHUNK)
		slice -= dist;
	bytes = slice * threads;
	if (pthread_barrier_init(&sh.barrier, NULL, threads) != 0)
		return false;
	for (int i = 0; i < threads; i++)
	{
		th[i].sh = &sh;
		th[i].index = i;
		th[i].sum = 0;
		if (pthread_create(&th[i].tid, NULL, bw_thread_main, &th[i]) != 0)
		{
			fprintf(stderr, "bandwidth: pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < threads; i++)
	{
		pthread_join(th[i].tid, NULL);
		sum += th[i].sum;
	}
	pthread_barrier_destroy(&sh.barrier);
	for (int p = 0; p < passes; p++)
	{
		double		cpu = 0;

		for (int i = 0; i < threads; i++)
			if (th[i].cpu[p] > cpu)
				cpu = th[i].cpu[p];
		gbps[p] = bytes / (sh.t_end[p] - sh.t_start[p]) / 1e9;
		cpu_gbps[p] = bytes / (cpu > 0 ? cpu : 1e-9) / 1e9;
	}
	sort_doubles(gbps, passes);
	sort_doubles(cpu_gbps, passes);
	printf("bandwidth threads=%d size_mib=%zu passes=%d isa=%s prefetch=%zu best_gbps=%.2f median_gbps=%.2f cpu_best_gbps=%.2f checksum=%llx\n",
		   threads, size >> 20, passes, isa, dist, gbps[passes - 1],
		   passes % 2 ? gbps[passes / 2] : (gbps[passes / 2 - 1] + gbps[passes / 2]) / 2,
		   cpu_gbps[passes - 1], (unsigned long long) (sum & 0xffff));
	fflush(stdout);
	return true;
}

/* Print the command line synopsis. */
static void
usage(void)
{
	fprintf(stderr, "usage: bandwidth [-t 1,2] [-s MIB] [-r PASSES] [-d PREFETCH_BYTES] [--isa avx512|avx2|scalar]\n");
}

/* Parse options, allocate the buffer, measure each thread count. */
int
main(int argc, char **argv)
{
	const char *tlist = "1,2";
	const char *isa = NULL;
	long		mib = 1024;
	int			passes = 10;
	long		dist = 2048;
	size_t		size;
	uint8_t    *buf;
	read_fn		fn;
	char	   *copy,
			   *save = NULL;

	for (int i = 1; i < argc; i++)
	{
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
		{
			usage();
			return 2;
		}
		if (!strcmp(argv[i], "-t"))
			tlist = v;
		else if (!strcmp(argv[i], "-s"))
			mib = strtol(v, NULL, 10);
		else if (!strcmp(argv[i], "-r"))
			passes = (int) strtol(v, NULL, 10);
		else if (!strcmp(argv[i], "-d"))
			dist = strtol(v, NULL, 10);
		else if (!strcmp(argv[i], "--isa"))
			isa = v;
		else
		{
			usage();
			return 2;
		}
		i++;
	}
	if (mib < 1 || mib > (1L << 20) || passes < 1 || passes > MAX_PASSES ||
		dist < 0 || dist % 64 != 0 || dist > (1L << 20))
	{
		usage();
		return 2;
	}
	__builtin_cpu_init();
	if (isa == NULL)
		isa = __builtin_cpu_supports("avx512f") ? "avx512" :
			__builtin_cpu_supports("avx2") ? "avx2" : "scalar";
	if (!strcmp(isa, "avx512") && __builtin_cpu_supports("avx512f"))
		fn = read_avx512;
	else if (!strcmp(isa, "avx2") && __builtin_cpu_supports("avx2"))
		fn = read_avx2;
	else if (!strcmp(isa, "scalar"))
		fn = read_scalar;
	else
	{
		fprintf(stderr, "bandwidth: ISA %s is not available on this CPU\n", isa);
		return 2;
	}

	size = (size_t) mib << 20;
	buf = aligned_alloc(1 << 21, size);
	if (buf == NULL)
	{
		fprintf(stderr, "bandwidth: cannot allocate %ld MiB: %s\n", mib, strerror(errno));
		return 1;
	}
#ifdef MADV_HUGEPAGE
	madvise(buf, size, MADV_HUGEPAGE);
#endif

	copy = strdup(tlist);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		int			threads = atoi(tok);

		if (threads < 1 || threads > MAX_THREADS || (size_t) threads * (CHUNK + dist) * 4 > size)
		{
			fprintf(stderr, "bandwidth: bad thread count %s\n", tok);
			return 2;
		}
		if (!bw_measure(buf, size, threads, passes, (size_t) dist, fn, isa))
			return 1;
	}
	free(copy);
	free(buf);
	return 0;
}
