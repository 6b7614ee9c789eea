/*
 * gguf_write.h — builder and writer for GGUF model files (versions 2 and 3).
 *
 * A gguf_writer collects metadata and tensor infos, then writes the file in
 * the layout gguf.h describes:
 *   1. header: magic, version, tensor count, kv count;
 *   2. the key/value pairs in insertion order (setting a key again replaces
 *      its value in place, so a file never holds duplicate keys);
 *   3. the tensor infos in insertion order, offsets assigned here: each
 *      tensor starts at a multiple of the alignment;
 *   4. zero padding to the alignment, then the data section; every tensor's
 *      data is followed by zero padding to the alignment.
 * The alignment is GGUF_DEFAULT_ALIGNMENT unless the metadata holds a u32
 * "general.alignment" (a non-zero power of two), which is then honoured.
 *
 * Tensor data is supplied in one of three ways:
 *   | add_tensor(data, copy) | data kept                  | lifetime needed  |
 *   | data, copy = true      | a private copy             | none             |
 *   | data, copy = false     | the caller's pointer       | until written    |
 *   | data = NULL            | streamed: gguf_writer_data | n/a              |
 * Streaming writes a model tensor by tensor without holding it in memory:
 * gguf_writer_begin() writes the header, gguf_writer_data() appends bytes to
 * the current streamed tensor (tensors that already have data are emitted
 * automatically when their turn comes), gguf_writer_finish() checks that
 * every byte arrived and publishes the file.
 *
 * Files are written atomically: to "<path>.tmp-XXXXXX" in the same
 * directory, fsync'ed, then renamed over path.  On any error the temporary
 * file is removed and path is left untouched.  All integers are written
 * little-endian (the host must be little-endian).  Nothing here aborts:
 * every failure is an llm_status with a message in the llm_error.
 */
#ifndef LLM_CORE_GGUF_WRITE_H
#define LLM_CORE_GGUF_WRITE_H

#include "common.h"
#include "gguf.h"

/* Longest tensor name llama.cpp accepts (GGML_MAX_NAME - 1). */
#define GGUF_WRITER_MAX_NAME 63
/* Deepest array nesting the writer produces (the reader's limit). */
#define GGUF_WRITER_MAX_DEPTH 8

typedef struct gguf_writer gguf_writer;

/* Create an empty writer (version 3, default alignment). */
llm_status	gguf_writer_create(gguf_writer **out, llm_error *err);

/* Free a writer; an unfinished file being streamed is removed. */
void		gguf_writer_free(gguf_writer *w);

/* Choose the header version (2 or 3; the layouts are identical). */
llm_status	gguf_writer_set_version(gguf_writer *w, uint32_t version,
									llm_error *err);

/* Scalar metadata.  Setting an existing key replaces its value. */
llm_status	gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v, llm_error *err);
llm_status	gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v, llm_error *err);
llm_status	gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v, llm_error *err);
llm_status	gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v, llm_error *err);
llm_status	gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, llm_error *err);
llm_status	gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, llm_error *err);
llm_status	gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, llm_error *err);
llm_status	gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v, llm_error *err);
llm_status	gguf_writer_set_f32(gguf_writer *w, const char *key, float v, llm_error *err);
llm_status	gguf_writer_set_f64(gguf_writer *w, const char *key, double v, llm_error *err);
llm_status	gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, llm_error *err);
llm_status	gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, llm_error *err);
llm_status	gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s,
								 size_t len, llm_error *err);

/*
 * Array of n fixed-size elements (elem_type not STRING/ARRAY) in host
 * order: uint8_t for UINT8, int32_t for INT32, float for FLOAT32, a one-byte
 * bool for BOOL, and so on.
 */
llm_status	gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
								const void *elems, uint64_t n, llm_error *err);

/* Array of n strings; lens may be NULL (NUL-terminated strings). */
llm_status	gguf_writer_set_str_arr(gguf_writer *w, const char *key,
									const char *const *strs, const size_t *lens,
									uint64_t n, llm_error *err);

/*
 * Any value, in the reader's representation (gguf.h): arrays of fixed-size
 * elements are read from arr.raw, arrays of strings and nested arrays from
 * arr.items (arr.elem_type decides, up to GGUF_WRITER_MAX_DEPTH levels).
 * This copies metadata from a gguf_file and builds nested arrays.
 */
llm_status	gguf_writer_set_value(gguf_writer *w, const char *key,
								  const gguf_value *v, llm_error *err);
llm_status	gguf_writer_set_valuen(gguf_writer *w, const char *key, size_t key_len,
								   const gguf_value *v, llm_error *err);

/* Remove a key; false if it was absent. */
bool		gguf_writer_remove(gguf_writer *w, const char *key);
bool		gguf_writer_has(const gguf_writer *w, const char *key);
uint64_t	gguf_writer_n_kv(const gguf_writer *w);

/*
 * Add a tensor info: ne[0..n_dims-1] (ne[0] fastest), n_dims 1..4, each
 * dim >= 1, ne[0] a multiple of the type's block.  data holds the tensor's
 * bytes (llm_row_bytes(type, ne[0]) * ne[1] * ne[2] * ne[3]), copied when
 * copy is true, else borrowed; NULL means the data will be streamed.
 * Names must be unique, 1..GGUF_WRITER_MAX_NAME bytes.
 */
llm_status	gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
								   uint32_t n_dims, const uint64_t *ne,
								   const void *data, bool copy, llm_error *err);
uint64_t	gguf_writer_n_tensors(const gguf_writer *w);
/* Bytes of tensor i's data (0 if out of range). */
size_t		gguf_writer_tensor_nbytes(const gguf_writer *w, uint64_t i);

/* Write the whole file (every tensor must have data). */
llm_status	gguf_writer_write(gguf_writer *w, const char *path, llm_error *err);

/* Write the whole file to a malloc'ed buffer the caller frees. */
llm_status	gguf_writer_write_mem(gguf_writer *w, uint8_t **buf, size_t *size,
								  llm_error *err);

/* Streaming: header now, then data in tensor order, then finish. */
llm_status	gguf_writer_begin(gguf_writer *w, const char *path, llm_error *err);
llm_status	gguf_writer_data(gguf_writer *w, const void *buf, size_t n,
							 llm_error *err);
/* Index of the tensor the next gguf_writer_data bytes belong to. */
uint64_t	gguf_writer_current(const gguf_writer *w);
llm_status	gguf_writer_finish(gguf_writer *w, llm_error *err);
/* Abandon a file being streamed (removes the temporary file). */
void		gguf_writer_abort(gguf_writer *w);

#endif							/* LLM_CORE_GGUF_WRITE_H */
