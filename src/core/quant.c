/*
 * quant.c — weight types: the type table, f16/bf16 conversion, the scalar
 * reference kernels of every type, CPU feature detection and the run-time
 * dispatch to the per-ISA kernels.
 *
 * Reference kernels.  Every kernel here is written for clarity, not speed:
 * the SIMD variants (quant_avx2.c, quant_avx512.c, quant_amx.c) are tested
 * against them.
 * Quantized dot products are computed as exact integer sums per block (or
 * sub-block) multiplied by the float scales, so SIMD variants agree with the
 * reference up to float rounding in the order the block terms are added.
 *
 * Quantizers.  Q8_0 and Q4_0 follow ggml's reference formulas (absmax
 * scale), except that values are rounded half to even (nearbyintf), which is
 * what the SIMD activation quantizers do, so both give identical bytes.
 * Q4_K and Q6_K use our own search: for each sub-block a few candidate
 * scales are tried, each refined by least squares, and the one with the
 * smallest squared error is kept; the sub-block scales are then quantized
 * (6 bits with a super-block f16 scale for Q4_K, int8 for Q6_K) and the
 * values requantized with the scales actually stored.  Q8_K is absmax.
 *
 * Dispatch.  quant_build() (once, under pthread_once) fills one kernel
 * table per ISA level: the scalar references, overridden by each level's
 * ISA file up to that level (AVX2: all dot/matmul kernels and the
 * activation quantizers; AVX-512: float, Q8_0, Q4_0, Q4_K, Q6_K kernels;
 * AMX: Q8_0/Q4_0/Q4_K matmul with many tokens, else AVX-512).
 * quant_init() publishes one table with an atomic store; the public entry
 * points load it atomically.  Tables are
 * never modified after quant_build, so any thread may call any kernel at
 * any time.  Until quant_init() is called, the best level this CPU
 * supports is used (capped by the LLM_ISA environment variable, one of
 * scalar, avx2, avx512, amx).
 *
 * CPU detection uses cpuid and xgetbv: a level needs both the instructions
 * and the OS's consent to save the registers (XCR0).  AMX additionally needs
 * Linux's per-process permission for tile data (arch_prctl
 * ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), requested once at detection.
 */
#include "quant_impl.h"

#include <cpuid.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- type table -------------------------------------------------------- */

typedef struct quant_type_info
{
	const char *name;
	int64_t		block;
	size_t		bytes;
	llm_dtype	dot_type;
} quant_type_info;

static const quant_type_info quant_types[QUANT_NTYPES] = {
	[LLM_F32] = {"f32", 1, 4, LLM_F32},
	[LLM_F16] = {"f16", 1, 2, LLM_F32},
	[LLM_BF16] = {"bf16", 1, 2, LLM_F32},
	[LLM_Q8_0] = {"q8_0", 32, sizeof(quant_block_q8_0), LLM_Q8_0},
	[LLM_Q4_0] = {"q4_0", 32, sizeof(quant_block_q4_0), LLM_Q8_0},
	[LLM_Q4_K] = {"q4_K", 256, sizeof(quant_block_q4_K), LLM_Q8_K},
	[LLM_Q6_K] = {"q6_K", 256, sizeof(quant_block_q6_K), LLM_Q8_K},
	[LLM_Q8_K] = {"q8_K", 256, sizeof(quant_block_q8_K), LLM_Q8_K},
};

/* Table entry of a type, or NULL if unknown. */
static const quant_type_info *
quant_info(uint32_t type)
{
	if (type >= QUANT_NTYPES || quant_types[type].name == NULL)
		return NULL;
	return &quant_types[type];
}

/* True for the types this engine reads. */
bool
llm_dtype_supported(uint32_t type)
{
	return quant_info(type) != NULL;
}

/* Lower-case name of a type ("q4_K"), NULL if unknown. */
const char *
llm_dtype_name(uint32_t type)
{
	const quant_type_info *t = quant_info(type);

	return t ? t->name : NULL;
}

/* Elements per block; 0 if unknown. */
int64_t
llm_dtype_block(uint32_t type)
{
	const quant_type_info *t = quant_info(type);

	return t ? t->block : 0;
}

/* Bytes per block; 0 if unknown. */
size_t
llm_dtype_block_bytes(uint32_t type)
{
	const quant_type_info *t = quant_info(type);

	return t ? t->bytes : 0;
}

/* Bytes of a row of n elements; 0 if unknown or n not a block multiple. */
size_t
llm_row_bytes(uint32_t type, int64_t n)
{
	const quant_type_info *t = quant_info(type);
	size_t		out;

	if (t == NULL || n < 0 || n % t->block != 0)
		return 0;
	if (!llm_mul_size((size_t) (n / t->block), t->bytes, &out))
		return 0;
	return out;
}

/* The activation type a weight type's dot product consumes. */
llm_dtype
llm_dot_type(uint32_t wtype)
{
	const quant_type_info *t = quant_info(wtype);

	return t ? t->dot_type : LLM_F32;
}

/* ---- f16 / bf16 -------------------------------------------------------- */

/* Bits of a float. */
static inline uint32_t
quant_f32_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	return u;
}

/* Float of bits. */
static inline float
quant_bits_f32(uint32_t u)
{
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

/* IEEE half to float (exact). */
float
llm_f16_to_f32(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1F;
	uint32_t	mant = h & 0x3FF;

	if (exp == 0)
	{
		/* zero or subnormal: mant * 2^-24, exact in float */
		float		v = (float) mant * 5.9604644775390625e-8f;

		return quant_bits_f32(quant_f32_bits(v) | sign);
	}
	if (exp == 31)
		return quant_bits_f32(sign | 0x7F800000 | (mant << 13));
	return quant_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Float to IEEE half, rounding to nearest even; NaNs stay (quiet) NaNs. */
uint16_t
llm_f32_to_f16(float f)
{
	uint32_t	u = quant_f32_bits(f);
	uint16_t	sign = (u >> 16) & 0x8000;
	uint32_t	a = u & 0x7FFFFFFF;
	uint32_t	r;
	uint32_t	rem;

	if (a > 0x7F800000)
		return sign | 0x7E00 | ((a >> 13) & 0x3FF);
	if (a >= 0x477FF000)		/* >= 65520 rounds to infinity */
		return sign | 0x7C00;
	if (a < 0x38800000)
	{
		/* result is a half subnormal (or zero): round a * 2^24 */
		uint32_t	exp = a >> 23;
		uint32_t	m = (a & 0x7FFFFF) | 0x800000;
		uint32_t	shift;

		if (exp < 102)
			return sign;
		shift = 126 - exp;		/* 14..24 */
		r = m >> shift;
		rem = m & ((1u << shift) - 1);
		if (rem > (1u << (shift - 1)) ||
			(rem == (1u << (shift - 1)) && (r & 1)))
			r++;
		return sign | r;
	}
	r = (((a >> 23) - 112) << 10) | ((a >> 13) & 0x3FF);
	rem = a & 0x1FFF;
	if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
		r++;
	return sign | r;
}

/* bfloat16 to float (exact). */
float
llm_bf16_to_f32(uint16_t h)
{
	return quant_bits_f32((uint32_t) h << 16);
}

/* Float to bfloat16, rounding to nearest even; NaNs stay quiet NaNs. */
uint16_t
llm_f32_to_bf16(float f)
{
	uint32_t	u = quant_f32_bits(f);

	if ((u & 0x7FFFFFFF) > 0x7F800000)
		return (u >> 16) | 0x40;
	return (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
}

/* ---- scalar row conversions ------------------------------------------- */

/* Round half to even (the SIMD conversions' default rounding). */
static inline int
quant_round(float x)
{
	return (int) nearbyintf(x);
}

/* F32 rows: copies. */
static void
quant_f32_quantize(const float *src, void *dst, int64_t n)
{
	memmove(dst, src, (size_t) n * sizeof(float));
}

/* F32 rows back to floats: a copy. */
static void
quant_f32_dequantize(const void *src, float *dst, int64_t n)
{
	memmove(dst, src, (size_t) n * sizeof(float));
}

/* F16 rows. */
static void
quant_f16_quantize(const float *src, void *dst, int64_t n)
{
	uint16_t   *h = dst;

	for (int64_t i = 0; i < n; i++)
		h[i] = llm_f32_to_f16(src[i]);
}

/* F16 rows to floats. */
static void
quant_f16_dequantize(const void *src, float *dst, int64_t n)
{
	const uint16_t *h = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = llm_f16_to_f32(h[i]);
}

/* BF16 rows. */
static void
quant_bf16_quantize(const float *src, void *dst, int64_t n)
{
	uint16_t   *h = dst;

	for (int64_t i = 0; i < n; i++)
		h[i] = llm_f32_to_bf16(src[i]);
}

/* BF16 rows to floats. */
static void
quant_bf16_dequantize(const void *src, float *dst, int64_t n)
{
	const uint16_t *h = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = llm_bf16_to_f32(h[i]);
}

/* Q8_0: d = absmax / 127, q = round(x / d). */
static void
quant_q8_0_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / 32; b++)
	{
		const float *x = src + b * 32;
		float		amax = 0.0f;
		float		d,
					id;

		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		d = amax / 127.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[b].d = llm_f32_to_f16(d);
		for (int j = 0; j < 32; j++)
			y[b].qs[j] = (int8_t) quant_round(x[j] * id);
	}
}

/* Q8_0 to floats: d * q. */
static void
quant_q8_0_dequantize(const void *src, float *dst, int64_t n)
{
	const quant_block_q8_0 *x = src;

	for (int64_t b = 0; b < n / 32; b++)
	{
		float		d = llm_f16_to_f32(x[b].d);

		for (int j = 0; j < 32; j++)
			dst[b * 32 + j] = d * x[b].qs[j];
	}
}

/*
 * Q4_0: d = -max / 8 where max is the value of largest magnitude, so max
 * maps to q = 0 and the other end of the range to 15 (clamped from 16).
 */
static void
quant_q4_0_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q4_0 *y = dst;

	for (int64_t b = 0; b < n / 32; b++)
	{
		const float *x = src + b * 32;
		float		amax = 0.0f,
					max = 0.0f,
					d,
					id;

		for (int j = 0; j < 32; j++)
		{
			if (fabsf(x[j]) > amax)
			{
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		d = max / -8.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[b].d = llm_f32_to_f16(d);
		for (int j = 0; j < 16; j++)
		{
			int			q0 = (int) (x[j] * id + 8.5f);
			int			q1 = (int) (x[j + 16] * id + 8.5f);

			q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
			q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
			y[b].qs[j] = (uint8_t) (q0 | (q1 << 4));
		}
	}
}

/* Q4_0 to floats: d * (q - 8). */
static void
quant_q4_0_dequantize(const void *src, float *dst, int64_t n)
{
	const quant_block_q4_0 *x = src;

	for (int64_t b = 0; b < n / 32; b++)
	{
		float		d = llm_f16_to_f32(x[b].d);

		for (int j = 0; j < 16; j++)
		{
			dst[b * 32 + j] = d * ((x[b].qs[j] & 0x0F) - 8);
			dst[b * 32 + j + 16] = d * ((x[b].qs[j] >> 4) - 8);
		}
	}
}

/*
 * Fit x[0..nx) ~ s * q - m with q in [0, qmax] and m >= 0; returns s, sets
 * *mout.  Tries candidate scales around (max - min) / qmax, refines each by
 * least squares on its assignment and keeps the best.
 */
static float
quant_fit_scale_min(const float *x, int nx, int qmax, float *mout)
{
	float		lo = x[0],
				hi = x[0];
	float		best_err = INFINITY,
				best_s = 0.0f,
				best_m = 0.0f;

	for (int i = 1; i < nx; i++)
	{
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	if (lo > 0.0f)
		lo = 0.0f;
	if (hi <= lo)
	{
		*mout = -lo;
		return 0.0f;
	}
	for (int step = -6; step <= 6; step++)
	{
		float		iscale = (qmax + 0.1f * step) / (hi - lo);
		double		sl = 0,
					sll = 0,
					sx = 0,
					sxl = 0,
					det,
					s,
					b,
					err = 0;

		for (int i = 0; i < nx; i++)
		{
			int			l = quant_round(iscale * (x[i] - lo));

			l = l < 0 ? 0 : l > qmax ? qmax : l;
			sl += l;
			sll += (double) l * l;
			sx += x[i];
			sxl += (double) x[i] * l;
		}
		det = nx * sll - sl * sl;
		if (det <= 0)
			continue;
		s = (nx * sxl - sl * sx) / det;
		b = (sll * sx - sl * sxl) / det;
		if (b > 0)
		{
			b = 0;
			s = sxl / sll;
		}
		if (s <= 0)
			continue;
		for (int i = 0; i < nx; i++)
		{
			int			l = (int) nearbyint((x[i] - b) / s);
			double		e;

			l = l < 0 ? 0 : l > qmax ? qmax : l;
			e = s * l + b - x[i];
			err += e * e;
		}
		if (err < best_err)
		{
			best_err = err;
			best_s = (float) s;
			best_m = (float) -b;
		}
	}
	if (best_err == INFINITY)
	{
		best_s = (hi - lo) / qmax;
		best_m = -lo;
	}
	*mout = best_m;
	return best_s;
}

/* Q4_K: 8 sub-blocks of 32, x = d * sc * q - dmin * m. */
static void
quant_q4_K_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q4_K *y = dst;

	for (int64_t b = 0; b < n / 256; b++)
	{
		const float *x = src + b * 256;
		float		scale[8],
					min[8],
					max_s = 0.0f,
					max_m = 0.0f,
					d,
					dmin;
		uint8_t		sc[8],
					mq[8];

		for (int j = 0; j < 8; j++)
		{
			scale[j] = quant_fit_scale_min(x + 32 * j, 32, 15, &min[j]);
			max_s = fmaxf(max_s, scale[j]);
			max_m = fmaxf(max_m, min[j]);
		}
		d = max_s / 63.0f;
		dmin = max_m / 63.0f;
		for (int j = 0; j < 8; j++)
		{
			int			s = d > 0 ? quant_round(scale[j] / d) : 0;
			int			m = dmin > 0 ? quant_round(min[j] / dmin) : 0;

			sc[j] = (uint8_t) (s < 0 ? 0 : s > 63 ? 63 : s);
			mq[j] = (uint8_t) (m < 0 ? 0 : m > 63 ? 63 : m);
		}
		y[b].d = llm_f32_to_f16(d);
		y[b].dmin = llm_f32_to_f16(dmin);
		for (int j = 0; j < 4; j++)
		{
			y[b].scales[j] = (uint8_t) ((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
			y[b].scales[j + 4] = (uint8_t) ((mq[j] & 63) | ((mq[j + 4] >> 4) << 6));
			y[b].scales[j + 8] = (uint8_t) ((sc[j + 4] & 0x0F) | ((mq[j + 4] & 0x0F) << 4));
		}

		/* requantize with the scales as stored */
		d = llm_f16_to_f32(y[b].d);
		dmin = llm_f16_to_f32(y[b].dmin);
		memset(y[b].qs, 0, sizeof(y[b].qs));
		for (int j = 0; j < 8; j++)
		{
			float		ds = d * sc[j];
			float		dm = dmin * mq[j];

			for (int l = 0; l < 32; l++)
			{
				int			q = ds > 0 ? quant_round((x[32 * j + l] + dm) / ds) : 0;

				q = q < 0 ? 0 : q > 15 ? 15 : q;
				y[b].qs[32 * (j / 2) + l] |= (uint8_t) (q << (4 * (j & 1)));
			}
		}
	}
}

static void
quant_q4_K_dequantize(const void *src, float *dst, int64_t n)
{
	const quant_block_q4_K *x = src;

	for (int64_t b = 0; b < n / 256; b++)
	{
		float		d = llm_f16_to_f32(x[b].d);
		float		dmin = llm_f16_to_f32(x[b].dmin);

		for (int j = 0; j < 8; j++)
		{
			uint8_t		sc,
						m;
			float		ds,
						dm;

			quant_q4_K_scale_min(j, x[b].scales, &sc, &m);
			ds = d * sc;
			dm = dmin * m;
			for (int l = 0; l < 32; l++)
			{
				int			q = (x[b].qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0x0F;

				dst[b * 256 + 32 * j + l] = ds * q - dm;
			}
		}
	}
}

/*
 * Fit x[0..nx) ~ s * q with q in [-32, 31]; candidate scales map the value
 * of largest magnitude near -32, each refined by least squares.
 */
static float
quant_fit_scale_sym(const float *x, int nx)
{
	float		amax = 0.0f,
				max = 0.0f,
				best_s = 0.0f;
	double		best_err = INFINITY;

	for (int i = 0; i < nx; i++)
	{
		if (fabsf(x[i]) > amax)
		{
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax == 0.0f)
		return 0.0f;
	for (int step = -6; step <= 6; step++)
	{
		float		iscale = -(32.0f + 0.1f * step) / max;
		double		sxl = 0,
					sll = 0,
					s,
					err = 0;

		for (int i = 0; i < nx; i++)
		{
			int			l = quant_round(iscale * x[i]);

			l = l < -32 ? -32 : l > 31 ? 31 : l;
			sxl += (double) x[i] * l;
			sll += (double) l * l;
		}
		if (sll <= 0)
			continue;
		s = sxl / sll;
		for (int i = 0; i < nx; i++)
		{
			int			l = (int) nearbyint(x[i] / s);
			double		e;

			l = l < -32 ? -32 : l > 31 ? 31 : l;
			e = s * l - x[i];
			err += e * e;
		}
		if (err < best_err)
		{
			best_err = err;
			best_s = (float) s;
		}
	}
	return best_s;
}

/* Q6_K: 16 sub-blocks of 16, x = d * sc * (q - 32), q 6 bits. */
static void
quant_q6_K_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q6_K *y = dst;

	for (int64_t b = 0; b < n / 256; b++)
	{
		const float *x = src + b * 256;
		float		scale[16],
					amax = 0.0f,
					max = 0.0f,
					d;
		uint8_t		L[256];

		for (int s = 0; s < 16; s++)
		{
			scale[s] = quant_fit_scale_sym(x + 16 * s, 16);
			if (fabsf(scale[s]) > amax)
			{
				amax = fabsf(scale[s]);
				max = scale[s];
			}
		}
		if (amax == 0.0f)
		{
			memset(&y[b], 0, sizeof(y[b]));
			/* q = 32 encodes zero */
			for (int i = 0; i < 128; i++)
				y[b].ql[i] = 0;
			for (int i = 0; i < 64; i++)
				y[b].qh[i] = 0xAA;
			continue;
		}
		{
			float		iscale = -128.0f / max;

			for (int s = 0; s < 16; s++)
			{
				int			q = quant_round(iscale * scale[s]);

				y[b].scales[s] = (int8_t) (q < -128 ? -128 : q > 127 ? 127 : q);
			}
			y[b].d = llm_f32_to_f16(1.0f / iscale);
		}
		d = llm_f16_to_f32(y[b].d);
		for (int s = 0; s < 16; s++)
		{
			float		ds = d * y[b].scales[s];

			for (int l = 0; l < 16; l++)
			{
				int			q = ds != 0.0f ? quant_round(x[16 * s + l] / ds) : 0;

				q = q < -32 ? -32 : q > 31 ? 31 : q;
				L[16 * s + l] = (uint8_t) (q + 32);
			}
		}
		for (int h = 0; h < 2; h++)
		{
			const uint8_t *Lh = L + 128 * h;
			uint8_t    *ql = y[b].ql + 64 * h;
			uint8_t    *qh = y[b].qh + 32 * h;

			for (int l = 0; l < 32; l++)
			{
				uint8_t		q1 = Lh[l],
							q2 = Lh[l + 32],
							q3 = Lh[l + 64],
							q4 = Lh[l + 96];

				ql[l] = (uint8_t) ((q1 & 0x0F) | ((q3 & 0x0F) << 4));
				ql[l + 32] = (uint8_t) ((q2 & 0x0F) | ((q4 & 0x0F) << 4));
				qh[l] = (uint8_t) ((q1 >> 4) | ((q2 >> 4) << 2) |
								   ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
			}
		}
	}
}

/* The 6-bit value (0..63) of element i (0..255) of a Q6_K block. */
static inline int
quant_q6_K_get(const quant_block_q6_K *x, int i)
{
	int			h = i / 128,
				r = i % 128,
				l = r % 32,
				g = r / 32;		/* 0..3: which of q1..q4 */
	uint8_t		lo = x->ql[64 * h + l + 32 * (g & 1)];
	uint8_t		hi = x->qh[32 * h + l];

	lo = (g < 2) ? (lo & 0x0F) : (lo >> 4);
	return lo | (((hi >> (2 * g)) & 3) << 4);
}

static void
quant_q6_K_dequantize(const void *src, float *dst, int64_t n)
{
	const quant_block_q6_K *x = src;

	for (int64_t b = 0; b < n / 256; b++)
	{
		float		d = llm_f16_to_f32(x[b].d);

		for (int i = 0; i < 256; i++)
			dst[b * 256 + i] = d * x[b].scales[i / 16] * (quant_q6_K_get(&x[b], i) - 32);
	}
}

/* Q8_K: d = absmax / 127 (float), plus sums of each 16 values. */
static void
quant_q8_K_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q8_K *y = dst;

	for (int64_t b = 0; b < n / 256; b++)
	{
		const float *x = src + b * 256;
		float		amax = 0.0f,
					id;

		for (int j = 0; j < 256; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		if (amax == 0.0f)
		{
			memset(&y[b], 0, sizeof(y[b]));
			continue;
		}
		id = 127.0f / amax;
		for (int j = 0; j < 256; j++)
		{
			int			q = quant_round(x[j] * id);

			y[b].qs[j] = (int8_t) (q > 127 ? 127 : q < -127 ? -127 : q);
		}
		for (int g = 0; g < 16; g++)
		{
			int			s = 0;

			for (int j = 0; j < 16; j++)
				s += y[b].qs[16 * g + j];
			y[b].bsums[g] = (int16_t) s;
		}
		y[b].d = 1.0f / id;
	}
}

static void
quant_q8_K_dequantize(const void *src, float *dst, int64_t n)
{
	const quant_block_q8_K *x = src;

	for (int64_t b = 0; b < n / 256; b++)
		for (int j = 0; j < 256; j++)
			dst[b * 256 + j] = x[b].d * x[b].qs[j];
}

/* ---- scalar dot products ----------------------------------------------- */

/* Float weights: accumulate in double (the reference). */
static void
quant_f32_dot(int64_t n, float *s, const void *w, const void *a)
{
	const float *x = w,
			   *y = a;
	double		sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) x[i] * y[i];
	*s = (float) sum;
}

/* F16 weights x F32 activations, in double. */
static void
quant_f16_dot(int64_t n, float *s, const void *w, const void *a)
{
	const uint16_t *x = w;
	const float *y = a;
	double		sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) llm_f16_to_f32(x[i]) * y[i];
	*s = (float) sum;
}

/* BF16 weights x F32 activations, in double. */
static void
quant_bf16_dot(int64_t n, float *s, const void *w, const void *a)
{
	const uint16_t *x = w;
	const float *y = a;
	double		sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) llm_bf16_to_f32(x[i]) * y[i];
	*s = (float) sum;
}

/* Q8_0 x Q8_0. */
static void
quant_q8_0_dot(int64_t n, float *s, const void *w, const void *a)
{
	const quant_block_q8_0 *x = w;
	const quant_block_q8_0 *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / 32; b++)
	{
		int			isum = 0;

		for (int j = 0; j < 32; j++)
			isum += x[b].qs[j] * y[b].qs[j];
		sum += (llm_f16_to_f32(x[b].d) * llm_f16_to_f32(y[b].d)) * (float) isum;
	}
	*s = sum;
}

/* Q4_0 x Q8_0. */
static void
quant_q4_0_dot(int64_t n, float *s, const void *w, const void *a)
{
	const quant_block_q4_0 *x = w;
	const quant_block_q8_0 *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / 32; b++)
	{
		int			isum = 0;

		for (int j = 0; j < 16; j++)
		{
			isum += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
			isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
		}
		sum += (llm_f16_to_f32(x[b].d) * llm_f16_to_f32(y[b].d)) * (float) isum;
	}
	*s = sum;
}

/* Q4_K x Q8_K: d * sum(sc * q.a) - dmin * sum(m * bsum), times a's d. */
static void
quant_q4_K_dot(int64_t n, float *s, const void *w, const void *a)
{
	const quant_block_q4_K *x = w;
	const quant_block_q8_K *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / 256; b++)
	{
		int			isum = 0,
					msum = 0;

		for (int j = 0; j < 8; j++)
		{
			uint8_t		sc,
						m;
			int			dot = 0;

			quant_q4_K_scale_min(j, x[b].scales, &sc, &m);
			for (int l = 0; l < 32; l++)
				dot += ((x[b].qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0x0F) *
					y[b].qs[32 * j + l];
			isum += sc * dot;
			msum += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
		}
		sum += y[b].d * (llm_f16_to_f32(x[b].d) * (float) isum -
						 llm_f16_to_f32(x[b].dmin) * (float) msum);
	}
	*s = sum;
}

/* Q6_K x Q8_K. */
static void
quant_q6_K_dot(int64_t n, float *s, const void *w, const void *a)
{
	const quant_block_q6_K *x = w;
	const quant_block_q8_K *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / 256; b++)
	{
		int			isum = 0;

		for (int g = 0; g < 16; g++)
		{
			int			dot = 0;

			for (int l = 0; l < 16; l++)
				dot += (quant_q6_K_get(&x[b], 16 * g + l) - 32) * y[b].qs[16 * g + l];
			isum += x[b].scales[g] * dot;
		}
		sum += y[b].d * llm_f16_to_f32(x[b].d) * (float) isum;
	}
	*s = sum;
}

/* Q8_K x Q8_K (for completeness: d * d * sum q.q). */
static void
quant_q8_K_dot(int64_t n, float *s, const void *w, const void *a)
{
	const quant_block_q8_K *x = w;
	const quant_block_q8_K *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / 256; b++)
	{
		int			isum = 0;

		for (int j = 0; j < 256; j++)
			isum += x[b].qs[j] * y[b].qs[j];
		sum += x[b].d * y[b].d * (float) isum;
	}
	*s = sum;
}

/* Scalar matmul: one dot product per (row, token). */
#define QUANT_SCALAR_MATMUL(name, dot) \
static void \
name(int64_t n, const void *W, size_t w_stride, const void *A, \
	 size_t a_stride, int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) \
{ \
	for (int64_t r = r0; r < r1; r++) \
		for (int t = 0; t < nt; t++) \
			dot(n, &y[t * ldy + r], (const char *) W + r * w_stride, \
				(const char *) A + t * a_stride); \
}

QUANT_SCALAR_MATMUL(quant_f32_matmul, quant_f32_dot)
QUANT_SCALAR_MATMUL(quant_f16_matmul, quant_f16_dot)
QUANT_SCALAR_MATMUL(quant_bf16_matmul, quant_bf16_dot)
QUANT_SCALAR_MATMUL(quant_q8_0_matmul, quant_q8_0_dot)
QUANT_SCALAR_MATMUL(quant_q4_0_matmul, quant_q4_0_dot)
QUANT_SCALAR_MATMUL(quant_q4_K_matmul, quant_q4_K_dot)
QUANT_SCALAR_MATMUL(quant_q6_K_matmul, quant_q6_K_dot)
QUANT_SCALAR_MATMUL(quant_q8_K_matmul, quant_q8_K_dot)

/* Fill a table with the scalar references. */
static void
quant_scalar_kernels(quant_kernels *k)
{
#define SET(T, p) k[T] = (quant_kernels) {.quantize = p##_quantize, .dequantize = p##_dequantize, \
	.dot = p##_dot, .matmul = p##_matmul, .token_group = 1}
	SET(LLM_F32, quant_f32);
	SET(LLM_F16, quant_f16);
	SET(LLM_BF16, quant_bf16);
	SET(LLM_Q8_0, quant_q8_0);
	SET(LLM_Q4_0, quant_q4_0);
	SET(LLM_Q4_K, quant_q4_K);
	SET(LLM_Q6_K, quant_q6_K);
	SET(LLM_Q8_K, quant_q8_K);
#undef SET
}

/* ---- CPU detection ----------------------------------------------------- */

#define QUANT_ARCH_REQ_XCOMP_PERM 0x1023
#define QUANT_XFEATURE_XTILEDATA 18

/* XCR0: the register state the OS saves. */
static uint64_t
quant_xgetbv(void)
{
	uint32_t	lo,
				hi;

	__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t) hi << 32) | lo;
}

/* Highest level this CPU and OS support. */
static llm_isa
quant_detect(void)
{
	unsigned	a,
				b,
				c,
				d;
	uint64_t	xcr0;
	unsigned	max_leaf = __get_cpuid_max(0, NULL);

	if (max_leaf < 7 || !__get_cpuid(1, &a, &b, &c, &d))
		return LLM_ISA_SCALAR;
	/* OSXSAVE, AVX, FMA, F16C */
	if (!(c & (1u << 27)) || !(c & (1u << 28)) || !(c & (1u << 12)) ||
		!(c & (1u << 29)))
		return LLM_ISA_SCALAR;
	xcr0 = quant_xgetbv();
	if ((xcr0 & 0x6) != 0x6)	/* SSE and AVX state */
		return LLM_ISA_SCALAR;
	__cpuid_count(7, 0, a, b, c, d);
	if (!(b & (1u << 5)))		/* AVX2 */
		return LLM_ISA_SCALAR;

	/* AVX-512 F, DQ, BW, VL and VNNI, with opmask/ZMM state enabled */
	if (!(b & (1u << 16)) || !(b & (1u << 17)) || !(b & (1u << 30)) ||
		!(b & (1u << 31)) || !(c & (1u << 11)) || (xcr0 & 0xE0) != 0xE0)
		return LLM_ISA_AVX2;

	/* AMX tile, int8, bf16 and AVX512-BF16; tile state enabled; permission */
	{
		unsigned	a1,
					b1,
					c1,
					d1;

		__cpuid_count(7, 1, a1, b1, c1, d1);
		if (!(d & (1u << 24)) || !(d & (1u << 25)) || !(d & (1u << 22)) ||
			!(a1 & (1u << 5)) || (xcr0 & 0x60000) != 0x60000)
			return LLM_ISA_AVX512;
	}
	if (syscall(SYS_arch_prctl, QUANT_ARCH_REQ_XCOMP_PERM,
				QUANT_XFEATURE_XTILEDATA) != 0)
		return LLM_ISA_AVX512;
	return LLM_ISA_AMX;
}

/* ---- dispatch ---------------------------------------------------------- */

static pthread_once_t quant_once = PTHREAD_ONCE_INIT;
static llm_isa quant_cpu = LLM_ISA_SCALAR;
static llm_isa quant_default = LLM_ISA_SCALAR;
static quant_kernels quant_tables[LLM_ISA_AMX + 1][QUANT_NTYPES];
static const quant_kernels *quant_active;	/* atomic */
static int	quant_active_level;	/* atomic */

/* Detect the CPU and fill one table per level (runs once). */
static void
quant_build(void)
{
	const char *env = getenv("LLM_ISA");

	quant_cpu = quant_detect();
	for (int level = LLM_ISA_SCALAR; level <= LLM_ISA_AMX; level++)
	{
		quant_kernels *k = quant_tables[level];

		quant_scalar_kernels(k);
		if (level >= LLM_ISA_AVX2)
			quant_avx2_kernels(k);
		if (level >= LLM_ISA_AVX512)
			quant_avx512_kernels(k);
		if (level >= LLM_ISA_AMX)
			quant_amx_kernels(k);
	}
	quant_default = quant_cpu;
	if (env != NULL)
	{
		for (int level = LLM_ISA_SCALAR; level <= LLM_ISA_AMX; level++)
			if (strcasecmp(env, quant_isa_name((llm_isa) level)) == 0 &&
				level < (int) quant_default)
				quant_default = (llm_isa) level;
	}
}

/* Best ISA this CPU supports. */
llm_isa
quant_cpu_isa(void)
{
	pthread_once(&quant_once, quant_build);
	return quant_cpu;
}

/* Select the kernels of min(isa, quant_cpu_isa()). */
void
quant_init(llm_isa isa)
{
	int			level;

	pthread_once(&quant_once, quant_build);
	level = (int) isa;
	if (level < LLM_ISA_SCALAR)
		level = LLM_ISA_SCALAR;
	if (level > (int) quant_cpu)
		level = (int) quant_cpu;
	__atomic_store_n(&quant_active_level, level, __ATOMIC_RELEASE);
	__atomic_store_n(&quant_active, quant_tables[level], __ATOMIC_RELEASE);
}

/* The table in use, selecting the default on first use. */
static inline const quant_kernels *
quant_kernels_get(void)
{
	const quant_kernels *k = __atomic_load_n(&quant_active, __ATOMIC_ACQUIRE);

	if (__builtin_expect(k == NULL, 0))
	{
		pthread_once(&quant_once, quant_build);
		k = quant_tables[quant_default];
		/* only install the default if nobody chose a level meanwhile */
		{
			const quant_kernels *expected = NULL;

			if (!__atomic_compare_exchange_n(&quant_active, &expected, k, false,
											 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				k = expected;
			else
				__atomic_store_n(&quant_active_level, (int) quant_default,
								 __ATOMIC_RELEASE);
		}
	}
	return k;
}

/* The level in use. */
llm_isa
quant_active_isa(void)
{
	(void) quant_kernels_get();
	return (llm_isa) __atomic_load_n(&quant_active_level, __ATOMIC_ACQUIRE);
}

/* Name of a level ("avx512"). */
const char *
quant_isa_name(llm_isa isa)
{
	switch (isa)
	{
		case LLM_ISA_SCALAR:
			return "scalar";
		case LLM_ISA_AVX2:
			return "avx2";
		case LLM_ISA_AVX512:
			return "avx512";
		case LLM_ISA_AMX:
			return "amx";
	}
	return "unknown";
}

/* ---- public entry points ------------------------------------------------ */

/* True for a supported type and a positive whole number of its blocks. */
static inline bool
quant_row_ok(uint32_t type, int64_t n)
{
	return llm_dtype_supported(type) && n > 0 && n % quant_types[type].block == 0;
}

/*
 * The entry points below do nothing (a dot product is 0) for an unsupported
 * type or an n that is not a positive multiple of the block.
 */

/* Dequantize a row of n elements (n a multiple of the block). */
void
llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n)
{
	if (quant_row_ok(type, n))
		quant_kernels_get()[type].dequantize(src, dst, n);
}

/* Quantize a row of n elements (n a multiple of the block). */
void
llm_quantize_row(uint32_t type, const float *src, void *dst, int64_t n)
{
	if (quant_row_ok(type, n))
		quant_kernels_get()[type].quantize(src, dst, n);
}

/* s = dot(w_row, a_row), a_row in llm_dot_type(wtype). */
void
llm_vec_dot(uint32_t wtype, int64_t n, float *s, const void *w_row,
			const void *a_row)
{
	if (quant_row_ok(wtype, n))
		quant_kernels_get()[wtype].dot(n, s, w_row, a_row);
	else
		*s = 0.0f;
}

int
llm_matmul_token_group(uint32_t wtype)
{
	int			g = wtype < QUANT_NTYPES ? quant_kernels_get()[wtype].token_group : 0;

	return g > 0 ? g : 1;
}

/* y[t * ldy + r] = dot(W row r, A row t), r in [r0, r1), t in [0, nt). */
void
llm_matmul_rows(uint32_t wtype, int64_t n, const void *W, const void *A,
				size_t a_stride, int nt, float *y, int64_t ldy,
				int64_t r0, int64_t r1)
{
	if (r1 <= r0 || nt <= 0)
		return;
	if (!quant_row_ok(wtype, n))
	{
		for (int t = 0; t < nt; t++)
			for (int64_t r = r0; r < r1; r++)
				y[t * ldy + r] = 0.0f;
		return;
	}
	quant_kernels_get()[wtype].matmul(n, W, llm_row_bytes(wtype, n), A, a_stride,
									  nt, y, ldy, r0, r1);
}
