/*
 * test_quant.c — weight types and kernels (quant.h).
 *
 * Every SIMD level this CPU supports is compared with the scalar reference:
 * quantizers must give identical bytes, dot products and matmul_rows must
 * agree within float rounding.  The scalar reference itself is checked
 * against plain double-precision arithmetic on dequantized values, against
 * hand-built blocks whose values follow from the documented ggml layouts,
 * and against real llama.cpp-quantized tensors.
 */
#include "unit.h"

#include <pthread.h>
#include <stdint.h>

#include "gguf.h"
#include "quant.h"
#include "quant_impl.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [0, 1). */
static double
rng_uniform(void)
{
	uint64_t	z;

	rng_state += 0x9E3779B97F4A7C15ull;
	z = rng_state;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double) (z >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static float
rng_normal(void)
{
	double		u = rng_uniform() + 1e-12,
				v = rng_uniform();

	return (float) (sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Gaussian values whose scale varies every 32 elements, with outliers. */
static void
fill_random(float *x, int64_t n)
{
	float		scale = 1.0f;

	for (int64_t i = 0; i < n; i++)
	{
		if (i % 32 == 0)
			scale = (float) exp(rng_normal());
		x[i] = scale * rng_normal();
		if (rng_uniform() < 0.01)
			x[i] *= 6.0f;
	}
}

/*
 * count rows of n random values (fill_random), quantized to type with the
 * kernels selected now, in a new buffer of count * llm_row_bytes(type, n).
 */
static uint8_t *
random_rows(uint32_t type, int64_t n, int count)
{
	size_t		rb = llm_row_bytes(type, n);
	float	   *xf = malloc(n * sizeof(float));
	uint8_t    *out = malloc(count * rb);

	for (int r = 0; r < count; r++)
	{
		fill_random(xf, n);
		llm_quantize_row(type, xf, out + r * rb, n);
	}
	free(xf);
	return out;
}

static const uint32_t all_types[] = {
	LLM_F32, LLM_F16, LLM_BF16, LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K, LLM_Q8_K
};
#define N_TYPES (int) (sizeof(all_types) / sizeof(all_types[0]))

/* Sizes to test for a type: one block, odd multiples, model-like. */
static int
test_sizes(uint32_t type, int64_t *out)
{
	if (llm_dtype_block(type) == 256)
	{
		out[0] = 256;
		out[1] = 768;
		out[2] = 2048;
		return 3;
	}
	out[0] = 32;
	out[1] = 96;
	out[2] = 288;
	out[3] = 2048;
	if (llm_dtype_block(type) == 1)
	{
		out[4] = 1;
		out[5] = 37;
		return 6;
	}
	return 4;
}

/* Largest magnitude of x[0..n). */
static float
absmax(const float *x, int64_t n)
{
	float		m = 0.0f;

	for (int64_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(x[i]));
	return m;
}

/* ---- type table ----------------------------------------------------------- */

/* Type facts, dispatch levels and the handling of bad arguments. */
static void
test_type_table(void)
{
	CHECK(llm_dtype_block(LLM_Q8_0) == 32 && llm_dtype_block_bytes(LLM_Q8_0) == 34);
	CHECK(llm_dtype_block(LLM_Q4_0) == 32 && llm_dtype_block_bytes(LLM_Q4_0) == 18);
	CHECK(llm_dtype_block(LLM_Q4_K) == 256 && llm_dtype_block_bytes(LLM_Q4_K) == 144);
	CHECK(llm_dtype_block(LLM_Q6_K) == 256 && llm_dtype_block_bytes(LLM_Q6_K) == 210);
	CHECK(llm_dtype_block(LLM_Q8_K) == 256 && llm_dtype_block_bytes(LLM_Q8_K) == 292);
	CHECK(llm_dtype_block_bytes(LLM_F16) == 2 && llm_dtype_block_bytes(LLM_BF16) == 2);
	CHECK(llm_row_bytes(LLM_F32, 7) == 28);
	CHECK(llm_row_bytes(LLM_Q8_0, 4096) == 128 * 34);
	CHECK(llm_row_bytes(LLM_Q4_0, 33) == 0);
	CHECK(llm_row_bytes(LLM_Q6_K, 512) == 420);
	CHECK(llm_row_bytes(3, 32) == 0);	/* Q4_1: not supported */
	CHECK(!llm_dtype_supported(3) && !llm_dtype_supported(1000));
	CHECK(llm_dtype_supported(LLM_BF16) && llm_dtype_name(1000) == NULL);
	CHECK(strcmp(llm_dtype_name(LLM_Q4_K), "q4_K") == 0);
	CHECK(llm_dot_type(LLM_F16) == LLM_F32 && llm_dot_type(LLM_BF16) == LLM_F32);
	CHECK(llm_dot_type(LLM_Q4_0) == LLM_Q8_0 && llm_dot_type(LLM_Q8_0) == LLM_Q8_0);
	CHECK(llm_dot_type(LLM_Q4_K) == LLM_Q8_K && llm_dot_type(LLM_Q6_K) == LLM_Q8_K);
	/* bad types and sizes are ignored, dot products of nothing are 0 */
	{
		float		s = 1.0f,
					y[3] = {1, 1, 1},
					x[32] = {0};
		uint8_t		q[64] = {0};

		llm_vec_dot(3, 32, &s, q, q);
		CHECK(s == 0.0f);
		s = 1.0f;
		llm_vec_dot(LLM_Q8_0, 33, &s, q, q);
		CHECK(s == 0.0f);
		llm_dequantize_row(99, q, x, 0);
		llm_quantize_row(1000, x, q, 32);
		llm_quantize_row(LLM_Q4_0, x, q, 0);
		CHECK(q[0] == 0);
		llm_matmul_rows(LLM_Q8_0, 0, q, q, 0, 1, y, 3, 0, 2);
		CHECK(y[0] == 0.0f && y[1] == 0.0f && y[2] == 1.0f);
	}
	CHECK(quant_cpu_isa() >= LLM_ISA_SCALAR && quant_cpu_isa() <= LLM_ISA_AMX);
	quant_init(LLM_ISA_SCALAR);
	CHECK(quant_active_isa() == LLM_ISA_SCALAR);
	quant_init(LLM_ISA_AMX);
	CHECK(quant_active_isa() == quant_cpu_isa());
	fprintf(stderr, "cpu isa: %s\n", quant_isa_name(quant_cpu_isa()));
}

/* ---- f16 / bf16 ----------------------------------------------------------- */

/* Float from bits. */
static float
bits_f32(uint32_t u)
{
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

/* f16 conversion: hand-checked values, every half, random floats vs _Float16. */
static void
test_f16(void)
{
	int			bad_rt = 0,
				bad_ref = 0,
				bad_f2h = 0;

	/* hand-checked encodings */
	CHECK(llm_f32_to_f16(1.0f) == 0x3C00);
	CHECK(llm_f32_to_f16(-2.0f) == 0xC000);
	CHECK(llm_f32_to_f16(0.5f) == 0x3800);
	CHECK(llm_f32_to_f16(65504.0f) == 0x7BFF);
	CHECK(llm_f32_to_f16(65519.0f) == 0x7BFF);
	CHECK(llm_f32_to_f16(65520.0f) == 0x7C00);	/* tie rounds to even = inf */
	CHECK(llm_f32_to_f16(1e10f) == 0x7C00 && llm_f32_to_f16(-INFINITY) == 0xFC00);
	CHECK(llm_f32_to_f16(ldexpf(1.0f, -24)) == 0x0001);	/* smallest subnormal */
	CHECK(llm_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000);	/* tie to even: 0 */
	CHECK(llm_f32_to_f16(ldexpf(1.5f, -25)) == 0x0001);
	CHECK(llm_f32_to_f16(ldexpf(3.0f, -25)) == 0x0002);	/* 1.5 ulp: tie to 2 */
	CHECK(llm_f32_to_f16(ldexpf(1.0f, -14)) == 0x0400);	/* smallest normal */
	CHECK(llm_f32_to_f16(ldexpf(1023.0f, -24)) == 0x03FF);
	CHECK(llm_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3C00);	/* tie: even */
	CHECK(llm_f32_to_f16(1.0f + ldexpf(3.0f, -11)) == 0x3C02);	/* tie: even */
	CHECK(llm_f32_to_f16(-0.0f) == 0x8000);
	CHECK((llm_f32_to_f16(NAN) & 0x7C00) == 0x7C00 && (llm_f32_to_f16(NAN) & 0x3FF) != 0);
	CHECK(llm_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
	CHECK(llm_f16_to_f32(0x8400) == -ldexpf(1.0f, -14));
	CHECK(llm_f16_to_f32(0x7BFF) == 65504.0f);
	CHECK(isinf(llm_f16_to_f32(0x7C00)) && llm_f16_to_f32(0xFC00) < 0);
	CHECK(isnan(llm_f16_to_f32(0x7E00)) && isnan(llm_f16_to_f32(0xFC01)));
	CHECK(signbit(llm_f16_to_f32(0x8000)) && llm_f16_to_f32(0x8000) == 0.0f);

	/* every half: round trip, and agreement with the compiler's _Float16 */
	for (uint32_t h = 0; h < 65536; h++)
	{
		float		f = llm_f16_to_f32((uint16_t) h);
		_Float16	hv;
		uint16_t	hb = (uint16_t) h;

		memcpy(&hv, &hb, 2);
		if (isnan(f))
		{
			if (!isnan((float) hv) || (llm_f32_to_f16(f) & 0x7FFF) <= 0x7C00)
				bad_rt++;
			continue;
		}
		if (llm_f32_to_f16(f) != h)
			bad_rt++;
		if (f != (float) hv)
			bad_ref++;
	}
	CHECKF(bad_rt == 0, "%d halves do not round-trip", bad_rt);
	CHECKF(bad_ref == 0, "%d halves differ from _Float16", bad_ref);

	/* random floats across the half range, incl. subnormals and overflow */
	for (int i = 0; i < 200000; i++)
	{
		float		f = ldexpf((float) (rng_uniform() * 2 - 1), (int) (rng_uniform() * 50) - 30);
		_Float16	hv = (_Float16) f;
		uint16_t	hb;

		if (i % 7 == 0)			/* exact ties between two halves */
			f = llm_f16_to_f32((uint16_t) (rng_uniform() * 0x7BFF)) *
				(1.0f + ldexpf(1.0f, -11));
		hv = (_Float16) f;
		memcpy(&hb, &hv, 2);
		if (llm_f32_to_f16(f) != hb)
			bad_f2h++;
	}
	CHECKF(bad_f2h == 0, "%d floats convert differently from _Float16", bad_f2h);
}

/* bf16 conversion: rounding ties, inf, NaN, subnormals, round trips. */
static void
test_bf16(void)
{
	CHECK(llm_f32_to_bf16(1.0f) == 0x3F80);
	CHECK(llm_f32_to_bf16(-2.0f) == 0xC000);
	CHECK(llm_f32_to_bf16(bits_f32(0x3F808000)) == 0x3F80);	/* tie: even */
	CHECK(llm_f32_to_bf16(bits_f32(0x3F818000)) == 0x3F82);	/* tie: even */
	CHECK(llm_f32_to_bf16(bits_f32(0x3F808001)) == 0x3F81);
	CHECK(llm_f32_to_bf16(INFINITY) == 0x7F80 && llm_f32_to_bf16(-INFINITY) == 0xFF80);
	CHECK(llm_f32_to_bf16(bits_f32(0x7F7FFFFF)) == 0x7F80);	/* FLT_MAX -> inf */
	CHECK(llm_f32_to_bf16(bits_f32(0x00000001)) == 0x0000);	/* tiny subnormal */
	CHECK(llm_f32_to_bf16(bits_f32(0x00018000)) == 0x0002);	/* subnormal tie */
	CHECK(isnan(llm_bf16_to_f32(llm_f32_to_bf16(NAN))));
	CHECK(isnan(llm_bf16_to_f32(llm_f32_to_bf16(bits_f32(0x7F800001)))));	/* sNaN payload low */
	CHECK(llm_bf16_to_f32(0x3F80) == 1.0f && llm_bf16_to_f32(0x0001) == bits_f32(0x00010000));
	for (uint32_t h = 0; h < 65536; h++)
	{
		float		f = llm_bf16_to_f32((uint16_t) h);

		if (!isnan(f) && llm_f32_to_bf16(f) != h)
		{
			CHECKF(0, "bf16 0x%04x does not round-trip", h);
			break;
		}
	}
}

/* ---- quantize / dequantize round trips ------------------------------------ */

/* Check dequantize(quantize(x)) against the type's error bound. */
static void
check_roundtrip_error(uint32_t type, const float *x, const float *y, int64_t n,
					  const char *level)
{
	double		se = 0,
				sx = 0,
				worst = 0;
	int64_t		blk = llm_dtype_block(type) == 1 ? 32 : llm_dtype_block(type);

	for (int64_t b = 0; b < n; b += blk)
	{
		int64_t		len = b + blk <= n ? blk : n - b;
		float		am = absmax(x + b, len);

		for (int64_t i = b; i < b + len; i++)
		{
			double		e = fabs((double) x[i] - y[i]);
			double		bound;

			switch (type)
			{
				case LLM_F32:
					bound = 0;
					break;
				case LLM_F16:
					bound = fabs(x[i]) * ldexp(1, -11) + ldexp(1, -25);
					break;
				case LLM_BF16:
					bound = fabs(x[i]) * ldexp(1, -8);
					break;
				case LLM_Q8_0:
					/* half a step, plus the f16 rounding of the scale */
					bound = 0.5625 * am / 127;
					break;
				case LLM_Q4_0:
					/* one step at the clamped end of the range */
					bound = 1.01 * am / 8;
					break;
				case LLM_Q8_K:
					bound = 0.501 * am / 127;
					break;
				case LLM_Q6_K:
					bound = 0.04 * am;
					break;
				default:		/* Q4_K */
					bound = 0.12 * am;
					break;
			}
			se += e * e;
			sx += (double) x[i] * x[i];
			if (e > bound + 1e-30)
				worst = fmax(worst, e / (bound + 1e-30));
		}
	}
	CHECKF(worst == 0, "%s %s n=%lld: error %.3g x bound", llm_dtype_name(type),
		   level, (long long) n, worst);
	/* relative rms error: typical for each format on these inputs */
	{
		double		rel = sqrt(se / (sx + 1e-30));
		double		lim = type == LLM_Q4_0 ? 0.16 : type == LLM_Q4_K ? 0.11 :
			type == LLM_Q6_K ? 0.03 : type == LLM_Q8_0 ? 0.01 : type == LLM_Q8_K ? 0.02 :
			type == LLM_BF16 ? 0.003 : 0.0003;

		CHECKF(rel <= lim, "%s n=%lld: rms rel error %.4f > %.4f",
			   llm_dtype_name(type), (long long) n, rel, lim);
		if (n == 2048 && level[0] == 's')
			fprintf(stderr, "  %-5s rms rel error %.5f\n", llm_dtype_name(type), rel);
	}
}

/* dequantize(quantize(x)) within each type's bounds; SIMD bytes = scalar. */
static void
test_roundtrip(void)
{
	for (int ti = 0; ti < N_TYPES; ti++)
	{
		uint32_t	type = all_types[ti];
		int64_t		sizes[8];
		int			ns = test_sizes(type, sizes);

		for (int si = 0; si < ns; si++)
		{
			int64_t		n = sizes[si];
			size_t		rb = llm_row_bytes(type, n);
			float	   *x = malloc(n * sizeof(float));
			float	   *y = malloc(n * sizeof(float));
			uint8_t    *ref = malloc(rb);
			uint8_t    *q = malloc(rb);

			fill_random(x, n);
			if (si == 0)
			{
				/* a zero block, and one with a single nonzero */
				memset(x, 0, n * sizeof(float) / 2);
				x[3] = -0.75f;
			}
			quant_init(LLM_ISA_SCALAR);
			llm_quantize_row(type, x, ref, n);
			llm_dequantize_row(type, ref, y, n);
			check_roundtrip_error(type, x, y, n, "scalar");
			for (int level = 1; level <= (int) quant_cpu_isa(); level++)
			{
				float	   *y2 = malloc(n * sizeof(float));

				quant_init((llm_isa) level);
				memset(q, 0xA5, rb);
				llm_quantize_row(type, x, q, n);
				CHECKF(memcmp(q, ref, rb) == 0, "%s n=%lld: %s quantize differs from scalar",
					   llm_dtype_name(type), (long long) n, quant_isa_name(level));
				llm_dequantize_row(type, q, y2, n);
				CHECKF(memcmp(y, y2, n * sizeof(float)) == 0,
					   "%s n=%lld: %s dequantize differs from scalar",
					   llm_dtype_name(type), (long long) n, quant_isa_name(level));
				free(y2);
			}
			free(x);
			free(y);
			free(ref);
			free(q);
		}
	}
	quant_init(LLM_ISA_AMX);
}

/* ---- hand-built blocks -------------------------------------------------- */

/* Q8_0 bytes of a block with d = 0.25, worked out by hand. */
static void
test_known_q8_0(void)
{
	/* d = 0.25 exactly: absmax 31.75 = 127 * 0.25 */
	static const int k[32] = {127, -127, 0, 1, -1, 64, -64, 2, 3, 5, 7, 11, 13,
	17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, -100};
	float		x[32],
				y[32];
	uint8_t		blk[34];
	bool		same = true;

	for (int j = 0; j < 32; j++)
		x[j] = k[j] * 0.25f;
	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		llm_quantize_row(LLM_Q8_0, x, blk, 32);
		/* f16 0.25 = 0x3400, little-endian; then the int8 values */
		CHECK(blk[0] == 0x00 && blk[1] == 0x34);
		CHECK(blk[2] == 0x7F && blk[3] == 0x81 && blk[4] == 0x00 && blk[5] == 0x01);
		CHECK(blk[6] == 0xFF && blk[7] == 0x40 && blk[8] == 0xC0 && blk[33] == 0x9C);
		llm_dequantize_row(LLM_Q8_0, blk, y, 32);
		for (int j = 0; j < 32; j++)
			same = same && y[j] == x[j];
	}
	CHECK(same);
	quant_init(LLM_ISA_AMX);
}

/* Q4_0 nibble layout and the clamp at the far end of the range. */
static void
test_known_q4_0(void)
{
	float		x[32] = {0},
				y[32];
	uint8_t		blk[18];

	/* max = -4 (largest magnitude) -> d = -max / 8 = 0.5, q = x / 0.5 + 8 */
	x[0] = -4.0f;				/* q 0 */
	x[16] = 3.5f;				/* q 15 */
	x[1] = 0.0f;				/* q 8 */
	x[17] = -0.5f;				/* q 7 */
	x[2] = 1.0f;				/* q 10 */
	x[18] = -3.0f;				/* q 2 */
	x[15] = 2.5f;				/* q 13 */
	x[31] = 0.5f;				/* q 9 */
	quant_init(LLM_ISA_SCALAR);
	llm_quantize_row(LLM_Q4_0, x, blk, 32);
	CHECK(blk[0] == 0x00 && blk[1] == 0x38);	/* f16 0.5 */
	CHECK(blk[2] == 0xF0);		/* lo nibble x[0], hi nibble x[16] */
	CHECK(blk[3] == 0x78);
	CHECK(blk[4] == 0x2A);
	CHECK(blk[5] == 0x88);		/* zeros: q = 8 */
	CHECK(blk[17] == 0x9D);
	llm_dequantize_row(LLM_Q4_0, blk, y, 32);
	CHECK(memcmp(x, y, sizeof(x)) == 0);

	/* positive max: d = -0.5; -4 would need q = 16 and clamps to 15 */
	memset(x, 0, sizeof(x));
	x[0] = 4.0f;
	x[1] = -4.0f;
	llm_quantize_row(LLM_Q4_0, x, blk, 32);
	CHECK(blk[0] == 0x00 && blk[1] == 0xB8);
	CHECK((blk[2] & 0x0F) == 0 && (blk[3] & 0x0F) == 15);
	llm_dequantize_row(LLM_Q4_0, blk, y, 32);
	CHECK(y[0] == 4.0f && y[1] == -3.5f && y[2] == 0.0f);
	quant_init(LLM_ISA_AMX);
}

/*
 * Q4_K block with d = 1, dmin = 0.5 and chosen 6-bit scales and mins,
 * packed by hand; values are d * sc[j] * q - dmin * m[j].
 */
static void
test_known_q4_K(void)
{
	static const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
	static const int mn[8] = {0, 1, 2, 3, 20, 40, 61, 5};
	/*
	 * bytes 0-3: sc[j] | (sc[j+4] >> 4) << 6; bytes 4-7: m[j] | (m[j+4] >> 4)
	 * << 6; bytes 8-11: (sc[j+4] & 15) | (m[j+4] & 15) << 4.
	 */
	static const uint8_t packed[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x81, 0xC2, 0x03,
	0x41, 0x81, 0xD2, 0x5F};
	uint8_t		blk[144];
	float		y[256];
	int			bad = 0;

	blk[0] = 0x00;
	blk[1] = 0x3C;				/* d = 1 */
	blk[2] = 0x00;
	blk[3] = 0x38;				/* dmin = 0.5 */
	memcpy(blk + 4, packed, 12);
	for (int i = 0; i < 128; i++)
		blk[16 + i] = (uint8_t) (i * 37 + 11);
	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		llm_dequantize_row(LLM_Q4_K, blk, y, 256);
		for (int e = 0; e < 256; e++)
		{
			int			c = e / 64,
						r = e % 64;
			int			j = 2 * c + (r >= 32);
			uint8_t		byte = blk[16 + 32 * c + r % 32];
			int			q = r < 32 ? (byte & 15) : (byte >> 4);

			if (y[e] != 1.0f * sc[j] * q - 0.5f * mn[j])
				bad++;
		}
	}
	CHECKF(bad == 0, "%d q4_K values differ from the hand-built block", bad);
	/* two values worked out by hand: element 0 (byte 11, lo 11, sub-block 0) */
	CHECK(y[0] == 11.0f);
	/* element 255: byte 16+127 = 127*37+11 = 4710 & 255 = 102 = 0x66, hi 6, sc 63 m 5 */
	CHECK(y[255] == 63.0f * 6 - 2.5f);
	/* element 128: chunk 2, lo nibble of byte 64: 64*37+11 = 2379 & 255 = 0x4B; sc 17, m 20 */
	CHECK(y[128] == 17.0f * 11 - 10.0f);
	/* element 160: hi nibble of the same byte (4); sub-block 5: sc 33, m 40 */
	CHECK(y[160] == 33.0f * 4 - 20.0f);
	quant_init(LLM_ISA_AMX);
}

/* Q6_K block: ql/qh/scales chosen, d = 0.5; x = d * sc[i/16] * (q - 32). */
static void
test_known_q6_K(void)
{
	uint8_t		blk[210];
	float		y[256];
	int			bad = 0;

	for (int i = 0; i < 128; i++)
		blk[i] = (uint8_t) (i * 29 + 90);	/* ql */
	for (int i = 0; i < 64; i++)
		blk[128 + i] = (uint8_t) (i * 53 + 0xE4);	/* qh */
	for (int i = 0; i < 16; i++)
		blk[192 + i] = (uint8_t) (int8_t) (i % 2 ? -(i + 1) : (i + 1) * 7);
	blk[208] = 0x00;
	blk[209] = 0x38;			/* d = 0.5 */
	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		llm_dequantize_row(LLM_Q6_K, blk, y, 256);
		for (int e = 0; e < 256; e++)
		{
			int			h = e / 128,
						r = e % 128,
						g = r / 32,
						l = r % 32;
			uint8_t		lo = blk[64 * h + l + (g & 1) * 32];
			uint8_t		hi = blk[128 + 32 * h + l];
			int			q = ((g < 2) ? (lo & 15) : (lo >> 4)) | (((hi >> (2 * g)) & 3) << 4);

			if (y[e] != 0.5f * (int8_t) blk[192 + e / 16] * (q - 32))
				bad++;
		}
	}
	CHECKF(bad == 0, "%d q6_K values differ from the hand-built block", bad);
	/* element 0: ql[0] = 90 = 0x5A -> lo 10; qh[0] = 0xE4 bits 0-1 = 0 -> q 10; sc 7 */
	CHECK(y[0] == 0.5f * 7 * (10 - 32));
	/* element 64: ql[0] hi nibble 5; qh[0] bits 4-5 = 2 -> q 37; sc[4] = 35 */
	CHECK(y[64] == 0.5f * 35 * (37 - 32));
	/* element 96: ql[32] = 32*29+90 = 1018 & 255 = 0xFA -> hi 15; qh[0] bits 6-7 = 3 -> 63; sc[6] = 49 */
	CHECK(y[96] == 0.5f * 49 * (63 - 32));
	/* element 33: ql[33] = 0x17 -> lo 7; qh[1] = 0x119 & 255 = 0x19, bits 2-3 = 2 -> 39; sc[2] = 21 */
	CHECK(y[33] == 0.5f * 21 * (39 - 32));
	/* element 128: second half, ql[64] = 64*29+90 = 1946 & 255 = 0x9A -> 10; qh[32] = 32*53+228 = 1924 & 255 = 0x84 -> 0; sc[8] = 63 */
	CHECK(y[128] == 0.5f * 63 * (10 - 32));

	/* our quantizer reproduces a block that is exactly representable */
	{
		uint8_t		q[210];
		float		y2[256];

		quant_init(LLM_ISA_SCALAR);
		llm_quantize_row(LLM_Q6_K, y, q, 256);
		llm_dequantize_row(LLM_Q6_K, q, y2, 256);
		check_roundtrip_error(LLM_Q6_K, y, y2, 256, "scalar");
	}
	quant_init(LLM_ISA_AMX);
}

/* Q8_K layout: d float, qs, bsums of each 16. */
static void
test_known_q8_K(void)
{
	float		x[256];
	uint8_t		blk[292];
	float		d;
	int16_t		bs;
	int8_t		q;

	for (int i = 0; i < 256; i++)
		x[i] = (float) ((i % 19) - 9);
	x[5] = 12.7f;				/* absmax: d = 0.1 */
	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		llm_quantize_row(LLM_Q8_K, x, blk, 256);
		memcpy(&d, blk, 4);
		CHECK_NEAR(d, 0.1, 1e-7);
		memcpy(&q, blk + 4 + 5, 1);
		CHECK(q == 127);
		memcpy(&q, blk + 4 + 0, 1);
		CHECK(q == -90);		/* -9 / 0.1 */
		/* bsums[1] = sum of q[16..31] = 10 * sum((i % 19) - 9) for i in 16..31 */
		memcpy(&bs, blk + 4 + 256 + 2, 2);
		{
			int			s = 0;

			for (int i = 16; i < 32; i++)
				s += 10 * ((i % 19) - 9);
			CHECK(bs == s);
		}
	}
	quant_init(LLM_ISA_AMX);
}

/* ---- dot products and matmul_rows --------------------------------------- */

/* Test one weight type: scalar vs exact, then each level vs scalar. */
static void
check_matmul_type(uint32_t wtype, int64_t n, int rows, int nt)
{
	uint32_t	atype = llm_dot_type(wtype);
	size_t		wrb = llm_row_bytes(wtype, n),
				arb = llm_row_bytes(atype, n);
	size_t		a_stride = arb + 64;	/* padded rows */
	int64_t		ldy = rows + 3;
	float	   *wf = malloc(rows * n * sizeof(float));
	float	   *af = malloc(nt * n * sizeof(float));
	float	   *wd = malloc(n * sizeof(float));
	float	   *ad = malloc(nt * n * sizeof(float));
	uint8_t    *W = malloc(rows * wrb);
	uint8_t    *A = malloc(nt * a_stride);
	float	   *yref = malloc(nt * ldy * sizeof(float));
	float	   *y = malloc(nt * ldy * sizeof(float));
	double	   *mag = malloc(nt * rows * sizeof(double));
	int			bad_exact = 0,
				bad_lvl = 0,
				bad_dot = 0,
				bad_guard = 0;

	fill_random(wf, rows * n);
	fill_random(af, nt * n);
	quant_init(LLM_ISA_SCALAR);
	for (int r = 0; r < rows; r++)
		llm_quantize_row(wtype, wf + r * n, W + r * wrb, n);
	for (int t = 0; t < nt; t++)
	{
		llm_quantize_row(atype, af + t * n, A + t * a_stride, n);
		llm_dequantize_row(atype, A + t * a_stride, ad + t * n, n);
	}

	/* scalar reference against double arithmetic on dequantized values */
	for (int i = 0; i < nt * ldy; i++)
		yref[i] = 12345.0f;
	llm_matmul_rows(wtype, n, W, A, a_stride, nt, yref, ldy, 0, rows);
	for (int r = 0; r < rows; r++)
	{
		llm_dequantize_row(wtype, W + r * wrb, wd, n);
		for (int t = 0; t < nt; t++)
		{
			double		s = 0,
						m = 0;

			for (int64_t i = 0; i < n; i++)
			{
				s += (double) wd[i] * ad[t * n + i];
				m += fabs((double) wd[i] * ad[t * n + i]);
			}
			mag[t * rows + r] = m;
			if (fabs(yref[t * ldy + r] - s) > 2e-6 * m + 1e-30)
				bad_exact++;
		}
	}
	CHECKF(bad_exact == 0, "%s n=%lld: %d scalar dots differ from exact",
		   llm_dtype_name(wtype), (long long) n, bad_exact);

	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		int64_t		r0 = rows > 2 ? 1 : 0,
					r1 = rows > 4 ? rows - 1 : rows;

		quant_init((llm_isa) level);
		for (int i = 0; i < nt * ldy; i++)
			y[i] = 12345.0f;
		/* a sub-range, as one thread of the pool would compute */
		llm_matmul_rows(wtype, n, W, A, a_stride, nt, y, ldy, r0, r1);
		for (int t = 0; t < nt; t++)
			for (int r = 0; r < ldy; r++)
			{
				float		v = y[t * ldy + r];

				if (r < r0 || r >= r1)
				{
					if (v != 12345.0f)
						bad_guard++;
					continue;
				}
				if (!(fabs(v - yref[t * ldy + r]) <= 1e-5 * mag[t * rows + r] + 1e-30))
				{
					if (bad_lvl++ == 0)
						fprintf(stderr, "  %s %s n=%lld r=%d t=%d: %.9g vs %.9g\n",
								quant_isa_name(level), llm_dtype_name(wtype),
								(long long) n, r, t, v, yref[t * ldy + r]);
				}
			}
		for (int t = 0; t < nt; t++)
			for (int r = 0; r < rows; r++)
			{
				float		s;

				llm_vec_dot(wtype, n, &s, W + r * wrb, A + t * a_stride);
				if (!(fabs(s - yref[t * ldy + r]) <= 1e-5 * mag[t * rows + r] + 1e-30))
					bad_dot++;
			}
	}
	CHECKF(bad_lvl == 0, "%s n=%lld rows=%d nt=%d: %d matmul values differ from scalar",
		   llm_dtype_name(wtype), (long long) n, rows, nt, bad_lvl);
	CHECKF(bad_dot == 0, "%s n=%lld: %d vec_dot values differ from scalar",
		   llm_dtype_name(wtype), (long long) n, bad_dot);
	CHECKF(bad_guard == 0, "%s: matmul wrote %d values outside [r0, r1)",
		   llm_dtype_name(wtype), bad_guard);
	free(wf);
	free(af);
	free(wd);
	free(ad);
	free(W);
	free(A);
	free(yref);
	free(y);
	free(mag);
	quant_init(LLM_ISA_AMX);
}

/* Every weight type, several n and (rows, tokens) shapes, every level. */
static void
test_matmul(void)
{
	static const uint32_t wtypes[] = {LLM_F32, LLM_F16, LLM_BF16, LLM_Q8_0,
	LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};
	/* (rows, tokens): decode, small batches, and tiles for AMX (>= 16 x 8) */
	static const int shapes[][2] = {{1, 1}, {13, 1}, {7, 3}, {9, 5}, {17, 8},
	{37, 20}, {34, 16}};

	for (int ti = 0; ti < (int) (sizeof(wtypes) / sizeof(wtypes[0])); ti++)
	{
		int64_t		sizes[8];
		int			ns = test_sizes(wtypes[ti], sizes);

		for (int si = 0; si < ns; si++)
			for (int k = 0; k < 7; k++)
			{
				/* keep the big size to the decode shapes (time) */
				if (sizes[si] >= 2048 && k > 2 && k != 5)
					continue;
				check_matmul_type(wtypes[ti], sizes[si], shapes[k][0], shapes[k][1]);
			}
	}
}

/*
 * The AMX shapes: every token count from 1 to 40 (below the AMX threshold,
 * half groups of 8, full and partial groups of 16) and many tokens, with
 * row counts that leave a remainder after the groups of 16 and 32 rows,
 * for the four types AMX takes.  Each check also runs every other level
 * on the same shape.
 */
static void
test_matmul_amx_shapes(void)
{
	static const uint32_t wtypes[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K};
	static const int nts[] = {64, 100, 256};
	static const int rows[] = {18, 37, 67, 33};

	for (int ti = 0; ti < 3; ti++)
	{
		/* n: one Q4_K super-block, or 18 blocks for Q8_0 / Q4_0 */
		int64_t		n = wtypes[ti] == LLM_Q4_K ? 256 : 576;

		for (int nt = 1; nt <= 40; nt++)
			check_matmul_type(wtypes[ti], n, rows[nt % 4], nt);
		for (int k = 0; k < (int) (sizeof(nts) / sizeof(nts[0])); k++)
			check_matmul_type(wtypes[ti], n, rows[k % 3], nts[k]);
	}
	/* Q6_K: one super-block, every token count from 1 to 40 and many */
	for (int nt = 1; nt <= 40; nt++)
		check_matmul_type(LLM_Q6_K, 256, rows[nt % 4], nt);
	for (int k = 0; k < (int) (sizeof(nts) / sizeof(nts[0])); k++)
		check_matmul_type(LLM_Q6_K, 256, rows[k % 3], nts[k]);
	/* a longer row and a two-super-block Q4_K row, at a few shapes */
	check_matmul_type(LLM_Q8_0, 2048, 34, 33);
	check_matmul_type(LLM_Q8_0, 2048, 37, 8);
	check_matmul_type(LLM_Q4_0, 2048, 50, 64);
	check_matmul_type(LLM_Q4_0, 2048, 35, 7);
	check_matmul_type(LLM_Q4_K, 512, 48, 100);
	check_matmul_type(LLM_Q4_K, 512, 40, 6);
	check_matmul_type(LLM_Q6_K, 768, 48, 100);
	check_matmul_type(LLM_Q6_K, 512, 35, 17);
	check_matmul_type(LLM_Q6_K, 512, 40, 8);
}

/*
 * A thread's next call with the same activations may reuse what its last
 * call prepared from them (AMX): activations changed in place, in the last
 * byte of the last token or in a scale, give what a fresh call gives, and
 * the same bytes at another address give the same answer.
 */
static void
test_matmul_reuse(void)
{
	static const uint32_t wtypes[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};
	static const int nts[] = {6, 8, 13, 32};
	int			rows = 35;

	for (int ti = 0; ti < 4; ti++)
		for (int k = 0; k < 4; k++)
		{
			uint32_t	wt = wtypes[ti],
						at = llm_dot_type(wt);
			int			nt = nts[k];
			int64_t		n = 512;
			size_t		arb = llm_row_bytes(at, n);
			uint8_t    *W,
					   *A,
					   *A2 = malloc(nt * arb),
					   *B;
			float	   *y0 = malloc(rows * nt * sizeof(float)),
					   *y1 = malloc(rows * nt * sizeof(float)),
					   *y2 = malloc(rows * nt * sizeof(float));
			size_t		yb = rows * nt * sizeof(float);
			int			same = 1;

			quant_init(LLM_ISA_SCALAR);
			W = random_rows(wt, n, rows);
			A = random_rows(at, n, nt);
			B = random_rows(at, n, nt);
			quant_init(quant_cpu_isa());
			for (int change = 0; change < 2; change++)
			{
				llm_matmul_rows(wt, n, W, A, arb, nt, y0, rows, 0, rows);
				/* the same bytes elsewhere: the same answer */
				memcpy(A2, A, nt * arb);
				llm_matmul_rows(wt, n, W, A2, arb, nt, y1, rows, 0, rows);
				same &= memcmp(y0, y1, yb) == 0;
				/* change A in place: a value of the last token, or a scale */
				if (change == 0)
					A[nt * arb - 1] ^= 0x11;
				else
					A[(nt - 1) * arb + (wt == LLM_Q4_K || wt == LLM_Q6_K ? 1 : 0)] ^= 0x40;
				llm_matmul_rows(wt, n, W, A, arb, nt, y1, rows, 0, rows);
				/* the reference: after a call with other activations */
				llm_matmul_rows(wt, n, W, B, arb, nt, y2, rows, 0, rows);
				llm_matmul_rows(wt, n, W, A, arb, nt, y2, rows, 0, rows);
				same &= memcmp(y1, y2, yb) == 0;
				CHECKF(memcmp(y0, y1, yb) != 0, "%s nt=%d: the change made no difference",
					   llm_dtype_name(wt), nt);
			}
			CHECKF(same, "%s nt=%d: reused activations give another answer",
				   llm_dtype_name(wt), nt);
			free(W);
			free(A);
			free(A2);
			free(B);
			free(y0);
			free(y1);
			free(y2);
		}
	quant_init(LLM_ISA_AMX);
}

/*
 * The operands of a batch-invariance case: rows random weight rows of wt
 * (n columns) and ntmax activation rows in its dot type (made at the scalar
 * level), with room for rows x ntmax outputs twice (ref, y).
 */
typedef struct matmul_case
{
	uint32_t	wt;
	int64_t		n;
	size_t		arb;			/* bytes of an activation row */
	uint8_t    *W,
			   *A;
	float	   *ref,
			   *y;
} matmul_case;

static matmul_case
matmul_case_new(uint32_t wt, int64_t n, int rows, int ntmax)
{
	matmul_case c = {.wt = wt, .n = n, .arb = llm_row_bytes(llm_dot_type(wt), n)};

	quant_init(LLM_ISA_SCALAR);
	c.W = random_rows(wt, n, rows);
	c.A = random_rows(llm_dot_type(wt), n, ntmax);
	c.ref = malloc((size_t) rows * ntmax * sizeof(float));
	c.y = malloc((size_t) rows * ntmax * sizeof(float));
	return c;
}

static void
matmul_case_free(matmul_case *c)
{
	free(c->W);
	free(c->A);
	free(c->ref);
	free(c->y);
}

/*
 * At each level, a token's outputs do not depend on how many other tokens
 * share the call (6 .. 100 tokens; the same rows each time), bit for bit:
 * with AMX, a token in a half group of 8 (6 .. 8 tokens) gets what it gets
 * in a full group of 16.  (Below AMX's threshold, 5 or 6 tokens, the
 * AVX-512 kernels answer, whose sums are not bit-equal.)  Float weights at
 * every token count: their kernels take tokens in pairs, or in tiles of 3
 * from a converted panel (test_matmul_float_panels has the edge cases),
 * and a token must get the same bits alone or in any position of either.
 */
static void
test_matmul_batch_invariance(void)
{
	static const uint32_t wtypes[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K, LLM_F32, LLM_F16,
	LLM_BF16};
	static const int qnts[] = {6, 7, 8, 9, 16, 24, 31, 33, 40, 95};
	/* float kernels: every token count, odd ones included (pairs of tokens) */
	static const int fnts[] = {1, 2, 3, 4, 5, 7, 8, 33, 40, 95};
	int			rows = 40,
				ntmax = 100;

	for (int ti = 0; ti < 7; ti++)
	{
		const int  *nts = ti < 4 ? qnts : fnts;
		matmul_case c = matmul_case_new(wtypes[ti], 512, rows, ntmax);

		for (int level = 1; level <= (int) quant_cpu_isa(); level++)
		{
			int			bad = 0;

			quant_init((llm_isa) level);
			llm_matmul_rows(c.wt, c.n, c.W, c.A, c.arb, ntmax, c.ref, rows, 3, rows - 5);
			for (int k = 0; k < (int) (sizeof(qnts) / sizeof(qnts[0])); k++)
			{
				/* tokens 5 .. 5 + nt - 1 of the full call */
				llm_matmul_rows(c.wt, c.n, c.W, c.A + 5 * c.arb, c.arb, nts[k], c.y, rows, 3,
								rows - 5);
				for (int t = 0; t < nts[k] && t + 5 < ntmax; t++)
					bad += memcmp(c.y + t * rows + 3, c.ref + (t + 5) * rows + 3,
								  (rows - 8) * sizeof(float)) != 0;
			}
			CHECKF(bad == 0, "%s %s: %d token rows depend on the batch",
				   quant_isa_name(level), llm_dtype_name(c.wt), bad);
		}
		matmul_case_free(&c);
	}
	quant_init(LLM_ISA_AMX);
}

/*
 * Q8_0 and Q4_0 matrices packed for the AMX level (quant_packed_*): for 1
 * .. quant_packed_max_tokens tokens and row ranges of whole 16-row groups,
 * every output has the bits the AMX kernels give on the original rows in a
 * call of 20 tokens (full tile groups), so decode, batched decode and
 * prefill agree bit for bit; the activation rows sit in a wider buffer (a
 * stride above their size); extreme values (all -128 / 127 quants, all-15
 * nibbles) included; outputs outside the range are not written.  Then
 * which shapes qualify.
 */
/*
 * test_packed's extreme values: weight row 5 at the largest magnitudes its
 * type has (Q8_0 -128, Q4_0 nibbles 15, Q4_K nibbles, scales and mins 63,
 * Q6_K values 63 with scales -128) and activation token 3 all 127 (with
 * Q8_K's bsums to match).
 */
static void
packed_extremes(matmul_case *c)
{
	uint32_t	wt = c->wt;
	size_t		rb = llm_row_bytes(wt, c->n),
				bb = llm_dtype_block_bytes(wt);
	uint8_t    *w = c->W + 5 * rb,
			   *a = c->A + 3 * c->arb;

	for (int64_t b = 0; b < c->n / llm_dtype_block(wt); b++)
	{
		uint8_t    *wb = w + bb * b;

		if (wt == LLM_Q8_0 || wt == LLM_Q4_0)
			memset(wb + 2, wt == LLM_Q4_0 ? 0xFF : 0x80, bb - 2);
		else if (wt == LLM_Q4_K)
		{
			quant_block_q4_K *x = (quant_block_q4_K *) wb;

			memset(x->scales, 0xFF, sizeof(x->scales));
			memset(x->qs, 0xFF, sizeof(x->qs));
		}
		else
		{
			quant_block_q6_K *x = (quant_block_q6_K *) wb;

			memset(x->ql, 0xFF, sizeof(x->ql));
			memset(x->qh, 0xFF, sizeof(x->qh));
			memset(x->scales, 0x80, sizeof(x->scales));
		}
	}
	if (wt == LLM_Q8_0 || wt == LLM_Q4_0)
		for (int64_t b = 0; b < c->n / 32; b++)
			memset(a + 34 * b + 2, 0x7F, 32);
	else
		for (int64_t b = 0; b < c->n / 256; b++)
		{
			quant_block_q8_K *x = (quant_block_q8_K *) a + b;

			memset(x->qs, 0x7F, sizeof(x->qs));
			for (int k = 0; k < 16; k++)
				x->bsums[k] = 16 * 127;
		}
}

/*
 * The case test_packed and test_packed_unpack start from: a matmul_case of
 * rows x n weights of type wt with packed_extremes' values, its weights
 * packed at the AMX level (the returned copy, aligned_alloc'd).
 */
static uint8_t *
packed_case_new(matmul_case *c, uint32_t wt, int64_t n, int rows, int ntmax)
{
	uint8_t    *P;

	*c = matmul_case_new(wt, n, rows, ntmax);
	packed_extremes(c);
	P = aligned_alloc(64, quant_packed_bytes(wt, rows, n));
	quant_init(LLM_ISA_AMX);
	CHECK(quant_packed_shape_ok(wt, rows, n));
	quant_packed_pack(wt, c->W, rows, n, P);
	return P;
}

static void
test_packed(void)
{
	static const uint32_t types[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};
	static const int64_t ns[] = {32, 64, 96, 256, 768, 2048};
	int			rows = 64,
				ntmax = 20;

	if (quant_cpu_isa() < LLM_ISA_AMX)
		SKIP("no AMX on this CPU");
	for (int ti = 0; ti < 4; ti++)
		for (int ni = 0; ni < (int) (sizeof(ns) / sizeof(ns[0])); ni++)
		{
			uint32_t	wt = types[ti];
			int64_t		n = ns[ni];
			matmul_case c;
			size_t		as;
			uint8_t    *A,
					   *P;
			float	   *ref,
					   *y;
			int			bad = 0,
						spill = 0;

			if (n % llm_dtype_block(wt) != 0)
				continue;
			P = packed_case_new(&c, wt, n, rows, ntmax);
			as = c.arb + 40;
			A = malloc(as * ntmax);
			ref = c.ref;
			y = c.y;
			for (int t = 0; t < ntmax; t++)
				memcpy(A + t * as, c.A + t * c.arb, c.arb);
			llm_matmul_rows(wt, n, c.W, A, as, ntmax, ref, rows, 0, rows);
			for (int nt = 1; nt <= quant_packed_max_tokens(wt); nt++)
				for (int first = 0; first + nt <= ntmax; first += 3)
				{
					for (int i = 0; i < rows * ntmax; i++)
						y[i] = -7.0f;
					quant_packed_matmul(wt, n, P, A + first * as, as, nt, y, rows, 16, 48);
					for (int t = 0; t < ntmax; t++)
						for (int r = 0; r < rows; r++)
						{
							if (t >= nt || r < 16 || r >= 48)
								spill += y[t * rows + r] != -7.0f;
							else
								bad += memcmp(&y[t * rows + r], &ref[(first + t) * rows + r],
											  sizeof(float)) != 0;
						}
				}
			CHECKF(bad == 0, "%s n %lld: %d packed outputs differ from the AMX kernels'",
				   llm_dtype_name(wt), (long long) n, bad);
			CHECKF(spill == 0, "%s n %lld: %d outputs written outside the range",
				   llm_dtype_name(wt), (long long) n, spill);
			matmul_case_free(&c);
			free(A);
			free(P);
		}
	CHECK(quant_packed_max_tokens(LLM_Q8_0) == 16 && quant_packed_max_tokens(LLM_Q4_0) == 5);
	CHECK(!quant_packed_shape_ok(LLM_Q8_0, 8, 64));
	CHECK(!quant_packed_shape_ok(LLM_Q8_0, 64, 48));
	CHECK(!quant_packed_shape_ok(LLM_Q8_0, 0, 64));
	CHECK(quant_packed_shape_ok(LLM_Q4_0, 16, 16384));
	CHECK(!quant_packed_shape_ok(LLM_Q8_0, 16, 16416));
	CHECK(quant_packed_shape_ok(LLM_Q4_K, 16, 256) && quant_packed_shape_ok(LLM_Q6_K, 32, 16384));
	CHECK(!quant_packed_shape_ok(LLM_Q4_K, 16, 288));
	CHECK(!quant_packed_shape_ok(LLM_Q6_K, 16, 16640));
	CHECK(!quant_packed_shape_ok(LLM_F16, 16, 64));
	CHECK(quant_packed_max_tokens(LLM_Q4_K) == 4 && quant_packed_max_tokens(LLM_Q6_K) == 5);
	CHECK(quant_packed_bytes(LLM_Q4_K, 32, 512) == 32 * 2 * 144);
	CHECK(quant_packed_bytes(LLM_Q6_K, 32, 512) == 32 * 2 * 210);
	CHECK(quant_packed_bytes(LLM_Q8_0, 32, 64) == 2 * 2 * 544);
	CHECK(quant_packed_bytes(LLM_Q4_0, 32, 64) == 2 * 2 * 288);
	quant_init(quant_cpu_isa());
}

/*
 * A packed matrix alone serves every call: quant_packed_unpack gives back
 * each 16-row group's bytes exactly, and quant_amx_packed_matmul (the AMX
 * kernels on the unpacked groups) gives the bits of the AMX kernels on the
 * file's rows, for 6 .. 40 tokens and a row range inside the matrix.
 */
static void
test_packed_unpack(void)
{
	static const uint32_t types[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};
	static const int64_t ns[] = {64, 256, 768, 2048};
	static const int nts[] = {6, 9, 16, 17, 33, 40};
	int			rows = 64,
				ntmax = 40;

	if (quant_cpu_isa() < LLM_ISA_AMX)
		SKIP("no AMX on this CPU");
	for (int ti = 0; ti < 4; ti++)
		for (int ni = 0; ni < (int) (sizeof(ns) / sizeof(ns[0])); ni++)
		{
			uint32_t	wt = types[ti];
			int64_t		n = ns[ni];
			matmul_case c;
			size_t		rb;
			uint8_t    *P,
					   *back;
			int			bad = 0;

			if (n % llm_dtype_block(wt) != 0)
				continue;
			P = packed_case_new(&c, wt, n, rows, ntmax);
			rb = llm_row_bytes(wt, n);
			back = malloc(16 * rb);
			for (int g = 0; g < rows / 16; g++)
			{
				quant_packed_unpack(wt, n, P, g, back);
				CHECKF(memcmp(back, c.W + (size_t) g * 16 * rb, 16 * rb) == 0,
					   "%s n %lld group %d: unpacked rows differ", llm_dtype_name(wt),
					   (long long) n, g);
			}
			for (int k = 0; k < (int) (sizeof(nts) / sizeof(nts[0])); k++)
			{
				int			nt = nts[k];

				llm_matmul_rows(wt, n, c.W, c.A, c.arb, nt, c.ref, rows, 16, 64);
				for (int i = 0; i < rows * nt; i++)
					c.y[i] = -7.0f;
				quant_amx_packed_matmul(wt, n, c.W, P, c.A, c.arb, nt, c.y, rows, 16, 64);
				for (int t = 0; t < nt; t++)
					for (int r = 0; r < rows; r++)
						bad += r < 16 ? c.y[t * rows + r] != -7.0f :
							memcmp(&c.y[t * rows + r], &c.ref[t * rows + r], sizeof(float)) != 0;
			}
			CHECKF(bad == 0, "%s n %lld: %d outputs differ from the AMX kernels' on the rows",
				   llm_dtype_name(wt), (long long) n, bad);
			matmul_case_free(&c);
			free(P);
			free(back);
		}
	quant_init(quant_cpu_isa());
}

/*
 * Float weights (F32, F16, BF16) at each level: every token of a call gets
 * bit for bit what it gets alone (nt = 1, the decode kernel).  AVX-512
 * calls of 8 or more tokens take 8-row panels converted to F32 and tiles of
 * 3 tokens, in blocks of tokens, with rows longer than 1024 columns in
 * chunks; the cases: n below 16, not a multiple of 16 or 32, a tail of
 * exactly 16, one and several chunks (the last short, or none short);
 * token counts around the threshold (7-9), the tile (1-2 left over) and
 * more than one block (n = 1000: 129 tokens per block; chunked rows: 60 or
 * 63); row ranges not multiples of 8 or 4 and not starting at a group
 * boundary.
 */
static void
test_matmul_float_panels(void)
{
	static const uint32_t wtypes[] = {LLM_F32, LLM_F16, LLM_BF16};
	static const int64_t ns[] = {7, 16, 33, 48, 1000, 1051, 2048, 2100};
	static const int nts[] = {2, 3, 7, 8, 9, 10, 31, 64, 130, 140};
	static const int64_t ranges[][2] = {{0, 43}, {1, 41}, {3, 15}, {5, 9}};
	int			rows = 43,
				ntmax = 140;

	for (int ti = 0; ti < 3; ti++)
		for (int ni = 0; ni < (int) (sizeof(ns) / sizeof(ns[0])); ni++)
		{
			matmul_case c = matmul_case_new(wtypes[ti], ns[ni], rows, ntmax);

			for (int level = 1; level <= (int) quant_cpu_isa(); level++)
			{
				int			bad = 0;

				quant_init((llm_isa) level);
				/* each token alone */
				for (int t = 0; t < ntmax; t++)
					llm_matmul_rows(c.wt, c.n, c.W, c.A + t * c.arb, c.arb, 1, c.ref + t * rows,
									rows, 0, rows);
				for (int k = 0; k < (int) (sizeof(nts) / sizeof(nts[0])); k++)
					for (int ri = 0; ri < 4; ri++)
					{
						int64_t		r0 = ranges[ri][0],
									r1 = ranges[ri][1];
						int			t0 = (k + ri) % 3,	/* first token */
									nt = nts[k] < ntmax - t0 ? nts[k] : ntmax - t0;

						for (int64_t i = 0; i < rows * ntmax; i++)
							c.y[i] = NAN;
						llm_matmul_rows(c.wt, c.n, c.W, c.A + t0 * c.arb, c.arb, nt, c.y, rows,
										r0, r1);
						for (int t = 0; t < nt; t++)
							bad += memcmp(c.y + t * rows + r0, c.ref + (t0 + t) * rows + r0,
										  (r1 - r0) * sizeof(float)) != 0;
					}
				CHECKF(bad == 0, "%s %s n=%lld: %d token rows differ from the token alone",
					   quant_isa_name(level), llm_dtype_name(c.wt), (long long) c.n, bad);
			}
			matmul_case_free(&c);
		}
	quant_init(LLM_ISA_AMX);
}

/* Token groups: 16 for the AMX kernels' types on that level, else 1. */
static void
test_token_group(void)
{
	static const uint32_t types[] = {LLM_F32, LLM_F16, LLM_BF16, LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K};

	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		for (int i = 0; i < 7; i++)
		{
			bool		amx = level == LLM_ISA_AMX && i >= 3;

			CHECKF(llm_matmul_token_group(types[i]) == (amx ? 16 : 1), "%s %s: token group %d",
				   quant_isa_name((llm_isa) level), llm_dtype_name(types[i]),
				   llm_matmul_token_group(types[i]));
		}
	}
	CHECK(llm_matmul_token_group(12345) == 1);
	quant_init(LLM_ISA_AMX);
}

/* Activations of extreme magnitude (incl. an all-zero row) stay exact. */
static void
test_matmul_extremes(void)
{
	int64_t		n = 512;
	float		a[512],
				w[2][512];
	uint8_t		A[2][512 * 2 + 64];
	uint8_t		W[2][512 * 4];

	for (int i = 0; i < n; i++)
	{
		a[i] = (i % 3 == 0) ? 100.0f : -100.0f;
		w[0][i] = (i % 5) - 2.0f;
		w[1][i] = 0.0f;
	}
	for (int ti = 0; ti < 4; ti++)
	{
		uint32_t	wt = (uint32_t[]) {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K}[ti];
		uint32_t	at = llm_dot_type(wt);
		size_t		wrb = llm_row_bytes(wt, n);
		size_t		arb = llm_row_bytes(at, n);
		float		yref[4],
					y[4];

		quant_init(LLM_ISA_SCALAR);
		llm_quantize_row(wt, w[0], W[0], n);
		llm_quantize_row(wt, w[1], W[0] + wrb, n);
		llm_quantize_row(at, a, A[0], n);
		llm_quantize_row(at, w[1], A[0] + arb, n);
		llm_matmul_rows(wt, n, W[0], A[0], arb, 2, yref, 2, 0, 2);
		CHECK(yref[1] == 0.0f && yref[2] == 0.0f && yref[3] == 0.0f);
		for (int level = 1; level <= (int) quant_cpu_isa(); level++)
		{
			quant_init((llm_isa) level);
			llm_matmul_rows(wt, n, W[0], A[0], arb, 2, y, 2, 0, 2);
			/* the tolerance is relative to sum |w a| <= n * 2.5 * 100 */
			CHECKF(fabsf(y[0] - yref[0]) <= 1e-5f * 512 * 2.5f * 100 && y[1] == 0 &&
				   y[2] == 0 && y[3] == 0, "%s %s: %g vs %g",
				   quant_isa_name(level), llm_dtype_name(wt), y[0], yref[0]);
		}
	}
	quant_init(LLM_ISA_AMX);
}

/*
 * Q4_K at the ends of its integer ranges: nibbles 15 or 0, six-bit scales
 * and mins 63 or 0 (every packed bit set or clear), activations -128 or
 * 127.  4 values x 15 x -128 is the largest sum a kernel may keep in 16
 * bits; 5 rows take both a 4-row group and a single row.  Every level
 * agrees with the scalar one (the integer sums are exact).
 */
static void
test_matmul_q4_K_extremes(void)
{
	enum
	{
		NR = 5, NT = 3, N = 512
	};
	static const uint8_t qsb[NR] = {0xFF, 0x00, 0xF0, 0x0F, 0xFF};
	static const uint8_t scb[NR] = {0xFF, 0xFF, 0xFF, 0x00, 0xC0};
	uint8_t		W[NR * (N / 256) * 144];
	uint8_t		A[NT * (N / 256) * 292];
	size_t		arb = (N / 256) * 292;
	float		yref[NT * NR],
				y[NT * NR];

	CHECK(llm_row_bytes(LLM_Q4_K, N) == sizeof(W) / NR && llm_row_bytes(LLM_Q8_K, N) == arb);
	for (int r = 0; r < NR; r++)
		for (int b = 0; b < N / 256; b++)
		{
			uint8_t    *blk = W + (r * (N / 256) + b) * 144;

			blk[0] = 0x00;
			blk[1] = 0x3C;		/* d = 1 */
			blk[2] = 0x00;
			blk[3] = 0x38;		/* dmin = 0.5 */
			memset(blk + 4, scb[r], 12);
			blk[4 + 11] ^= (uint8_t) (b * 0x5A);	/* scale 7, min 7 vary */
			memset(blk + 16, qsb[r], 128);
		}
	for (int t = 0; t < NT; t++)
		for (int b = 0; b < N / 256; b++)
		{
			uint8_t    *blk = A + t * arb + b * 292;
			float		d = 1.0f;
			int8_t		q[256];
			int16_t		bs[16];

			for (int i = 0; i < 256; i++)
				q[i] = t == 0 ? -128 : t == 1 ? 127 : (i & 4) ? -128 : 127;
			for (int k = 0; k < 16; k++)
			{
				bs[k] = 0;
				for (int i = 0; i < 16; i++)
					bs[k] += q[16 * k + i];
			}
			memcpy(blk, &d, 4);
			memcpy(blk + 4, q, 256);
			memcpy(blk + 260, bs, 32);
		}
	quant_init(LLM_ISA_SCALAR);
	llm_matmul_rows(LLM_Q4_K, N, W, A, arb, NT, yref, NR, 0, NR);
	for (int level = 1; level <= (int) quant_cpu_isa(); level++)
	{
		int			bad = 0;

		quant_init((llm_isa) level);
		llm_matmul_rows(LLM_Q4_K, N, W, A, arb, NT, y, NR, 0, NR);
		for (int i = 0; i < NT * NR; i++)
			if (fabsf(y[i] - yref[i]) > 1e-6f * (fabsf(yref[i]) + 1))
			{
				if (bad++ == 0)
					fprintf(stderr, "  %s q4_K extremes: y[%d] = %g, scalar %g\n",
							quant_isa_name(level), i, y[i], yref[i]);
			}
		CHECKF(bad == 0, "%s: %d q4_K extreme results differ", quant_isa_name(level), bad);
	}
	quant_init(LLM_ISA_AMX);
}

/* ---- concurrency ------------------------------------------------------------ */

typedef struct mt_job
{
	uint32_t	wtype;
	int64_t		n;
	int			rows,
				nt;
	const uint8_t *W,
			   *A;
	size_t		a_stride;
	float	   *y;				/* nt x rows */
} mt_job;

/* Repeat the same matmul (AMX tiles, AVX-512 tiles, ...) on one thread. */
static void *
mt_worker(void *arg)
{
	mt_job	   *j = arg;

	for (int rep = 0; rep < 20; rep++)
		llm_matmul_rows(j->wtype, j->n, j->W, j->A, j->a_stride, j->nt, j->y,
						j->rows, 0, j->rows);
	return NULL;
}

/* Several threads at once give the single-thread results, bit for bit. */
static void
test_threads(void)
{
	enum
	{
		NTH = 4
	};
	static const uint32_t wtypes[] = {LLM_Q8_0, LLM_Q4_0, LLM_Q4_K, LLM_Q6_K, LLM_F16};
	int64_t		n = 512;
	int			rows = 48,
				nt = 24;

	quant_init(LLM_ISA_AMX);
	for (int ti = 0; ti < (int) (sizeof(wtypes) / sizeof(wtypes[0])); ti++)
	{
		uint32_t	wt = wtypes[ti],
					at = llm_dot_type(wt);
		size_t		arb = llm_row_bytes(at, n);
		uint8_t    *W = random_rows(wt, n, rows),
				   *A = random_rows(at, n, nt);
		float	   *ref = malloc(rows * nt * sizeof(float));
		mt_job		jobs[NTH];
		pthread_t	th[NTH];
		int			bad = 0;

		llm_matmul_rows(wt, n, W, A, arb, nt, ref, rows, 0, rows);
		for (int k = 0; k < NTH; k++)
		{
			jobs[k] = (mt_job) {wt, n, rows, nt, W, A, arb,
			malloc(rows * nt * sizeof(float))};
			pthread_create(&th[k], NULL, mt_worker, &jobs[k]);
		}
		for (int k = 0; k < NTH; k++)
		{
			pthread_join(th[k], NULL);
			bad += memcmp(jobs[k].y, ref, rows * nt * sizeof(float)) != 0;
			free(jobs[k].y);
		}
		CHECKF(bad == 0, "%s: %d threads got results different from one thread",
			   llm_dtype_name(wt), bad);
		free(W);
		free(A);
		free(ref);
	}
}

/* ---- real llama.cpp data -------------------------------------------------- */

/* Compare a quantized GGUF tensor with the same tensor in the F32 file. */
static void
check_gguf_tensor(const char *qfile, uint32_t qtype, const char *name)
{
	char		pf[1024],
				pq[1024];
	gguf_file  *ff = NULL,
			   *fq = NULL;
	llm_error	err;
	const gguf_tensor *tf,
			   *tq;
	int64_t		n,
				rows;
	float	   *row;
	double		worst = 0;
	int64_t		same_blocks = 0,
				blocks = 0;

	if (!unit_model_path(pf, sizeof(pf), "babyllama-tok105/babyllama-tok105-f32.gguf") ||
		!unit_model_path(pq, sizeof(pq), qfile))
		SKIP("babyllama-tok105 GGUF files not found");
	if (gguf_open(pf, &ff, &err) != LLM_OK || gguf_open(pq, &fq, &err) != LLM_OK)
	{
		CHECKF(0, "gguf_open: %s", err.msg);
		if (ff)
			gguf_close(ff);
		return;
	}
	tf = gguf_find_tensor(ff, name);
	tq = gguf_find_tensor(fq, name);
	CHECK(tf != NULL && tq != NULL);
	if (tf == NULL || tq == NULL)
		goto done;
	CHECK(tf->type == LLM_F32 && tq->type == qtype);
	CHECK(tf->ne[0] == tq->ne[0] && tf->ne[1] == tq->ne[1]);
	n = (int64_t) tq->ne[0];
	rows = (int64_t) tq->ne[1];
	CHECK(tq->nbytes == llm_row_bytes(qtype, n) * rows);
	row = malloc(n * sizeof(float));
	for (int level = 0; level <= (int) quant_cpu_isa(); level++)
	{
		quant_init((llm_isa) level);
		for (int64_t r = 0; r < rows; r++)
		{
			const float *xf = (const float *) tf->data + r * n;
			const uint8_t *xq = (const uint8_t *) tq->data + r * llm_row_bytes(qtype, n);

			llm_dequantize_row(qtype, xq, row, n);
			for (int64_t b = 0; b < n; b += 32)
			{
				float		am = absmax(xf + b, 32);
				double		bound = qtype == LLM_Q8_0 ? 0.5625 * am / 127 : 1.01 * am / 8;

				for (int i = 0; i < 32; i++)
					worst = fmax(worst, fabs(row[b + i] - xf[b + i]) / (bound + 1e-30));
			}
			if (level == 0)
			{
				/* our quantizer gives llama.cpp's bytes (rare rounding ties aside) */
				uint8_t    *mine = malloc(llm_row_bytes(qtype, n));
				size_t		bb = llm_dtype_block_bytes(qtype);

				llm_quantize_row(qtype, xf, mine, n);
				for (int64_t b = 0; b < n / 32; b++)
				{
					blocks++;
					same_blocks += memcmp(mine + b * bb, xq + b * bb, bb) == 0;
				}
				free(mine);
			}
		}
	}
	CHECKF(worst <= 1.0, "%s %s: dequantized error %.3f x the %s bound",
		   qfile, name, worst, llm_dtype_name(qtype));
	CHECKF(same_blocks >= blocks * 99 / 100 && blocks > 0,
		   "%s: only %lld of %lld blocks equal llama.cpp's", name,
		   (long long) same_blocks, (long long) blocks);
	fprintf(stderr, "  %s %s: %lld rows, max error %.3f x bound, %lld/%lld blocks identical\n",
			llm_dtype_name(qtype), name, (long long) rows, worst,
			(long long) same_blocks, (long long) blocks);
	free(row);
done:
	gguf_close(ff);
	gguf_close(fq);
	quant_init(LLM_ISA_AMX);
}

/* llama.cpp's Q8_0 tensors against the F32 file. */
static void
test_gguf_q8_0(void)
{
	check_gguf_tensor("babyllama-tok105/babyllama-tok105-Q8_0.gguf", LLM_Q8_0,
					  "blk.0.attn_q.weight");
	check_gguf_tensor("babyllama-tok105/babyllama-tok105-Q8_0.gguf", LLM_Q8_0,
					  "blk.4.ffn_down.weight");
}

/* llama.cpp's Q4_0 tensors against the F32 file. */
static void
test_gguf_q4_0(void)
{
	check_gguf_tensor("babyllama-tok105/babyllama-tok105-Q4_0.gguf", LLM_Q4_0,
					  "blk.0.attn_q.weight");
	check_gguf_tensor("babyllama-tok105/babyllama-tok105-Q4_0.gguf", LLM_Q4_0,
					  "blk.2.ffn_gate.weight");
}

/* Run every test. */
int
main(void)
{
	RUN(test_type_table);
	RUN(test_f16);
	RUN(test_bf16);
	RUN(test_roundtrip);
	RUN(test_known_q8_0);
	RUN(test_known_q4_0);
	RUN(test_known_q4_K);
	RUN(test_known_q6_K);
	RUN(test_known_q8_K);
	RUN(test_matmul);
	RUN(test_matmul_amx_shapes);
	RUN(test_matmul_batch_invariance);
	RUN(test_packed);
	RUN(test_packed_unpack);
	RUN(test_matmul_float_panels);
	RUN(test_matmul_reuse);
	RUN(test_matmul_extremes);
	RUN(test_token_group);
	RUN(test_matmul_q4_K_extremes);
	RUN(test_threads);
	RUN(test_gguf_q8_0);
	RUN(test_gguf_q4_0);
	return unit_finish();
}
