/*
 * quant_impl.h — internals shared by the kernel files (quant.c and the
 * per-ISA quant_<isa>.c).  Not part of any contract outside src/core/quant*.
 *
 * Each weight type has four kernels, held in a quant_kernels entry indexed
 * by the ggml type id.  quant.c fills a table with the scalar references and
 * then lets each ISA level it selects override the entries it implements
 * (quant_avx2_kernels, quant_avx512_kernels, quant_amx_kernels), so a level
 * only needs to provide what it does better than the one below.
 *
 * Kernels are pure functions of their arguments: no shared scratch, so any
 * number of threads may call them at once.
 */
#ifndef LLM_CORE_QUANT_IMPL_H
#define LLM_CORE_QUANT_IMPL_H

#include "quant.h"

#define QUANT_NTYPES 31			/* type ids 0..30 */

/* Row conversions; n is a multiple of the type's block. */
typedef void (*quant_quantize_fn) (const float *src, void *dst, int64_t n);
typedef void (*quant_dequantize_fn) (const void *src, float *dst, int64_t n);

/* s = dot(w, a), a in the weight type's dot type. */
typedef void (*quant_dot_fn) (int64_t n, float *s, const void *w, const void *a);

/* The body of llm_matmul_rows with the row size already computed. */
typedef void (*quant_matmul_fn) (int64_t n, const void *W, size_t w_stride,
								 const void *A, size_t a_stride, int nt,
								 float *y, int64_t ldy, int64_t r0, int64_t r1);

typedef struct quant_kernels
{
	quant_quantize_fn quantize;
	quant_dequantize_fn dequantize;
	quant_dot_fn dot;
	quant_matmul_fn matmul;
	int			token_group;	/* see llm_matmul_token_group; 0 = 1 */
} quant_kernels;

/* ggml block layouts (little-endian, no padding). */
typedef struct quant_block_q8_0
{
	uint16_t	d;				/* f16 scale */
	int8_t		qs[32];
} quant_block_q8_0;

typedef struct quant_block_q4_0
{
	uint16_t	d;				/* f16 scale */
	uint8_t		qs[16];			/* lo nibble: x[j], hi nibble: x[j + 16] */
} quant_block_q4_0;

typedef struct quant_block_q4_K
{
	uint16_t	d;				/* f16 scale of the sub-block scales */
	uint16_t	dmin;			/* f16 scale of the sub-block mins */
	uint8_t		scales[12];		/* 8 x (6-bit scale, 6-bit min) */
	uint8_t		qs[128];		/* 4 chunks of 64: lo nibbles, then hi */
} quant_block_q4_K;

typedef struct quant_block_q6_K
{
	uint8_t		ql[128];		/* low 4 bits */
	uint8_t		qh[64];			/* high 2 bits */
	int8_t		scales[16];		/* one per 16 elements */
	uint16_t	d;				/* f16 super-block scale */
} quant_block_q6_K;

typedef struct quant_block_q8_K
{
	float		d;
	int8_t		qs[256];
	int16_t		bsums[16];		/* sum of each 16 consecutive qs */
} quant_block_q8_K;

_Static_assert(sizeof(quant_block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(quant_block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(quant_block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(quant_block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(quant_block_q8_K) == 292, "q8_K block size");

/*
 * Unpack the 6-bit scale and min of Q4_K sub-block j (0..7) from the 12
 * packed bytes: j < 4 keeps them in the low 6 bits of bytes j and j + 4;
 * j >= 4 splits them into a nibble of byte j + 4 plus the top 2 bits of
 * bytes j - 4 (scale) and j (min).
 */
static inline void
quant_q4_K_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4)
	{
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	}
	else
	{
		*sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/* Per-ISA overrides; each sets the entries it implements. */
void		quant_avx2_kernels(quant_kernels *k);
void		quant_avx512_kernels(quant_kernels *k);

/*
 * The matmul driver and vec_dot of a SIMD kernel family P, given
 * P_rows(n, nr, w, w_stride, a, out) computing nr <= ROWS weight rows
 * against one activation row: ROWS-row groups first, then single rows.
 */
#define QUANT_ROWS_DRIVER(P, ROWS) \
static void \
P##_rows4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, float *out) \
{ \
	P##_rows(n, ROWS, w, ws, a, out); \
} \
static void \
P##_rows1(int64_t n, const uint8_t *w, const uint8_t *a, float *out) \
{ \
	P##_rows(n, 1, w, 0, a, out); \
} \
static void \
P##_dot(int64_t n, float *s, const void *w, const void *a) \
{ \
	P##_rows1(n, w, a, s); \
} \
static void \
P##_matmul(int64_t n, const void *W, size_t ws, const void *A, size_t as, \
		   int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) \
{ \
	const uint8_t *Wb = W, *Ab = A; \
	int64_t r = r0; \
	for (; r + (ROWS) <= r1; r += (ROWS)) \
		for (int t = 0; t < nt; t++) \
			P##_rows4(n, Wb + r * ws, ws, Ab + t * as, y + t * ldy + r); \
	for (; r < r1; r++) \
		for (int t = 0; t < nt; t++) \
			P##_rows1(n, Wb + r * ws, Ab + t * as, y + t * ldy + r); \
}

/* Defined in quant_amx.c (every build compiles it, with clang). */
void		quant_amx_kernels(quant_kernels *k);

#endif							/* LLM_CORE_QUANT_IMPL_H */
