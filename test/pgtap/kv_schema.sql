-- kv_schema.sql — the SQL surface of the paged KV cache: llm_generate_n
-- with its signature and defaults, the llm_kv_cache and llm_requests views
-- with their columns, llm.context_overflow, privileges, and the views'
-- figures while idle.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(22);

SELECT has_function('llm_generate_n',
	ARRAY['text', 'integer', 'integer', 'double precision', 'double precision',
		  'integer', 'double precision', 'bigint']);
SELECT function_returns('llm_generate_n',
	ARRAY['text', 'integer', 'integer', 'double precision', 'double precision',
		  'integer', 'double precision', 'bigint'], 'setof text');
SELECT volatility_is('llm_generate_n',
	ARRAY['text', 'integer', 'integer', 'double precision', 'double precision',
		  'integer', 'double precision', 'bigint'], 'volatile');
SELECT is((SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = 'llm_generate_n'),
	'prompt,n,max_tokens,temperature,top_p,top_k,min_p,seed',
	'llm_generate_n argument names');
SELECT is((SELECT pronargdefaults::int FROM pg_proc WHERE proname = 'llm_generate_n'), 6,
	'every llm_generate_n argument after n has a default');
SELECT is((SELECT proparallel FROM pg_proc WHERE proname = 'llm_generate_n'), 'r',
	'llm_generate_n is PARALLEL RESTRICTED');

SELECT has_view('llm_kv_cache');
SELECT columns_are('llm_kv_cache', ARRAY['pages_total', 'pages_used', 'pages_cached',
	'pages_free', 'page_bytes', 'bytes_total', 'bytes_used', 'usage_percent',
	'internal_fragmentation_percent', 'prefix_queries', 'prefix_hits',
	'prefix_hit_rate', 'evictions', 'preemptions']);
SELECT col_type_is('llm_kv_cache', 'pages_used', 'bigint');
SELECT col_type_is('llm_kv_cache', 'internal_fragmentation_percent', 'double precision');
SELECT has_view('llm_requests');
SELECT columns_are('llm_requests', ARRAY['pid', 'database', 'state', 'samples',
	'prompt_tokens', 'generated_tokens', 'pages', 'shared_pages', 'started_at']);
SELECT col_type_is('llm_requests', 'database', 'name');
SELECT col_type_is('llm_requests', 'started_at', 'timestamp with time zone');

SELECT is((SELECT row(context, vartype, boot_val)::text FROM pg_settings
			WHERE name = 'llm.context_overflow'),
	'(user,enum,error)', 'llm.context_overflow: a session setting, default error');
SELECT ok((SELECT enumvals @> ARRAY['error', 'truncate'] FROM pg_settings
			WHERE name = 'llm.context_overflow'),
	'llm.context_overflow accepts error and truncate');

CREATE ROLE llm_test_kv_nogrant NOLOGIN;
SELECT ok(NOT has_function_privilege('llm_test_kv_nogrant',
	'llm_generate_n(text, integer, integer, double precision, double precision, integer, double precision, bigint)',
	'EXECUTE'), 'PUBLIC cannot execute llm_generate_n');
SET LOCAL ROLE llm_test_kv_nogrant;
SELECT throws_ok($$SELECT * FROM llm_generate_n('Once', 2, 4)$$, '42501', NULL,
	'llm_generate_n without a grant: permission denied');
RESET ROLE;

-- the pool's figures are consistent (whatever ran before)
SELECT ok((SELECT pages_used + pages_cached + pages_free = pages_total AND pages_total > 0
			 FROM llm_kv_cache), 'page counts add up');
SELECT ok((SELECT bytes_total = pages_total * page_bytes AND page_bytes > 0 FROM llm_kv_cache),
	'bytes_total is pages times page_bytes');
SELECT is((SELECT count(*)::int FROM llm_generate_n('Once upon a time', 3, 8)), 3,
	'llm_generate_n returns n rows');
SELECT is((SELECT pages_used FROM llm_kv_cache), 0::bigint,
	'no page is used once it has returned');

SELECT * FROM finish();
ROLLBACK;
