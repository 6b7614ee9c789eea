/*
 * gguf.h — reader for GGUF model files (versions 2 and 3).
 *
 * The file format, as this reader checks it:
 *   1. magic "GGUF" (4 bytes), uint32 version (2 or 3);
 *   2. uint64 tensor_count, uint64 metadata_kv_count;
 *   3. metadata_kv_count key/value pairs: gguf string key, uint32 value type,
 *      value.  A gguf string is a uint64 length then that many bytes (no NUL).
 *      Arrays are uint32 element type, uint64 count, elements; arrays may nest;
 *   4. tensor_count tensor infos: name (string), uint32 n_dims (1..4),
 *      n_dims uint64 dims (ne[0] is the fastest-varying), uint32 ggml type,
 *      uint64 offset relative to the start of the data section;
 *   5. padding to general.alignment (default 32, must be a power of two);
 *   6. the tensor data section; each offset is a multiple of the alignment.
 * All integers are little-endian.
 *
 * Every count, length, offset and dimension is checked against the file
 * size and for overflow before use; allocation is bounded by the file size.
 * A bad file yields LLM_ERR_FORMAT with a message naming the problem and the
 * byte offset, never a crash.
 *
 * Pointers inside a gguf_file:
 *   | field                    | points into     | lifetime           |
 *   | gguf_str.data            | the mapping     | until gguf_close   |
 *   | gguf_value.arr.raw       | the mapping     | until gguf_close   |
 *   | gguf_value.arr.items     | heap (reader)   | until gguf_close   |
 *   | gguf_tensor.data         | the mapping     | until gguf_close   |
 */
#ifndef LLM_CORE_GGUF_H
#define LLM_CORE_GGUF_H

#include "common.h"

typedef enum gguf_type
{
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT = 13
} gguf_type;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_str
{
	uint64_t	len;
	const char *data;			/* not NUL-terminated */
} gguf_str;

typedef struct gguf_value gguf_value;

struct gguf_value
{
	gguf_type	type;
	union
	{
		uint64_t	u64;		/* all unsigned ints and bool */
		int64_t		i64;		/* all signed ints */
		double		f64;		/* float32 and float64 */
		gguf_str	str;
		struct
		{
			gguf_type	elem_type;
			uint64_t	n;
			const void *raw;	/* fixed-size elements, little-endian */
			gguf_value *items;	/* string or array elements, else NULL */
		}			arr;
	};
};

typedef struct gguf_kv
{
	gguf_str	key;
	gguf_value	value;
} gguf_kv;

typedef struct gguf_tensor
{
	gguf_str	name;
	uint32_t	n_dims;
	uint64_t	ne[GGUF_MAX_DIMS];	/* unused dims are 1 */
	uint32_t	type;			/* ggml type id, see quant.h */
	uint64_t	offset;			/* relative to the data section */
	size_t		nbytes;
	const void *data;
} gguf_tensor;

typedef struct gguf_file
{
	uint32_t	version;
	uint64_t	n_kv;
	gguf_kv    *kv;
	uint64_t	n_tensors;
	gguf_tensor *tensors;
	uint64_t	alignment;
	size_t		data_offset;	/* start of the tensor data section */
	const uint8_t *base;		/* mapping or caller's buffer */
	size_t		size;
	bool		mapped;			/* base came from mmap */
} gguf_file;

/* Map and parse a file. */
llm_status	gguf_open(const char *path, gguf_file **out, llm_error *err);

/* Parse a buffer the caller keeps alive (fuzzing, tests). */
llm_status	gguf_open_buffer(const void *buf, size_t size, gguf_file **out,
							 llm_error *err);

void		gguf_close(gguf_file *f);

/* Lookups; NULL or -1 when absent. */
const gguf_value *gguf_get(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/*
 * Typed getters: return true and set *out when the key exists and has a
 * compatible type (any integer type for ints, f32/f64 for floats).
 */
bool		gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool		gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool		gguf_get_f64(const gguf_file *f, const char *key, double *out);
bool		gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool		gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);

/* Array element access for fixed-size element types. */
int64_t		gguf_arr_i64(const gguf_value *arr, uint64_t i);
double		gguf_arr_f64(const gguf_value *arr, uint64_t i);

/* Compare a gguf_str to a C string. */
bool		gguf_str_eq(gguf_str s, const char *cstr);

const char *gguf_type_name(gguf_type t);

#endif							/* LLM_CORE_GGUF_H */
