/*
 * quant.h — weight types and the kernels that read them.
 *
 * Type ids are ggml's, as stored in GGUF tensor infos.  Block layouts are
 * bit-compatible with ggml:
 *   | type | block | bytes | layout                                          |
 *   | F32  | 1     | 4     | float                                           |
 *   | F16  | 1     | 2     | IEEE half                                       |
 *   | BF16 | 1     | 2     | bfloat16                                        |
 *   | Q8_0 | 32    | 34    | f16 d; int8 qs[32]            x = d*q          |
 *   | Q4_0 | 32    | 18    | f16 d; uint8 qs[16] (lo nibbles = x[0..15],    |
 *   |      |       |       |   hi nibbles = x[16..31])     x = d*(q-8)      |
 *   | Q4_K | 256   | 144   | f16 d, dmin; uint8 scales[12] (6-bit sc/min    |
 *   |      |       |       |   for 8 sub-blocks of 32); uint8 qs[128]       |
 *   | Q6_K | 256   | 210   | uint8 ql[128], qh[64]; int8 scales[16]; f16 d  |
 *   | Q8_K | 256   | 292   | float d; int8 qs[256]; int16 bsums[16]         |
 *
 * Matrix products quantize the activations once per row to the weight
 * type's "dot type" (F32 for float weights, Q8_0 for Q8_0/Q4_0, Q8_K for
 * K-quants) and then take dot products row by row.  Every kernel has a
 * scalar reference; SIMD variants (AVX2, AVX-512 VNNI, AMX) are chosen at
 * run time by quant_init() and must match the reference within tolerance.
 */
#ifndef LLM_CORE_QUANT_H
#define LLM_CORE_QUANT_H

#include "common.h"

typedef enum llm_dtype
{
	LLM_F32 = 0,
	LLM_F16 = 1,
	LLM_Q4_0 = 2,
	LLM_Q8_0 = 8,
	LLM_Q4_K = 12,
	LLM_Q6_K = 14,
	LLM_Q8_K = 15,
	LLM_BF16 = 30
} llm_dtype;

#define LLM_QK8_0 32
#define LLM_QK4_0 32
#define LLM_QK_K 256

/* Instruction-set levels, lowest first. */
typedef enum llm_isa
{
	LLM_ISA_SCALAR = 0,
	LLM_ISA_AVX2 = 1,
	LLM_ISA_AVX512 = 2,			/* F, BW, VL, VNNI */
	LLM_ISA_AMX = 3				/* AVX512 + AMX tile/int8/bf16 */
} llm_isa;

/* Best ISA this CPU supports (cpuid + OS state), and the one in use. */
llm_isa		quant_cpu_isa(void);
llm_isa		quant_active_isa(void);
const char *quant_isa_name(llm_isa isa);

/*
 * Select kernels for min(isa, quant_cpu_isa()).  Called once at start-up
 * (thread-safe to call again with the same value); tests call it with each
 * level to compare variants with the scalar reference.
 */
void		quant_init(llm_isa isa);

/* Type facts; 0 / NULL for unknown types. */
bool		llm_dtype_supported(uint32_t type);
const char *llm_dtype_name(uint32_t type);
int64_t		llm_dtype_block(uint32_t type);	/* elements per block */
size_t		llm_dtype_block_bytes(uint32_t type);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block. */
size_t		llm_row_bytes(uint32_t type, int64_t n);
/* The activation type a weight type's dot product consumes. */
llm_dtype	llm_dot_type(uint32_t wtype);

/* Conversions. */
float		llm_f16_to_f32(uint16_t h);
uint16_t	llm_f32_to_f16(float f);
float		llm_bf16_to_f32(uint16_t h);
uint16_t	llm_f32_to_bf16(float f);

/* Row conversions (n a multiple of the type's block). */
void		llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
void		llm_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* s = dot(w_row, a_row), w of type wtype, a of llm_dot_type(wtype). */
void		llm_vec_dot(uint32_t wtype, int64_t n, float *s,
						const void *w_row, const void *a_row);

/*
 * y[t * ldy + r] = dot(W row r, A row t) for r in [r0, r1), t in [0, nt).
 * W rows are llm_row_bytes(wtype, n) apart; A rows (already in the dot
 * type) are a_stride bytes apart.  Implementations may process several rows
 * and tokens at once (tiles); this is the decode and small-batch path.
 */
void		llm_matmul_rows(uint32_t wtype, int64_t n, const void *W,
							const void *A, size_t a_stride, int nt,
							float *y, int64_t ldy, int64_t r0, int64_t r1);

/*
 * Tokens the selected matmul kernel of wtype takes together (16 for the
 * AMX tiles: a call of 17 tokens costs about one of 32), 1 when its cost
 * grows token by token.
 */
int			llm_matmul_token_group(uint32_t wtype);

/*
 * Q8_0, Q4_0, Q4_K and Q6_K matrices repacked for the AMX level
 * (quant_packed_amx.c): 16-row groups, each block's 16 scales then its
 * quants as one tile (K-quants: each super-block's 16 rows field by field).
 * A matrix qualifies when quant_packed_shape_ok (one of those types, rows
 * a multiple of 16, cols of the type's block, at most 16384);
 * quant_packed_pack writes quant_packed_bytes into dst (64-byte aligned).  quant_packed_matmul is
 * llm_matmul_rows on the packed copy for 1 .. quant_packed_max_tokens(type)
 * tokens, rows [r0, r1) multiples of 16, giving each (row, token) the bits
 * the AMX kernels give on the original rows.  Only call it while
 * quant_active_isa() is AMX.
 */
bool		quant_packed_shape_ok(uint32_t type, int64_t rows, int64_t cols);
size_t		quant_packed_bytes(uint32_t type, int64_t rows, int64_t cols);
int			quant_packed_max_tokens(uint32_t type);
void		quant_packed_pack(uint32_t type, const void *W, int64_t rows, int64_t cols, void *dst);
void		quant_packed_matmul(uint32_t type, int64_t n, const void *P, const void *A,
								size_t a_stride, int nt, float *y, int64_t ldy, int64_t r0,
								int64_t r1);
/*
 * Whether the packed copy of a matrix of this type serves longer calls too
 * (quant_amx_packed_matmul), so that the file's rows are not read after
 * packing: Q4_0, Q4_K and Q6_K, whose AMX kernels decode each 16-row group
 * anyway (Q8_0's read the rows in place: unpacking cost 25 % of prefill).
 */
bool		quant_packed_only(uint32_t type);
/*
 * quant_amx.c's decode of 16-row group g of a Q4_0 matrix (row scales and
 * values q - 8 in tile order), made from the packed copy P.
 */
void		quant_packed_decode_q4_0(int64_t nsb, const void *P, int64_t g, float *rs,
									 int8_t *strip);
/* The same for Q4_K (row scales, mins and nibbles in tile order). */
void		quant_packed_decode_q4_K(int64_t nsb, const void *P, int64_t g, float *rs,
									 float *mn, int8_t *strip);
/* The 16 rows of group g of a packed matrix, in the file's layout. */
void		quant_packed_unpack(uint32_t type, int64_t cols, const void *P, int64_t g,
								void *rows);
/*
 * llm_matmul_rows at the AMX level for a packed matrix (P) and more tokens
 * than the packed kernels take: the AMX kernels on each 16-row group
 * unpacked from P (the same bits as on the file's rows W, which it reads
 * only if it cannot allocate its scratch memory).
 */
void		quant_amx_packed_matmul(uint32_t type, int64_t n, const void *W, const void *P,
									const void *A, size_t a_stride, int nt, float *y,
									int64_t ldy, int64_t r0, int64_t r1);

#endif							/* LLM_CORE_QUANT_H */
