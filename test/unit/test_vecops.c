/*
 * test_vecops.c — the SIMD element-wise row operations equal the scalar
 * reference (relative tolerance), odd lengths and extreme inputs included.
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
	RUN(test_dispatch);
	return unit_finish();
}
