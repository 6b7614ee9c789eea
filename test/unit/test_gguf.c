/*
 * test_gguf.c — the GGUF reader against the writer, hostile files, and the
 * model tools (llm-convert, llm-quantize, llm-random-model).
 *
 * Valid files are built in memory with gguf_writer and read back through
 * gguf_open_buffer.  Hostile files are either hand-assembled byte by byte
 * (a tiny builder below, independent of the writer) or valid files with
 * patched bytes; every one must be refused with an error, never a crash.
 * Outside sanitizer builds the address space is capped (RLIMIT_AS), so a
 * reader that allocates from an unchecked count fails with "out of memory"
 * instead of a format error and the test notices.
 *
 * The tool tests run the binaries in $LLM_BUILD (default build) and
 * compare against the llama.cpp-made files in $LLM_MODELS_DIR; they SKIP
 * when the models are absent.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ASAN 1
#endif
#endif

/* ---- helpers ------------------------------------------------------------ */

/* Bytes per element of fixed-size GGUF value types (0 for others). */
static size_t
elem_size(uint32_t t)
{
	static const size_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

	return t < 13 ? sz[t] : 0;
}

/* Read a whole file into a malloc'ed buffer; NULL on error. */
static uint8_t *
read_all(const char *path, size_t *size)
{
	FILE	   *fp = fopen(path, "rb");
	uint8_t    *buf = NULL;
	long		n;

	*size = 0;
	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0)
	{
		buf = malloc((size_t) n + 1);
		if (buf != NULL && fread(buf, 1, (size_t) n, fp) != (size_t) n)
		{
			free(buf);
			buf = NULL;
		}
		else
			*size = (size_t) n;
	}
	fclose(fp);
	return buf;
}

/* Write a buffer to a file; false on error. */
static bool
write_all(const char *path, const void *buf, size_t size)
{
	FILE	   *fp = fopen(path, "wb");
	bool		ok;

	if (fp == NULL)
		return false;
	ok = fwrite(buf, 1, size, fp) == size;
	return (fclose(fp) == 0) && ok;
}

/* Scratch directory for files the tests make. */
static const char *
tmp_dir(void)
{
	static char dir[400];

	if (dir[0] == '\0')
	{
		snprintf(dir, sizeof(dir), "%s/test/gguf_tmp", unit_build_dir());
		mkdir(unit_build_dir(), 0755);
		{
			char		t[512];

			snprintf(t, sizeof(t), "%s/test", unit_build_dir());
			mkdir(t, 0755);
		}
		mkdir(dir, 0755);
	}
	return dir;
}

/* Path of a scratch file. */
static const char *
tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir(), name);
	return buf;
}

/* Run a shell command (output to a log), return its exit status. */
static int
run(const char *fmt,...)
{
	char		cmd[4096];
	char		full[4608];
	va_list		ap;
	int			rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s >>%s/tools.log 2>&1", cmd, tmp_dir());
	rc = system(full);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

/* Does the tool binary exist? */
static bool
have_tool(const char *name)
{
	char		p[512];

	snprintf(p, sizeof(p), "%s/%s", unit_build_dir(), name);
	return access(p, X_OK) == 0;
}

/* Does a file exist? */
static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Count the entries of dir whose name contains needle. */
static int
count_files_with(const char *dir, const char *needle)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, needle) != NULL)
			n++;
	closedir(d);
	return n;
}

/*
 * Walk every value of a parsed file and check the reader's invariants:
 * every pointer lies inside the buffer, tensors are aligned and placed
 * where their offsets say, lookups by name find the same entries.
 * Returns the number of violations (0 is good).
 */
static int	walk_value(const gguf_file *f, const gguf_value *v, int depth, uint64_t *sum);

/* Is [p, p + n) inside the parsed buffer? */
static bool
in_buf(const gguf_file *f, const void *p, uint64_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return true;
	return b >= f->base && b <= f->base + f->size && n <= (uint64_t) (f->base + f->size - b);
}

/* Touch every byte of a value; count invariant violations. */
static int
walk_value(const gguf_file *f, const gguf_value *v, int depth, uint64_t *sum)
{
	int			bad = 0;

	if (depth > 64)
		return 1;
	if (v->type == GGUF_TYPE_STRING)
	{
		if (!in_buf(f, v->str.data, v->str.len))
			return 1;
		for (uint64_t i = 0; i < v->str.len; i++)
			*sum += (uint8_t) v->str.data[i];
	}
	else if (v->type == GGUF_TYPE_ARRAY)
	{
		size_t		es = elem_size(v->arr.elem_type);

		if (v->arr.elem_type >= GGUF_TYPE_COUNT)
			return 1;
		if (es > 0)
		{
			if (v->arr.n > 0 && (v->arr.raw == NULL || v->arr.n > f->size ||
								 !in_buf(f, v->arr.raw, v->arr.n * es)))
				return 1;
			for (uint64_t i = 0; i < v->arr.n; i++)
			{
				*sum += (uint64_t) gguf_arr_i64(v, i);
				*sum += (uint64_t) (int64_t) gguf_arr_f64(v, i);
			}
		}
		else
		{
			if (v->arr.n > 0 && v->arr.items == NULL)
				return 1;
			for (uint64_t i = 0; i < v->arr.n; i++)
			{
				if (v->arr.items[i].type != v->arr.elem_type)
					bad++;
				bad += walk_value(f, &v->arr.items[i], depth + 1, sum);
			}
		}
	}
	else if (v->type < GGUF_TYPE_COUNT)
		*sum += v->u64;
	else
		bad++;
	return bad;
}

/* Walk a whole file (see above); returns the number of violations. */
static int
walk_file(const gguf_file *f)
{
	uint64_t	sum = 0;
	int			bad = 0;
	char		name[256];

	if (f->alignment == 0 || (f->alignment & (f->alignment - 1)) != 0)
		bad++;
	if (f->n_tensors > 0 && (f->data_offset % f->alignment != 0 || f->data_offset > f->size))
		bad++;
	for (uint64_t i = 0; i < f->n_kv; i++)
	{
		const gguf_kv *kv = &f->kv[i];

		if (!in_buf(f, kv->key.data, kv->key.len) || kv->key.len == 0)
		{
			bad++;
			continue;
		}
		bad += walk_value(f, &kv->value, 0, &sum);
		if (kv->key.len < sizeof(name) && memchr(kv->key.data, 0, kv->key.len) == NULL)
		{
			memcpy(name, kv->key.data, kv->key.len);
			name[kv->key.len] = '\0';
			if (gguf_get(f, name) != &kv->value)
				bad++;
		}
	}
	for (uint64_t i = 0; i < f->n_tensors; i++)
	{
		const gguf_tensor *t = &f->tensors[i];
		const uint8_t *d = t->data;
		uint64_t	nelem = 1;

		if (!in_buf(f, t->name.data, t->name.len) || t->n_dims < 1 || t->n_dims > 4)
		{
			bad++;
			continue;
		}
		for (int k = 0; k < 4; k++)
			nelem *= t->ne[k];
		if (!llm_dtype_supported(t->type) ||
			t->nbytes != llm_row_bytes(t->type, (int64_t) t->ne[0]) * (nelem / t->ne[0]))
			bad++;
		if (t->offset % f->alignment != 0 || d != f->base + f->data_offset + t->offset ||
			!in_buf(f, d, t->nbytes))
		{
			bad++;
			continue;
		}
		if (t->nbytes > 0)
			sum += d[0] + d[t->nbytes - 1];
		if (t->name.len < sizeof(name) && memchr(t->name.data, 0, t->name.len) == NULL)
		{
			memcpy(name, t->name.data, t->name.len);
			name[t->name.len] = '\0';
			if (gguf_find_tensor(f, name) != t)
				bad++;
		}
	}
	if (sum == 42)				/* keep the reads */
		fputc(' ', stderr);
	return bad;
}

/* Compare two values bit for bit (float bits included). */
static bool
value_eq(const gguf_value *a, const gguf_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case GGUF_TYPE_STRING:
			return a->str.len == b->str.len && memcmp(a->str.data, b->str.data, a->str.len) == 0;
		case GGUF_TYPE_ARRAY:
			if (a->arr.elem_type != b->arr.elem_type || a->arr.n != b->arr.n)
				return false;
			if (elem_size(a->arr.elem_type) > 0)
				return a->arr.n == 0 ||
					memcmp(a->arr.raw, b->arr.raw, a->arr.n * elem_size(a->arr.elem_type)) == 0;
			for (uint64_t i = 0; i < a->arr.n; i++)
				if (!value_eq(&a->arr.items[i], &b->arr.items[i]))
					return false;
			return true;
		case GGUF_TYPE_FLOAT32:
		case GGUF_TYPE_FLOAT64:
			return memcmp(&a->f64, &b->f64, sizeof(double)) == 0;
		case GGUF_TYPE_INT8:
		case GGUF_TYPE_INT16:
		case GGUF_TYPE_INT32:
		case GGUF_TYPE_INT64:
			return a->i64 == b->i64;
		default:
			return a->u64 == b->u64;
	}
}

/* A gguf_str as a C string (static buffer, for messages). */
static const char *
cstr(gguf_str s)
{
	static char buf[4][256];
	static int	k;
	char	   *b = buf[k++ & 3];
	size_t		n = s.len < 255 ? (size_t) s.len : 255;

	memcpy(b, s.data, n);
	b[n] = '\0';
	return b;
}

/*
 * Every key of ref must be in out with an identical value, except those
 * listed in skip (NULL-terminated).  Returns the number of differences.
 */
static int
compare_kv(const gguf_file *ref, const gguf_file *out, const char *const *skip)
{
	int			diff = 0;

	for (uint64_t i = 0; i < ref->n_kv; i++)
	{
		const char *key = cstr(ref->kv[i].key);
		const gguf_value *v;
		bool		skipped = false;

		for (int s = 0; skip && skip[s]; s++)
			skipped |= strcmp(skip[s], key) == 0;
		if (skipped)
			continue;
		v = gguf_get(out, key);
		if (v == NULL || !value_eq(&ref->kv[i].value, v))
		{
			fprintf(stderr, "  key %s: %s\n", key, v ? "differs" : "missing");
			diff++;
		}
	}
	return diff;
}

/* Every tensor of ref must be in out with the same type, shape and bytes. */
static int
compare_tensors(const gguf_file *ref, const gguf_file *out, bool compare_data)
{
	int			diff = 0;

	if (ref->n_tensors != out->n_tensors)
	{
		fprintf(stderr, "  %llu vs %llu tensors\n", (unsigned long long) ref->n_tensors,
				(unsigned long long) out->n_tensors);
		diff++;
	}
	for (uint64_t i = 0; i < ref->n_tensors; i++)
	{
		const gguf_tensor *a = &ref->tensors[i];
		const gguf_tensor *b = gguf_find_tensor(out, cstr(a->name));

		if (b == NULL)
		{
			fprintf(stderr, "  tensor %s missing\n", cstr(a->name));
			diff++;
			continue;
		}
		if (a->type != b->type || a->n_dims != b->n_dims ||
			memcmp(a->ne, b->ne, sizeof(a->ne)) != 0 || a->nbytes != b->nbytes ||
			(compare_data && memcmp(a->data, b->data, a->nbytes) != 0))
		{
			fprintf(stderr, "  tensor %s differs (type %u/%u)\n", cstr(a->name), a->type, b->type);
			diff++;
		}
	}
	return diff;
}

/* ---- a raw byte builder for hand-made (hostile) files --------------------- */

typedef struct bb
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} bb;

/* Append n bytes. */
static void
bb_put(bb *b, const void *src, size_t n)
{
	if (b->len + n > b->cap)
	{
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

/* Append a little-endian u32. */
static void
bb_u32(bb *b, uint32_t v)
{
	bb_put(b, &v, 4);
}

/* Append a little-endian u64. */
static void
bb_u64(bb *b, uint64_t v)
{
	bb_put(b, &v, 8);
}

/* Append a gguf string. */
static void
bb_str(bb *b, const char *s)
{
	bb_u64(b, strlen(s));
	bb_put(b, s, strlen(s));
}

/* Header: magic, version, counts. */
static void
bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	b->len = 0;
	bb_put(b, "GGUF", 4);
	bb_u32(b, version);
	bb_u64(b, n_tensors);
	bb_u64(b, n_kv);
}

/* A u32 key/value. */
static void
bb_kv_u32(bb *b, const char *key, uint32_t v)
{
	bb_str(b, key);
	bb_u32(b, GGUF_TYPE_UINT32);
	bb_u32(b, v);
}

/* A tensor info. */
static void
bb_tensor(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
		  uint64_t offset)
{
	bb_str(b, name);
	bb_u32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		bb_u64(b, ne[i]);
	bb_u32(b, type);
	bb_u64(b, offset);
}

/* Zero padding to a multiple of align, then n zero bytes of data. */
static void
bb_data(bb *b, size_t align, size_t n)
{
	static const uint8_t z[4096];

	while (b->len % align)
		bb_put(b, z, 1);
	while (n > 0)
	{
		size_t		k = n > sizeof(z) ? sizeof(z) : n;

		bb_put(b, z, k);
		n -= k;
	}
}

/* Open a buffer and expect an error of an allowed kind. */
static void
expect_reject(const char *what, const void *buf, size_t len, bool allow_unsupported)
{
	gguf_file  *f = (gguf_file *) 1;
	llm_error	err = {0};
	llm_status	st = gguf_open_buffer(buf, len, &f, &err);

	CHECKF(st == LLM_ERR_FORMAT || (allow_unsupported && st == LLM_ERR_UNSUPPORTED),
		   "%s: status %s (%s)", what, llm_status_name(st), err.msg);
	CHECKF(f == NULL, "%s: output not NULL on error", what);
	CHECKF(st == LLM_OK || err.msg[0] != '\0', "%s: no error message", what);
	if (st == LLM_OK)
		gguf_close(f);
}

/* Open a buffer and expect success. */
static gguf_file *
expect_open(const char *what, const void *buf, size_t len)
{
	gguf_file  *f = NULL;
	llm_error	err = {0};
	llm_status	st = gguf_open_buffer(buf, len, &f, &err);

	CHECKF(st == LLM_OK, "%s: %s (%s)", what, llm_status_name(st), err.msg);
	return st == LLM_OK ? f : NULL;
}

/* ---- writer round trips ---------------------------------------------------- */

/* A deterministic float pattern. */
static void
fill_floats(float *x, int n, int salt)
{
	for (int i = 0; i < n; i++)
		x[i] = (float) ((i * 37 + salt * 11) % 101 - 50) / 25.0f;
}

/* Build a writer holding every metadata type and several tensor types. */
static gguf_writer *
build_everything(uint32_t version, uint32_t alignment, uint8_t **tdata, size_t *tsize,
				 int n_tdata)
{
	static const int8_t i8s[] = {-128, 0, 127};
	static const uint16_t u16s[] = {0, 65535};
	static const int32_t i32s[] = {INT32_MIN, -1, 0, INT32_MAX};
	static const float f32s[] = {-0.0f, 1.5f, -3.25f};
	static const int64_t i64s[] = {INT64_MIN, INT64_MAX};
	static const bool bools[] = {false, true};
	static const char *const strs[] = {"", "\xe2\x96\x81the", "x"};
	llm_error	err = {0};
	gguf_writer *w = NULL;
	gguf_value	leaves[2],
				mids[2],
				top,
				sitems[2],
				sarr,
				stop;
	static const uint32_t leaf_data[] = {11, 22, 33};

	if (gguf_writer_create(&w, &err) != LLM_OK)
		return NULL;
	CHECK(gguf_writer_set_version(w, version, &err) == LLM_OK);
	if (alignment)
		CHECK(gguf_writer_set_u32(w, "general.alignment", alignment, &err) == LLM_OK);
	CHECK(gguf_writer_set_str(w, "general.architecture", "llama", &err) == LLM_OK);
	CHECK(gguf_writer_set_u8(w, "t.u8", 255, &err) == LLM_OK);
	CHECK(gguf_writer_set_i8(w, "t.i8", -128, &err) == LLM_OK);
	CHECK(gguf_writer_set_u16(w, "t.u16", 65535, &err) == LLM_OK);
	CHECK(gguf_writer_set_i16(w, "t.i16", -32768, &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w, "t.u32", 4294967295u, &err) == LLM_OK);
	CHECK(gguf_writer_set_i32(w, "t.i32", INT32_MIN, &err) == LLM_OK);
	CHECK(gguf_writer_set_u64(w, "t.u64", UINT64_MAX, &err) == LLM_OK);
	CHECK(gguf_writer_set_i64(w, "t.i64", INT64_MIN, &err) == LLM_OK);
	CHECK(gguf_writer_set_f32(w, "t.f32", 0.1f, &err) == LLM_OK);
	CHECK(gguf_writer_set_f64(w, "t.f64", 0.1, &err) == LLM_OK);
	CHECK(gguf_writer_set_bool(w, "t.bool", true, &err) == LLM_OK);
	CHECK(gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo", &err) == LLM_OK);
	CHECK(gguf_writer_set_strn(w, "t.str_nul", "a\0b", 3, &err) == LLM_OK);
	CHECK(gguf_writer_set_str(w, "t.str_empty", "", &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_i8", GGUF_TYPE_INT8, i8s, 3, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_u16", GGUF_TYPE_UINT16, u16s, 2, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_i32", GGUF_TYPE_INT32, i32s, 4, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_f32", GGUF_TYPE_FLOAT32, f32s, 3, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_i64", GGUF_TYPE_INT64, i64s, 2, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_bool", GGUF_TYPE_BOOL, bools, 2, &err) == LLM_OK);
	CHECK(gguf_writer_set_arr(w, "t.a_empty", GGUF_TYPE_UINT32, NULL, 0, &err) == LLM_OK);
	CHECK(gguf_writer_set_str_arr(w, "t.a_str", strs, NULL, 3, &err) == LLM_OK);
	CHECK(gguf_writer_set_str_arr(w, "t.a_str_empty", NULL, NULL, 0, &err) == LLM_OK);

	/* [[[11, 22, 33], []], [[11]]]: arrays three deep */
	memset(leaves, 0, sizeof(leaves));
	memset(mids, 0, sizeof(mids));
	memset(&top, 0, sizeof(top));
	leaves[0].type = leaves[1].type = GGUF_TYPE_ARRAY;
	leaves[0].arr.elem_type = leaves[1].arr.elem_type = GGUF_TYPE_UINT32;
	leaves[0].arr.n = 3;
	leaves[0].arr.raw = leaf_data;
	leaves[1].arr.n = 0;
	mids[0].type = mids[1].type = GGUF_TYPE_ARRAY;
	mids[0].arr.elem_type = mids[1].arr.elem_type = GGUF_TYPE_ARRAY;
	mids[0].arr.n = 2;
	mids[0].arr.items = leaves;
	{
		static gguf_value single;

		single = leaves[0];
		single.arr.n = 1;
		mids[1].arr.n = 1;
		mids[1].arr.items = &single;
		top.type = GGUF_TYPE_ARRAY;
		top.arr.elem_type = GGUF_TYPE_ARRAY;
		top.arr.n = 2;
		top.arr.items = mids;
		CHECK(gguf_writer_set_value(w, "t.nested", &top, &err) == LLM_OK);
	}
	/* [["p", "qq"]]: nested string array */
	memset(sitems, 0, sizeof(sitems));
	sitems[0].type = sitems[1].type = GGUF_TYPE_STRING;
	sitems[0].str.data = "p";
	sitems[0].str.len = 1;
	sitems[1].str.data = "qq";
	sitems[1].str.len = 2;
	memset(&sarr, 0, sizeof(sarr));
	sarr.type = GGUF_TYPE_ARRAY;
	sarr.arr.elem_type = GGUF_TYPE_STRING;
	sarr.arr.n = 2;
	sarr.arr.items = sitems;
	memset(&stop, 0, sizeof(stop));
	stop.type = GGUF_TYPE_ARRAY;
	stop.arr.elem_type = GGUF_TYPE_ARRAY;
	stop.arr.n = 1;
	stop.arr.items = &sarr;
	CHECK(gguf_writer_set_value(w, "t.nested_str", &stop, &err) == LLM_OK);

	/* tensors: F32 1-D (odd size), F16, Q8_0, Q4_0, Q4_K, Q6_K, BF16 4-D */
	{
		static const struct
		{
			const char *name;
			uint32_t	type;
			uint32_t	n_dims;
			uint64_t	ne[4];
		}			specs[] = {
			{"a.f32", LLM_F32, 1, {5, 1, 1, 1}},
			{"b.f16", LLM_F16, 2, {4, 3, 1, 1}},
			{"c.q8_0", LLM_Q8_0, 2, {64, 2, 1, 1}},
			{"d.q4_0", LLM_Q4_0, 1, {32, 1, 1, 1}},
			{"e.q4_k", LLM_Q4_K, 2, {256, 2, 1, 1}},
			{"f.q6_k", LLM_Q6_K, 1, {256, 1, 1, 1}},
			{"g.bf16", LLM_BF16, 4, {3, 2, 2, 2}},
		};

		for (int i = 0; i < (int) (sizeof(specs) / sizeof(specs[0])) && i < n_tdata; i++)
		{
			uint64_t	rows = specs[i].ne[1] * specs[i].ne[2] * specs[i].ne[3];
			size_t		rb = llm_row_bytes(specs[i].type, (int64_t) specs[i].ne[0]);
			float		x[512];

			tsize[i] = rb * rows;
			tdata[i] = malloc(tsize[i]);
			for (uint64_t r = 0; r < rows; r++)
			{
				fill_floats(x, (int) specs[i].ne[0], i * 10 + (int) r);
				llm_quantize_row(specs[i].type, x, tdata[i] + r * rb, (int64_t) specs[i].ne[0]);
			}
			CHECK(gguf_writer_add_tensor(w, specs[i].name, specs[i].type, specs[i].n_dims,
										 specs[i].ne, tdata[i], i % 2 == 0, &err) == LLM_OK);
		}
	}
	return w;
}

/* Check every value build_everything() wrote. */
static void
check_everything(const gguf_file *f, uint32_t version, uint32_t alignment,
				 uint8_t **tdata, size_t *tsize)
{
	const gguf_value *v;
	uint64_t	u;
	int64_t		i;
	double		d;
	bool		b;
	gguf_str	s;

	CHECK(f->version == version);
	CHECK(f->alignment == (alignment ? alignment : GGUF_DEFAULT_ALIGNMENT));
	CHECK(f->n_tensors == 7);
	CHECKF(f->n_kv == (alignment ? 27u : 26u), "%llu keys", (unsigned long long) f->n_kv);
	CHECK(walk_file(f) == 0);
	CHECK(gguf_get_u64(f, "t.u8", &u) && u == 255);
	CHECK(gguf_get_i64(f, "t.i8", &i) && i == -128);
	CHECK(gguf_get_u64(f, "t.u16", &u) && u == 65535);
	CHECK(gguf_get_i64(f, "t.i16", &i) && i == -32768);
	CHECK(gguf_get_u64(f, "t.u32", &u) && u == 4294967295u);
	CHECK(gguf_get_i64(f, "t.i32", &i) && i == INT32_MIN);
	CHECK(gguf_get_u64(f, "t.u64", &u) && u == UINT64_MAX);
	CHECK(gguf_get_i64(f, "t.i64", &i) && i == INT64_MIN);
	CHECK(gguf_get_f64(f, "t.f32", &d) && (float) d == 0.1f);
	CHECK(gguf_get_f64(f, "t.f64", &d) && d == 0.1);
	CHECK(gguf_get_bool(f, "t.bool", &b) && b);
	CHECK(gguf_get_str(f, "t.str", &s) && gguf_str_eq(s, "h\xc3\xa9llo"));
	CHECK(gguf_get_str(f, "t.str_nul", &s) && s.len == 3 && memcmp(s.data, "a\0b", 3) == 0);
	CHECK(gguf_get_str(f, "t.str_empty", &s) && s.len == 0);
	CHECK(!gguf_get_str(f, "t.u8", &s));
	CHECK(gguf_get(f, "t.absent") == NULL);
	CHECK((v = gguf_get(f, "general.architecture")) && v->type == GGUF_TYPE_STRING);

	v = gguf_get(f, "t.a_i8");
	CHECK(v && v->type == GGUF_TYPE_ARRAY && v->arr.elem_type == GGUF_TYPE_INT8 && v->arr.n == 3 &&
		  gguf_arr_i64(v, 0) == -128 && gguf_arr_i64(v, 2) == 127);
	v = gguf_get(f, "t.a_u16");
	CHECK(v && v->arr.n == 2 && gguf_arr_i64(v, 1) == 65535);
	v = gguf_get(f, "t.a_i32");
	CHECK(v && v->arr.n == 4 && gguf_arr_i64(v, 0) == INT32_MIN && gguf_arr_i64(v, 3) == INT32_MAX);
	v = gguf_get(f, "t.a_f32");
	CHECK(v && v->arr.n == 3 && gguf_arr_f64(v, 1) == 1.5 && gguf_arr_f64(v, 2) == -3.25 &&
		  signbit(gguf_arr_f64(v, 0)));
	v = gguf_get(f, "t.a_i64");
	CHECK(v && v->arr.n == 2 && gguf_arr_i64(v, 0) == INT64_MIN && gguf_arr_i64(v, 1) == INT64_MAX);
	v = gguf_get(f, "t.a_bool");
	CHECK(v && v->arr.elem_type == GGUF_TYPE_BOOL && gguf_arr_i64(v, 0) == 0 && gguf_arr_i64(v, 1) == 1);
	v = gguf_get(f, "t.a_empty");
	CHECK(v && v->type == GGUF_TYPE_ARRAY && v->arr.n == 0 && v->arr.elem_type == GGUF_TYPE_UINT32);
	v = gguf_get(f, "t.a_str");
	CHECK(v && v->arr.elem_type == GGUF_TYPE_STRING && v->arr.n == 3 && v->arr.items &&
		  v->arr.items[0].str.len == 0 && gguf_str_eq(v->arr.items[1].str, "\xe2\x96\x81the") &&
		  gguf_str_eq(v->arr.items[2].str, "x"));
	v = gguf_get(f, "t.a_str_empty");
	CHECK(v && v->arr.elem_type == GGUF_TYPE_STRING && v->arr.n == 0);
	v = gguf_get(f, "t.nested");
	CHECK(v && v->arr.elem_type == GGUF_TYPE_ARRAY && v->arr.n == 2 && v->arr.items);
	if (v && v->arr.n == 2 && v->arr.items)
	{
		const gguf_value *m0 = &v->arr.items[0],
				   *m1 = &v->arr.items[1];

		CHECK(m0->arr.elem_type == GGUF_TYPE_ARRAY && m0->arr.n == 2 && m0->arr.items);
		CHECK(m1->arr.elem_type == GGUF_TYPE_ARRAY && m1->arr.n == 1 && m1->arr.items);
		if (m0->arr.items && m1->arr.items && m0->arr.n == 2)
		{
			CHECK(m0->arr.items[0].arr.elem_type == GGUF_TYPE_UINT32 && m0->arr.items[0].arr.n == 3 &&
				  gguf_arr_i64(&m0->arr.items[0], 2) == 33);
			CHECK(m0->arr.items[1].arr.n == 0);
			CHECK(m1->arr.items[0].arr.n == 1 && gguf_arr_i64(&m1->arr.items[0], 0) == 11);
		}
	}
	v = gguf_get(f, "t.nested_str");
	CHECK(v && v->arr.n == 1 && v->arr.items && v->arr.items[0].arr.elem_type == GGUF_TYPE_STRING &&
		  v->arr.items[0].arr.n == 2 && gguf_str_eq(v->arr.items[0].arr.items[1].str, "qq"));

	for (uint64_t k = 0; k < f->n_tensors && k < 7; k++)
	{
		const gguf_tensor *t = &f->tensors[k];

		CHECK(t->offset % f->alignment == 0);
		CHECK(t->nbytes == tsize[k]);
		CHECK(t->nbytes == tsize[k] && memcmp(t->data, tdata[k], tsize[k]) == 0);
		if (k > 0)
			CHECK(t->offset >= f->tensors[k - 1].offset + f->tensors[k - 1].nbytes);
	}
	{
		const gguf_tensor *g = gguf_find_tensor(f, "g.bf16");

		CHECK(g && g->n_dims == 4 && g->ne[0] == 3 && g->ne[3] == 2 && g->type == LLM_BF16);
		g = gguf_find_tensor(f, "a.f32");
		CHECK(g && g->n_dims == 1 && g->ne[0] == 5 && g->ne[1] == 1 && g->nbytes == 20);
	}
}

/* Write/read every metadata type, several tensor types, v2/v3, alignments. */
static void
test_writer_roundtrip(void)
{
	static const uint32_t aligns[] = {0, 1, 8, 64, 4096};

	for (uint32_t version = 2; version <= 3; version++)
		for (int a = 0; a < 5; a++)
		{
			uint8_t    *tdata[7] = {0};
			size_t		tsize[7] = {0};
			gguf_writer *w = build_everything(version, aligns[a], tdata, tsize, 7);
			llm_error	err = {0};
			uint8_t    *buf = NULL;
			size_t		size = 0;
			gguf_file  *f;

			CHECK(w != NULL);
			if (w == NULL)
				return;
			CHECKF(gguf_writer_write_mem(w, &buf, &size, &err) == LLM_OK, "%s", err.msg);
			f = expect_open("roundtrip", buf, size);
			if (f)
			{
				check_everything(f, version, aligns[a], tdata, tsize);
				/* the file ends with the last tensor's padding */
				CHECK(size % f->alignment == 0);
				gguf_close(f);
			}
			/* the same through a file, and gguf_open (mmap) */
			if (version == 3 && aligns[a] == 64)
			{
				char		p[512];
				size_t		fsize;
				uint8_t    *fbuf;

				tmp_path(p, sizeof(p), "roundtrip.gguf");
				CHECKF(gguf_writer_write(w, p, &err) == LLM_OK, "%s", err.msg);
				fbuf = read_all(p, &fsize);
				CHECK(fbuf && fsize == size && memcmp(fbuf, buf, size) == 0);
				free(fbuf);
				CHECK(gguf_open(p, &f, &err) == LLM_OK);
				if (f)
				{
					CHECK(f->mapped);
					check_everything(f, version, aligns[a], tdata, tsize);
					gguf_close(f);
				}
				CHECK(count_files_with(tmp_dir(), "roundtrip.gguf.tmp") == 0);
			}
			free(buf);
			gguf_writer_free(w);
			for (int k = 0; k < 7; k++)
				free(tdata[k]);
		}
}

/* Replacing and removing keys; a key set twice is stored once. */
static void
test_writer_replace(void)
{
	gguf_writer *w;
	llm_error	err = {0};
	uint8_t    *buf;
	size_t		size;
	gguf_file  *f;
	uint64_t	u;
	gguf_str	s;

	CHECK(gguf_writer_create(&w, &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w, "k.a", 1, &err) == LLM_OK);
	CHECK(gguf_writer_set_str(w, "k.b", "first", &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w, "k.c", 3, &err) == LLM_OK);
	CHECK(gguf_writer_set_str(w, "k.a", "now a string", &err) == LLM_OK);
	CHECK(gguf_writer_set_u64(w, "k.b", 99, &err) == LLM_OK);
	CHECK(gguf_writer_n_kv(w) == 3);
	CHECK(gguf_writer_remove(w, "k.c"));
	CHECK(!gguf_writer_remove(w, "k.c"));
	CHECK(!gguf_writer_has(w, "k.c") && gguf_writer_has(w, "k.a"));
	CHECK(gguf_writer_write_mem(w, &buf, &size, &err) == LLM_OK);
	f = expect_open("replace", buf, size);
	if (f)
	{
		CHECK(f->n_kv == 2 && f->n_tensors == 0);
		CHECK(gguf_str_eq(f->kv[0].key, "k.a"));	/* keeps its first position */
		CHECK(gguf_get_str(f, "k.a", &s) && gguf_str_eq(s, "now a string"));
		CHECK(gguf_get_u64(f, "k.b", &u) && u == 99 && gguf_get(f, "k.b")->type == GGUF_TYPE_UINT64);
		gguf_close(f);
	}
	free(buf);
	gguf_writer_free(w);
}

/* The writer refuses what it cannot write correctly. */
static void
test_writer_errors(void)
{
	gguf_writer *w;
	llm_error	err = {0};
	uint64_t	ne[4] = {32, 2, 1, 1};
	float		x[64] = {0};
	gguf_value	v;
	char		p[512],
				longname[80];

	CHECK(gguf_writer_create(&w, &err) == LLM_OK);
	CHECK(gguf_writer_set_version(w, 1, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_set_version(w, 4, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_set_u32(w, "general.alignment", 0, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_set_u32(w, "general.alignment", 48, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_set_u64(w, "general.alignment", 64, &err) == LLM_ERR_INVALID_ARG);
	CHECK(!gguf_writer_has(w, "general.alignment"));
	CHECK(gguf_writer_set_u32(w, "", 1, &err) == LLM_ERR_INVALID_ARG);
	memset(&v, 0, sizeof(v));
	v.type = (gguf_type) 13;
	CHECK(gguf_writer_set_value(w, "k.bad", &v, &err) == LLM_ERR_INVALID_ARG);
	v.type = GGUF_TYPE_ARRAY;
	v.arr.elem_type = GGUF_TYPE_UINT32;
	v.arr.n = 4;
	v.arr.raw = NULL;
	CHECK(gguf_writer_set_value(w, "k.bad", &v, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_set_arr(w, "k.bad", GGUF_TYPE_STRING, x, 1, &err) == LLM_ERR_INVALID_ARG);
	{
		/* nesting deeper than the reader accepts */
		gguf_value	lv[12];

		memset(lv, 0, sizeof(lv));
		for (int i = 0; i < 12; i++)
		{
			lv[i].type = GGUF_TYPE_ARRAY;
			lv[i].arr.elem_type = i < 11 ? GGUF_TYPE_ARRAY : GGUF_TYPE_UINT8;
			lv[i].arr.n = i < 11 ? 1 : 0;
			lv[i].arr.items = i < 11 ? &lv[i + 1] : NULL;
		}
		CHECK(gguf_writer_set_value(w, "k.deep", &lv[0], &err) == LLM_ERR_INVALID_ARG);
		CHECK(gguf_writer_set_value(w, "k.ok", &lv[12 - GGUF_WRITER_MAX_DEPTH], &err) == LLM_OK);
	}
	CHECK(!gguf_writer_has(w, "k.bad"));

	CHECK(gguf_writer_add_tensor(w, "t", LLM_Q4_K, 2, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_add_tensor(w, "t", LLM_F32, 2, ne, x, true, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w, "t", LLM_F32, 2, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_add_tensor(w, "u", LLM_F32, 0, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_add_tensor(w, "u", LLM_F32, 5, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_add_tensor(w, "u", 99, 2, ne, x, true, &err) != LLM_OK);
	CHECK(gguf_writer_add_tensor(w, "", LLM_F32, 2, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(gguf_writer_add_tensor(w, longname, LLM_F32, 2, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	ne[1] = 0;
	CHECK(gguf_writer_add_tensor(w, "u", LLM_F32, 2, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	ne[1] = 2;
	CHECK(gguf_writer_n_tensors(w) == 1);
	CHECK(gguf_writer_tensor_nbytes(w, 0) == 256 && gguf_writer_tensor_nbytes(w, 1) == 0);

	/* an unwritable path gives an I/O error and leaves nothing behind */
	snprintf(p, sizeof(p), "%s/no/such/dir/x.gguf", tmp_dir());
	CHECK(gguf_writer_write(w, p, &err) == LLM_ERR_IO);
	CHECK(strstr(err.msg, "no/such") != NULL);
	gguf_writer_free(w);

	/* streaming: too few bytes fails at finish and publishes nothing */
	CHECK(gguf_writer_create(&w, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w, "s", LLM_F32, 2, ne, NULL, false, &err) == LLM_OK);
	tmp_path(p, sizeof(p), "short.gguf");
	unlink(p);
	CHECK(gguf_writer_data(w, x, 4, &err) == LLM_ERR_INVALID_ARG);	/* not begun */
	CHECK(gguf_writer_write(w, p, &err) == LLM_ERR_INVALID_ARG);	/* data missing */
	CHECK(!exists(p));
	CHECK(gguf_writer_begin(w, p, &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w, "late", 1, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_add_tensor(w, "late", LLM_F32, 1, ne, x, true, &err) == LLM_ERR_INVALID_ARG);
	CHECK(gguf_writer_data(w, x, 100, &err) == LLM_OK);
	CHECK(gguf_writer_current(w) == 0);
	CHECK(gguf_writer_finish(w, &err) == LLM_ERR_INVALID_ARG);
	CHECK(strstr(err.msg, "100 of 256") != NULL);
	CHECK(!exists(p));
	CHECK(count_files_with(tmp_dir(), "short.gguf") == 0);
	/* too many bytes */
	CHECK(gguf_writer_begin(w, p, &err) == LLM_OK);
	CHECK(gguf_writer_data(w, x, 200, &err) == LLM_OK);
	CHECK(gguf_writer_data(w, x, 200, &err) == LLM_ERR_INVALID_ARG);
	CHECK(!exists(p));
	/* abandoned by free */
	CHECK(gguf_writer_begin(w, p, &err) == LLM_OK);
	CHECK(count_files_with(tmp_dir(), "short.gguf.tmp") == 1);
	gguf_writer_free(w);
	CHECK(count_files_with(tmp_dir(), "short.gguf") == 0);
}

/* Streamed, borrowed and copied tensors give the same file. */
static void
test_writer_stream(void)
{
	float		a[96],
				b[40],
				c[64];
	uint64_t	ne_a[2] = {32, 3},
				ne_b[1] = {40},
				ne_c[2] = {32, 2};
	gguf_writer *w1,
			   *w2;
	llm_error	err = {0};
	uint8_t    *m1 = NULL,
			   *m2 = NULL;
	size_t		s1 = 0,
				s2 = 0;
	char		p[512];

	fill_floats(a, 96, 1);
	fill_floats(b, 40, 2);
	fill_floats(c, 64, 3);
	CHECK(gguf_writer_create(&w1, &err) == LLM_OK && gguf_writer_create(&w2, &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w1, "general.alignment", 16, &err) == LLM_OK);
	CHECK(gguf_writer_set_u32(w2, "general.alignment", 16, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w1, "a", LLM_F32, 2, ne_a, a, true, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w1, "b", LLM_F32, 1, ne_b, b, false, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w1, "c", LLM_F32, 2, ne_c, c, true, &err) == LLM_OK);
	CHECK(gguf_writer_write_mem(w1, &m1, &s1, &err) == LLM_OK);

	/* a streamed in odd pieces, b borrowed (emitted automatically), c streamed */
	CHECK(gguf_writer_add_tensor(w2, "a", LLM_F32, 2, ne_a, NULL, false, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w2, "b", LLM_F32, 1, ne_b, b, false, &err) == LLM_OK);
	CHECK(gguf_writer_add_tensor(w2, "c", LLM_F32, 2, ne_c, NULL, false, &err) == LLM_OK);
	tmp_path(p, sizeof(p), "stream.gguf");
	CHECK(gguf_writer_begin(w2, p, &err) == LLM_OK);
	CHECK(gguf_writer_data(w2, a, 7, &err) == LLM_OK);
	CHECK(gguf_writer_data(w2, (uint8_t *) a + 7, sizeof(a) - 7, &err) == LLM_OK);
	CHECK(gguf_writer_current(w2) == 2);
	CHECK(gguf_writer_data(w2, c, sizeof(c), &err) == LLM_OK);
	CHECK(gguf_writer_finish(w2, &err) == LLM_OK);
	m2 = read_all(p, &s2);
	CHECK(m2 && s1 == s2 && memcmp(m1, m2, s1) == 0);
	{
		gguf_file  *f = expect_open("stream", m2, s2);

		if (f)
		{
			CHECK(f->alignment == 16 && walk_file(f) == 0);
			CHECK(memcmp(gguf_find_tensor(f, "b")->data, b, sizeof(b)) == 0);
			gguf_close(f);
		}
	}
	free(m1);
	free(m2);
	gguf_writer_free(w1);
	gguf_writer_free(w2);
}

/* ---- hostile inputs -------------------------------------------------------- */

/* A small valid file whose last tensor ends exactly at the end. */
static uint8_t *
small_file(size_t *size, uint32_t alignment)
{
	gguf_writer *w;
	llm_error	err = {0};
	uint8_t    *buf = NULL;
	float		x[64];
	uint64_t	ne1[1] = {8},
				ne2[2] = {32, 2};
	static const char *const toks[] = {"<unk>", "a", "\xe2\x96\x81" "b"};
	static const int32_t ints[] = {1, -2};
	gguf_value	inner,
				outer;
	uint8_t		q[68];

	fill_floats(x, 64, 5);
	if (gguf_writer_create(&w, &err) != LLM_OK)
		return NULL;
	if (alignment)
		gguf_writer_set_u32(w, "general.alignment", alignment, &err);
	gguf_writer_set_str(w, "general.architecture", "llama", &err);
	gguf_writer_set_u32(w, "llama.block_count", 1, &err);
	gguf_writer_set_f32(w, "llama.eps", 1e-5f, &err);
	gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", toks, NULL, 3, &err);
	gguf_writer_set_arr(w, "x.ints", GGUF_TYPE_INT32, ints, 2, &err);
	memset(&inner, 0, sizeof(inner));
	inner.type = GGUF_TYPE_ARRAY;
	inner.arr.elem_type = GGUF_TYPE_INT32;
	inner.arr.n = 2;
	inner.arr.raw = ints;
	memset(&outer, 0, sizeof(outer));
	outer.type = GGUF_TYPE_ARRAY;
	outer.arr.elem_type = GGUF_TYPE_ARRAY;
	outer.arr.n = 1;
	outer.arr.items = &inner;
	gguf_writer_set_value(w, "x.nested", &outer, &err);
	llm_quantize_row(LLM_Q8_0, x, q, 32);
	llm_quantize_row(LLM_Q8_0, x + 32, q + 34, 32);
	gguf_writer_add_tensor(w, "w.q8", LLM_Q8_0, 2, ne2, q, true, &err);
	gguf_writer_add_tensor(w, "n.f32", LLM_F32, 1, ne1, x, true, &err);
	if (gguf_writer_write_mem(w, &buf, size, &err) != LLM_OK)
		buf = NULL;
	gguf_writer_free(w);
	return buf;
}

/* Every proper prefix of a valid file is a format error. */
static void
test_truncation(void)
{
	static const uint32_t aligns[] = {0, 8};

	for (int a = 0; a < 2; a++)
	{
		size_t		size;
		uint8_t    *buf = small_file(&size, aligns[a]);
		int			wrong = 0;
		gguf_file  *f;

		CHECK(buf != NULL);
		if (buf == NULL)
			return;
		f = expect_open("small file", buf, size);
		if (f)
		{
			/* the last tensor (32 bytes of F32) ends the file exactly */
			CHECK(f->tensors[1].offset + f->data_offset + 32 == size);
			gguf_close(f);
		}
		for (size_t len = 0; len < size; len++)
		{
			/* a private copy so ASan sees reads past the prefix */
			uint8_t    *cp = malloc(len ? len : 1);
			llm_error	err = {0};
			llm_status	st;

			memcpy(cp, buf, len);
			f = NULL;
			st = gguf_open_buffer(cp, len, &f, &err);
			if (st != LLM_ERR_FORMAT)
			{
				if (wrong++ < 5)
					fprintf(stderr, "  prefix %zu of %zu: %s\n", len, size, llm_status_name(st));
				gguf_close(f);
			}
			free(cp);
		}
		CHECKF(wrong == 0, "%d of %zu truncations not refused", wrong, size);
		free(buf);
	}
	{
		/* and through gguf_open on a file */
		char		p[512];
		size_t		size;
		uint8_t    *buf = small_file(&size, 0);
		gguf_file  *f = NULL;
		llm_error	err = {0};

		tmp_path(p, sizeof(p), "trunc.gguf");
		CHECK(buf && write_all(p, buf, size - 1));
		CHECK(gguf_open(p, &f, &err) == LLM_ERR_FORMAT && f == NULL);
		CHECK(write_all(p, buf, 10));
		CHECK(gguf_open(p, &f, &err) == LLM_ERR_FORMAT && f == NULL);
		CHECK(write_all(p, buf, 0));
		CHECK(gguf_open(p, &f, &err) == LLM_ERR_FORMAT && f == NULL);
		tmp_path(p, sizeof(p), "does-not-exist.gguf");
		CHECK(gguf_open(p, &f, &err) == LLM_ERR_IO && f == NULL);
		free(buf);
	}
}

/* A small PRNG for the fuzz loops (splitmix64). */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Thousands of seeded random corruptions: refuse or parse consistently. */
static void
test_bitflips(void)
{
	size_t		size;
	uint8_t    *orig = small_file(&size, 0);
	uint8_t    *buf;
	uint64_t	seed = 20261126;
	gguf_file  *f0;
	size_t		header;
	int			ok = 0,
				refused = 0,
				wrong = 0,
				inconsistent = 0;

	CHECK(orig != NULL);
	if (orig == NULL)
		return;
	f0 = expect_open("bitflip base", orig, size);
	header = f0 ? f0->data_offset : size;
	gguf_close(f0);
	buf = malloc(size);
	for (int it = 0; it < 20000; it++)
	{
		int			nflips = 1 + (int) (rnd(&seed) % 4);
		gguf_file  *f = NULL;
		llm_error	err = {0};
		llm_status	st;

		memcpy(buf, orig, size);
		for (int k = 0; k < nflips; k++)
		{
			/* mostly in the header, where the structure is */
			size_t		pos = (rnd(&seed) % 8) ? rnd(&seed) % header : rnd(&seed) % size;
			uint64_t	r = rnd(&seed);

			switch (r % 4)
			{
				case 0:
				case 1:
					buf[pos] ^= (uint8_t) (1u << ((r >> 8) % 8));
					break;
				case 2:
					buf[pos] = (uint8_t) (r >> 16);
					break;
				default:
					{
						/* an extreme value in an 8-byte field */
						static const uint64_t ext[] = {0, 1, UINT64_MAX, 1ull << 63,
						(1ull << 32), 0xFFFFFFFFull, 13, 32};
						uint64_t	e = ext[(r >> 8) % 8];

						if (pos + 8 <= size)
							memcpy(buf + pos, &e, 8);
					}
			}
		}
		st = gguf_open_buffer(buf, size, &f, &err);
		if (st == LLM_OK)
		{
			ok++;
			if (walk_file(f) != 0)
				inconsistent++;
			gguf_close(f);
		}
		else if (st == LLM_ERR_FORMAT || st == LLM_ERR_UNSUPPORTED)
		{
			refused++;
			if (err.msg[0] == '\0' || f != NULL)
				wrong++;
		}
		else
		{
			if (wrong++ < 5)
				fprintf(stderr, "  iteration %d: %s (%s)\n", it, llm_status_name(st), err.msg);
		}
	}
	CHECKF(wrong == 0, "%d corruptions gave an unexpected status", wrong);
	CHECKF(inconsistent == 0, "%d accepted corruptions broke invariants", inconsistent);
	CHECK(refused > 1000);		/* the corruption does reach the parser */
	fprintf(stderr, "  bit flips: %d parsed, %d refused\n", ok, refused);
	free(buf);
	free(orig);
}

/* Hand-made hostile files. */
static void
test_hostile(void)
{
	bb			b = {0};
	uint64_t	ne[5] = {32, 1, 1, 1, 1};

	/* control: the builder makes valid files */
	bb_header(&b, 3, 1, 1);
	bb_kv_u32(&b, "general.alignment", 32);
	bb_tensor(&b, "t", 1, ne, LLM_F32, 0);
	bb_data(&b, 32, 128);
	{
		gguf_file  *f = expect_open("builder control", b.p, b.len);

		CHECK(f && f->n_tensors == 1 && f->tensors[0].nbytes == 128);
		gguf_close(f);
	}

	/* magic and version */
	bb_header(&b, 3, 0, 0);
	memcpy(b.p, "GGUG", 4);
	expect_reject("bad magic", b.p, b.len, false);
	bb_header(&b, 1, 0, 0);
	expect_reject("version 1", b.p, b.len, true);
	bb_header(&b, 0, 0, 0);
	expect_reject("version 0", b.p, b.len, true);
	bb_header(&b, 4, 0, 0);
	expect_reject("version 4", b.p, b.len, true);
	bb_header(&b, 0xFFFFFFFFu, 0, 0);
	expect_reject("version 2^32-1", b.p, b.len, true);

	/* oversized counts */
	bb_header(&b, 3, 1ull << 63, 0);
	bb_data(&b, 1, 64);
	expect_reject("n_tensors 2^63", b.p, b.len, false);
	bb_header(&b, 3, UINT64_MAX, 0);
	bb_data(&b, 1, 64);
	expect_reject("n_tensors 2^64-1", b.p, b.len, false);
	bb_header(&b, 3, 0, 1ull << 63);
	bb_data(&b, 1, 64);
	expect_reject("n_kv 2^63", b.p, b.len, false);
	bb_header(&b, 3, 0, UINT64_MAX);
	bb_kv_u32(&b, "a", 1);
	expect_reject("n_kv 2^64-1", b.p, b.len, false);
	bb_header(&b, 3, 0, 1ull << 20);
	for (int i = 0; i < 64; i++)
		bb_kv_u32(&b, "k", (uint32_t) i);
	expect_reject("n_kv 2^20 in a small file", b.p, b.len, false);
	bb_header(&b, 3, 3, 0);
	bb_tensor(&b, "t1", 1, ne, LLM_F32, 0);
	bb_tensor(&b, "t2", 1, ne, LLM_F32, 128);
	bb_data(&b, 32, 256);
	expect_reject("fewer tensor infos than n_tensors", b.p, b.len, false);

	/* strings */
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, 1ull << 63);
	bb_put(&b, "key", 3);
	expect_reject("key length 2^63", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, UINT64_MAX);
	bb_put(&b, "key", 3);
	expect_reject("key length 2^64-1", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, 100);
	bb_put(&b, "key", 3);
	bb_data(&b, 1, 20);
	expect_reject("key longer than the file", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, 0);
	bb_u32(&b, GGUF_TYPE_UINT32);
	bb_u32(&b, 1);
	expect_reject("empty key", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "s");
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, 1000);
	bb_put(&b, "abc", 3);
	expect_reject("string value longer than the file", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "s");
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, UINT64_MAX - 2);
	bb_put(&b, "abc", 3);
	expect_reject("string length near 2^64", b.p, b.len, false);

	/* value types */
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "k");
	bb_u32(&b, 13);
	bb_u32(&b, 0);
	expect_reject("value type 13", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "k");
	bb_u32(&b, 0xFFFFFFFFu);
	bb_u64(&b, 0);
	expect_reject("value type 2^32-1", b.p, b.len, false);
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "k");
	bb_u32(&b, GGUF_TYPE_ARRAY);
	bb_u32(&b, 77);
	bb_u64(&b, 1);
	bb_u32(&b, 0);
	expect_reject("array element type 77", b.p, b.len, false);

	/* arrays whose count x element size overflows or exceeds the file */
	{
		static const struct
		{
			uint32_t	et;
			uint64_t	n;
			const char *what;
		}			arrs[] = {
			{GGUF_TYPE_UINT64, (1ull << 61) + 1, "u64 array, count*8 wraps to 8"},
			{GGUF_TYPE_UINT32, 1ull << 62, "u32 array, count*4 wraps to 0"},
			{GGUF_TYPE_FLOAT64, UINT64_MAX, "f64 array of 2^64-1"},
			{GGUF_TYPE_UINT8, 1000, "u8 array longer than the file"},
			{GGUF_TYPE_STRING, 1ull << 60, "string array of 2^60"},
			{GGUF_TYPE_STRING, UINT64_MAX, "string array of 2^64-1"},
			{GGUF_TYPE_ARRAY, 1ull << 62, "array of 2^62 arrays"},
			{GGUF_TYPE_ARRAY, 100, "array of 100 arrays in 40 bytes"},
		};

		for (size_t i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++)
		{
			bb_header(&b, 3, 0, 1);
			bb_str(&b, "a");
			bb_u32(&b, GGUF_TYPE_ARRAY);
			bb_u32(&b, arrs[i].et);
			bb_u64(&b, arrs[i].n);
			bb_data(&b, 1, 40);
			expect_reject(arrs[i].what, b.p, b.len, false);
		}
	}
	/* a string array whose second element runs off the end */
	bb_header(&b, 3, 0, 1);
	bb_str(&b, "a");
	bb_u32(&b, GGUF_TYPE_ARRAY);
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, 2);
	bb_str(&b, "ok");
	bb_u64(&b, 1ull << 40);
	expect_reject("string array element too long", b.p, b.len, false);

	/* deep nesting must not recurse without bound */
	{
		int			depths[] = {9, 64, 100000};

		for (int k = 0; k < 3; k++)
		{
			bb_header(&b, 3, 0, 1);
			bb_str(&b, "deep");
			bb_u32(&b, GGUF_TYPE_ARRAY);
			for (int d = 0; d < depths[k]; d++)
			{
				bb_u32(&b, GGUF_TYPE_ARRAY);
				bb_u64(&b, 1);
			}
			bb_u32(&b, GGUF_TYPE_UINT8);
			bb_u64(&b, 0);
			expect_reject(k == 0 ? "arrays nested 10 deep" : k == 1 ? "arrays nested 65 deep" :
						  "arrays nested 100001 deep", b.p, b.len, false);
		}
	}

	/* tensor infos */
	{
		static const struct
		{
			uint32_t	n_dims;
			uint64_t	ne[5];
			uint32_t	type;
			uint64_t	offset;
			bool		unsupported_ok;
			const char *what;
		}			ts[] = {
			{0, {32}, LLM_F32, 0, false, "n_dims 0"},
			{5, {32, 1, 1, 1, 1}, LLM_F32, 0, false, "n_dims 5"},
			{0xFFFFFFFFu, {32}, LLM_F32, 0, false, "n_dims 2^32-1"},
			{4, {1ull << 32, 1ull << 32, 1ull << 32, 1ull << 32}, LLM_F32, 0, false,
			"dims whose product overflows"},
			{2, {1ull << 62, 4}, LLM_F32, 0, false, "dim 2^62 (bytes overflow)"},
			{2, {UINT64_MAX, 1}, LLM_F32, 0, false, "dim 2^64-1"},
			{2, {32, 0}, LLM_F32, 0, false, "dim 0"},
			{1, {1ull << 40}, LLM_F32, 0, false, "tensor larger than the file"},
			{1, {32}, LLM_F32, 4096, false, "offset past the end"},
			{1, {32}, LLM_F32, UINT64_MAX - 31, false, "offset near 2^64"},
			{1, {32}, LLM_F32, 4, false, "misaligned offset"},
			{1, {32}, 99, 0, true, "tensor type 99"},
			{1, {32}, 0xFFFFFFFFu, 0, true, "tensor type 2^32-1"},
			{1, {33}, LLM_Q4_0, 0, false, "row not a multiple of the block"},
			{1, {32}, LLM_F32, 96, false, "data overruns the end by 0..127 bytes"},
		};

		for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		{
			bb_header(&b, 3, 1, 0);
			bb_str(&b, "t");
			bb_u32(&b, ts[i].n_dims);
			for (uint32_t d = 0; d < ts[i].n_dims && d < 5; d++)
				bb_u64(&b, ts[i].ne[d]);
			bb_u32(&b, ts[i].type);
			bb_u64(&b, ts[i].offset);
			bb_data(&b, 32, 128);
			expect_reject(ts[i].what, b.p, b.len, ts[i].unsupported_ok);
		}
	}
	/* a tensor name longer than the file; an empty tensor name */
	bb_header(&b, 3, 1, 0);
	bb_u64(&b, 1ull << 50);
	bb_data(&b, 1, 64);
	expect_reject("tensor name length 2^50", b.p, b.len, false);
	bb_header(&b, 3, 1, 0);
	bb_tensor(&b, "", 1, ne, LLM_F32, 0);
	bb_data(&b, 32, 128);
	expect_reject("empty tensor name", b.p, b.len, false);
	/* tensor infos end exactly at the end of the file: no data section */
	bb_header(&b, 3, 1, 0);
	bb_tensor(&b, "t", 1, ne, LLM_F32, 0);
	expect_reject("no data section", b.p, b.len, false);

	/* alignment */
	{
		static const struct
		{
			uint32_t	type;
			uint64_t	value;
			const char *what;
		}			al[] = {
			{GGUF_TYPE_UINT32, 0, "alignment 0"},
			{GGUF_TYPE_UINT32, 3, "alignment 3"},
			{GGUF_TYPE_UINT32, 48, "alignment 48"},
			{GGUF_TYPE_UINT32, 0x80000001u, "alignment 2^31+1"},
			{GGUF_TYPE_UINT64, 1ull << 63, "alignment 2^63"},
			{GGUF_TYPE_INT32, 0xFFFFFFE0u, "alignment -32"},
			{GGUF_TYPE_FLOAT32, 0x42000000u, "alignment 32.0f"},
			{GGUF_TYPE_STRING, 0, "alignment as a string"},
		};

		for (size_t i = 0; i < sizeof(al) / sizeof(al[0]); i++)
		{
			bb_header(&b, 3, 1, 1);
			bb_str(&b, "general.alignment");
			bb_u32(&b, al[i].type);
			if (al[i].type == GGUF_TYPE_UINT64)
				bb_u64(&b, al[i].value);
			else if (al[i].type == GGUF_TYPE_STRING)
				bb_str(&b, "32");
			else
				bb_u32(&b, (uint32_t) al[i].value);
			bb_tensor(&b, "t", 1, ne, LLM_F32, 0);
			bb_data(&b, 64, 128);
			expect_reject(al[i].what, b.p, b.len, false);
		}
	}

	/* duplicates, made by patching valid files */
	{
		gguf_writer *w;
		llm_error	err = {0};
		uint8_t    *buf;
		size_t		size;
		float		x[32] = {0};
		uint64_t	n1[1] = {32};
		uint8_t    *hit;

		CHECK(gguf_writer_create(&w, &err) == LLM_OK);
		gguf_writer_set_u32(w, "dup.key1", 1, &err);
		gguf_writer_set_str(w, "dup.key2", "v", &err);
		gguf_writer_add_tensor(w, "dup.tensorA", LLM_F32, 1, n1, x, true, &err);
		gguf_writer_add_tensor(w, "dup.tensorB", LLM_F32, 1, n1, x, true, &err);
		CHECK(gguf_writer_write_mem(w, &buf, &size, &err) == LLM_OK);
		{
			gguf_file  *f = expect_open("duplicate control", buf, size);

			gguf_close(f);
		}
		hit = memmem(buf, size, "dup.key2", 8);
		CHECK(hit != NULL);
		if (hit)
		{
			hit[7] = '1';
			expect_reject("duplicate key", buf, size, false);
			hit[7] = '2';
		}
		hit = memmem(buf, size, "dup.tensorB", 11);
		CHECK(hit != NULL);
		if (hit)
		{
			hit[10] = 'A';
			expect_reject("duplicate tensor name", buf, size, false);
		}
		free(buf);
		gguf_writer_free(w);
	}
	free(b.p);
}

/* Duplicates are found however many keys or tensors there are. */
static void
test_many_duplicates(void)
{
	gguf_writer *w;
	llm_error	err = {0};
	uint8_t    *buf = NULL;
	size_t		size = 0;
	float		x[8] = {0};
	uint64_t	ne[1] = {8};
	char		name[32];
	gguf_file  *f;
	uint8_t    *hit;

	int			failed = 0;

	CHECK(gguf_writer_create(&w, &err) == LLM_OK);
	for (int i = 0; i < 5000; i++)
	{
		snprintf(name, sizeof(name), "k.%05d", i);
		failed += gguf_writer_set_u8(w, name, (uint8_t) i, &err) != LLM_OK;
	}
	for (int i = 0; i < 9000; i++)
	{
		snprintf(name, sizeof(name), "t.%05d", i);
		failed += gguf_writer_add_tensor(w, name, LLM_F32, 1, ne, x, false, &err) != LLM_OK;
	}
	CHECK(failed == 0);
	CHECK(gguf_writer_write_mem(w, &buf, &size, &err) == LLM_OK);
	f = expect_open("5000 keys, 9000 tensors", buf, size);
	if (f)
	{
		CHECK(f->n_kv == 5000 && f->n_tensors == 9000);
		gguf_close(f);
	}
	/* the last key becomes a copy of the first */
	hit = memmem(buf, size, "k.04999", 7);
	CHECK(hit != NULL);
	if (hit)
	{
		memcpy(hit, "k.00000", 7);
		expect_reject("duplicate among 5000 keys", buf, size, false);
		memcpy(hit, "k.04999", 7);
	}
	hit = memmem(buf, size, "t.08999", 7);
	CHECK(hit != NULL);
	if (hit)
	{
		memcpy(hit, "t.00000", 7);
		expect_reject("duplicate among 9000 tensor names", buf, size, false);
	}
	free(buf);
	gguf_writer_free(w);
}

/* ---- real files -------------------------------------------------------------- */

/* Every GGUF in the shared model directory parses and walks cleanly. */
static void
test_real_files(void)
{
	static const char *const files[] = {
		"stories260K/stories260K.gguf",
		"babyllama-tok105/babyllama-tok105-f32.gguf",
		"babyllama-tok105/babyllama-tok105-Q8_0.gguf",
		"babyllama-tok105/babyllama-tok105-Q4_0.gguf",
		"gguf/llama-2-tiny-random.gguf",
		"gguf/ggml-vocab-llama-spm.gguf",
		"vocab/ggml-vocab-gpt-2.gguf",
		"vocab/ggml-vocab-phi-3.gguf",
	};
	int			found = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		char		p[1024];
		gguf_file  *f = NULL;
		llm_error	err = {0};

		if (unit_model_path(p, sizeof(p), files[i]) == NULL)
			continue;
		found++;
		CHECKF(gguf_open(p, &f, &err) == LLM_OK, "%s: %s", files[i], err.msg);
		if (f)
		{
			CHECKF(walk_file(f) == 0, "%s", files[i]);
			gguf_close(f);
		}
	}
	if (found == 0)
		SKIP("no models");
}

/* ---- tools --------------------------------------------------------------------- */

/* Open a file, or NULL with a failed check. */
static gguf_file *
open_path(const char *path)
{
	gguf_file  *f = NULL;
	llm_error	err = {0};

	CHECKF(gguf_open(path, &f, &err) == LLM_OK, "%s: %s", path, err.msg);
	return f;
}

/* llm-convert output equals llama.cpp's conversion key by key, tensor by tensor. */
static void
test_convert(void)
{
	char		ckpt[1024],
				ckpt1[1024],
				tok[1024],
				ref[1024],
				out[512],
				out1[512],
				out16[512],
				bad[512];
	static const char *const extra[] = {"general.file_type", NULL};
	gguf_file  *r,
			   *o;
	uint64_t	u;

	if (!unit_model_path(ckpt, sizeof(ckpt), "stories260K/stories260K.bin") ||
		!unit_model_path(ckpt1, sizeof(ckpt1), "stories260K/stories260K_v1.bin") ||
		!unit_model_path(tok, sizeof(tok), "stories260K/tok512.bin") ||
		!unit_model_path(ref, sizeof(ref), "stories260K/stories260K.gguf"))
		SKIP("stories260K models absent");
	if (!have_tool("llm-convert"))
		SKIP("llm-convert not built");
	tmp_path(out, sizeof(out), "stories260K.gguf");
	tmp_path(out1, sizeof(out1), "stories260K_v1.gguf");
	tmp_path(out16, sizeof(out16), "stories260K_f16.gguf");
	CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
			  ckpt, tok, out) == 0);
	CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
			  ckpt1, tok, out1) == 0);
	CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s --type f16",
			  unit_build_dir(), ckpt, tok, out16) == 0);
	r = open_path(ref);
	if (r == NULL)
		return;
	o = open_path(out);
	if (o)
	{
		CHECKF(compare_kv(r, o, NULL) == 0, "legacy conversion: metadata differs");
		CHECKF(compare_tensors(r, o, true) == 0, "legacy conversion: tensors differ");
		CHECK(o->n_kv == r->n_kv + 1);	/* plus general.file_type */
		CHECK(gguf_get_u64(o, "general.file_type", &u) && u == 0);
		CHECK(walk_file(o) == 0);
		gguf_close(o);
	}
	o = open_path(out1);
	if (o)
	{
		CHECKF(compare_kv(r, o, NULL) == 0, "v1 conversion: metadata differs");
		CHECKF(compare_tensors(r, o, true) == 0, "v1 conversion: tensors differ");
		gguf_close(o);
	}
	o = open_path(out16);
	if (o)
	{
		int			bad_vals = 0;

		CHECK(compare_kv(r, o, extra) == 0);
		CHECK(gguf_get_u64(o, "general.file_type", &u) && u == 1);
		for (uint64_t i = 0; i < r->n_tensors; i++)
		{
			const gguf_tensor *a = &r->tensors[i];
			const gguf_tensor *t = gguf_find_tensor(o, cstr(a->name));
			uint64_t	n = a->nbytes / 4;

			if (t == NULL || t->type != (a->n_dims == 2 ? LLM_F16 : LLM_F32) ||
				memcmp(t->ne, a->ne, sizeof(t->ne)) != 0)
			{
				bad_vals++;
				continue;
			}
			for (uint64_t k = 0; k < n; k++)
			{
				float		ref_v,
							got;
				uint16_t	h;

				memcpy(&ref_v, (const uint8_t *) a->data + 4 * k, 4);
				if (t->type == LLM_F32)
					memcpy(&got, (const uint8_t *) t->data + 4 * k, 4);
				else
				{
					memcpy(&h, (const uint8_t *) t->data + 2 * k, 2);
					got = llm_f16_to_f32(h);
				}
				if (fabsf(got - ref_v) > 1e-3f * fabsf(ref_v) + 1e-7f)
					bad_vals++;
			}
		}
		CHECKF(bad_vals == 0, "%d f16 values differ", bad_vals);
		gguf_close(o);
	}
	gguf_close(r);

	/* babyllama: a second model, GQA and a 105-token vocabulary */
	{
		char		bck[1024],
					btok[1024],
					bref[1024],
					bout[512];

		if (unit_model_path(bck, sizeof(bck), "babyllama-tok105/model5000.bin") &&
			unit_model_path(btok, sizeof(btok), "babyllama-tok105/tok105.bin") &&
			unit_model_path(bref, sizeof(bref), "babyllama-tok105/babyllama-tok105-f32.gguf"))
		{
			tmp_path(bout, sizeof(bout), "babyllama.gguf");
			CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
					  bck, btok, bout) == 0);
			r = open_path(bref);
			o = open_path(bout);
			if (r && o)
			{
				CHECKF(compare_kv(r, o, NULL) == 0, "babyllama: metadata differs");
				CHECKF(compare_tensors(r, o, true) == 0, "babyllama: tensors differ");
			}
			gguf_close(r);
			gguf_close(o);
		}
	}

	/* bad inputs: clear errors, non-zero exit, no output file */
	tmp_path(bad, sizeof(bad), "bad.gguf");
	unlink(bad);
	{
		size_t		size;
		uint8_t    *data = read_all(ckpt, &size);
		char		cut[512];

		tmp_path(cut, sizeof(cut), "cut.bin");
		CHECK(data && write_all(cut, data, size - 4));
		CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
				  cut, tok, bad) == 1);
		/* a header whose vocab disagrees with the size */
		if (data)
		{
			int32_t		v = 513;

			memcpy(data + 20, &v, 4);
			CHECK(write_all(cut, data, size));
			CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
					  cut, tok, bad) == 1);
			v = 0;
			memcpy(data + 12, &v, 4);	/* n_heads 0 */
			CHECK(write_all(cut, data, size));
			CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
					  cut, tok, bad) == 1);
		}
		free(data);
		data = read_all(tok, &size);
		CHECK(data && write_all(cut, data, size - 1));
		CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
				  ckpt, cut, bad) == 1);
		free(data);
	}
	{
		char		q80[1024],
					btok[1024];

		if (unit_model_path(q80, sizeof(q80), "stories260K/stories260K_q80.bin"))
			CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
					  q80, tok, bad) == 1);
		/* a 105-token tokenizer for a 512-token model */
		if (unit_model_path(btok, sizeof(btok), "babyllama-tok105/tok105.bin"))
			CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s", unit_build_dir(),
					  ckpt, btok, bad) == 1);
	}
	CHECK(run("%s/llm-convert --checkpoint %s --tokenizer %s -o %s --type q9", unit_build_dir(),
			  ckpt, tok, bad) == 2);
	CHECK(!exists(bad));
}

/* Root-mean-square difference between a tensor and float32 reference data. */
static double
rms_error(const gguf_tensor *t, const gguf_tensor *ref)
{
	int64_t		n = (int64_t) t->ne[0];
	size_t		rows = t->nbytes / llm_row_bytes(t->type, n);
	size_t		rrb = llm_row_bytes(ref->type, n);
	float	   *a = malloc(n * sizeof(float)),
			   *b = malloc(n * sizeof(float));
	double		s = 0;

	for (size_t r = 0; r < rows; r++)
	{
		llm_dequantize_row(t->type, (const uint8_t *) t->data + r * llm_row_bytes(t->type, n), a, n);
		llm_dequantize_row(ref->type, (const uint8_t *) ref->data + r * rrb, b, n);
		for (int64_t k = 0; k < n; k++)
			s += (double) (a[k] - b[k]) * (a[k] - b[k]);
	}
	free(a);
	free(b);
	return sqrt(s / ((double) rows * n));
}

/* llm-quantize: llama.cpp's type choices, and no worse accuracy than llama.cpp. */
static void
test_quantize(void)
{
	char		f32[1024],
				ref[1024],
				out[512];
	static const struct
	{
		const char *type;
		const char *ref;
		uint64_t	ftype;
	}			cases[] = {
		{"q8_0", "babyllama-tok105/babyllama-tok105-Q8_0.gguf", 7},
		{"q4_0", "babyllama-tok105/babyllama-tok105-Q4_0.gguf", 2},
	};

	if (!unit_model_path(f32, sizeof(f32), "babyllama-tok105/babyllama-tok105-f32.gguf"))
		SKIP("babyllama models absent");
	if (!have_tool("llm-quantize"))
		SKIP("llm-quantize not built");
	for (size_t c = 0; c < 2; c++)
	{
		gguf_file  *src,
				   *r,
				   *o;
		uint64_t	u;
		int			identical = 0,
					worse = 0;

		if (!unit_model_path(ref, sizeof(ref), cases[c].ref))
			continue;
		tmp_path(out, sizeof(out), "quant.gguf");
		CHECK(run("%s/llm-quantize %s %s %s", unit_build_dir(), f32, out, cases[c].type) == 0);
		src = open_path(f32);
		r = open_path(ref);
		o = open_path(out);
		if (src && r && o)
		{
			CHECKF(compare_kv(r, o, NULL) == 0, "%s: metadata differs from llama.cpp's",
				   cases[c].type);
			CHECK(gguf_get_u64(o, "general.file_type", &u) && u == cases[c].ftype);
			CHECKF(compare_tensors(r, o, false) == 0, "%s: tensor types differ", cases[c].type);
			CHECK(walk_file(o) == 0);
			for (uint64_t i = 0; i < o->n_tensors; i++)
			{
				const gguf_tensor *t = &o->tensors[i];
				const gguf_tensor *rt = gguf_find_tensor(r, cstr(t->name));
				const gguf_tensor *st = gguf_find_tensor(src, cstr(t->name));
				double		e_ours,
							e_ref;

				if (rt == NULL || st == NULL || rt->nbytes != t->nbytes)
					continue;
				identical += memcmp(rt->data, t->data, t->nbytes) == 0;
				e_ours = rms_error(t, st);
				e_ref = rms_error(rt, st);
				if (e_ours > e_ref * 1.02 + 1e-7)
				{
					fprintf(stderr, "  %s %s: rms error %g vs llama.cpp %g\n", cases[c].type,
							cstr(t->name), e_ours, e_ref);
					worse++;
				}
			}
			CHECKF(worse == 0, "%s: %d tensors less accurate than llama.cpp's", cases[c].type, worse);
			fprintf(stderr, "  %s: %d of %llu tensors byte-identical to llama.cpp's\n",
					cases[c].type, identical, (unsigned long long) o->n_tensors);
		}
		gguf_close(src);
		gguf_close(r);
		gguf_close(o);
	}
}

/* Type choices on shapes where the Q4_K_M mix and the fallbacks matter. */
static void
test_quantize_mix(void)
{
	char		f32[512],
				out[512],
				back[512];
	gguf_file  *o,
			   *s;
	uint64_t	u;

	if (!have_tool("llm-quantize") || !have_tool("llm-random-model"))
		SKIP("tools not built");
	tmp_path(f32, sizeof(f32), "mix-f32.gguf");
	tmp_path(out, sizeof(out), "mix-q4km.gguf");
	tmp_path(back, sizeof(back), "mix-back.gguf");
	/* 8 layers, rows of 256 (K-quant blocks fit), ffn_down rows of 320 (they do not) */
	CHECK(run("%s/llm-random-model --shape tiny --dim 256 --hidden 320 --layers 8 --heads 4 "
			  "--kv-heads 2 --n-vocab 40 --type f32 -o %s", unit_build_dir(), f32) == 0);
	CHECK(run("%s/llm-quantize %s %s q4_k_m", unit_build_dir(), f32, out) == 0);
	s = open_path(f32);
	o = open_path(out);
	if (o && s)
	{
		CHECK(gguf_get_u64(o, "general.file_type", &u) && u == 15);
		CHECK(gguf_find_tensor(o, "output.weight")->type == LLM_Q6_K);
		CHECK(gguf_find_tensor(o, "token_embd.weight")->type == LLM_Q4_K);
		CHECK(gguf_find_tensor(o, "output_norm.weight")->type == LLM_F32);
		for (int l = 0; l < 8; l++)
		{
			char		n[64];
			/* llama.cpp's use_more_bits for 8 layers: 0, 3, 6, 7 */
			bool		more = l == 0 || l == 3 || l == 6 || l == 7;
			const gguf_tensor *t;

			snprintf(n, sizeof(n), "blk.%d.attn_v.weight", l);
			t = gguf_find_tensor(o, n);
			CHECKF(t && t->type == (more ? LLM_Q6_K : LLM_Q4_K), "%s", n);
			snprintf(n, sizeof(n), "blk.%d.attn_q.weight", l);
			t = gguf_find_tensor(o, n);
			CHECKF(t && t->type == LLM_Q4_K, "%s", n);
			/* 320 is not a multiple of 256: falls back to Q8_0 (320 = 10 x 32) */
			snprintf(n, sizeof(n), "blk.%d.ffn_down.weight", l);
			t = gguf_find_tensor(o, n);
			CHECKF(t && t->type == LLM_Q8_0, "%s", n);
			snprintf(n, sizeof(n), "blk.%d.ffn_norm.weight", l);
			t = gguf_find_tensor(o, n);
			CHECKF(t && t->type == LLM_F32, "%s", n);
			snprintf(n, sizeof(n), "blk.%d.attn_q.weight", l);
			if (l == 0)
				CHECK(rms_error(gguf_find_tensor(o, n), gguf_find_tensor(s, n)) < 0.02 * 0.15);
		}
		CHECK(walk_file(o) == 0);
	}
	gguf_close(o);
	gguf_close(s);
	/* back to f32: the values are the dequantized ones */
	CHECK(run("%s/llm-quantize %s %s f32", unit_build_dir(), out, back) == 0);
	s = open_path(back);
	o = open_path(out);
	if (s && o)
	{
		const gguf_tensor *q = gguf_find_tensor(o, "blk.1.attn_k.weight");
		const gguf_tensor *f = gguf_find_tensor(s, "blk.1.attn_k.weight");

		CHECK(gguf_get_u64(s, "general.file_type", &u) && u == 0);
		CHECK(gguf_get(s, "general.quantization_version") == NULL);
		CHECK(f && f->type == LLM_F32 && q && rms_error(f, q) == 0.0);
	}
	gguf_close(s);
	gguf_close(o);

	/* stories260K: ffn_down rows of 172 fit no block -> F16; output rows of 64 -> Q8_0 */
	{
		char		ref[1024];

		if (unit_model_path(ref, sizeof(ref), "stories260K/stories260K.gguf"))
		{
			CHECK(run("%s/llm-quantize %s %s q4_0", unit_build_dir(), ref, out) == 0);
			o = open_path(out);
			if (o)
			{
				CHECK(gguf_find_tensor(o, "blk.0.ffn_down.weight")->type == LLM_F16);
				CHECK(gguf_find_tensor(o, "blk.0.ffn_up.weight")->type == LLM_Q4_0);
				CHECK(gguf_find_tensor(o, "output.weight")->type == LLM_Q8_0);
				CHECK(gguf_find_tensor(o, "blk.4.attn_norm.weight")->type == LLM_F32);
				gguf_close(o);
			}
		}
	}
	CHECK(run("%s/llm-quantize %s %s q3_k", unit_build_dir(), f32, back) != 0);
	CHECK(run("%s/llm-quantize %s/missing.gguf %s q8_0", unit_build_dir(), tmp_dir(), back) != 0);
}

/* llm-random-model: shapes, statistics, determinism, vocab copy. */
static void
test_random_model(void)
{
	char		a[512],
				b[512],
				c[512],
				v[1024];
	gguf_file  *f;
	size_t		sa,
				sb;
	uint8_t    *ma,
			   *mb;

	if (!have_tool("llm-random-model"))
		SKIP("llm-random-model not built");
	tmp_path(a, sizeof(a), "rand-a.gguf");
	tmp_path(b, sizeof(b), "rand-b.gguf");
	tmp_path(c, sizeof(c), "rand-c.gguf");
	CHECK(run("%s/llm-random-model --shape tiny --dim 64 --hidden 128 --layers 2 --type f32 "
			  "--seed 7 -o %s", unit_build_dir(), a) == 0);
	CHECK(run("%s/llm-random-model --shape tiny --dim 64 --hidden 128 --layers 2 --type f32 "
			  "--seed 7 -o %s", unit_build_dir(), b) == 0);
	ma = read_all(a, &sa);
	mb = read_all(b, &sb);
	CHECK(ma && mb && sa == sb && memcmp(ma, mb, sa) == 0);	/* deterministic */
	free(mb);
	CHECK(run("%s/llm-random-model --shape tiny --dim 64 --hidden 128 --layers 2 --type f32 "
			  "--seed 7 --threads 3 -o %s", unit_build_dir(), b) == 0);
	mb = read_all(b, &sb);
	CHECK(ma && mb && sa == sb && memcmp(ma, mb, sa) == 0);	/* whatever the threads */
	free(mb);
	CHECK(run("%s/llm-random-model --shape tiny --dim 64 --hidden 128 --layers 2 --type f32 "
			  "--seed 8 -o %s", unit_build_dir(), b) == 0);
	mb = read_all(b, &sb);
	CHECK(ma && mb && sa == sb && memcmp(ma, mb, sa) != 0);	/* seed matters */
	free(ma);
	free(mb);
	f = open_path(a);
	if (f)
	{
		uint64_t	u;
		const gguf_tensor *t;
		gguf_str	s;

		CHECK(f->n_tensors == 3 + 9 * 2);
		CHECK(gguf_get_str(f, "general.architecture", &s) && gguf_str_eq(s, "llama"));
		CHECK(gguf_get_u64(f, "llama.embedding_length", &u) && u == 64);
		CHECK(gguf_get_u64(f, "llama.block_count", &u) && u == 2);
		CHECK(gguf_get_u64(f, "llama.feed_forward_length", &u) && u == 128);
		CHECK(gguf_get_u64(f, "llama.attention.head_count_kv", &u) && u == 1);
		CHECK(gguf_get_u64(f, "llama.rope.dimension_count", &u) && u == 32);
		t = gguf_find_tensor(f, "blk.1.ffn_norm.weight");
		CHECK(t && t->type == LLM_F32 && ((const float *) t->data)[63] == 1.0f);
		t = gguf_find_tensor(f, "blk.0.attn_k.weight");
		CHECK(t && t->ne[0] == 64 && t->ne[1] == 32);
		t = gguf_find_tensor(f, "blk.1.ffn_down.weight");
		CHECK(t && t->ne[0] == 128 && t->ne[1] == 64);
		if (t)
		{
			/* N(0, 0.02^2): check mean, sd and the tails */
			const float *x = t->data;
			size_t		n = t->nbytes / 4;
			double		s1 = 0,
						s2 = 0;
			size_t		beyond2 = 0;

			for (size_t i = 0; i < n; i++)
			{
				s1 += x[i];
				s2 += (double) x[i] * x[i];
				beyond2 += fabsf(x[i]) > 0.04f;
			}
			CHECK_NEAR(s1 / n, 0.0, 0.002);
			CHECK_NEAR(sqrt(s2 / n), 0.02, 0.001);
			CHECK_NEAR((double) beyond2 / n, 0.0455, 0.012);
		}
		gguf_close(f);
	}
	/* quantized straight from the generator, v2 header, alignment 64, kv zoo */
	CHECK(run("%s/llm-random-model --shape tiny --type q4_k_m --dim 256 --hidden 512 "
			  "--gguf-version 2 --alignment 64 --kv-zoo -o %s", unit_build_dir(), c) == 0);
	f = open_path(c);
	if (f)
	{
		int64_t		i;

		CHECK(f->version == 2 && f->alignment == 64 && walk_file(f) == 0);
		CHECK(gguf_find_tensor(f, "output.weight")->type == LLM_Q6_K);
		CHECK(gguf_find_tensor(f, "blk.0.attn_v.weight")->type == LLM_Q6_K);
		CHECK(gguf_find_tensor(f, "blk.0.ffn_up.weight")->type == LLM_Q4_K);
		CHECK(gguf_get_i64(f, "test.i64", &i) && i == INT64_MIN);
		CHECK(gguf_get(f, "test.nested") && gguf_get(f, "test.nested")->arr.n == 3);
		gguf_close(f);
	}
	/* the vocabulary of a real model is copied verbatim */
	if (unit_model_path(v, sizeof(v), "gguf/ggml-vocab-llama-spm.gguf"))
	{
		gguf_file  *vf;
		static const char *const keys[] = {
			"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
			"tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", NULL
		};

		CHECK(run("%s/llm-random-model --shape tiny --type q8_0 --vocab %s -o %s",
				  unit_build_dir(), v, c) == 0);
		f = open_path(c);
		vf = open_path(v);
		if (f && vf)
		{
			uint64_t	u;

			for (int k = 0; keys[k]; k++)
				CHECKF(gguf_get(f, keys[k]) && value_eq(gguf_get(f, keys[k]), gguf_get(vf, keys[k])),
					   "%s", keys[k]);
			CHECK(gguf_find_tensor(f, "token_embd.weight")->ne[1] == 32000);
			CHECK(gguf_get_u64(f, "general.file_type", &u) && u == 7);
		}
		gguf_close(f);
		gguf_close(vf);
	}
	CHECK(run("%s/llm-random-model --shape 7B --type f32 -o %s", unit_build_dir(), c) != 0);
	CHECK(run("%s/llm-random-model --shape tiny --heads 3 -o %s", unit_build_dir(), c) != 0);
}

/* Cap the address space (outside ASan), then run every test. */
int
main(void)
{
#ifndef UNIT_ASAN
	{
		/* a reader that allocates from unchecked counts hits this cap */
		struct rlimit rl = {.rlim_cur = (rlim_t) 2 << 30,.rlim_max = RLIM_INFINITY};

		getrlimit(RLIMIT_AS, &rl);
		if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > ((rlim_t) 2 << 30))
			rl.rlim_cur = (rlim_t) 2 << 30;
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
	quant_init(quant_cpu_isa());
	RUN(test_writer_roundtrip);
	RUN(test_writer_replace);
	RUN(test_writer_errors);
	RUN(test_writer_stream);
	RUN(test_truncation);
	RUN(test_bitflips);
	RUN(test_hostile);
	RUN(test_many_duplicates);
	RUN(test_real_files);
	RUN(test_convert);
	RUN(test_quantize);
	RUN(test_quantize_mix);
	RUN(test_random_model);
	return unit_finish();
}
