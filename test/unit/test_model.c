/*
 * test_model.c — the model loader refuses inconsistent GGUF files with a
 * precise error, never a crash: each case copies stories260K.gguf with one
 * piece of metadata or one tensor changed, then loads it.
 */
#include "unit.h"

#include "engine.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"

typedef enum edit_kind
{
	EDIT_SET_STR,
	EDIT_SET_U32,
	EDIT_SET_F32,
	EDIT_DROP_KEY,
	EDIT_DROP_TENSOR,
	EDIT_TRUNC_ARRAY			/* keep the first u32 elements of a string array */
} edit_kind;

typedef struct edit
{
	const char *what;
	edit_kind	kind;
	const char *key;
	const char *str;
	uint32_t	u32;
	float		f32;
	llm_status	want;
	const char *msg;			/* substring of the error message */
} edit;

/* Copy src into path with one edit applied. */
static bool
write_edited(const gguf_file *src, const edit *e, const char *path)
{
	gguf_writer *w;
	llm_error	err;
	bool		ok = true;

	if (gguf_writer_create(&w, &err) != LLM_OK)
		return false;
	for (uint64_t i = 0; i < src->n_kv && ok; i++)
	{
		const gguf_kv *kv = &src->kv[i];
		gguf_value	v = kv->value;

		if (gguf_str_eq(kv->key, "general.alignment"))
			continue;
		if (e->kind == EDIT_TRUNC_ARRAY && gguf_str_eq(kv->key, e->key))
			v.arr.n = e->u32;
		ok = gguf_writer_set_valuen(w, kv->key.data, kv->key.len, &v, &err) == LLM_OK;
	}
	switch (e->kind)
	{
		case EDIT_SET_STR:
			ok = ok && gguf_writer_set_str(w, e->key, e->str, &err) == LLM_OK;
			break;
		case EDIT_SET_U32:
			ok = ok && gguf_writer_set_u32(w, e->key, e->u32, &err) == LLM_OK;
			break;
		case EDIT_SET_F32:
			ok = ok && gguf_writer_set_f32(w, e->key, e->f32, &err) == LLM_OK;
			break;
		case EDIT_DROP_KEY:
			ok = ok && gguf_writer_remove(w, e->key);
			break;
		default:
			break;
	}
	for (uint64_t i = 0; i < src->n_tensors && ok; i++)
	{
		const gguf_tensor *t = &src->tensors[i];
		char		name[128];

		snprintf(name, sizeof(name), "%.*s", (int) t->name.len, t->name.data);
		if (e->kind == EDIT_DROP_TENSOR && strcmp(name, e->key) == 0)
			continue;
		ok = gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, false,
									&err) == LLM_OK;
	}
	ok = ok && gguf_writer_write(w, path, &err) == LLM_OK;
	if (!ok)
		fprintf(stderr, "write %s: %s\n", e->what, err.msg);
	gguf_writer_free(w);
	return ok;
}

static void
test_hostile_models(void)
{
	static const edit edits[] = {
		{"unchanged", EDIT_SET_STR, "general.name", "copy", 0, 0, LLM_OK, ""},
		{"architecture", EDIT_SET_STR, "general.architecture", "gpt2", 0, 0,
		LLM_ERR_UNSUPPORTED, "architecture \"gpt2\""},
		{"no block count", EDIT_DROP_KEY, "llama.block_count", NULL, 0, 0,
		LLM_ERR_FORMAT, "llama.block_count"},
		{"heads do not divide dim", EDIT_SET_U32, "llama.attention.head_count", NULL, 7, 0,
		LLM_ERR_FORMAT, "inconsistent heads"},
		{"kv heads do not divide heads", EDIT_SET_U32, "llama.attention.head_count_kv", NULL, 3, 0,
		LLM_ERR_FORMAT, "inconsistent heads"},
		{"zero heads", EDIT_SET_U32, "llama.attention.head_count", NULL, 0, 0,
		LLM_ERR_FORMAT, "head_count"},
		{"odd rope dims", EDIT_SET_U32, "llama.rope.dimension_count", NULL, 7, 0,
		LLM_ERR_FORMAT, "rope dimension"},
		{"nan rope base", EDIT_SET_F32, "llama.rope.freq_base", NULL, 0, NAN,
		LLM_ERR_FORMAT, "rope base"},
		{"more layers than tensors", EDIT_SET_U32, "llama.block_count", NULL, 6, 0,
		LLM_ERR_FORMAT, "blk.5."},
		{"wrong width", EDIT_SET_U32, "llama.embedding_length", NULL, 128, 0,
		LLM_ERR_FORMAT, "shape"},
		{"wrong ffn width", EDIT_SET_U32, "llama.feed_forward_length", NULL, 171, 0,
		LLM_ERR_FORMAT, "ffn_gate"},
		{"missing tensor", EDIT_DROP_TENSOR, "blk.2.ffn_up.weight", NULL, 0, 0,
		LLM_ERR_FORMAT, "blk.2.ffn_up.weight"},
		{"missing norm", EDIT_DROP_TENSOR, "output_norm.weight", NULL, 0, 0,
		LLM_ERR_FORMAT, "output_norm.weight"},
		{"short vocabulary", EDIT_TRUNC_ARRAY, "tokenizer.ggml.tokens", NULL, 500, 0,
		LLM_ERR_FORMAT, ""},
	};
	char		src_path[1024],
				path[1024];
	gguf_file  *src;
	llm_error	err;

	if (!unit_model_path(src_path, sizeof(src_path), "stories260K/stories260K.gguf"))
		SKIP("stories260K.gguf absent");
	CHECK(gguf_open(src_path, &src, &err) == LLM_OK);
	snprintf(path, sizeof(path), "%s/test-hostile-model.gguf", unit_build_dir());
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
	{
		const edit *e = &edits[i];
		llm_model  *m = NULL;
		llm_status	rc;

		if (!write_edited(src, e, path))
		{
			CHECKF(0, "could not write the \"%s\" case", e->what);
			continue;
		}
		memset(&err, 0, sizeof(err));
		rc = llm_model_load(path, &m, &err);
		CHECKF(rc == e->want, "%s: status %d (%s), want %d", e->what, rc, err.msg, e->want);
		CHECKF(rc == LLM_OK || strstr(err.msg, e->msg) != NULL,
			   "%s: message \"%s\" lacks \"%s\"", e->what, err.msg, e->msg);
		CHECK((rc == LLM_OK) == (m != NULL));
		llm_model_free(m);
	}
	remove(path);
	gguf_close(src);
}

/* Not a GGUF, empty, a directory: I/O or format errors naming the file. */
static void
test_not_models(void)
{
	char		path[1024];
	llm_model  *m;
	llm_error	err;
	FILE	   *fp;

	snprintf(path, sizeof(path), "%s/test-not-a-model.gguf", unit_build_dir());
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	fputs("this is not a model file, but it is long enough to be read", fp);
	fclose(fp);
	CHECK(llm_model_load(path, &m, &err) == LLM_ERR_FORMAT);
	CHECK(strstr(err.msg, "not a gguf file") != NULL);
	fp = fopen(path, "w");
	fclose(fp);
	CHECK(llm_model_load(path, &m, &err) == LLM_ERR_FORMAT);
	CHECK(strstr(err.msg, path) != NULL);
	remove(path);
	CHECK(llm_model_load(unit_build_dir(), &m, &err) == LLM_ERR_IO);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
}

int
main(void)
{
	RUN(test_hostile_models);
	RUN(test_not_models);
	return unit_finish();
}
