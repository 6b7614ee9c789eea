/*
 * quant_avx2.c — AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma
 * -mf16c; only called after quant.c has checked the CPU).
 *
 * matmul_rows kernels compute QUANT_AVX2_ROWS (4) weight rows against one
 * activation row per pass over the weights: the activation block is loaded
 * (and, for Q4_0, its sum computed) once and reused by the four rows, and
 * each row keeps its own accumulator, so four independent FMA chains are in
 * flight.  For several tokens the same four rows are swept once per token;
 * they are small enough (4 x row bytes) to stay in L1/L2, so the weights are
 * streamed from memory once per call whatever the token count.
 *
 * Integer arithmetic is exact:
 *   Q8_0 x Q8_0  widen both to int16, vpmaddwd (no saturation possible);
 *   Q4_0 x Q8_0  vpmaddubsw(q in 0..15, a) is exact (|pair| <= 2*15*128),
 *                then subtract 8 * sum(a), computed once per block;
 *   Q4_K x Q8_K  vpmaddubsw(q in 0..15, a), vpmaddwd with the 6-bit scale;
 *   Q6_K x Q8_K  vpmaddubsw(q in 0..63, a) (|pair| <= 2*63*128 < 2^15),
 *                vpmaddwd with the int8 scale, minus 32 * sum(sc * bsum).
 * The block sums are then scaled in float, so results differ from the
 * scalar reference only by float rounding.
 */
#include "quant_impl.h"

#include <immintrin.h>
#include <string.h>

#define AI inline __attribute__((always_inline))
#define QUANT_AVX2_ROWS 4

/* Sum of the 8 lanes. */
static AI float
hsum8(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	__m128		h = _mm_movehdup_ps(s);

	s = _mm_add_ps(s, h);
	h = _mm_movehl_ps(h, s);
	s = _mm_add_ss(s, h);
	return _mm_cvtss_f32(s);
}

/* Largest of the 8 lanes. */
static AI float
hmax8(__m256 v)
{
	__m128		s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * Prefetch the bytes [p, p + len) of the weights at the same place in the
 * next group of rows (rows are short, so the hardware prefetchers restart
 * at every group).  With ws = 0 (one row) it is harmless.
 */
static AI void
quant_prefetch_next_group(const void *p, size_t ws, int len)
{
	const char *q = (const char *) p + QUANT_AVX2_ROWS * ws;

	for (int o = 0; o < len; o += 64)
		_mm_prefetch(q + o, _MM_HINT_T0);
}

/* f16 scalar to float. */
static AI float
h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* ---- float weights ------------------------------------------------------ */

enum
{
	FW_F32, FW_F16, FW_BF16
};

/* 8 weights as floats. */
static AI __m256
fw_load8(const uint8_t *p, int kind)
{
	if (kind == FW_F32)
		return _mm256_loadu_ps((const float *) p);
	if (kind == FW_F16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(
		_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p)), 16));
}

/* One weight as float. */
static AI float
fw_load1(const uint8_t *p, int kind)
{
	uint16_t	h;
	float		f;

	if (kind == FW_F32)
	{
		memcpy(&f, p, 4);
		return f;
	}
	memcpy(&h, p, 2);
	return kind == FW_F16 ? h2f(h) : llm_bf16_to_f32(h);
}

/* nr rows of float weights against float activations. */
static AI void
fw_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		float *out, const int kind)
{
	const float *x = (const float *) a;
	const int	esz = kind == FW_F32 ? 4 : 2;
	__m256		acc0[QUANT_AVX2_ROWS],
				acc1[QUANT_AVX2_ROWS];
	int64_t		j = 0;

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc0[i] = acc1[i] = _mm256_setzero_ps();
	for (; j + 16 <= n; j += 16)
	{
		__m256		a0 = _mm256_loadu_ps(x + j),
					a1 = _mm256_loadu_ps(x + j + 8);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const uint8_t *p = w + i * ws + j * esz;

			acc0[i] = _mm256_fmadd_ps(fw_load8(p, kind), a0, acc0[i]);
			acc1[i] = _mm256_fmadd_ps(fw_load8(p + 8 * esz, kind), a1, acc1[i]);
		}
	}
	for (; j + 8 <= n; j += 8)
	{
		__m256		a0 = _mm256_loadu_ps(x + j);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
			acc0[i] = _mm256_fmadd_ps(fw_load8(w + i * ws + j * esz, kind), a0, acc0[i]);
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
	{
		float		s = hsum8(_mm256_add_ps(acc0[i], acc1[i]));

		for (int64_t k = j; k < n; k++)
			s += fw_load1(w + i * ws + k * esz, kind) * x[k];
		out[i] = s;
	}
}

/* The float families (F32, F16, BF16) as row kernels. */
static AI void
f32_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a, float *out)
{
	fw_rows(n, nr, w, ws, a, out, FW_F32);
}

static AI void
f16_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a, float *out)
{
	fw_rows(n, nr, w, ws, a, out, FW_F16);
}

static AI void
bf16_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a, float *out)
{
	fw_rows(n, nr, w, ws, a, out, FW_BF16);
}

QUANT_ROWS_DRIVER(f32, QUANT_AVX2_ROWS)
QUANT_ROWS_DRIVER(f16, QUANT_AVX2_ROWS)
QUANT_ROWS_DRIVER(bf16, QUANT_AVX2_ROWS)

/* ---- Q8_0 x Q8_0 -------------------------------------------------------- */

/* nr rows of Q8_0 x one Q8_0 activation row. */
static AI void
q8_0_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const quant_block_q8_0 *ab = (const quant_block_q8_0 *) a;
	__m256		acc[QUANT_AVX2_ROWS];

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 32; b++)
	{
		__m256i		a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) ab[b].qs));
		__m256i		a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (ab[b].qs + 16)));
		float		da = h2f(ab[b].d);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q8_0 *wb = (const quant_block_q8_0 *) (w + i * ws) + b;
			__m256i		w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) wb->qs));
			__m256i		w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (wb->qs + 16)));
			__m256i		p = _mm256_add_epi32(_mm256_madd_epi16(w0, a0),
											 _mm256_madd_epi16(w1, a1));

			quant_prefetch_next_group(wb, ws, 34);

			acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
									 _mm256_set1_ps(da * h2f(wb->d)), acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = hsum8(acc[i]);
}

QUANT_ROWS_DRIVER(q8_0, QUANT_AVX2_ROWS)

/* ---- Q4_0 x Q8_0 -------------------------------------------------------- */

/* nr rows of Q4_0 x one Q8_0 activation row. */
static AI void
q4_0_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const quant_block_q8_0 *ab = (const quant_block_q8_0 *) a;
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i ones8 = _mm256_set1_epi8(1);
	const __m256i ones16 = _mm256_set1_epi16(1);
	__m256		acc[QUANT_AVX2_ROWS];

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 32; b++)
	{
		__m256i		av = _mm256_loadu_si256((const __m256i *) ab[b].qs);
		/* 8 * (sum of each 4 activations), lane-aligned with the products */
		__m256i		corr = _mm256_slli_epi32(
			_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, av), ones16), 3);
		float		da = h2f(ab[b].d);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q4_0 *wb = (const quant_block_q4_0 *) (w + i * ws) + b;
			__m128i		q = _mm_loadu_si128((const __m128i *) wb->qs);
			__m256i		qq = _mm256_and_si256(
				_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
			__m256i		p = _mm256_sub_epi32(
				_mm256_madd_epi16(_mm256_maddubs_epi16(qq, av), ones16), corr);

			quant_prefetch_next_group(wb, ws, 18);

			acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
									 _mm256_set1_ps(da * h2f(wb->d)), acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = hsum8(acc[i]);
}

QUANT_ROWS_DRIVER(q4_0, QUANT_AVX2_ROWS)

/* ---- Q4_K x Q8_K -------------------------------------------------------- */

/*
 * The 8 six-bit scales and mins of a Q4_K block as bytes, unpacked with
 * 32-bit word operations on the 12 packed bytes (see quant_q4_K_scale_min).
 */
static AI void
q4_K_unpack(const uint8_t *packed, uint64_t *sc, uint64_t *mn)
{
	uint32_t	u0,
				u1,
				u2;

	memcpy(&u0, packed, 4);
	memcpy(&u1, packed + 4, 4);
	memcpy(&u2, packed + 8, 4);
	*sc = (uint64_t) (u0 & 0x3F3F3F3F) |
		((uint64_t) ((u2 & 0x0F0F0F0F) | ((u0 >> 2) & 0x30303030)) << 32);
	*mn = (uint64_t) (u1 & 0x3F3F3F3F) |
		((uint64_t) (((u2 >> 4) & 0x0F0F0F0F) | ((u1 >> 2) & 0x30303030)) << 32);
}

/* nr rows of Q4_K x one Q8_K activation row. */
static AI void
q4_K_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const quant_block_q8_K *ab = (const quant_block_q8_K *) a;
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256		acc[QUANT_AVX2_ROWS],
				macc[QUANT_AVX2_ROWS];

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = macc[i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 256; b++)
	{
		__m256i		bsums = _mm256_loadu_si256((const __m256i *) ab[b].bsums);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q4_K *wb = (const quant_block_q4_K *) (w + i * ws) + b;
			uint64_t	scb,
						mnb;
			__m128i		sc8,
						mn8;
			__m256i		sc16,
						isum = _mm256_setzero_si256();

			quant_prefetch_next_group(wb, ws, 144);
			q4_K_unpack(wb->scales, &scb, &mnb);
			sc8 = _mm_cvtsi64_si128((long long) scb);
			mn8 = _mm_cvtsi64_si128((long long) mnb);
			/* mins: m[j] * (bsums[2j] + bsums[2j + 1]) in lane j */
			macc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bsums,
																		   _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8)))),
									  _mm256_set1_ps(ab[b].d * h2f(wb->dmin)), macc[i]);
			sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc8));
			for (int c = 0; c < 4; c++)
			{
				__m256i		q = _mm256_loadu_si256((const __m256i *) (wb->qs + 32 * c));
				__m256i		lo = _mm256_and_si256(q, m4);
				__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
				__m256i		alo = _mm256_loadu_si256((const __m256i *) (ab[b].qs + 64 * c));
				__m256i		ahi = _mm256_loadu_si256((const __m256i *) (ab[b].qs + 64 * c + 32));
				/* word 2c (and 2c + 1) of the scales in every lane */
				__m256i		slo = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short) (((4 * c + 1) << 8) | (4 * c))));
				__m256i		shi = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short) (((4 * c + 3) << 8) | (4 * c + 2))));

				isum = _mm256_add_epi32(isum, _mm256_add_epi32(
					_mm256_madd_epi16(_mm256_maddubs_epi16(lo, alo), slo),
					_mm256_madd_epi16(_mm256_maddubs_epi16(hi, ahi), shi)));
			}
			acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(ab[b].d * h2f(wb->d)),
									 _mm256_cvtepi32_ps(isum), acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = hsum8(_mm256_sub_ps(acc[i], macc[i]));
}

QUANT_ROWS_DRIVER(q4_K, QUANT_AVX2_ROWS)

/* ---- Q6_K x Q8_K -------------------------------------------------------- */

/* nr rows of Q6_K x one Q8_K activation row. */
static AI void
q6_K_rows(int64_t n, const int nr, const uint8_t *w, size_t ws, const uint8_t *a,
		  float *out)
{
	const quant_block_q8_K *ab = (const quant_block_q8_K *) a;
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i m30 = _mm256_set1_epi8(0x30);

	/*
	 * Shuffles that spread int16 scale words over the two 128-bit lanes:
	 * mask k puts word 2k in the low lane and word 2k + 1 in the high lane.
	 */
	const __m256i shuf[4] = {
		_mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,
						1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
		_mm256_set_epi8(7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6,
						5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4),
		_mm256_set_epi8(11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10,
						9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8),
		_mm256_set_epi8(15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14,
						13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12)
	};
	__m256		acc[QUANT_AVX2_ROWS];

#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		acc[i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 256; b++)
	{
		__m256i		bsums = _mm256_loadu_si256((const __m256i *) ab[b].bsums);

#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
		{
			const quant_block_q6_K *wb = (const quant_block_q6_K *) (w + i * ws) + b;
			__m256i		sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) wb->scales));
			/* -32 * sum(sc * bsum): the q - 32 offset */
			__m256i		isum = _mm256_sub_epi32(_mm256_setzero_si256(),
												_mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5));

			quant_prefetch_next_group(wb, ws, 210);

			for (int h = 0; h < 2; h++)
			{
				__m256i		ql0 = _mm256_loadu_si256((const __m256i *) (wb->ql + 64 * h));
				__m256i		ql1 = _mm256_loadu_si256((const __m256i *) (wb->ql + 64 * h + 32));
				__m256i		qh = _mm256_loadu_si256((const __m256i *) (wb->qh + 32 * h));
				__m256i		sv = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(
					_mm_loadl_epi64((const __m128i *) (wb->scales + 8 * h))));
				__m256i		q[4];
				const int8_t *aq = ab[b].qs + 128 * h;

				q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
									   _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
				q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
									   _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
				q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
									   _mm256_and_si256(qh, m30));
				q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
									   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
				for (int k = 0; k < 4; k++)
				{
					__m256i		av = _mm256_loadu_si256((const __m256i *) (aq + 32 * k));
					__m256i		p = _mm256_maddubs_epi16(q[k], av);

					isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p,
																	_mm256_shuffle_epi8(sv, shuf[k])));
				}
			}
			acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(ab[b].d * h2f(wb->d)),
									 _mm256_cvtepi32_ps(isum), acc[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
		out[i] = hsum8(acc[i]);
}

QUANT_ROWS_DRIVER(q6_K, QUANT_AVX2_ROWS)

/* ---- activation quantizers ------------------------------------------------ */

/* 32 floats to int8 (round half to even), in order. */
static AI __m256i
quant_pack32(const float *x, __m256 vid)
{
	__m256i		i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), vid));
	__m256i		i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid));
	__m256i		i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid));
	__m256i		i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid));
	__m256i		p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));

	return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Largest magnitude of 32 floats. */
static AI __m256
quant_absmax32(const float *x)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)),
								   _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
	__m256		m1 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)),
								   _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));

	return _mm256_max_ps(m0, m1);
}

/* Q8_0, identical bytes to the scalar reference. */
static void
q8_0_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / 32; b++)
	{
		float		amax = hmax8(quant_absmax32(src + 32 * b));
		float		d = amax / 127.0f;
		float		id = d != 0.0f ? 1.0f / d : 0.0f;

		y[b].d = llm_f32_to_f16(d);
		_mm256_storeu_si256((__m256i *) y[b].qs, quant_pack32(src + 32 * b, _mm256_set1_ps(id)));
	}
}

/* Q8_K, identical bytes to the scalar reference. */
static void
q8_K_quantize(const float *src, void *dst, int64_t n)
{
	quant_block_q8_K *y = dst;

	for (int64_t b = 0; b < n / 256; b++)
	{
		const float *x = src + 256 * b;
		__m256		m = _mm256_setzero_ps();
		float		amax,
					id;

		for (int j = 0; j < 256; j += 32)
			m = _mm256_max_ps(m, quant_absmax32(x + j));
		amax = hmax8(m);
		if (amax == 0.0f)
		{
			memset(&y[b], 0, sizeof(y[b]));
			continue;
		}
		id = 127.0f / amax;
		for (int j = 0; j < 256; j += 32)
			_mm256_storeu_si256((__m256i *) (y[b].qs + j), quant_pack32(x + j, _mm256_set1_ps(id)));
		for (int g = 0; g < 16; g++)
		{
			__m128i		q = _mm_loadu_si128((const __m128i *) (y[b].qs + 16 * g));
			__m128i		s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), q),
										   _mm_set1_epi16(1));

			s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
			s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
			y[b].bsums[g] = (int16_t) _mm_cvtsi128_si32(s);
		}
		y[b].d = 1.0f / id;
	}
}

/* F16 rows with the hardware conversion (round to nearest even). */
static void
f16_quantize(const float *src, void *dst, int64_t n)
{
	uint16_t   *h = dst;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *) (h + i),
						 _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		h[i] = llm_f32_to_f16(src[i]);
}

/* F16 rows to floats with the hardware conversion. */
static void
f16_dequantize(const void *src, float *dst, int64_t n)
{
	const uint16_t *h = src;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (h + i))));
	for (; i < n; i++)
		dst[i] = h2f(h[i]);
}

/* Install the AVX2 kernels. */
void
quant_avx2_kernels(quant_kernels *k)
{
	k[LLM_F32].dot = f32_dot;
	k[LLM_F32].matmul = f32_matmul;
	k[LLM_F16].dot = f16_dot;
	k[LLM_F16].matmul = f16_matmul;
	k[LLM_F16].quantize = f16_quantize;
	k[LLM_F16].dequantize = f16_dequantize;
	k[LLM_BF16].dot = bf16_dot;
	k[LLM_BF16].matmul = bf16_matmul;
	k[LLM_Q8_0].dot = q8_0_dot;
	k[LLM_Q8_0].matmul = q8_0_matmul;
	k[LLM_Q8_0].quantize = q8_0_quantize;
	k[LLM_Q4_0].dot = q4_0_dot;
	k[LLM_Q4_0].matmul = q4_0_matmul;
	k[LLM_Q4_K].dot = q4_K_dot;
	k[LLM_Q4_K].matmul = q4_K_matmul;
	k[LLM_Q6_K].dot = q6_K_dot;
	k[LLM_Q6_K].matmul = q6_K_matmul;
	k[LLM_Q8_K].quantize = q8_K_quantize;
}
