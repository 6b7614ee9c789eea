/*
 * blas.c — dlopen()ed OpenBLAS sgemm; see blas.h for why it is loaded late.
 */
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant.h"

/* cblas_sgemm's enums, fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS 111
#define CBLAS_TRANS 112

typedef void (*cblas_sgemm_fn) (int, int, int, int, int, int, float,
								const float *, int, const float *, int,
								float, float *, int);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static cblas_sgemm_fn blas_sgemm;
static const char *(*blas_corename) (void);
static char blas_error[LLM_ERROR_MSG_LEN];

/* Load the library once per process. */
static void
blas_open(void)
{
	static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
	void	   *h = NULL;
	void		(*set_threads) (int);

	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	if (getenv("OPENBLAS_CORETYPE") == NULL && quant_cpu_isa() >= LLM_ISA_AVX512)
		setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && h == NULL; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
	{
		snprintf(blas_error, sizeof(blas_error), "could not load OpenBLAS: %s", dlerror());
		return;
	}
	blas_sgemm = (cblas_sgemm_fn) dlsym(h, "cblas_sgemm");
	set_threads = (void (*) (int)) dlsym(h, "openblas_set_num_threads");
	blas_corename = (const char *(*) (void)) dlsym(h, "openblas_get_corename");
	if (blas_sgemm == NULL)
	{
		snprintf(blas_error, sizeof(blas_error), "OpenBLAS has no cblas_sgemm");
		return;
	}
	if (set_threads)
		set_threads(1);
}

/* Row-major C = A B^T through cblas_sgemm. */
static void
sgemm_nt(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
		 float *C, int ldc)
{
	blas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, m, n, k, 1.0f,
			   A, lda, B, ldb, 0.0f, C, ldc);
}

llm_sgemm_nt_fn
llm_blas_load(llm_error *err)
{
	pthread_once(&blas_once, blas_open);
	if (blas_sgemm == NULL)
	{
		llm_errorf(err, LLM_ERR_UNSUPPORTED, "%s", blas_error);
		return NULL;
	}
	return sgemm_nt;
}

const char *
llm_blas_core(void)
{
	return blas_sgemm && blas_corename ? blas_corename() : "";
}
