/*
 * gguf.c — bounds-checked GGUF reader.
 *
 * The parser walks the header with a cursor that refuses to move past the
 * end of the buffer; every count read from the file is checked against the
 * bytes that remain before anything is allocated for it, so a hostile file
 * can make the reader allocate at most a small multiple of its own size.
 * Nested arrays are limited to GGUF_MAX_DEPTH levels.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_DEPTH 8
#define GGUF_MAX_KEY_LEN 65535
#define GGUF_MAX_ALIGNMENT (1u << 20)

typedef struct cursor
{
	const uint8_t *base;
	size_t		size;
	size_t		pos;
	llm_error  *err;
} cursor;

static const size_t scalar_sizes[GGUF_TYPE_COUNT] = {
	[GGUF_TYPE_UINT8] = 1,[GGUF_TYPE_INT8] = 1,
	[GGUF_TYPE_UINT16] = 2,[GGUF_TYPE_INT16] = 2,
	[GGUF_TYPE_UINT32] = 4,[GGUF_TYPE_INT32] = 4,
	[GGUF_TYPE_FLOAT32] = 4,[GGUF_TYPE_BOOL] = 1,
	[GGUF_TYPE_STRING] = 0,[GGUF_TYPE_ARRAY] = 0,
	[GGUF_TYPE_UINT64] = 8,[GGUF_TYPE_INT64] = 8,
	[GGUF_TYPE_FLOAT64] = 8,
};

/* Fail with a format error that names the byte offset. */
static llm_status
bad(cursor *c, const char *what)
{
	return llm_errorf(c->err, LLM_ERR_FORMAT,
					  "invalid gguf file: %s at byte %zu", what, c->pos);
}

/* Copy n bytes out of the buffer, or fail if they are not there. */
static llm_status
take(cursor *c, void *dst, size_t n, const char *what)
{
	if (n > c->size - c->pos)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: truncated %s at byte %zu (need %zu bytes, %zu left)",
						  what, c->pos, n, c->size - c->pos);
	memcpy(dst, c->base + c->pos, n);
	c->pos += n;
	return LLM_OK;
}

static llm_status
take_u32(cursor *c, uint32_t *v, const char *what)
{
	return take(c, v, 4, what);
}

static llm_status
take_u64(cursor *c, uint64_t *v, const char *what)
{
	return take(c, v, 8, what);
}

/* Read a gguf string; the data stays in the buffer. */
static llm_status
take_str(cursor *c, gguf_str *s, const char *what)
{
	llm_status	rc;

	if ((rc = take_u64(c, &s->len, what)) != LLM_OK)
		return rc;
	if (s->len > c->size - c->pos)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: %s of length %llu runs past the end of the file at byte %zu",
						  what, (unsigned long long) s->len, c->pos);
	s->data = (const char *) c->base + c->pos;
	c->pos += s->len;
	return LLM_OK;
}

/* Read a scalar of the given type into v. */
static llm_status
take_scalar(cursor *c, gguf_type t, gguf_value *v)
{
	uint8_t		raw[8];
	llm_status	rc;

	v->type = t;
	if ((rc = take(c, raw, scalar_sizes[t], "metadata value")) != LLM_OK)
		return rc;
	switch (t)
	{
		case GGUF_TYPE_UINT8:
		case GGUF_TYPE_BOOL:
			v->u64 = raw[0];
			break;
		case GGUF_TYPE_INT8:
			v->i64 = (int8_t) raw[0];
			break;
		case GGUF_TYPE_UINT16:
			{
				uint16_t	x;

				memcpy(&x, raw, 2);
				v->u64 = x;
				break;
			}
		case GGUF_TYPE_INT16:
			{
				int16_t		x;

				memcpy(&x, raw, 2);
				v->i64 = x;
				break;
			}
		case GGUF_TYPE_UINT32:
			{
				uint32_t	x;

				memcpy(&x, raw, 4);
				v->u64 = x;
				break;
			}
		case GGUF_TYPE_INT32:
			{
				int32_t		x;

				memcpy(&x, raw, 4);
				v->i64 = x;
				break;
			}
		case GGUF_TYPE_FLOAT32:
			{
				float		x;

				memcpy(&x, raw, 4);
				v->f64 = x;
				break;
			}
		case GGUF_TYPE_UINT64:
			memcpy(&v->u64, raw, 8);
			break;
		case GGUF_TYPE_INT64:
			memcpy(&v->i64, raw, 8);
			break;
		case GGUF_TYPE_FLOAT64:
			memcpy(&v->f64, raw, 8);
			break;
		default:
			return bad(c, "unexpected scalar type");
	}
	return LLM_OK;
}

static llm_status take_value(cursor *c, gguf_type t, gguf_value *v, int depth);

/* Free the heap parts of a value (nested arrays). */
static void
value_free(gguf_value *v)
{
	if (v->type == GGUF_TYPE_ARRAY && v->arr.items != NULL)
	{
		if (v->arr.elem_type == GGUF_TYPE_ARRAY)
			for (uint64_t i = 0; i < v->arr.n; i++)
				value_free(&v->arr.items[i]);
		free(v->arr.items);
		v->arr.items = NULL;
	}
}

/* Read an array value (after its type tag). */
static llm_status
take_array(cursor *c, gguf_value *v, int depth)
{
	uint32_t	et;
	uint64_t	n;
	llm_status	rc;

	v->type = GGUF_TYPE_ARRAY;
	v->arr.items = NULL;
	if (depth >= GGUF_MAX_DEPTH)
		return bad(c, "arrays nested too deeply");
	if ((rc = take_u32(c, &et, "array element type")) != LLM_OK ||
		(rc = take_u64(c, &n, "array length")) != LLM_OK)
		return rc;
	if (et >= GGUF_TYPE_COUNT)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: unknown array element type %u at byte %zu",
						  et, c->pos);
	v->arr.elem_type = (gguf_type) et;
	v->arr.n = n;
	if (et != GGUF_TYPE_STRING && et != GGUF_TYPE_ARRAY)
	{
		size_t		bytes;

		if (!llm_mul_size(n, scalar_sizes[et], &bytes) || bytes > c->size - c->pos)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: array of %llu %s elements runs past the end of the file at byte %zu",
							  (unsigned long long) n, gguf_type_name(et), c->pos);
		v->arr.raw = c->base + c->pos;
		c->pos += bytes;
		return LLM_OK;
	}

	/* each string or array element takes at least 8 (or 12) bytes */
	if (n > (c->size - c->pos) / 8)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: array count %llu exceeds the file size at byte %zu",
						  (unsigned long long) n, c->pos);
	v->arr.raw = NULL;
	v->arr.items = calloc(n ? n : 1, sizeof(gguf_value));
	if (v->arr.items == NULL)
		return llm_errorf(c->err, LLM_ERR_NOMEM, "out of memory reading a gguf array");
	/* unfilled items stay zeroed (type uint8), which value_free skips */
	for (uint64_t i = 0; i < n; i++)
	{
		if (et == GGUF_TYPE_STRING)
		{
			v->arr.items[i].type = GGUF_TYPE_STRING;
			rc = take_str(c, &v->arr.items[i].str, "array string");
		}
		else
			rc = take_value(c, GGUF_TYPE_ARRAY, &v->arr.items[i], depth + 1);
		if (rc != LLM_OK)
			return rc;
	}
	return LLM_OK;
}

/* Read a value of type t. */
static llm_status
take_value(cursor *c, gguf_type t, gguf_value *v, int depth)
{
	if (t == GGUF_TYPE_STRING)
	{
		v->type = GGUF_TYPE_STRING;
		return take_str(c, &v->str, "string value");
	}
	if (t == GGUF_TYPE_ARRAY)
		return take_array(c, v, depth);
	return take_scalar(c, t, v);
}

/* Names must be non-empty and bounded. */
static llm_status
check_name(cursor *c, gguf_str s, const char *what)
{
	if (s.len == 0 || s.len > GGUF_MAX_KEY_LEN)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: %s has invalid length %llu at byte %zu",
						  what, (unsigned long long) s.len, c->pos);
	return LLM_OK;
}

/* Order pointers to gguf strings by length, then bytes. */
static int
str_ptr_cmp(const void *a, const void *b)
{
	const gguf_str *x = *(const gguf_str *const *) a;
	const gguf_str *y = *(const gguf_str *const *) b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->len ? memcmp(x->data, y->data, x->len) : 0;
}

/*
 * Find two equal strings among n structs of stride bytes, each holding a
 * gguf_str at byte offset off: sort pointers, compare neighbours
 * (O(n log n), so a file with millions of keys cannot stall the check).
 * Sets *dup (NULL if none); false when out of memory.
 */
static bool
find_duplicate(const void *first, uint64_t n, size_t stride, size_t off,
			   const gguf_str **dup)
{
	const gguf_str **v;

	*dup = NULL;
	if (n < 2)
		return true;
	v = malloc(n * sizeof(*v));	/* n is bounded by the file size */
	if (v == NULL)
		return false;
	for (uint64_t i = 0; i < n; i++)
		v[i] = (const gguf_str *) ((const uint8_t *) first + i * stride + off);
	qsort(v, n, sizeof(*v), str_ptr_cmp);
	for (uint64_t i = 1; i < n && *dup == NULL; i++)
		if (str_ptr_cmp(&v[i - 1], &v[i]) == 0)
			*dup = v[i];
	free(v);
	return true;
}

/* Parse the key/value section. */
static llm_status
parse_kv(cursor *c, gguf_file *f)
{
	llm_status	rc;

	/* each kv needs at least 8 (key len) + 1 + 4 (type) + 1 bytes */
	if (f->n_kv > (c->size - c->pos) / 13)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: metadata count %llu exceeds the file size",
						  (unsigned long long) f->n_kv);
	f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof(gguf_kv));
	if (f->kv == NULL)
		return llm_errorf(c->err, LLM_ERR_NOMEM, "out of memory reading gguf metadata");
	for (uint64_t i = 0; i < f->n_kv; i++)
	{
		gguf_kv    *kv = &f->kv[i];
		uint32_t	t;

		if ((rc = take_str(c, &kv->key, "metadata key")) != LLM_OK ||
			(rc = check_name(c, kv->key, "metadata key")) != LLM_OK ||
			(rc = take_u32(c, &t, "metadata type")) != LLM_OK)
		{
			f->n_kv = i;
			return rc;
		}
		if (t >= GGUF_TYPE_COUNT)
		{
			f->n_kv = i;
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: metadata key \"%.*s\" has unknown type %u",
							  (int) (kv->key.len > 64 ? 64 : kv->key.len), kv->key.data, t);
		}
		rc = take_value(c, (gguf_type) t, &kv->value, 0);
		if (rc != LLM_OK)
		{
			f->n_kv = i + 1;
			return rc;
		}
	}
	/* duplicate keys make lookups ambiguous */
	{
		const gguf_str *dup = NULL;

		if (!find_duplicate(f->kv, f->n_kv, sizeof(gguf_kv), offsetof(gguf_kv, key), &dup))
			return llm_errorf(c->err, LLM_ERR_NOMEM, "out of memory checking gguf metadata keys");
		if (dup != NULL)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: duplicate metadata key \"%.*s\"",
							  (int) (dup->len > 64 ? 64 : dup->len), dup->data);
	}
	return LLM_OK;
}

/* Parse the tensor-info section (offsets checked later). */
static llm_status
parse_tensors(cursor *c, gguf_file *f)
{
	llm_status	rc;

	/* each tensor info needs at least 8 + 1 + 4 + 8 + 4 + 8 bytes */
	if (f->n_tensors > (c->size - c->pos) / 33)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: tensor count %llu exceeds the file size",
						  (unsigned long long) f->n_tensors);
	f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(gguf_tensor));
	if (f->tensors == NULL)
		return llm_errorf(c->err, LLM_ERR_NOMEM, "out of memory reading gguf tensor infos");
	for (uint64_t i = 0; i < f->n_tensors; i++)
	{
		gguf_tensor *t = &f->tensors[i];
		uint64_t	nelem = 1;
		size_t		rowb;

		if ((rc = take_str(c, &t->name, "tensor name")) != LLM_OK ||
			(rc = check_name(c, t->name, "tensor name")) != LLM_OK ||
			(rc = take_u32(c, &t->n_dims, "tensor dimension count")) != LLM_OK)
			return rc;
		if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: tensor \"%.*s\" has %u dimensions (1 to %d allowed)",
							  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data,
							  t->n_dims, GGUF_MAX_DIMS);
		for (int d = 0; d < GGUF_MAX_DIMS; d++)
			t->ne[d] = 1;
		for (uint32_t d = 0; d < t->n_dims; d++)
		{
			if ((rc = take_u64(c, &t->ne[d], "tensor dimension")) != LLM_OK)
				return rc;
			if (t->ne[d] == 0 || t->ne[d] > (1ull << 40) ||
				__builtin_mul_overflow(nelem, t->ne[d], &nelem) || nelem > (1ull << 48))
				return llm_errorf(c->err, LLM_ERR_FORMAT,
								  "invalid gguf file: tensor \"%.*s\" has an invalid shape",
								  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data);
		}
		if ((rc = take_u32(c, &t->type, "tensor type")) != LLM_OK ||
			(rc = take_u64(c, &t->offset, "tensor offset")) != LLM_OK)
			return rc;
		if (!llm_dtype_supported(t->type))
			return llm_errorf(c->err, LLM_ERR_UNSUPPORTED,
							  "unsupported gguf file: tensor \"%.*s\" has weight type %u, which this build cannot read",
							  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data, t->type);
		rowb = llm_row_bytes(t->type, (int64_t) t->ne[0]);
		if (rowb == 0 || !llm_mul_size(rowb, nelem / t->ne[0], &t->nbytes))
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: tensor \"%.*s\" row length %llu is not a multiple of the %s block size",
							  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data,
							  (unsigned long long) t->ne[0], llm_dtype_name(t->type));
	}
	return LLM_OK;
}

/* Resolve general.alignment, the data section and each tensor's data. */
static llm_status
place_tensors(cursor *c, gguf_file *f)
{
	const gguf_value *a = gguf_get(f, "general.alignment");
	size_t		data_off;

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (a != NULL)
	{
		if (a->type != GGUF_TYPE_UINT32 && a->type != GGUF_TYPE_UINT64 &&
			a->type != GGUF_TYPE_INT32 && a->type != GGUF_TYPE_INT64)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: general.alignment is not an integer");
		if (a->u64 == 0 || a->u64 > GGUF_MAX_ALIGNMENT || (a->u64 & (a->u64 - 1)) != 0)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: general.alignment %llu is not a power of two up to %u",
							  (unsigned long long) a->u64, GGUF_MAX_ALIGNMENT);
		f->alignment = a->u64;
	}
	data_off = (c->pos + f->alignment - 1) / f->alignment * f->alignment;
	if (f->n_tensors > 0 && data_off > c->size)
		return llm_errorf(c->err, LLM_ERR_FORMAT,
						  "invalid gguf file: the tensor data section starts past the end of the file");
	f->data_offset = data_off;
	for (uint64_t i = 0; i < f->n_tensors; i++)
	{
		gguf_tensor *t = &f->tensors[i];
		size_t		start,
					end;

		if (t->offset % f->alignment != 0)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: tensor \"%.*s\" offset %llu is not aligned to %llu",
							  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data,
							  (unsigned long long) t->offset, (unsigned long long) f->alignment);
		if (!llm_add_size(data_off, t->offset, &start) ||
			!llm_add_size(start, t->nbytes, &end) || end > c->size)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: tensor \"%.*s\" data (offset %llu, %zu bytes) runs past the end of the file",
							  (int) (t->name.len > 64 ? 64 : t->name.len), t->name.data,
							  (unsigned long long) t->offset, t->nbytes);
		t->data = c->base + start;
	}
	/* duplicate tensor names make lookups ambiguous */
	{
		const gguf_str *dup = NULL;

		if (!find_duplicate(f->tensors, f->n_tensors, sizeof(gguf_tensor),
							offsetof(gguf_tensor, name), &dup))
			return llm_errorf(c->err, LLM_ERR_NOMEM, "out of memory checking gguf tensor names");
		if (dup != NULL)
			return llm_errorf(c->err, LLM_ERR_FORMAT,
							  "invalid gguf file: duplicate tensor name \"%.*s\"",
							  (int) (dup->len > 64 ? 64 : dup->len), dup->data);
	}
	return LLM_OK;
}

/* Parse a whole buffer into f. */
static llm_status
parse(gguf_file *f, llm_error *err)
{
	cursor		c = {.base = f->base,.size = f->size,.pos = 0,.err = err};
	char		magic[4];
	llm_status	rc;

	if ((rc = take(&c, magic, 4, "magic")) != LLM_OK)
		return rc;
	if (memcmp(magic, GGUF_MAGIC, 4) != 0)
		return llm_errorf(err, LLM_ERR_FORMAT, "not a gguf file: bad magic");
	if ((rc = take_u32(&c, &f->version, "version")) != LLM_OK)
		return rc;
	if (f->version != 2 && f->version != 3)
		return llm_errorf(err, LLM_ERR_UNSUPPORTED,
						  "unsupported gguf version %u (2 and 3 are supported)", f->version);
	if ((rc = take_u64(&c, &f->n_tensors, "tensor count")) != LLM_OK ||
		(rc = take_u64(&c, &f->n_kv, "metadata count")) != LLM_OK)
		return rc;
	{
		uint64_t	n_tensors = f->n_tensors;

		f->n_tensors = 0;		/* nothing allocated yet */
		if ((rc = parse_kv(&c, f)) != LLM_OK)
			return rc;
		f->n_tensors = n_tensors;
	}
	if ((rc = parse_tensors(&c, f)) != LLM_OK)
		return rc;
	return place_tensors(&c, f);
}

llm_status
gguf_open_buffer(const void *buf, size_t size, gguf_file **out, llm_error *err)
{
	gguf_file  *f;
	llm_status	rc;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	f->base = buf;
	f->size = size;
	rc = parse(f, err);
	if (rc != LLM_OK)
	{
		gguf_close(f);
		return rc;
	}
	*out = f;
	return LLM_OK;
}

llm_status
gguf_open(const char *path, gguf_file **out, llm_error *err)
{
	int			fd;
	struct stat st;
	void	   *map;
	llm_status	rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return llm_errorf(err, LLM_ERR_IO, "could not open model file \"%s\": %s",
						  path, strerror(errno));
	if (fstat(fd, &st) != 0)
	{
		rc = llm_errorf(err, LLM_ERR_IO, "could not stat model file \"%s\": %s",
						path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		return llm_errorf(err, LLM_ERR_IO, "model file \"%s\" is not a regular file", path);
	}
	if (st.st_size < 24)
	{
		close(fd);
		return llm_errorf(err, LLM_ERR_FORMAT,
						  "invalid gguf file \"%s\": only %lld bytes long", path,
						  (long long) st.st_size);
	}
	map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return llm_errorf(err, LLM_ERR_IO, "could not map model file \"%s\": %s",
						  path, strerror(errno));
	rc = gguf_open_buffer(map, (size_t) st.st_size, out, err);
	if (rc != LLM_OK)
	{
		munmap(map, (size_t) st.st_size);
		return rc;
	}
	(*out)->mapped = true;
	return LLM_OK;
}

void
gguf_close(gguf_file *f)
{
	if (f == NULL)
		return;
	if (f->kv != NULL)
	{
		for (uint64_t i = 0; i < f->n_kv; i++)
			value_free(&f->kv[i].value);
		free(f->kv);
	}
	free(f->tensors);
	if (f->mapped)
		munmap((void *) f->base, f->size);
	free(f);
}

bool
gguf_str_eq(gguf_str s, const char *cstr)
{
	size_t		n = strlen(cstr);

	return s.len == n && memcmp(s.data, cstr, n) == 0;
}

const gguf_value *
gguf_get(const gguf_file *f, const char *key)
{
	for (uint64_t i = 0; i < f->n_kv; i++)
		if (gguf_str_eq(f->kv[i].key, key))
			return &f->kv[i].value;
	return NULL;
}

const gguf_tensor *
gguf_find_tensor(const gguf_file *f, const char *name)
{
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if (gguf_str_eq(f->tensors[i].name, name))
			return &f->tensors[i];
	return NULL;
}

static bool
is_unsigned(gguf_type t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 ||
		t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}

static bool
is_signed(gguf_type t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 ||
		t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

bool
gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
	const gguf_value *v = gguf_get(f, key);

	if (v == NULL)
		return false;
	if (is_signed(v->type))
		*out = v->i64;
	else if (is_unsigned(v->type) && v->u64 <= INT64_MAX)
		*out = (int64_t) v->u64;
	else
		return false;
	return true;
}

bool
gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
	const gguf_value *v = gguf_get(f, key);

	if (v == NULL)
		return false;
	if (is_unsigned(v->type))
		*out = v->u64;
	else if (is_signed(v->type) && v->i64 >= 0)
		*out = (uint64_t) v->i64;
	else
		return false;
	return true;
}

bool
gguf_get_f64(const gguf_file *f, const char *key, double *out)
{
	const gguf_value *v = gguf_get(f, key);

	if (v == NULL)
		return false;
	if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64)
		*out = v->f64;
	else if (is_signed(v->type))
		*out = (double) v->i64;
	else if (is_unsigned(v->type))
		*out = (double) v->u64;
	else
		return false;
	return true;
}

bool
gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
	const gguf_value *v = gguf_get(f, key);

	if (v == NULL || v->type != GGUF_TYPE_BOOL)
		return false;
	*out = v->u64 != 0;
	return true;
}

bool
gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
	const gguf_value *v = gguf_get(f, key);

	if (v == NULL || v->type != GGUF_TYPE_STRING)
		return false;
	*out = v->str;
	return true;
}

/* Float to integer without undefined behaviour: NaN 0, saturating. */
static int64_t
f64_to_i64(double x)
{
	if (x != x)
		return 0;
	if (x >= 9223372036854775807.0)
		return INT64_MAX;
	if (x <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t) x;
}

int64_t
gguf_arr_i64(const gguf_value *arr, uint64_t i)
{
	const uint8_t *p;

	if (arr->type != GGUF_TYPE_ARRAY || i >= arr->arr.n || arr->arr.raw == NULL)
		return 0;
	p = (const uint8_t *) arr->arr.raw + i * scalar_sizes[arr->arr.elem_type];
	switch (arr->arr.elem_type)
	{
		case GGUF_TYPE_UINT8:
		case GGUF_TYPE_BOOL:
			return p[0];
		case GGUF_TYPE_INT8:
			return (int8_t) p[0];
		case GGUF_TYPE_UINT16:
			{
				uint16_t	x;

				memcpy(&x, p, 2);
				return x;
			}
		case GGUF_TYPE_INT16:
			{
				int16_t		x;

				memcpy(&x, p, 2);
				return x;
			}
		case GGUF_TYPE_UINT32:
			{
				uint32_t	x;

				memcpy(&x, p, 4);
				return x;
			}
		case GGUF_TYPE_INT32:
			{
				int32_t		x;

				memcpy(&x, p, 4);
				return x;
			}
		case GGUF_TYPE_UINT64:
		case GGUF_TYPE_INT64:
			{
				int64_t		x;

				memcpy(&x, p, 8);
				return x;
			}
		case GGUF_TYPE_FLOAT32:
			{
				float		x;

				memcpy(&x, p, 4);
				return f64_to_i64(x);
			}
		case GGUF_TYPE_FLOAT64:
			{
				double		x;

				memcpy(&x, p, 8);
				return f64_to_i64(x);
			}
		default:
			return 0;
	}
}

double
gguf_arr_f64(const gguf_value *arr, uint64_t i)
{
	const uint8_t *p;

	if (arr->type != GGUF_TYPE_ARRAY || i >= arr->arr.n || arr->arr.raw == NULL)
		return 0;
	p = (const uint8_t *) arr->arr.raw + i * scalar_sizes[arr->arr.elem_type];
	if (arr->arr.elem_type == GGUF_TYPE_FLOAT32)
	{
		float		x;

		memcpy(&x, p, 4);
		return x;
	}
	if (arr->arr.elem_type == GGUF_TYPE_FLOAT64)
	{
		double		x;

		memcpy(&x, p, 8);
		return x;
	}
	return (double) gguf_arr_i64(arr, i);
}

const char *
gguf_type_name(gguf_type t)
{
	static const char *const names[GGUF_TYPE_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64"
	};

	return (unsigned) t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}
