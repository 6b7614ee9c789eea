/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Parses the input with gguf_open_buffer and, when it is accepted, touches
 * every byte the reader hands out: keys, strings, array elements (through
 * the typed accessors), nested arrays, tensor names and the first and last
 * byte of every tensor's data; it also looks every key and tensor up by
 * name and asserts the reader's invariants (pointers inside the input,
 * aligned tensor data).  A violated invariant aborts, which libFuzzer
 * reports like a crash.  The input is copied to an exact-size heap buffer
 * so ASan catches any read past its end.
 *
 * Seeds: test/fuzz/corpus/fuzz_gguf/, synthetic files (random weights, a
 * made-up vocabulary, nothing derived from real models) written by
 *   R=build/llm-random-model; C=test/fuzz/corpus/fuzz_gguf
 *   $R --shape tiny --dim 8 --hidden 16 --heads 2 --kv-heads 1 --n-vocab 8 --type f32 -o $C/tiny-f32.gguf
 *   $R --shape tiny --dim 32 --hidden 32 --n-vocab 8 --type q8_0 -o $C/tiny-q8_0.gguf
 *   $R --shape tiny --dim 32 --hidden 32 --n-vocab 6 --type q4_0 --kv-zoo --gguf-version 2 \
 *      --alignment 64 -o $C/tiny-q4_0-zoo-v2.gguf
 *   $R --shape tiny --dim 8 --hidden 8 --heads 2 --kv-heads 2 --n-vocab 4 --type f16 --kv-zoo \
 *      --alignment 8 -o $C/tiny-f16-zoo-a8.gguf
 *   $R --shape tiny --dim 8 --hidden 8 --heads 2 --kv-heads 1 --n-vocab 3 --type bf16 --seed 3 \
 *      -o $C/tiny-bf16.gguf
 *   $R --shape tiny --dim 32 --hidden 32 --n-vocab 4 --type q4_k_m -o $C/tiny-q4km-fallback.gguf
 * Build and run: make fuzz-run (FUZZ_SECONDS=...).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"

static const uint8_t *fz_base;
static size_t fz_size;
static volatile uint64_t fz_sink;

/* Abort when a pointer range is not inside the input. */
static void
fz_in_input(const void *p, uint64_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return;
	if (b < fz_base || b > fz_base + fz_size || n > (uint64_t) (fz_base + fz_size - b))
		abort();
}

/* Touch every byte of a value. */
static void
fz_walk_value(const gguf_value *v, int depth)
{
	if (depth > 64)
		abort();
	switch (v->type)
	{
		case GGUF_TYPE_STRING:
			fz_in_input(v->str.data, v->str.len);
			for (uint64_t i = 0; i < v->str.len; i++)
				fz_sink += (uint8_t) v->str.data[i];
			break;
		case GGUF_TYPE_ARRAY:
			if (v->arr.elem_type == GGUF_TYPE_STRING || v->arr.elem_type == GGUF_TYPE_ARRAY)
			{
				if (v->arr.n > 0 && v->arr.items == NULL)
					abort();
				for (uint64_t i = 0; i < v->arr.n; i++)
					fz_walk_value(&v->arr.items[i], depth + 1);
			}
			else
			{
				for (uint64_t i = 0; i < v->arr.n; i++)
				{
					double		d = gguf_arr_f64(v, i);
					uint64_t	bits;

					memcpy(&bits, &d, sizeof(bits));
					fz_sink += (uint64_t) gguf_arr_i64(v, i) + bits;
				}
			}
			break;
		default:
			if ((unsigned) v->type >= GGUF_TYPE_COUNT)
				abort();
			fz_sink += v->u64;
	}
}

/* Copy a name into a NUL-terminated buffer; false if it holds a NUL. */
static int
fz_name(char *dst, size_t cap, gguf_str s)
{
	if (s.len >= cap || memchr(s.data, 0, s.len) != NULL)
		return 0;
	memcpy(dst, s.data, s.len);
	dst[s.len] = '\0';
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *buf = malloc(size ? size : 1);
	gguf_file  *f = NULL;
	llm_error	err;
	char		name[512];

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	fz_base = buf;
	fz_size = size;
	if (gguf_open_buffer(buf, size, &f, &err) != LLM_OK)
	{
		if (f != NULL || err.msg[0] == '\0')
			abort();
		free(buf);
		return 0;
	}
	if (f->alignment == 0 || (f->alignment & (f->alignment - 1)) != 0)
		abort();
	for (uint64_t i = 0; i < f->n_kv; i++)
	{
		const gguf_kv *kv = &f->kv[i];
		uint64_t	u;
		int64_t		s;
		double		d;
		bool		b;
		gguf_str	str;

		fz_in_input(kv->key.data, kv->key.len);
		fz_walk_value(&kv->value, 0);
		if (fz_name(name, sizeof(name), kv->key))
		{
			if (gguf_get(f, name) != &kv->value)
				abort();
			fz_sink += gguf_get_u64(f, name, &u) + gguf_get_i64(f, name, &s) +
				gguf_get_f64(f, name, &d) + gguf_get_bool(f, name, &b) +
				gguf_get_str(f, name, &str);
		}
	}
	for (uint64_t i = 0; i < f->n_tensors; i++)
	{
		const gguf_tensor *t = &f->tensors[i];

		fz_in_input(t->name.data, t->name.len);
		if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS || !llm_dtype_supported(t->type))
			abort();
		if (t->offset % f->alignment != 0 ||
			(const uint8_t *) t->data != f->base + f->data_offset + t->offset)
			abort();
		fz_in_input(t->data, t->nbytes);
		if (t->nbytes > 0)
			fz_sink += ((const uint8_t *) t->data)[0] +
				((const uint8_t *) t->data)[t->nbytes - 1];
		if (fz_name(name, sizeof(name), t->name) && gguf_find_tensor(f, name) != t)
			abort();
	}
	gguf_close(f);
	free(buf);
	return 0;
}
