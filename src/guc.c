/*
 * guc.c — the llm.* settings.
 *
 * PGC_POSTMASTER settings size shared memory (slots, buffers, the KV page
 * pool) and are read once, in the postmaster.  PGC_SIGHUP settings are
 * re-read by the worker on reload: a changed llm.model, llm.threads or
 * llm.max_batch_tokens makes it fail in-flight requests and reopen the
 * engine.  llm.max_new_tokens and llm.context_overflow are per-session
 * defaults that travel with each request.
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "llm_pg.h"

char	   *llm_guc_model_path = NULL;
int			llm_guc_threads = LLM_THREADS_DEFAULT;
int			llm_guc_context_size = LLM_CONTEXT_SIZE_DEFAULT;
int			llm_guc_max_requests = LLM_MAX_REQUESTS_DEFAULT;
int			llm_guc_max_new_tokens = LLM_MAX_NEW_TOKENS_DEFAULT;
int			llm_guc_kv_cache_size_mb = LLM_KV_CACHE_MB_DEFAULT;
int			llm_guc_kv_block_size = LLM_KV_BLOCK_SIZE_DEFAULT;
int			llm_guc_kv_cache_type = LLM_KV_CACHE_F16;
int			llm_guc_max_batch_tokens = LLM_MAX_BATCH_TOKENS_DEFAULT;
int			llm_guc_blas_min_rows = 0;
bool		llm_guc_pack_weights = true;
int			llm_guc_context_overflow = LLM_CONTEXT_OVERFLOW_ERROR;

static const struct config_enum_entry kv_cache_type_options[] = {
	{"f16", LLM_KV_CACHE_F16, false},
	{"f32", LLM_KV_CACHE_F32, false},
	{NULL, 0, false}
};

static const struct config_enum_entry context_overflow_options[] = {
	{"error", LLM_CONTEXT_OVERFLOW_ERROR, false},
	{"truncate", LLM_CONTEXT_OVERFLOW_TRUNCATE, false},
	{"sinks", LLM_CONTEXT_OVERFLOW_SINKS, false},
	{NULL, 0, false}
};

/* Define every llm.* setting and reserve the prefix. */
void
LlmGucInit(void)
{
	DefineCustomStringVariable("llm.model",
							   "Path of the GGUF model file the llm worker serves.",
							   "Relative paths are relative to the data directory. Empty means no model.",
							   &llm_guc_model_path,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("llm.threads",
							"Threads of the engine's thread pool.",
							"0 means one per CPU.",
							&llm_guc_threads,
							LLM_THREADS_DEFAULT, LLM_THREADS_MIN, LLM_THREADS_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("llm.max_new_tokens",
							"Default number of tokens generated when max_tokens is NULL.",
							NULL,
							&llm_guc_max_new_tokens,
							LLM_MAX_NEW_TOKENS_DEFAULT, LLM_MAX_NEW_TOKENS_MIN,
							LLM_MAX_NEW_TOKENS_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("llm.max_batch_tokens",
							"Tokens processed per forward step, over all sequences.",
							NULL,
							&llm_guc_max_batch_tokens,
							LLM_MAX_BATCH_TOKENS_DEFAULT, LLM_MAX_BATCH_TOKENS_MIN,
							LLM_MAX_BATCH_TOKENS_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("llm.blas_min_rows",
							"Prefill chunks of at least this many rows use OpenBLAS for float weights (0 = never).",
							"OpenBLAS is loaded by the worker only. Its results depend on the "
							"batch shape, so outputs then depend on batching.",
							&llm_guc_blas_min_rows,
							0, 0, LLM_MAX_BATCH_TOKENS_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("llm.pack_weights",
							 "Packs the model's quantized matrices for decode on CPUs with AMX.",
							 "Decode is faster; Q8_0 matrices are held a second time in memory, "
							 "the copies of 4-bit ones replace the file's rows.",
							 &llm_guc_pack_weights,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("llm.context_overflow",
							 "What a prompt too long for the context does.",
							 "error raises SQLSTATE 54000; truncate keeps the BOS token and the prompt's last tokens, so that prompt and max_tokens fit the context; sinks keeps the first KV page and drops the oldest pages after it (StreamingLLM), so generation can run past the context.",
							 &llm_guc_context_overflow,
							 LLM_CONTEXT_OVERFLOW_ERROR,
							 context_overflow_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Settings that size shared memory exist only when preloaded: after
	 * start-up PostgreSQL refuses to create PGC_POSTMASTER settings.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("llm.context_size",
								"Maximum tokens per sequence (prompt and generated text).",
								"0 means the model's training context, capped at 4096.",
								&llm_guc_context_size,
								LLM_CONTEXT_SIZE_DEFAULT, LLM_CONTEXT_SIZE_MIN,
								LLM_CONTEXT_SIZE_MAX,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("llm.max_requests",
								"Requests held in shared memory at once (running or waiting).",
								NULL,
								&llm_guc_max_requests,
								LLM_MAX_REQUESTS_DEFAULT, LLM_MAX_REQUESTS_MIN,
								LLM_MAX_REQUESTS_MAX,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("llm.kv_cache_size",
								"Shared memory for the paged KV cache.",
								NULL,
								&llm_guc_kv_cache_size_mb,
								LLM_KV_CACHE_MB_DEFAULT, LLM_KV_CACHE_MB_MIN,
								LLM_KV_CACHE_MB_MAX,
								PGC_POSTMASTER,
								GUC_UNIT_MB,
								NULL, NULL, NULL);

		DefineCustomIntVariable("llm.kv_block_size",
								"Tokens per KV cache page.",
								NULL,
								&llm_guc_kv_block_size,
								LLM_KV_BLOCK_SIZE_DEFAULT, LLM_KV_BLOCK_SIZE_MIN,
								LLM_KV_BLOCK_SIZE_MAX,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomEnumVariable("llm.kv_cache_type",
								 "Element type of the KV cache.",
								 NULL,
								 &llm_guc_kv_cache_type,
								 LLM_KV_CACHE_F16,
								 kv_cache_type_options,
								 PGC_POSTMASTER,
								 0,
								 NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("llm");
}

/* Threads the engine should use: llm.threads, or the CPU count when 0. */
int
LlmGucThreads(void)
{
	long		n;

	if (llm_guc_threads > 0)
		return llm_guc_threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return (int) Min(n, LLM_THREADS_MAX);
}
