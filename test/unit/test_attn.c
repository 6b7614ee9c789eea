/*
 * test_attn.c — the attention block: the scalar reference equals a plain
 * two-pass softmax in double precision, and every SIMD variant equals the
 * scalar reference, for F16 and F32 caches, odd head sizes and block
 * lengths, several blocks in a row; a tile of rows and heads gives each
 * query the bits it gets alone.
 */
#include "unit.h"

#include "attn.h"
#include "quant.h"

#define MAXP 80
#define MAXHD 272
#define MAXST (MAXHD + 3)

static float
frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/*
 * A tile of nrows rows x group heads over np positions in blocks of bl,
 * row r seeing positions 0 .. pos[r]; queries and outputs qs floats apart
 * per row (out is divided by l at the end).
 */
static void
run_tile(const llm_attn_ops *ops, bool f16, const float *q, size_t qs, int nrows, int group,
		 const int *pos, const void *k, const void *v, size_t stride, int np, int bl,
		 int hd, float scale, float *out)
{
	size_t		esz = f16 ? 2 : 4;
	float		ml[2 * 16 * 8];

	for (int i = 0; i < nrows * group; i++)
	{
		ml[2 * i] = -INFINITY;
		ml[2 * i + 1] = 0;
	}
	memset(out, 0, (size_t) nrows * qs * sizeof(float));
	for (int p = 0; p < np; p += bl)
	{
		int			nk = np - p < bl ? np - p : bl,
					nkr[16];

		for (int r = 0; r < nrows; r++)
			nkr[r] = pos[r] + 1 - p < nk ? pos[r] + 1 - p : nk;
		(f16 ? ops->block_f16 : ops->block_f32) (q, qs, nrows, group, nkr,
												 (const uint8_t *) k + p * stride * esz,
												 (const uint8_t *) v + p * stride * esz,
												 stride, hd, scale, ml, out);
	}
	for (int r = 0; r < nrows; r++)
		for (int g = 0; g < group; g++)
			for (int i = 0; i < hd; i++)
				out[r * qs + g * hd + i] /= ml[2 * (r * group + g) + 1];
}

/* Attention of q over np positions through ops, in blocks of bl. */
static void
run_ops(const llm_attn_ops *ops, bool f16, const float *q, const void *k,
		const void *v, size_t stride, int np, int bl, int hd, float scale, float *out)
{
	int			last = np - 1;

	run_tile(ops, f16, q, hd, 1, 1, &last, k, v, stride, np, bl, hd, scale, out);
}

/*
 * Every variant gives each query of a tile (up to 16 rows x up to 4 heads,
 * rows seeing different numbers of positions, as a prefill chunk's do) the
 * same bits as the query alone, F16 and F32, head sizes 48, 64 and 128,
 * and within 2e-6 of the scalar reference.
 */
static void
test_tiles(void)
{
	enum
	{
		NP = 40, MAX_HD = 128, GROUP = 4, ROWS = 16, QS = GROUP * MAX_HD
	};
	static const int hds[] = {48, 64, 128};
	static float kf[NP * MAX_HD],
				vf[NP * MAX_HD],
				q[ROWS * QS],
				all[ROWS * QS],
				one[QS],
				ref[QS];
	static uint16_t kh[NP * MAX_HD],
				vh[NP * MAX_HD];
	const llm_attn_ops *variants[3] = {&llm_attn_scalar, &llm_attn_avx2, &llm_attn_avx512};
	llm_isa		need[3] = {LLM_ISA_SCALAR, LLM_ISA_AVX2, LLM_ISA_AVX512};
	int			pos[ROWS];
	unsigned	seed = 11;

	for (int i = 0; i < NP * MAX_HD; i++)
	{
		kh[i] = llm_f32_to_f16(frand(&seed));
		vh[i] = llm_f32_to_f16(frand(&seed));
		kf[i] = llm_f16_to_f32(kh[i]);
		vf[i] = llm_f16_to_f32(vh[i]);
	}
	for (int i = 0; i < ROWS * QS; i++)
		q[i] = frand(&seed) * 3;
	for (int r = 0; r < ROWS; r++)
		pos[r] = NP - ROWS + r;	/* a prefill chunk: the last 16 positions */
	for (int h = 0; h < 3; h++)
	for (int v = 0; v < 3; v++)
		for (int f16 = 0; f16 <= 1; f16++)
			for (int group = 1; group <= GROUP; group *= 2)
				for (int nrows = 1; nrows <= ROWS; nrows += 5)
				{
					const void *k = f16 ? (void *) kh : (void *) kf,
							   *vv = f16 ? (void *) vh : (void *) vf;
					const int	HD = hds[h];
					float		scale = 1.0f / sqrtf((float) HD);
					int			bad = 0;
					double		err = 0;

					if (quant_cpu_isa() < need[v])
						continue;
					/* the tile's rows are the last nrows rows of the chunk */
					run_tile(variants[v], f16, q + (ROWS - nrows) * QS, QS, nrows, group,
							 pos + ROWS - nrows, k, vv, HD, NP, 16, HD, scale, all);
					for (int r = 0; r < nrows; r++)
					{
						int			ri = ROWS - nrows + r;

						run_tile(variants[v], f16, q + ri * QS, QS, 1, group, pos + ri, k, vv,
								 HD, NP, 16, HD, scale, one);
						bad += memcmp(one, all + r * QS, (size_t) group * HD * sizeof(float)) != 0;
						for (int g = 0; g < group; g++)
						{
							run_ops(&llm_attn_scalar, f16, q + ri * QS + g * HD, k, vv, HD,
									pos[ri] + 1, 16, HD, scale, ref);
							for (int i = 0; i < HD; i++)
								err = fmax(err, fabs(ref[i] - all[r * QS + g * HD + i]));
						}
					}
					CHECKF(bad == 0, "variant %d hd %d f16 %d group %d rows %d: %d rows differ from alone",
						   v, HD, f16, group, nrows, bad);
					CHECKF(err < 2e-6, "variant %d hd %d f16 %d group %d rows %d: %g from the reference",
						   v, HD, f16, group, nrows, err);
				}
}

static void
test_variants(void)
{
	static float kf[MAXP * MAXST],
				vf[MAXP * MAXST];
	static uint16_t kh[MAXP * MAXST],
				vh[MAXP * MAXST];
	const llm_attn_ops *variants[2] = {&llm_attn_avx2, &llm_attn_avx512};
	llm_isa		need[2] = {LLM_ISA_AVX2, LLM_ISA_AVX512};
	unsigned	seed = 7;
	int			hds[] = {1, 7, 16, 33, 64, 80, 128, 256, 272};
	int			nps[] = {1, 5, 16, 17, 40, 80};

	for (size_t a = 0; a < sizeof(hds) / sizeof(hds[0]); a++)
		for (size_t b = 0; b < sizeof(nps) / sizeof(nps[0]); b++)
		{
			int			hd = hds[a],
						np = nps[b];
			size_t		stride = hd + 3;	/* other heads in between */
			float		q[MAXHD],
						ref[MAXHD],
						o[MAXHD];
			double		want[MAXHD],
						sc[MAXP],
						mx = -INFINITY,
						tot = 0;
			float		scale = 1.0f / sqrtf((float) hd);

			for (int i = 0; i < hd; i++)
				q[i] = frand(&seed) * 3;
			for (size_t i = 0; i < np * stride; i++)
			{
				kf[i] = frand(&seed);
				vf[i] = frand(&seed);
				kh[i] = llm_f32_to_f16(kf[i]);
				vh[i] = llm_f32_to_f16(vf[i]);
				kf[i] = llm_f16_to_f32(kh[i]);	/* same values in both */
				vf[i] = llm_f16_to_f32(vh[i]);
			}
			/* double-precision two-pass softmax */
			for (int p = 0; p < np; p++)
			{
				double		d = 0;

				for (int i = 0; i < hd; i++)
					d += (double) q[i] * kf[p * stride + i];
				sc[p] = d * scale;
				mx = sc[p] > mx ? sc[p] : mx;
			}
			for (int i = 0; i < hd; i++)
				want[i] = 0;
			for (int p = 0; p < np; p++)
			{
				double		e = exp(sc[p] - mx);

				tot += e;
				for (int i = 0; i < hd; i++)
					want[i] += e * vf[p * stride + i];
			}
			for (int bl = 1; bl <= LLM_ATTN_BLOCK; bl += (bl < 4 ? 1 : 6))
				for (int f16 = 0; f16 <= 1; f16++)
				{
					double		err = 0;

					run_ops(&llm_attn_scalar, f16, q, f16 ? (void *) kh : (void *) kf,
							f16 ? (void *) vh : (void *) vf, stride, np, bl, hd, scale, ref);
					for (int i = 0; i < hd; i++)
						err = fmax(err, fabs(ref[i] - want[i] / tot));
					CHECKF(err < 2e-6, "scalar hd %d np %d block %d f16 %d: %g", hd, np, bl, f16, err);
					for (int v = 0; v < 2; v++)
					{
						if (quant_cpu_isa() < need[v])
							continue;
						run_ops(variants[v], f16, q, f16 ? (void *) kh : (void *) kf,
								f16 ? (void *) vh : (void *) vf, stride, np, bl, hd, scale, o);
						err = 0;
						for (int i = 0; i < hd; i++)
							err = fmax(err, fabs(o[i] - ref[i]));
						CHECKF(err < 2e-6, "variant %d hd %d np %d block %d f16 %d: %g",
							   v, hd, np, bl, f16, err);
					}
				}
		}
}

/* A block of scores far below the running maximum adds nothing (no NaN). */
static void
test_underflow(void)
{
	float		q[16],
				k[2 * 16],
				v[2 * 16],
				out[16];
	const llm_attn_ops *ops = llm_attn_get();

	for (int i = 0; i < 16; i++)
	{
		q[i] = 100.0f;
		k[i] = 1.0f;
		k[16 + i] = -1.0f;
		v[i] = 1.0f;
		v[16 + i] = 5.0f;
	}
	run_ops(ops, false, q, k, v, 16, 2, 1, 16, 1.0f, out);
	for (int i = 0; i < 16; i++)
		CHECK_NEAR(out[i], 1.0, 1e-6);
}

static void
test_dispatch(void)
{
	quant_init(LLM_ISA_SCALAR);
	CHECK(llm_attn_get() == &llm_attn_scalar);
	quant_init(quant_cpu_isa());
	if (quant_cpu_isa() >= LLM_ISA_AVX512)
		CHECK(llm_attn_get() == &llm_attn_avx512);
	else if (quant_cpu_isa() >= LLM_ISA_AVX2)
		CHECK(llm_attn_get() == &llm_attn_avx2);
}

int
main(void)
{
	quant_init(quant_cpu_isa());
	RUN(test_variants);
	RUN(test_tiles);
	RUN(test_underflow);
	RUN(test_dispatch);
	return unit_finish();
}
