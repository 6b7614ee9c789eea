/*
 * quantize.c — llm-quantize: rewrite a GGUF model with its weight matrices
 * in another type.
 *
 *   llm-quantize IN.gguf OUT.gguf TYPE [-v]
 *   TYPE: f32 f16 bf16 q8_0 q4_0 q4_k (= q4_k_s) q4_k_m q6_k
 *
 * Every metadata key is copied; general.file_type is set to llama.cpp's
 * number for TYPE and general.quantization_version to 2 for quantized
 * types.  The per-tensor choice (norms stay as they are, output.weight gets
 * Q6_K, the Q4_K_M mix, fallbacks for rows that do not fit a block) is in
 * quant_mix.h.  Tensors whose type does not change are copied byte for
 * byte from the input mapping; the others are converted row by row (through
 * float32) and streamed, so memory use stays at a few rows whatever the
 * model size.
 */
#include "common.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"
#include "quant_mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (1 << 20)

/* Print an error and return 1. */
static int
fail(const char *fmt,...)
{
	va_list		ap;

	fputs("llm-quantize: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Copy a gguf_str into a NUL-terminated buffer. */
static void
str_copy(char *dst, size_t cap, gguf_str s)
{
	size_t		n = s.len < cap - 1 ? (size_t) s.len : cap - 1;

	memcpy(dst, s.data, n);
	dst[n] = '\0';
}

/* Convert one tensor row by row and stream it to the writer. */
static llm_status
convert_tensor(gguf_writer *w, const gguf_tensor *t, uint32_t dst_type, llm_error *err)
{
	int64_t		n = (int64_t) t->ne[0];
	size_t		src_row = llm_row_bytes(t->type, n);
	size_t		dst_row = llm_row_bytes(dst_type, n);
	size_t		rows = t->nbytes / src_row;
	size_t		per_chunk = CHUNK_BYTES / dst_row ? CHUNK_BYTES / dst_row : 1;
	float	   *f = malloc((size_t) n * sizeof(float));
	uint8_t    *out = malloc(per_chunk * dst_row);
	llm_status	st = LLM_OK;

	if (f == NULL || out == NULL)
	{
		free(f);
		free(out);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory converting a tensor");
	}
	for (size_t r = 0; r < rows && st == LLM_OK; r += per_chunk)
	{
		size_t		k = rows - r < per_chunk ? rows - r : per_chunk;

		for (size_t j = 0; j < k; j++)
		{
			llm_dequantize_row(t->type, (const uint8_t *) t->data + (r + j) * src_row, f, n);
			llm_quantize_row(dst_type, f, out + j * dst_row, n);
		}
		st = gguf_writer_data(w, out, k * dst_row, err);
	}
	free(f);
	free(out);
	return st;
}

/* Parse arguments, plan each tensor's type, stream the new file. */
int
main(int argc, char **argv)
{
	const char *in_path = NULL,
			   *out_path = NULL,
			   *type_name = NULL;
	bool		verbose = false;
	const quant_ftype *ft;
	gguf_file  *in = NULL;
	gguf_writer *w = NULL;
	llm_error	err = {0};
	uint32_t   *dst = NULL;
	uint64_t	n_layers = 0;
	bool		has_output;
	size_t		bytes_in = 0,
				bytes_out = 0;
	int			counts[32] = {0};
	int			rc = 1;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			type_name = NULL, in_path = NULL, i = argc;
		else if (in_path == NULL)
			in_path = argv[i];
		else if (out_path == NULL)
			out_path = argv[i];
		else if (type_name == NULL)
			type_name = argv[i];
		else
			return fail("unexpected argument '%s'", argv[i]) + 1;
	}
	if (in_path == NULL || out_path == NULL || type_name == NULL)
	{
		fprintf(stderr, "usage: llm-quantize IN.gguf OUT.gguf TYPE [-v]\n"
				"TYPE: f32 f16 bf16 q8_0 q4_0 q4_k q4_k_m q6_k\n");
		return 2;
	}
	ft = quant_ftype_find(type_name);
	if (ft == NULL)
		return fail("unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q4_k q4_k_m q6_k)",
					type_name) + 1;
	if (strcmp(in_path, out_path) == 0)
		return fail("input and output are the same file") + 1;
	if (gguf_open(in_path, &in, &err) != LLM_OK)
		return fail("%s", err.msg);

	{
		gguf_str	arch;
		char		key[160];

		if (gguf_get_str(in, "general.architecture", &arch) && arch.len < 64)
		{
			snprintf(key, sizeof(key), "%.*s.block_count", (int) arch.len, arch.data);
			if (!gguf_get_u64(in, key, &n_layers))
				n_layers = 0;
		}
	}
	has_output = gguf_find_tensor(in, "output.weight") != NULL;

	if (gguf_writer_create(&w, &err) != LLM_OK)
		goto llm_fail;
	for (uint64_t i = 0; i < in->n_kv; i++)
		if (gguf_writer_set_valuen(w, in->kv[i].key.data, (size_t) in->kv[i].key.len,
								   &in->kv[i].value, &err) != LLM_OK)
			goto llm_fail;
	if (gguf_writer_set_u32(w, "general.file_type", ft->file_type, &err) != LLM_OK)
		goto llm_fail;
	if (!quant_is_float(ft->base))
	{
		if (gguf_writer_set_u32(w, "general.quantization_version", 2, &err) != LLM_OK)
			goto llm_fail;
	}
	else
		gguf_writer_remove(w, "general.quantization_version");

	dst = calloc(in->n_tensors ? in->n_tensors : 1, sizeof(uint32_t));
	if (dst == NULL)
	{
		rc = fail("out of memory");
		goto done;
	}
	for (uint64_t i = 0; i < in->n_tensors; i++)
	{
		const gguf_tensor *t = &in->tensors[i];
		char		name[GGUF_WRITER_MAX_NAME + 2];
		bool		is_output;

		if (t->name.len > GGUF_WRITER_MAX_NAME)
		{
			rc = fail("tensor name of %llu bytes is too long", (unsigned long long) t->name.len);
			goto done;
		}
		str_copy(name, sizeof(name), t->name);
		is_output = strcmp(name, "output.weight") == 0 ||
			(!has_output && strcmp(name, "token_embd.weight") == 0);
		dst[i] = quant_mix_type(ft, name, t->n_dims, t->ne[0], t->type,
								(int) n_layers, is_output);
		if (gguf_writer_add_tensor(w, name, dst[i], t->n_dims, t->ne,
								   dst[i] == t->type ? t->data : NULL, false, &err) != LLM_OK)
			goto llm_fail;
		if (verbose)
			printf("%-32s [%llu, %llu, %llu, %llu] %s -> %s\n", name,
				   (unsigned long long) t->ne[0], (unsigned long long) t->ne[1],
				   (unsigned long long) t->ne[2], (unsigned long long) t->ne[3],
				   llm_dtype_name(t->type), llm_dtype_name(dst[i]));
		bytes_in += t->nbytes;
		bytes_out += gguf_writer_tensor_nbytes(w, i);
		if (dst[i] < 32)
			counts[dst[i]]++;
	}

	if (gguf_writer_begin(w, out_path, &err) != LLM_OK)
		goto llm_fail;
	for (uint64_t i = 0; i < in->n_tensors; i++)
		if (dst[i] != in->tensors[i].type &&
			convert_tensor(w, &in->tensors[i], dst[i], &err) != LLM_OK)
			goto llm_fail;
	if (gguf_writer_finish(w, &err) != LLM_OK)
		goto llm_fail;

	printf("wrote %s: %s (file_type %u), %llu tensors, %.2f MiB -> %.2f MiB;",
		   out_path, ft->name, ft->file_type, (unsigned long long) in->n_tensors,
		   bytes_in / 1048576.0, bytes_out / 1048576.0);
	for (int t = 0; t < 32; t++)
		if (counts[t])
			printf(" %s %d", llm_dtype_name(t), counts[t]);
	printf("\n");
	rc = 0;
	goto done;

llm_fail:
	rc = fail("%s", err.msg);
done:
	free(dst);
	gguf_writer_free(w);
	gguf_close(in);
	return rc;
}
