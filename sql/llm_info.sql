-- llm_model_info and llm_stats with stories260K

SELECT jsonb_object_keys(llm_model_info()) AS key ORDER BY 1;

SELECT i->>'architecture' AS architecture,
	   (i->>'n_vocab')::int AS n_vocab,
	   (i->>'n_layer')::int AS n_layer,
	   (i->>'n_embd')::int AS n_embd,
	   (i->>'n_head')::int AS n_head,
	   (i->>'n_head_kv')::int AS n_head_kv,
	   (i->>'n_ff')::int AS n_ff,
	   (i->>'n_ctx_train')::int AS n_ctx_train,
	   (i->>'n_ctx')::int AS n_ctx,
	   (i->>'rope_theta')::float8 AS rope_theta,
	   (i->>'bos')::int AS bos,
	   (i->>'eos')::int AS eos,
	   i->'chat_template_family' AS chat_template_family
FROM llm_model_info() AS i;

SELECT (i->>'n_params')::bigint BETWEEN 260000 AND 300000 AS n_params_ok,
	   (i->>'size_bytes')::bigint >= 4 * 260032 AS size_ok,
	   i->>'path' LIKE '/%.gguf' AS absolute_path,
	   jsonb_typeof(i->'tensor_types') AS tensor_types,
	   (SELECT sum(value::int) FROM jsonb_each_text(i->'tensor_types')) >= 47 AS n_tensors_ok,
	   (i->>'threads')::int >= 1 AS threads_ok,
	   i->>'isa' IN ('scalar', 'avx2', 'avx512', 'amx') AS isa_ok
FROM llm_model_info() AS i;

-- llm_stats: the view and the function have the agreed columns
SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid = 'llm_stats'::regclass AND attnum > 0
ORDER BY attnum;
SELECT count(*) FROM llm_stats();

SELECT model_loaded, worker_pid > 0 AS has_worker, model_path LIKE '/%.gguf' AS path_ok,
	   requests_served >= 0 AND errors >= 0 AND cancellations >= 0 AS counters_ok,
	   generation_seconds >= 0 AND tokens_per_second >= 0
	   AND avg_time_to_first_token_ms >= 0 AS rates_ok
FROM llm_stats;

-- counters move with a request: 5 prompt tokens (BOS + 4), 8 generated,
-- in 8 forward passes of 5 + 7 x 1 rows (the last token needs none)
SELECT requests_served AS s0, prompt_tokens AS p0, generated_tokens AS g0,
	   errors AS e0, engine_steps AS st0, batch_rows AS b0
FROM llm_stats \gset
SELECT llm_generate('Once upon a time', 8);
SELECT requests_served - :s0 AS served, prompt_tokens - :p0 AS prompt_tokens,
	   generated_tokens - :g0 AS generated_tokens, errors - :e0 AS errors,
	   engine_steps - :st0 AS steps, batch_rows - :b0 AS rows
FROM llm_stats;
\set VERBOSITY terse
SELECT llm_detokenize(ARRAY[9999]);
\set VERBOSITY default
SELECT errors - :e0 AS errors FROM llm_stats;
SELECT tokens_per_second > 0 AS has_speed, avg_time_to_first_token_ms > 0 AS has_ttft
FROM llm_stats;

-- privileges: generation needs a grant, tokenizing does not
CREATE ROLE regress_llm_user;
SET ROLE regress_llm_user;
\set VERBOSITY terse
SELECT llm_generate('Once upon a time', 4);
SELECT llm_generate_stream('Once upon a time', 4);
SELECT llm_chat('[]');
SELECT llm_model_info();
SELECT * FROM llm_stats;
\set VERBOSITY default
SELECT llm_tokenize('Once upon a time');
RESET ROLE;
GRANT EXECUTE ON FUNCTION llm_generate(text, int, float8, float8, int, float8, bigint, text[], float8)
	TO regress_llm_user;
SET ROLE regress_llm_user;
SELECT llm_generate('Once upon a time', 4);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION llm_generate(text, int, float8, float8, int, float8, bigint, text[], float8)
	FROM regress_llm_user;
DROP ROLE regress_llm_user;
