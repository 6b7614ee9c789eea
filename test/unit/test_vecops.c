/*
 * test_vecops.c — the SIMD row operations equal the scalar reference:
 * SwiGLU and RMSNorm within a relative tolerance, RoPE bit for bit; odd
 * lengths and extreme inputs included.
 */
#include "unit.h"

#include "quant.h"
#include "vecops.h"

static void
test_swiglu(void)
{
	static float g1[1037],
				g2[1037],
				u[1037];
	unsigned	s = 11;

	if (quant_cpu_isa() < LLM_ISA_AVX512)
		SKIP("no AVX-512 on this CPU");
	for (int n = 0; n <= 1037; n += (n < 40 ? 1 : 111))
	{
		double		worst = 0;

		for (int i = 0; i < n; i++)
		{
			s = s * 1103515245u + 12345u;
			g1[i] = g2[i] = ((s >> 8) & 0xffff) / 327.68f - 100.0f;	/* [-100, 100) */
			u[i] = ((s >> 4) & 0xff) / 64.0f - 2.0f;
		}
		if (n > 3)
		{
			g1[0] = g2[0] = -1000.0f;
			g1[1] = g2[1] = 1000.0f;
			g1[2] = g2[2] = 0.0f;
		}
		llm_vecops_scalar.swiglu(g1, u, n);
		llm_vecops_avx512.swiglu(g2, u, n);
		for (int i = 0; i < n; i++)
		{
			/* relative, except where e^-g overflows (tiny results) */
			double		d = fabs((double) g1[i] - g2[i]) / (fabs(g1[i]) + 1e-20);

			if (d > worst)
				worst = d;
		}
		CHECKF(worst < 1e-6, "n %d: worst relative difference %g", n, worst);
	}
}

/* A value in [lo, hi) from the generator state *s. */
static float
uniform(unsigned *s, float lo, float hi)
{
	*s = *s * 1103515245u + 12345u;
	return lo + (hi - lo) * (float) ((*s >> 8) & 0xffff) / 65536.0f;
}

static void
test_rmsnorm(void)
{
	static float x[1043],
				w[1043],
				o1[1043],
				o2[1043];
	unsigned	s = 5;

	if (quant_cpu_isa() < LLM_ISA_AVX512)
		SKIP("no AVX-512 on this CPU");
	for (int n = 1; n <= 1043; n += (n < 40 ? 1 : 97))
		for (int scale = 0; scale < 3; scale++)
		{
			/* rows of ordinary size, tiny (eps matters) and huge values */
			float		mag = scale == 0 ? 1.0f : scale == 1 ? 1e-4f : 1e15f;
			double		worst = 0;

			for (int i = 0; i < n; i++)
			{
				x[i] = uniform(&s, -mag, mag);
				w[i] = uniform(&s, -2.0f, 2.0f);
			}
			llm_vecops_scalar.rmsnorm(o1, x, w, n, 1e-5f);
			llm_vecops_avx512.rmsnorm(o2, x, w, n, 1e-5f);
			for (int i = 0; i < n; i++)
			{
				double		d = fabs((double) o1[i] - o2[i]) / (fabs(o1[i]) + 1e-30);

				if (d > worst)
					worst = d;
			}
			CHECKF(worst <= 5e-7, "n %d, scale %g: worst relative difference %g", n, mag, worst);
			/* in place, as the output norm runs */
			memcpy(o2, x, n * sizeof(float));
			llm_vecops_avx512.rmsnorm(o2, o2, w, n, 1e-5f);
			for (int i = 0; i < n; i++)
				o1[i] -= o2[i];
			CHECKF(fabs(o1[n / 2]) <= 5e-7 * (fabs(o2[n / 2]) + 1e-30), "n %d: in place", n);
		}
}

/*
 * Both pair layouts, rotary sizes from 2 to 128 (tails of 1..15 pairs,
 * partial rotation n_rot < head_dim), 1..3 heads: the same bits as the
 * reference, values outside the rotary part untouched.
 */
static void
test_rope(void)
{
	static const int n_rots[] = {2, 4, 6, 14, 16, 18, 30, 32, 34, 48, 62, 64, 66, 80, 96, 128};
	static float v1[3 * 160],
				v2[3 * 160],
				cs[128];
	unsigned	s = 9;

	if (quant_cpu_isa() < LLM_ISA_AVX512)
		SKIP("no AVX-512 on this CPU");
	for (int neox = 0; neox < 2; neox++)
		for (int r = 0; r < (int) (sizeof(n_rots) / sizeof(n_rots[0])); r++)
			for (int heads = 1; heads <= 3; heads++)
			{
				int			n_rot = n_rots[r],
							head_dim = n_rot + (r % 3) * 16;
				int			bad = 0;

				for (int i = 0; i < n_rot / 2; i++)
				{
					float		a = uniform(&s, -300.0f, 300.0f);

					cs[2 * i] = cosf(a);
					cs[2 * i + 1] = sinf(a);
				}
				for (int i = 0; i < heads * head_dim; i++)
					v1[i] = v2[i] = uniform(&s, -50.0f, 50.0f);
				llm_vecops_scalar.rope(v1, heads, head_dim, n_rot, neox, cs);
				llm_vecops_avx512.rope(v2, heads, head_dim, n_rot, neox, cs);
				for (int i = 0; i < heads * head_dim; i++)
					bad += memcmp(&v1[i], &v2[i], sizeof(float)) != 0;
				CHECKF(bad == 0, "%s n_rot %d head_dim %d heads %d: %d values differ",
					   neox ? "neox" : "norm", n_rot, head_dim, heads, bad);
			}
}

static void
test_dispatch(void)
{
	quant_init(LLM_ISA_SCALAR);
	CHECK(llm_vecops_get() == &llm_vecops_scalar);
	quant_init(quant_cpu_isa());
	CHECK(llm_vecops_get() == (quant_cpu_isa() >= LLM_ISA_AVX512 ?
							   &llm_vecops_avx512 : &llm_vecops_scalar));
}

int
main(void)
{
	RUN(test_swiglu);
	RUN(test_rmsnorm);
	RUN(test_rope);
	RUN(test_dispatch);
	return unit_finish();
}
