/*
 * test_attn.c — the AVX2 attention loops equal the scalar reference.
 */
#include "unit.h"

#include "attn.h"
#include "quant.h"

static float
frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void
test_variants(void)
{
	unsigned	seed = 7;

	if (quant_cpu_isa() < LLM_ISA_AVX2)
		SKIP("no AVX2 on this CPU");
	for (int n = 1; n <= 160; n += (n < 20 ? 1 : 13))
	{
		float		q[160],
					kf[160],
					o1[160],
					o2[160];
		uint16_t	kh[160];
		double		scale = 0;

		for (int i = 0; i < n; i++)
		{
			q[i] = frand(&seed);
			kf[i] = frand(&seed) * 4;
			kh[i] = llm_f32_to_f16(kf[i]);
			o1[i] = o2[i] = frand(&seed);
			scale += fabs(q[i] * kf[i]);
		}
		CHECK_NEAR(llm_attn_avx2.dot_f32(q, kf, n), llm_attn_scalar.dot_f32(q, kf, n), 1e-5 * (scale + 1));
		CHECK_NEAR(llm_attn_avx2.dot_f16(q, kh, n), llm_attn_scalar.dot_f16(q, kh, n), 1e-5 * (scale + 1));
		llm_attn_avx2.axpy_f16(o1, 0.37f, kh, n);
		llm_attn_scalar.axpy_f16(o2, 0.37f, kh, n);
		for (int i = 0; i < n; i++)
			CHECK_NEAR(o1[i], o2[i], 1e-6);
		llm_attn_avx2.axpy_f32(o1, -0.5f, kf, n);
		llm_attn_scalar.axpy_f32(o2, -0.5f, kf, n);
		for (int i = 0; i < n; i++)
			CHECK_NEAR(o1[i], o2[i], 1e-6);
	}
}

static void
test_dispatch(void)
{
	quant_init(LLM_ISA_SCALAR);
	CHECK(llm_attn_get() == &llm_attn_scalar);
	quant_init(quant_cpu_isa());
	if (quant_cpu_isa() >= LLM_ISA_AVX2)
		CHECK(llm_attn_get() == &llm_attn_avx2);
}

int
main(void)
{
	RUN(test_variants);
	RUN(test_dispatch);
	return unit_finish();
}
