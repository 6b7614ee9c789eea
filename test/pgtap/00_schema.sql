-- 00_schema.sql — the SQL surface of the extension: every function with its
-- exact signature, return type and volatility, the llm_stats view, the GUCs
-- with their contexts and defaults, and a comment on every object.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(49);

-- functions, exact argument types
SELECT has_function('llm_generate',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision']);
SELECT function_returns('llm_generate',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision'], 'text');
SELECT volatility_is('llm_generate',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision'], 'volatile');
SELECT is((SELECT proparallel FROM pg_proc WHERE proname = 'llm_generate'), 'r',
	'llm_generate is PARALLEL RESTRICTED');

SELECT has_function('llm_generate_stream',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision']);
SELECT function_returns('llm_generate_stream',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision'], 'setof text');
SELECT volatility_is('llm_generate_stream',
	ARRAY['text', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'double precision'], 'volatile');

SELECT has_function('llm_tokenize', ARRAY['text', 'boolean']);
SELECT function_returns('llm_tokenize', ARRAY['text', 'boolean'], 'integer[]');
SELECT has_function('llm_detokenize', ARRAY['integer[]']);
SELECT function_returns('llm_detokenize', ARRAY['integer[]'], 'text');

SELECT has_function('llm_chat',
	ARRAY['jsonb', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'text']);
SELECT function_returns('llm_chat',
	ARRAY['jsonb', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint', 'text[]', 'text'], 'text');

SELECT has_function('llm_model_info', ARRAY[]::name[]);
SELECT function_returns('llm_model_info', ARRAY[]::name[], 'jsonb');
SELECT has_function('llm_stats', ARRAY[]::name[]);
SELECT has_function('llm_generate_n',
	ARRAY['text', 'integer', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint']);
SELECT function_returns('llm_generate_n',
	ARRAY['text', 'integer', 'integer', 'double precision', 'double precision', 'integer',
		  'double precision', 'bigint'], 'setof text');
SELECT has_view('llm_kv_cache');
SELECT has_view('llm_requests');

-- argument names and defaults: callable with only the leading argument
SELECT is((SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = 'llm_generate'),
	'prompt,max_tokens,temperature,top_p,top_k,min_p,seed,stop,repeat_penalty',
	'llm_generate argument names');
SELECT is((SELECT pronargdefaults::int FROM pg_proc WHERE proname = 'llm_generate'), 8,
	'every llm_generate argument but prompt has a default');
SELECT is((SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = 'llm_chat'),
	'messages,max_tokens,temperature,top_p,top_k,min_p,seed,stop,template',
	'llm_chat argument names');

-- the llm_stats view
SELECT has_view('llm_stats');
SELECT columns_are('llm_stats', ARRAY['requests_served', 'requests_running',
	'requests_waiting', 'prompt_tokens', 'generated_tokens', 'generation_seconds',
	'tokens_per_second', 'engine_steps', 'batch_rows', 'avg_time_to_first_token_ms',
	'errors', 'cancellations',
	'worker_pid', 'model_loaded', 'model_path']);
SELECT col_type_is('llm_stats', 'requests_served', 'bigint');
SELECT col_type_is('llm_stats', 'requests_running', 'integer');
SELECT col_type_is('llm_stats', 'tokens_per_second', 'double precision');
SELECT col_type_is('llm_stats', 'worker_pid', 'integer');
SELECT col_type_is('llm_stats', 'model_loaded', 'boolean');
SELECT col_type_is('llm_stats', 'model_path', 'text');
SELECT is((SELECT count(*)::int FROM llm_stats), 1, 'llm_stats has exactly one row');

-- every object of the extension carries a COMMENT
SELECT is_empty($$
	SELECT pg_describe_object(d.classid, d.objid, 0)
	  FROM pg_depend d
	  JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND e.extname = 'llm'
	   AND obj_description(d.objid, d.classid::regclass::name) IS NULL$$,
	'every object of the extension has a COMMENT');

-- GUCs: name, context, type
SELECT set_has($$SELECT name, context, vartype FROM pg_settings WHERE name LIKE 'llm.%'$$,
	$$VALUES ('llm.model', 'sighup', 'string'),
			 ('llm.threads', 'sighup', 'integer'),
			 ('llm.context_size', 'postmaster', 'integer'),
			 ('llm.max_requests', 'postmaster', 'integer'),
			 ('llm.max_new_tokens', 'user', 'integer'),
			 ('llm.kv_cache_size', 'postmaster', 'integer'),
			 ('llm.kv_block_size', 'postmaster', 'integer'),
			 ('llm.kv_cache_type', 'postmaster', 'enum'),
			 ('llm.max_batch_tokens', 'sighup', 'integer')$$,
	'the documented GUCs exist with the documented contexts');

-- GUC defaults (boot values, whatever postgresql.conf says)
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.max_new_tokens'), '256',
	'llm.max_new_tokens defaults to 256');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.threads'), '0',
	'llm.threads defaults to 0 (number of CPUs)');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.context_size'), '0',
	'llm.context_size defaults to 0 (the model''s context)');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.max_requests'), '32',
	'llm.max_requests defaults to 32');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.kv_block_size'), '16',
	'llm.kv_block_size defaults to 16');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.kv_cache_type'), 'f16',
	'llm.kv_cache_type defaults to f16');
SELECT is((SELECT enumvals FROM pg_settings WHERE name = 'llm.kv_cache_type'),
	ARRAY['f16', 'f32'], 'llm.kv_cache_type accepts f16 and f32');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.max_batch_tokens'), '512',
	'llm.max_batch_tokens defaults to 512');
SELECT is((SELECT boot_val::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024
										   WHEN '8kB' THEN 8192 WHEN 'MB' THEN 1048576 END
			 FROM pg_settings WHERE name = 'llm.kv_cache_size'),
	64 * 1048576::bigint, 'llm.kv_cache_size defaults to 64MB');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'llm.model'), '',
	'llm.model has no default model');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'llm.threads'), '2',
	'postgresql.conf settings are applied (llm.threads = 2)');

-- min/max limits exist on the integer GUCs
SELECT is_empty($$SELECT name FROM pg_settings
	WHERE name LIKE 'llm.%' AND vartype = 'integer'
	  AND (min_val IS NULL OR max_val IS NULL OR min_val::bigint > max_val::bigint)$$,
	'every integer llm GUC has a sane MIN/MAX range');
SELECT is((SELECT min_val::int FROM pg_settings WHERE name = 'llm.max_new_tokens'), 1,
	'llm.max_new_tokens is at least 1');

-- the prefix is reserved: typos are errors, not silent placeholders
SELECT throws_ok($$SET llm.no_such_setting = 1$$, '42602', NULL,
	'unknown llm.* settings are rejected (MarkGUCPrefixReserved)');
SELECT lives_ok($$SET llm.max_new_tokens = 10$$, 'llm.max_new_tokens is settable by a session');

SELECT * FROM finish();
ROLLBACK;
