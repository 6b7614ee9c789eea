/*
 * gguf_write.c — GGUF builder and atomic writer (see gguf_write.h).
 *
 * Metadata values are serialised when they are set: each key keeps the
 * encoded bytes of its value (type tag excluded), so writing is a plain copy
 * and replacing a value swaps one buffer.  Tensor offsets are assigned when
 * writing starts, from the final alignment.  The output goes through one
 * buffered FILE: a temporary file for gguf_writer_begin/write, an
 * open_memstream buffer for gguf_writer_write_mem.  Every write error ends
 * the file: the temporary is closed and unlinked and the writer returns to
 * the building state, so the caller may free it or try again.
 */
#include "gguf_write.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c writes host integers as little-endian"
#endif

#define GW_MAX_KEY 65535
#define GW_MAX_ALIGNMENT ((uint64_t) 1 << 20)	/* the reader's limit */

typedef struct gw_kv
{
	char	   *key;
	size_t		key_len;
	uint32_t	type;
	uint8_t    *val;			/* encoded value, without the type tag */
	size_t		val_len;
} gw_kv;

typedef struct gw_tensor
{
	char	   *name;
	size_t		name_len;
	uint32_t	n_dims;
	uint64_t	ne[GGUF_MAX_DIMS];
	uint32_t	type;
	size_t		nbytes;
	uint64_t	offset;
	const void *data;			/* NULL: streamed */
	void	   *owned;			/* private copy, freed with the writer */
} gw_tensor;

struct gguf_writer
{
	uint32_t	version;
	gw_kv	   *kv;
	size_t		n_kv;
	size_t		cap_kv;
	gw_tensor  *t;
	size_t		n_t;
	size_t		cap_t;

	/* output state, valid while active */
	bool		active;
	FILE	   *fp;
	char	   *tmp_path;		/* NULL when writing to memory */
	char	   *path;
	char	   *mem_buf;
	size_t		mem_size;
	uint64_t	alignment;
	uint64_t	pos;			/* bytes written so far */
	size_t		cur;			/* tensor whose data comes next */
	size_t		cur_done;		/* bytes of it already written */
};

/* A growable byte buffer for encoding values. */
typedef struct gw_buf
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} gw_buf;

/* Append n bytes to b; false when out of memory or on overflow. */
static bool
gw_buf_put(gw_buf *b, const void *src, size_t n)
{
	size_t		need;

	if (!llm_add_size(b->len, n, &need))
		return false;
	if (need > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 64;
		uint8_t    *np;

		while (cap < need)
		{
			if (!llm_mul_size(cap, 2, &cap))
			{
				cap = need;
				break;
			}
		}
		np = realloc(b->p, cap);
		if (np == NULL)
			return false;
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len = need;
	return true;
}

/* Size of a fixed-size value type, 0 for STRING, ARRAY and unknown types. */
static size_t
gw_type_size(uint32_t t)
{
	switch (t)
	{
		case GGUF_TYPE_UINT8:
		case GGUF_TYPE_INT8:
		case GGUF_TYPE_BOOL:
			return 1;
		case GGUF_TYPE_UINT16:
		case GGUF_TYPE_INT16:
			return 2;
		case GGUF_TYPE_UINT32:
		case GGUF_TYPE_INT32:
		case GGUF_TYPE_FLOAT32:
			return 4;
		case GGUF_TYPE_UINT64:
		case GGUF_TYPE_INT64:
		case GGUF_TYPE_FLOAT64:
			return 8;
		default:
			return 0;
	}
}

/* Encode a gguf string (u64 length, bytes). */
static bool
gw_put_str(gw_buf *b, const char *s, uint64_t len)
{
	if (len > 0 && s == NULL)
		return false;
	return gw_buf_put(b, &len, 8) && gw_buf_put(b, s, (size_t) len);
}

/* Encode a scalar held in a gguf_value. */
static bool
gw_put_scalar(gw_buf *b, uint32_t type, const gguf_value *v)
{
	switch (type)
	{
		case GGUF_TYPE_UINT8:
			{
				uint8_t		x = (uint8_t) v->u64;

				return gw_buf_put(b, &x, 1);
			}
		case GGUF_TYPE_BOOL:
			{
				uint8_t		x = v->u64 ? 1 : 0;

				return gw_buf_put(b, &x, 1);
			}
		case GGUF_TYPE_INT8:
			{
				int8_t		x = (int8_t) v->i64;

				return gw_buf_put(b, &x, 1);
			}
		case GGUF_TYPE_UINT16:
			{
				uint16_t	x = (uint16_t) v->u64;

				return gw_buf_put(b, &x, 2);
			}
		case GGUF_TYPE_INT16:
			{
				int16_t		x = (int16_t) v->i64;

				return gw_buf_put(b, &x, 2);
			}
		case GGUF_TYPE_UINT32:
			{
				uint32_t	x = (uint32_t) v->u64;

				return gw_buf_put(b, &x, 4);
			}
		case GGUF_TYPE_INT32:
			{
				int32_t		x = (int32_t) v->i64;

				return gw_buf_put(b, &x, 4);
			}
		case GGUF_TYPE_FLOAT32:
			{
				float		x = (float) v->f64;

				return gw_buf_put(b, &x, 4);
			}
		case GGUF_TYPE_UINT64:
			return gw_buf_put(b, &v->u64, 8);
		case GGUF_TYPE_INT64:
			return gw_buf_put(b, &v->i64, 8);
		case GGUF_TYPE_FLOAT64:
			return gw_buf_put(b, &v->f64, 8);
		default:
			return false;
	}
}

/*
 * Encode the body of an array value (elem type, count, elements) taken from
 * v->arr; nested arrays recurse up to GGUF_WRITER_MAX_DEPTH.
 */
static llm_status
gw_put_array(gw_buf *b, const gguf_value *v, int depth, llm_error *err)
{
	uint32_t	et = (uint32_t) v->arr.elem_type;
	uint64_t	n = v->arr.n;
	size_t		esz = gw_type_size(et);

	if (depth > GGUF_WRITER_MAX_DEPTH)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "arrays nested deeper than %d levels", GGUF_WRITER_MAX_DEPTH);
	if (et >= GGUF_TYPE_COUNT)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "unknown array element type %u", et);
	if (!gw_buf_put(b, &et, 4) || !gw_buf_put(b, &n, 8))
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory encoding an array");
	if (n == 0)
		return LLM_OK;
	if (esz > 0)
	{
		size_t		bytes;

		if (v->arr.raw == NULL)
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "array of %llu elements has no data",
							  (unsigned long long) n);
		if (n > SIZE_MAX || !llm_mul_size((size_t) n, esz, &bytes))
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "array of %llu elements is too large",
							  (unsigned long long) n);
		if (!gw_buf_put(b, v->arr.raw, bytes))
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory encoding an array");
		return LLM_OK;
	}
	if (v->arr.items == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "array of %llu %s elements has no items",
						  (unsigned long long) n, gguf_type_name((gguf_type) et));
	for (uint64_t i = 0; i < n; i++)
	{
		const gguf_value *it = &v->arr.items[i];

		if (et == GGUF_TYPE_STRING)
		{
			if (!gw_put_str(b, it->str.data, it->str.len))
				return llm_errorf(err, LLM_ERR_NOMEM, "out of memory encoding a string array");
		}
		else
		{
			llm_status	st = gw_put_array(b, it, depth + 1, err);

			if (st != LLM_OK)
				return st;
		}
	}
	return LLM_OK;
}

/* Create an empty writer. */
llm_status
gguf_writer_create(gguf_writer **out, llm_error *err)
{
	gguf_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory creating a gguf writer");
	w->version = 3;
	*out = w;
	return LLM_OK;
}

/* Free a writer and everything it owns. */
void
gguf_writer_free(gguf_writer *w)
{
	if (w == NULL)
		return;
	if (w->active)
		gguf_writer_abort(w);
	for (size_t i = 0; i < w->n_kv; i++)
	{
		free(w->kv[i].key);
		free(w->kv[i].val);
	}
	free(w->kv);
	for (size_t i = 0; i < w->n_t; i++)
	{
		free(w->t[i].name);
		free(w->t[i].owned);
	}
	free(w->t);
	free(w);
}

/* Refuse changes while a file is being written. */
static llm_status
gw_check_idle(gguf_writer *w, llm_error *err)
{
	if (w == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "gguf writer is NULL");
	if (w->active)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "gguf writer is writing a file: finish or abort it first");
	return LLM_OK;
}

/* Choose the header version. */
llm_status
gguf_writer_set_version(gguf_writer *w, uint32_t version, llm_error *err)
{
	llm_status	st = gw_check_idle(w, err);

	if (st != LLM_OK)
		return st;
	if (version != 2 && version != 3)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "gguf version %u cannot be written (2 or 3)", version);
	w->version = version;
	return LLM_OK;
}

/* Index of a key, or -1. */
static long
gw_find_kv(const gguf_writer *w, const char *key, size_t len)
{
	for (size_t i = 0; i < w->n_kv; i++)
		if (w->kv[i].key_len == len && memcmp(w->kv[i].key, key, len) == 0)
			return (long) i;
	return -1;
}

/* Is x a non-zero power of two no larger than GW_MAX_ALIGNMENT? */
static bool
gw_good_alignment(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0 && x <= GW_MAX_ALIGNMENT;
}

/* Set a key to an already validated value, taking ownership of enc. */
static llm_status
gw_store_kv(gguf_writer *w, const char *key, size_t key_len, uint32_t type,
			gw_buf *enc, llm_error *err)
{
	long		i = gw_find_kv(w, key, key_len);

	if (i >= 0)
	{
		free(w->kv[i].val);
		w->kv[i].type = type;
		w->kv[i].val = enc->p;
		w->kv[i].val_len = enc->len;
		return LLM_OK;
	}
	if (w->n_kv == w->cap_kv)
	{
		size_t		cap = w->cap_kv ? w->cap_kv * 2 : 16;
		gw_kv	   *nk = realloc(w->kv, cap * sizeof(*nk));

		if (nk == NULL)
		{
			free(enc->p);
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory adding key");
		}
		w->kv = nk;
		w->cap_kv = cap;
	}
	{
		gw_kv	   *kv = &w->kv[w->n_kv];

		kv->key = malloc(key_len + 1);
		if (kv->key == NULL)
		{
			free(enc->p);
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory adding key");
		}
		memcpy(kv->key, key, key_len);
		kv->key[key_len] = '\0';
		kv->key_len = key_len;
		kv->type = type;
		kv->val = enc->p;
		kv->val_len = enc->len;
		w->n_kv++;
	}
	return LLM_OK;
}

/* Set any value; key given with its length. */
llm_status
gguf_writer_set_valuen(gguf_writer *w, const char *key, size_t key_len,
					   const gguf_value *v, llm_error *err)
{
	gw_buf		enc = {0};
	uint32_t	type;
	llm_status	st = gw_check_idle(w, err);

	if (st != LLM_OK)
		return st;
	if (key == NULL || v == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "key and value must not be NULL");
	if (key_len == 0 || key_len > GW_MAX_KEY)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "key length %zu is not in 1..%d",
						  key_len, GW_MAX_KEY);
	type = (uint32_t) v->type;
	if (type >= GGUF_TYPE_COUNT)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "key '%.*s': unknown value type %u",
						  (int) (key_len > 200 ? 200 : key_len), key, type);
	if (key_len == 17 && memcmp(key, "general.alignment", 17) == 0 &&
		(type != GGUF_TYPE_UINT32 || !gw_good_alignment(v->u64)))
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "general.alignment must be a u32 power of two up to %llu",
						  (unsigned long long) GW_MAX_ALIGNMENT);
	if (type == GGUF_TYPE_STRING)
	{
		if (!gw_put_str(&enc, v->str.data, v->str.len))
		{
			free(enc.p);
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory encoding a string");
		}
	}
	else if (type == GGUF_TYPE_ARRAY)
	{
		st = gw_put_array(&enc, v, 1, err);
		if (st != LLM_OK)
		{
			free(enc.p);
			return st;
		}
	}
	else if (!gw_put_scalar(&enc, type, v))
	{
		free(enc.p);
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory encoding a value");
	}
	return gw_store_kv(w, key, key_len, type, &enc, err);
}

/* Set any value. */
llm_status
gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v,
					  llm_error *err)
{
	if (key == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "key must not be NULL");
	return gguf_writer_set_valuen(w, key, strlen(key), v, err);
}

/* Scalar setters: build a gguf_value and set it. */
#define GW_SETTER(fname, ctype, gtype, field) \
llm_status \
fname(gguf_writer *w, const char *key, ctype x, llm_error *err) \
{ \
	gguf_value	v; \
	memset(&v, 0, sizeof(v)); \
	v.type = gtype; \
	v.field = x; \
	return gguf_writer_set_value(w, key, &v, err); \
}

GW_SETTER(gguf_writer_set_u8, uint8_t, GGUF_TYPE_UINT8, u64)
GW_SETTER(gguf_writer_set_i8, int8_t, GGUF_TYPE_INT8, i64)
GW_SETTER(gguf_writer_set_u16, uint16_t, GGUF_TYPE_UINT16, u64)
GW_SETTER(gguf_writer_set_i16, int16_t, GGUF_TYPE_INT16, i64)
GW_SETTER(gguf_writer_set_u32, uint32_t, GGUF_TYPE_UINT32, u64)
GW_SETTER(gguf_writer_set_i32, int32_t, GGUF_TYPE_INT32, i64)
GW_SETTER(gguf_writer_set_u64, uint64_t, GGUF_TYPE_UINT64, u64)
GW_SETTER(gguf_writer_set_i64, int64_t, GGUF_TYPE_INT64, i64)
GW_SETTER(gguf_writer_set_f32, float, GGUF_TYPE_FLOAT32, f64)
GW_SETTER(gguf_writer_set_f64, double, GGUF_TYPE_FLOAT64, f64)
GW_SETTER(gguf_writer_set_bool, bool, GGUF_TYPE_BOOL, u64)

/* Set a string value of len bytes. */
llm_status
gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, size_t len,
					 llm_error *err)
{
	gguf_value	v;

	memset(&v, 0, sizeof(v));
	v.type = GGUF_TYPE_STRING;
	v.str.data = s;
	v.str.len = len;
	return gguf_writer_set_value(w, key, &v, err);
}

/* Set a NUL-terminated string value. */
llm_status
gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, llm_error *err)
{
	if (s == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "string value must not be NULL");
	return gguf_writer_set_strn(w, key, s, strlen(s), err);
}

/* Set an array of fixed-size elements. */
llm_status
gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
					const void *elems, uint64_t n, llm_error *err)
{
	gguf_value	v;

	if (gw_type_size(elem_type) == 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "gguf_writer_set_arr needs a fixed-size element type, not %s",
						  gguf_type_name(elem_type));
	memset(&v, 0, sizeof(v));
	v.type = GGUF_TYPE_ARRAY;
	v.arr.elem_type = elem_type;
	v.arr.n = n;
	v.arr.raw = elems;
	return gguf_writer_set_value(w, key, &v, err);
}

/* Set an array of strings. */
llm_status
gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs,
						const size_t *lens, uint64_t n, llm_error *err)
{
	gguf_value	v;
	gguf_value *items = NULL;
	llm_status	st;

	if (n > 0 && strs == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "string array has no strings");
	if (n > SIZE_MAX / sizeof(gguf_value))
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "string array is too large");
	if (n > 0)
	{
		items = calloc((size_t) n, sizeof(gguf_value));
		if (items == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory for a string array");
	}
	for (uint64_t i = 0; i < n; i++)
	{
		if (strs[i] == NULL)
		{
			free(items);
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "string %llu of the array is NULL",
							  (unsigned long long) i);
		}
		items[i].type = GGUF_TYPE_STRING;
		items[i].str.data = strs[i];
		items[i].str.len = lens ? lens[i] : strlen(strs[i]);
	}
	memset(&v, 0, sizeof(v));
	v.type = GGUF_TYPE_ARRAY;
	v.arr.elem_type = GGUF_TYPE_STRING;
	v.arr.n = n;
	v.arr.items = items;
	st = gguf_writer_set_value(w, key, &v, err);
	free(items);
	return st;
}

/* Remove a key. */
bool
gguf_writer_remove(gguf_writer *w, const char *key)
{
	long		i;

	if (w == NULL || key == NULL || w->active)
		return false;
	i = gw_find_kv(w, key, strlen(key));
	if (i < 0)
		return false;
	free(w->kv[i].key);
	free(w->kv[i].val);
	memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof(gw_kv));
	w->n_kv--;
	return true;
}

/* Does the writer hold key? */
bool
gguf_writer_has(const gguf_writer *w, const char *key)
{
	return w != NULL && key != NULL && gw_find_kv(w, key, strlen(key)) >= 0;
}

/* Number of keys. */
uint64_t
gguf_writer_n_kv(const gguf_writer *w)
{
	return w ? w->n_kv : 0;
}

/* Add a tensor info with its data (or none, to stream it). */
llm_status
gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
					   uint32_t n_dims, const uint64_t *ne, const void *data,
					   bool copy, llm_error *err)
{
	gw_tensor	t;
	size_t		len;
	size_t		nbytes;
	llm_status	st = gw_check_idle(w, err);

	if (st != LLM_OK)
		return st;
	if (name == NULL || ne == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor name and dims must not be NULL");
	len = strlen(name);
	if (len == 0 || len > GGUF_WRITER_MAX_NAME)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor name '%.80s' is not 1..%d bytes",
						  name, GGUF_WRITER_MAX_NAME);
	for (size_t i = 0; i < w->n_t; i++)
		if (w->t[i].name_len == len && memcmp(w->t[i].name, name, len) == 0)
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor '%s': n_dims %u is not in 1..%d",
						  name, n_dims, GGUF_MAX_DIMS);
	if (!llm_dtype_supported(type))
		return llm_errorf(err, LLM_ERR_UNSUPPORTED, "tensor '%s': unsupported type %u",
						  name, type);
	memset(&t, 0, sizeof(t));
	for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++)
	{
		t.ne[i] = i < n_dims ? ne[i] : 1;
		if (t.ne[i] < 1 || t.ne[i] > (uint64_t) INT64_MAX)
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor '%s': dim %u is %llu",
							  name, i, (unsigned long long) t.ne[i]);
	}
	nbytes = llm_row_bytes(type, (int64_t) t.ne[0]);
	if (nbytes == 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "tensor '%s': row length %llu is not a multiple of the %s block (%lld)",
						  name, (unsigned long long) t.ne[0], llm_dtype_name(type),
						  (long long) llm_dtype_block(type));
	for (uint32_t i = 1; i < GGUF_MAX_DIMS; i++)
		if (t.ne[i] > SIZE_MAX || !llm_mul_size(nbytes, (size_t) t.ne[i], &nbytes))
			return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor '%s' is too large", name);
	if (nbytes > (size_t) INT64_MAX - GW_MAX_ALIGNMENT)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor '%s' is too large", name);
	if (w->n_t == w->cap_t)
	{
		size_t		cap = w->cap_t ? w->cap_t * 2 : 16;
		gw_tensor  *nt = realloc(w->t, cap * sizeof(*nt));

		if (nt == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "out of memory adding tensor '%s'", name);
		w->t = nt;
		w->cap_t = cap;
	}
	t.name = strdup(name);
	if (t.name == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory adding tensor '%s'", name);
	t.name_len = len;
	t.n_dims = n_dims;
	t.type = type;
	t.nbytes = nbytes;
	if (data != NULL && copy)
	{
		t.owned = malloc(nbytes);
		if (t.owned == NULL)
		{
			free(t.name);
			return llm_errorf(err, LLM_ERR_NOMEM,
							  "out of memory copying %zu bytes of tensor '%s'", nbytes, name);
		}
		memcpy(t.owned, data, nbytes);
		t.data = t.owned;
	}
	else
		t.data = data;
	w->t[w->n_t++] = t;
	return LLM_OK;
}

/* Number of tensors. */
uint64_t
gguf_writer_n_tensors(const gguf_writer *w)
{
	return w ? w->n_t : 0;
}

/* Bytes of tensor i's data. */
size_t
gguf_writer_tensor_nbytes(const gguf_writer *w, uint64_t i)
{
	return (w && i < w->n_t) ? w->t[i].nbytes : 0;
}

/* Index of the tensor the next streamed bytes belong to. */
uint64_t
gguf_writer_current(const gguf_writer *w)
{
	return w ? w->cur : 0;
}

/* Close and discard the output after an error. */
void
gguf_writer_abort(gguf_writer *w)
{
	if (w == NULL || !w->active)
		return;
	if (w->fp)
		fclose(w->fp);
	w->fp = NULL;
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->path);
	free(w->mem_buf);
	w->tmp_path = NULL;
	w->path = NULL;
	w->mem_buf = NULL;
	w->mem_size = 0;
	w->active = false;
}

/* Write n bytes to the output; on failure abort and report. */
static llm_status
gw_out(gguf_writer *w, const void *p, size_t n, llm_error *err)
{
	if (n == 0)
		return LLM_OK;
	if (fwrite(p, 1, n, w->fp) != n)
	{
		int			e = errno;

		llm_errorf(err, LLM_ERR_IO, "cannot write %s: %s",
				   w->path ? w->path : "gguf buffer", strerror(e ? e : EIO));
		gguf_writer_abort(w);
		return LLM_ERR_IO;
	}
	w->pos += n;
	return LLM_OK;
}

/* Write zeros up to the next multiple of the alignment. */
static llm_status
gw_pad(gguf_writer *w, llm_error *err)
{
	static const uint8_t zeros[4096];
	uint64_t	rem = w->pos % w->alignment;
	uint64_t	n = rem ? w->alignment - rem : 0;

	while (n > 0)
	{
		size_t		k = n > sizeof(zeros) ? sizeof(zeros) : (size_t) n;
		llm_status	st = gw_out(w, zeros, k, err);

		if (st != LLM_OK)
			return st;
		n -= k;
	}
	return LLM_OK;
}

/* Emit every tensor from cur on that already has its data. */
static llm_status
gw_emit_ready(gguf_writer *w, llm_error *err)
{
	while (w->cur < w->n_t && w->t[w->cur].data != NULL)
	{
		gw_tensor  *t = &w->t[w->cur];
		llm_status	st = gw_out(w, t->data, t->nbytes, err);

		if (st == LLM_OK)
			st = gw_pad(w, err);
		if (st != LLM_OK)
			return st;
		w->cur++;
	}
	return LLM_OK;
}

/* The alignment the file will use. */
static uint64_t
gw_alignment(const gguf_writer *w)
{
	long		i = gw_find_kv(w, "general.alignment", 17);
	uint32_t	a;

	if (i < 0 || w->kv[i].type != GGUF_TYPE_UINT32 || w->kv[i].val_len != 4)
		return GGUF_DEFAULT_ALIGNMENT;
	memcpy(&a, w->kv[i].val, 4);
	return gw_good_alignment(a) ? a : GGUF_DEFAULT_ALIGNMENT;
}

/* Write header, metadata and tensor infos to w->fp (already open). */
static llm_status
gw_start(gguf_writer *w, llm_error *err)
{
	uint64_t	off = 0;
	uint64_t	n64;
	llm_status	st;

	w->alignment = gw_alignment(w);
	w->pos = 0;
	w->cur = 0;
	w->cur_done = 0;
	for (size_t i = 0; i < w->n_t; i++)
	{
		uint64_t	sz = w->t[i].nbytes;
		uint64_t	rem = sz % w->alignment;

		w->t[i].offset = off;
		if (rem)
			sz += w->alignment - rem;
		if (__builtin_add_overflow(off, sz, &off) || off > (uint64_t) INT64_MAX)
		{
			llm_errorf(err, LLM_ERR_INVALID_ARG, "tensor data exceeds the file size limit");
			gguf_writer_abort(w);
			return LLM_ERR_INVALID_ARG;
		}
	}
	if ((st = gw_out(w, "GGUF", 4, err)) != LLM_OK ||
		(st = gw_out(w, &w->version, 4, err)) != LLM_OK)
		return st;
	n64 = w->n_t;
	if ((st = gw_out(w, &n64, 8, err)) != LLM_OK)
		return st;
	n64 = w->n_kv;
	if ((st = gw_out(w, &n64, 8, err)) != LLM_OK)
		return st;
	for (size_t i = 0; i < w->n_kv; i++)
	{
		gw_kv	   *kv = &w->kv[i];

		n64 = kv->key_len;
		if ((st = gw_out(w, &n64, 8, err)) != LLM_OK ||
			(st = gw_out(w, kv->key, kv->key_len, err)) != LLM_OK ||
			(st = gw_out(w, &kv->type, 4, err)) != LLM_OK ||
			(st = gw_out(w, kv->val, kv->val_len, err)) != LLM_OK)
			return st;
	}
	for (size_t i = 0; i < w->n_t; i++)
	{
		gw_tensor  *t = &w->t[i];

		n64 = t->name_len;
		if ((st = gw_out(w, &n64, 8, err)) != LLM_OK ||
			(st = gw_out(w, t->name, t->name_len, err)) != LLM_OK ||
			(st = gw_out(w, &t->n_dims, 4, err)) != LLM_OK ||
			(st = gw_out(w, t->ne, 8 * (size_t) t->n_dims, err)) != LLM_OK ||
			(st = gw_out(w, &t->type, 4, err)) != LLM_OK ||
			(st = gw_out(w, &t->offset, 8, err)) != LLM_OK)
			return st;
	}
	if ((st = gw_pad(w, err)) != LLM_OK)
		return st;
	return gw_emit_ready(w, err);
}

/* Open a temporary file next to path and write the header. */
llm_status
gguf_writer_begin(gguf_writer *w, const char *path, llm_error *err)
{
	llm_status	st = gw_check_idle(w, err);
	size_t		len;
	int			fd;

	if (st != LLM_OK)
		return st;
	if (path == NULL || *path == '\0')
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "output path is empty");
	len = strlen(path);
	w->path = strdup(path);
	w->tmp_path = malloc(len + 16);
	if (w->path == NULL || w->tmp_path == NULL)
	{
		free(w->path);
		free(w->tmp_path);
		w->path = w->tmp_path = NULL;
		return llm_errorf(err, LLM_ERR_NOMEM, "out of memory");
	}
	snprintf(w->tmp_path, len + 16, "%s.tmp-XXXXXX", path);
	fd = mkstemp(w->tmp_path);
	if (fd < 0)
	{
		int			e = errno;

		llm_errorf(err, LLM_ERR_IO, "cannot create %s: %s", w->tmp_path, strerror(e));
		free(w->path);
		free(w->tmp_path);
		w->path = w->tmp_path = NULL;
		return LLM_ERR_IO;
	}
	(void) fchmod(fd, 0644);
	w->active = true;
	w->fp = fdopen(fd, "wb");
	if (w->fp == NULL)
	{
		close(fd);
		llm_errorf(err, LLM_ERR_IO, "cannot open %s: %s", w->tmp_path, strerror(errno));
		gguf_writer_abort(w);
		return LLM_ERR_IO;
	}
	setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
	return gw_start(w, err);
}

/* Append streamed bytes to the current tensor(s). */
llm_status
gguf_writer_data(gguf_writer *w, const void *buf, size_t n, llm_error *err)
{
	const uint8_t *p = buf;

	if (w == NULL || !w->active)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "gguf writer is not writing a file");
	if (n > 0 && buf == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "data buffer is NULL");
	while (n > 0)
	{
		gw_tensor  *t;
		size_t		take;
		llm_status	st;

		if (w->cur >= w->n_t)
		{
			llm_errorf(err, LLM_ERR_INVALID_ARG,
					   "%zu bytes of data beyond the last tensor", n);
			gguf_writer_abort(w);
			return LLM_ERR_INVALID_ARG;
		}
		t = &w->t[w->cur];
		take = t->nbytes - w->cur_done;
		if (take > n)
			take = n;
		if ((st = gw_out(w, p, take, err)) != LLM_OK)
			return st;
		p += take;
		n -= take;
		w->cur_done += take;
		if (w->cur_done == t->nbytes)
		{
			w->cur++;
			w->cur_done = 0;
			if ((st = gw_pad(w, err)) != LLM_OK || (st = gw_emit_ready(w, err)) != LLM_OK)
				return st;
		}
	}
	return LLM_OK;
}

/* Check completeness, flush, and publish the file or buffer. */
llm_status
gguf_writer_finish(gguf_writer *w, llm_error *err)
{
	if (w == NULL || !w->active)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "gguf writer is not writing a file");
	if (w->cur < w->n_t)
	{
		llm_errorf(err, LLM_ERR_INVALID_ARG,
				   "tensor '%s' has %zu of %zu bytes of data", w->t[w->cur].name,
				   w->cur_done, w->t[w->cur].nbytes);
		gguf_writer_abort(w);
		return LLM_ERR_INVALID_ARG;
	}
	if (fflush(w->fp) != 0 || ferror(w->fp) ||
		(w->tmp_path != NULL && fsync(fileno(w->fp)) != 0))
	{
		llm_errorf(err, LLM_ERR_IO, "cannot write %s: %s",
				   w->path ? w->path : "gguf buffer", strerror(errno));
		gguf_writer_abort(w);
		return LLM_ERR_IO;
	}
	if (fclose(w->fp) != 0)
	{
		w->fp = NULL;
		llm_errorf(err, LLM_ERR_IO, "cannot close %s: %s",
				   w->path ? w->path : "gguf buffer", strerror(errno));
		gguf_writer_abort(w);
		return LLM_ERR_IO;
	}
	w->fp = NULL;
	if (w->tmp_path != NULL)
	{
		if (rename(w->tmp_path, w->path) != 0)
		{
			llm_errorf(err, LLM_ERR_IO, "cannot rename %s to %s: %s",
					   w->tmp_path, w->path, strerror(errno));
			gguf_writer_abort(w);
			return LLM_ERR_IO;
		}
		free(w->tmp_path);
		free(w->path);
		w->tmp_path = NULL;
		w->path = NULL;
	}
	w->active = false;
	return LLM_OK;
}

/* Write the whole file; every tensor must already have its data. */
llm_status
gguf_writer_write(gguf_writer *w, const char *path, llm_error *err)
{
	llm_status	st = gguf_writer_begin(w, path, err);

	if (st != LLM_OK)
		return st;
	return gguf_writer_finish(w, err);
}

/* Write the whole file to a malloc'ed buffer. */
llm_status
gguf_writer_write_mem(gguf_writer *w, uint8_t **buf, size_t *size, llm_error *err)
{
	llm_status	st = gw_check_idle(w, err);

	if (st != LLM_OK)
		return st;
	*buf = NULL;
	*size = 0;
	w->mem_buf = NULL;
	w->mem_size = 0;
	w->fp = open_memstream(&w->mem_buf, &w->mem_size);
	if (w->fp == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "cannot open a memory stream");
	w->active = true;
	st = gw_start(w, err);
	if (st != LLM_OK)
		return st;
	st = gguf_writer_finish(w, err);
	if (st != LLM_OK)
		return st;
	*buf = (uint8_t *) w->mem_buf;
	*size = w->mem_size;
	w->mem_buf = NULL;
	w->mem_size = 0;
	return LLM_OK;
}
