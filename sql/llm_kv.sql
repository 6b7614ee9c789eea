-- the paged KV cache from SQL: the llm_kv_cache and llm_requests views,
-- prefix caching, llm_generate_n (n samples sharing the prompt's pages) and
-- llm.context_overflow.  Counters are compared as deltas: earlier tests
-- (and earlier runs against the same server) have moved them.

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the pool: one row, page counts that add up, bytes that match pages
SELECT count(*) AS one_row FROM llm_kv_cache;
SELECT pages_total > 0 AS has_pages,
	   pages_used + pages_cached + pages_free = pages_total AS pages_add_up,
	   page_bytes > 0 AS has_page_bytes,
	   bytes_total = pages_total * page_bytes AS bytes_total_matches,
	   bytes_used = pages_used * page_bytes AS bytes_used_matches,
	   prefix_hits <= prefix_queries AS hits_within_queries
  FROM llm_kv_cache;

-- a finished generation holds no page, and no request is listed
SELECT length(llm_generate('Once upon a time', 48)) > 0 AS generated;
SELECT pages_used, bytes_used, usage_percent, internal_fragmentation_percent
  FROM llm_kv_cache;
SELECT count(*) AS requests FROM llm_requests;
SELECT pid, database, state, samples, prompt_tokens, generated_tokens, pages,
	   shared_pages, started_at
  FROM llm_requests WHERE false;

-- prefix cache: the second run of a long prompt reuses its full pages
-- (16-token pages; this prompt has about 70 tokens) and gives the same text
CREATE TEMP TABLE long_prompt AS
	SELECT 'The old blue kettle sang in the kitchen of the little house by '
		|| 'the river, where a girl named Mia and her brother Tom were '
		|| 'baking bread with their grandmother on a cold winter morning. '
		|| 'Mia said' AS p;
SELECT array_length(llm_tokenize(p, true), 1) > 48 AS spans_three_pages FROM long_prompt;
CREATE TEMP TABLE kv0 AS SELECT prefix_queries, prefix_hits FROM llm_kv_cache;
CREATE TEMP TABLE first_run AS SELECT llm_generate(p, 24) AS t FROM long_prompt;
CREATE TEMP TABLE kv1 AS SELECT prefix_queries, prefix_hits FROM llm_kv_cache;
CREATE TEMP TABLE second_run AS SELECT llm_generate(p, 24) AS t FROM long_prompt;
CREATE TEMP TABLE kv2 AS SELECT prefix_queries, prefix_hits FROM llm_kv_cache;
SELECT kv1.prefix_queries > kv0.prefix_queries AS first_run_queried,
	   kv2.prefix_hits - kv1.prefix_hits >= 3 AS second_run_hit_three_pages
  FROM kv0, kv1, kv2;
SELECT first_run.t = second_run.t AS same_text_with_cache_hit,
	   length(first_run.t) > 0 AS nonempty
  FROM first_run, second_run;
SELECT t FROM second_run;
SELECT pages_used, pages_cached >= 3 AS pages_kept_for_reuse FROM llm_kv_cache;
SELECT prefix_hit_rate > 0 AND prefix_hit_rate <= 1 AS hit_rate_is_a_fraction
  FROM llm_kv_cache;

-- llm_generate_n: n rows; with a seed, sample i is llm_generate(...,
-- seed => seed + i) at the same temperature
SELECT count(*) FROM llm_generate_n('Once upon a time', 4, 16, seed => 1);
SELECT t FROM llm_generate_n('Once upon a time', 3, 24, seed => 42) t;
SELECT (SELECT array_agg(t) FROM llm_generate_n('Once upon a time', 3, 24, seed => 42) t)
	 = (SELECT array_agg(llm_generate('Once upon a time', 24, 0.8, seed => 42 + i) ORDER BY i)
		  FROM generate_series(0, 2) i) AS samples_match_seeds;
-- the same with the long prompt, whose pages the samples share
SELECT (SELECT array_agg(t) FROM llm_generate_n(p, 5, 32, temperature => 1.2, top_k => 40, seed => 7) t)
	 = (SELECT array_agg(llm_generate(p, 32, 1.2, top_k => 40, seed => 7 + i) ORDER BY i)
		  FROM generate_series(0, 4) i) AS shared_prompt_samples_match_seeds
  FROM long_prompt;
-- the samples differ from each other
SELECT count(DISTINCT t) > 1 AS samples_differ
  FROM llm_generate_n('Once upon a time', 4, 24, seed => 100) t;
-- greedy: every sample is the greedy text
SELECT bool_and(t = llm_generate('Once upon a time', 24)) AS greedy_samples_agree
  FROM llm_generate_n('Once upon a time', 3, 24, temperature => 0) t;
SELECT (SELECT t FROM llm_generate_n('Once upon a time', 1, 20, seed => 9) t)
	 = llm_generate('Once upon a time', 20, 0.8, seed => 9) AS n1_is_llm_generate;
-- arguments
SELECT count(*) AS null_prompt_rows FROM llm_generate_n(NULL, 3, 8);
SELECT pg_temp.err($$SELECT llm_generate_n('x', 0, 8)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', -1, 8)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', 100000, 8)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', NULL, 8)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', 2, 0)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', 2, 8, temperature => -1)$$);
SELECT pg_temp.err($$SELECT llm_generate_n('x', 2, 8, top_p => 0)$$);
SELECT pages_used FROM llm_kv_cache;

-- llm.context_overflow: error (default), truncate, sinks
SHOW llm.context_overflow;
CREATE TEMP TABLE huge AS
	SELECT repeat('Once upon a time there was a girl. ', 100) AS p;
SELECT array_length(llm_tokenize(p, true), 1) AS prompt_tokens FROM huge;
SELECT pg_temp.err($$SELECT llm_generate(p, 8) FROM huge$$);
SET llm.context_overflow = truncate;
-- a prompt that fits is unchanged
SELECT llm_generate('Once upon a time', 32) AS fits;
-- an over-long one keeps BOS and its last 512 - 8 tokens
CREATE TEMP TABLE st0 AS SELECT prompt_tokens FROM llm_stats;
SELECT llm_generate(p, 8) AS truncated FROM huge;
SELECT s.prompt_tokens - st0.prompt_tokens AS prompt_tokens_used
  FROM llm_stats s, st0;
-- the prompt is cut to fit max_tokens, not max_tokens to fit the prompt
CREATE TEMP TABLE st1 AS SELECT prompt_tokens, generated_tokens FROM llm_stats;
SELECT length(llm_generate(p, 400)) > 0 AS generated FROM huge;
SELECT s.prompt_tokens - st1.prompt_tokens AS prompt_tokens_used,
	   s.generated_tokens - st1.generated_tokens AS tokens_generated
  FROM llm_stats s, st1;
SELECT pg_temp.err($$SELECT llm_generate('x', 513)$$);
-- llm_generate_n follows the setting too
SELECT count(*) AS truncated_samples FROM huge, llm_generate_n(p, 2, 8, seed => 1);
RESET llm.context_overflow;
SELECT pg_temp.err($$SELECT count(*) FROM huge, llm_generate_n(p, 2, 8)$$);
-- sinks: generation runs past the 512-token context; until the first
-- shift the text is the plain generation
SET llm.context_overflow = sinks;
CREATE TEMP TABLE st2 AS SELECT generated_tokens FROM llm_stats;
CREATE TEMP TABLE past AS SELECT llm_generate('Once upon a time', 700) AS t;
SELECT s.generated_tokens - st2.generated_tokens AS tokens_generated
  FROM llm_stats s, st2;
RESET llm.context_overflow;
SELECT starts_with(past.t, llm_generate('Once upon a time', 400)) AS plain_until_shift
  FROM past;
SELECT pg_temp.err($$SET llm.context_overflow = wrap$$);

-- nothing is left behind
SELECT pages_used, internal_fragmentation_percent FROM llm_kv_cache;
SELECT count(*) AS requests FROM llm_requests;

-- privileges: like llm_generate and llm_stats, not granted to PUBLIC
CREATE ROLE regress_llm_kv;
SELECT has_function_privilege('regress_llm_kv',
	'llm_generate_n(text, int, int, float8, float8, int, float8, bigint)', 'EXECUTE') AS generate_n,
	   has_function_privilege('regress_llm_kv', 'llm_kv_cache()', 'EXECUTE') AS kv_cache,
	   has_function_privilege('regress_llm_kv', 'llm_requests()', 'EXECUTE') AS requests;
DROP ROLE regress_llm_kv;
