/* llm--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION llm" to load this file. \quit

-- ---- generation -----------------------------------------------------------

CREATE FUNCTION llm_generate(
	prompt text,
	max_tokens int DEFAULT NULL,
	temperature float8 DEFAULT 0,
	top_p float8 DEFAULT 1,
	top_k int DEFAULT 0,
	min_p float8 DEFAULT 0,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	repeat_penalty float8 DEFAULT 1)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_sql_generate'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION llm_generate(text, int, float8, float8, int, float8, bigint, text[], float8) IS
'generate a continuation of prompt (tokenized with BOS); temperature 0 is greedy, max_tokens NULL means llm.max_new_tokens, seed NULL a random seed; stops at end of generation, max_tokens or the first stop string (not returned)';

CREATE FUNCTION llm_generate_stream(
	prompt text,
	max_tokens int DEFAULT NULL,
	temperature float8 DEFAULT 0,
	top_p float8 DEFAULT 1,
	top_k int DEFAULT 0,
	min_p float8 DEFAULT 0,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	repeat_penalty float8 DEFAULT 1)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'llm_sql_generate_stream'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 100;

COMMENT ON FUNCTION llm_generate_stream(text, int, float8, float8, int, float8, bigint, text[], float8) IS
'like llm_generate, one row per decoded piece as it is produced; call it in the SELECT list to stop early with LIMIT';

CREATE FUNCTION llm_chat(
	messages jsonb,
	max_tokens int DEFAULT NULL,
	temperature float8 DEFAULT 0,
	top_p float8 DEFAULT 1,
	top_k int DEFAULT 0,
	min_p float8 DEFAULT 0,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	template text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_sql_chat'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION llm_chat(jsonb, int, float8, float8, int, float8, bigint, text[], text) IS
'answer a conversation given as a JSON array of {"role", "content"} messages, rendered with the model''s chat template or the named template family (chatml, llama2, llama3, mistral, zephyr, gemma, phi3, ...)';

-- ---- tokenizer ------------------------------------------------------------

CREATE FUNCTION llm_tokenize(input text, add_bos boolean DEFAULT false)
RETURNS int[]
AS 'MODULE_PATHNAME', 'llm_sql_tokenize'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION llm_tokenize(text, boolean) IS
'token ids of input in the loaded model''s vocabulary, with a leading BOS if add_bos';

CREATE FUNCTION llm_detokenize(tokens int[])
RETURNS text
AS 'MODULE_PATHNAME', 'llm_sql_detokenize'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION llm_detokenize(int[]) IS
'text of token ids in the loaded model''s vocabulary (control tokens skipped, invalid UTF-8 replaced by U+FFFD)';

-- ---- monitoring -----------------------------------------------------------

CREATE FUNCTION llm_model_info()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'llm_sql_model_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION llm_model_info() IS
'facts about the loaded model: path, architecture, sizes, tensor types, special tokens, chat template family, threads and kernels';

CREATE FUNCTION llm_stats()
RETURNS TABLE(
	requests_served bigint,
	requests_running int,
	requests_waiting int,
	prompt_tokens bigint,
	generated_tokens bigint,
	generation_seconds float8,
	tokens_per_second float8,
	engine_steps bigint,
	batch_rows bigint,
	avg_time_to_first_token_ms float8,
	errors bigint,
	cancellations bigint,
	worker_pid int,
	model_loaded boolean,
	model_path text)
AS 'MODULE_PATHNAME', 'llm_sql_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;

COMMENT ON FUNCTION llm_stats() IS
'counters of the llm worker since the server started';

CREATE VIEW llm_stats AS SELECT * FROM llm_stats();

COMMENT ON VIEW llm_stats IS
'counters of the llm worker since the server started (one row)';

-- ---- privileges -----------------------------------------------------------
-- Generation uses the server's CPUs: grant it explicitly, e.g.
--   GRANT EXECUTE ON FUNCTION llm_generate(text, int, float8, float8, int, float8, bigint, text[], float8) TO app;
-- llm_model_info and llm_stats show the model's file path.

REVOKE EXECUTE ON FUNCTION llm_generate(text, int, float8, float8, int, float8, bigint, text[], float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_generate_stream(text, int, float8, float8, int, float8, bigint, text[], float8) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_chat(jsonb, int, float8, float8, int, float8, bigint, text[], text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_model_info() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_stats() FROM PUBLIC;

-- ---- paged KV cache (sql_kv.c) ---------------------------------------------

CREATE FUNCTION llm_generate_n(
	prompt text,
	n int,
	max_tokens int DEFAULT NULL,
	temperature float8 DEFAULT 0.8,
	top_p float8 DEFAULT 1,
	top_k int DEFAULT 0,
	min_p float8 DEFAULT 0,
	seed bigint DEFAULT NULL)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'llm_sql_generate_n'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 4;

COMMENT ON FUNCTION llm_generate_n(text, int, int, float8, float8, int, float8, bigint) IS
'n sampled continuations of prompt, one row each in sample order; the samples share the prompt''s KV cache pages (copy-on-write), and with a seed sample i equals llm_generate(prompt, ..., seed => seed + i)';

CREATE FUNCTION llm_kv_cache()
RETURNS TABLE(
	pages_total bigint,
	pages_used bigint,
	pages_cached bigint,
	pages_free bigint,
	page_bytes bigint,
	bytes_total bigint,
	bytes_used bigint,
	usage_percent float8,
	internal_fragmentation_percent float8,
	prefix_queries bigint,
	prefix_hits bigint,
	prefix_hit_rate float8,
	evictions bigint,
	preemptions bigint)
AS 'MODULE_PATHNAME', 'llm_sql_kv_cache'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;

COMMENT ON FUNCTION llm_kv_cache() IS
'the paged KV cache after the worker''s last step: pages used by sequences, cached for prefix reuse and free; wasted slots of used pages; prefix-cache, eviction and preemption counters';

CREATE VIEW llm_kv_cache AS SELECT * FROM llm_kv_cache();

COMMENT ON VIEW llm_kv_cache IS
'the paged KV cache (one row): pages used, cached and free, bytes, usage and internal fragmentation percentages, prefix-cache hit rate, evictions, preemptions';

CREATE FUNCTION llm_requests()
RETURNS TABLE(
	pid int,
	database_oid oid,
	state text,
	samples int,
	prompt_tokens int,
	generated_tokens int,
	pages int,
	shared_pages int,
	started_at timestamptz)
AS 'MODULE_PATHNAME', 'llm_sql_requests'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 32;

COMMENT ON FUNCTION llm_requests() IS
'one row per generation waiting for or running in the llm worker, with its KV cache pages';

CREATE VIEW llm_requests AS
	SELECT r.pid, d.datname AS database, r.state, r.samples, r.prompt_tokens,
		   r.generated_tokens, r.pages, r.shared_pages, r.started_at
	  FROM llm_requests() r
	  LEFT JOIN pg_catalog.pg_database d ON d.oid = r.database_oid;

COMMENT ON VIEW llm_requests IS
'generations waiting or running, across all databases: backend pid, database, state (waiting or running), samples, prompt and generated tokens, KV pages held and how many of them are shared, submission time';

REVOKE EXECUTE ON FUNCTION llm_generate_n(text, int, int, float8, float8, int, float8, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_kv_cache() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_requests() FROM PUBLIC;
