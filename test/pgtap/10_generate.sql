-- 10_generate.sql — behaviour of generation, tokenization, chat, model
-- information and statistics against the test model (stories260K).
-- Facts about the model come from /work/shared/models/README.md, not from
-- this implementation: vocab 512, 5 layers, dim 64, 8 heads, 4 kv heads,
-- context 512, BOS 1, EOS 2, greedy text from BOS starts "Once upon a time,
-- there was a little girl named Lily."
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(48);

-- greedy generation: deterministic, and the known story for this model
SELECT matches(llm_generate('', 24), '^Once upon a time, there was a little girl named Lily',
	'greedy text from BOS is the known stories260K story');
SELECT is(llm_generate('Once upon a time', 48), llm_generate('Once upon a time', 48),
	'greedy generation is deterministic');
SELECT isnt(llm_generate('Once upon a time', 48), llm_generate('The dog', 48),
	'a different prompt gives a different text');
SELECT is(llm_generate('Once upon a time', 48, temperature => 0),
	llm_generate('Once upon a time', 48, temperature => 0, seed => 99),
	'the seed does not matter when temperature = 0');

-- sampling: the seed makes it reproducible; different seeds differ
SELECT is(llm_generate('Once upon a time', 48, temperature => 0.9, seed => 42),
	llm_generate('Once upon a time', 48, temperature => 0.9, seed => 42),
	'same seed and parameters give the same sampled text');
SELECT is(llm_generate('Once', 32, temperature => 1.0, top_p => 0.9, top_k => 40,
		min_p => 0.05, seed => 7, repeat_penalty => 1.1),
	llm_generate('Once', 32, temperature => 1.0, top_p => 0.9, top_k => 40,
		min_p => 0.05, seed => 7, repeat_penalty => 1.1),
	'all sampling parameters together are reproducible with a seed');
SELECT cmp_ok((SELECT count(DISTINCT llm_generate('Once upon a time', 32, temperature => 1.0, seed => s))
				 FROM generate_series(1, 6) s)::int, '>', 1,
	'different seeds give different samples');
SELECT isnt(llm_generate('', 64, repeat_penalty => 1.5), llm_generate('', 64),
	'repeat_penalty changes the greedy text of a repetitive story');
SELECT is(llm_generate('Once upon a time', 32, temperature => 0.5, top_k => 1, seed => 3),
	llm_generate('Once upon a time', 32),
	'top_k = 1 sampling is greedy');
SELECT cmp_ok((SELECT count(DISTINCT llm_generate('Once upon a time', 24, temperature => 1.0))
				 FROM generate_series(1, 6))::int, '>', 1,
	'seed NULL draws a fresh random seed per call');

-- max_tokens and llm.max_new_tokens
SELECT cmp_ok((SELECT count(*) FROM llm_generate_stream('Once upon a time', 5))::int, '<=', 5,
	'max_tokens = 5 gives at most 5 pieces');
SELECT cmp_ok((SELECT count(*) FROM llm_generate_stream('Once upon a time', 5))::int, '>=', 1,
	'max_tokens = 5 gives at least one piece');
SELECT ok(starts_with(llm_generate('Once upon a time', 48), llm_generate('Once upon a time', 8)),
	'a shorter greedy generation is a prefix of a longer one');
SET LOCAL llm.max_new_tokens = 3;
SELECT cmp_ok((SELECT count(*) FROM llm_generate_stream('Once upon a time'))::int, '<=', 3,
	'max_tokens NULL uses llm.max_new_tokens');
SELECT is(llm_generate('Once upon a time'), llm_generate('Once upon a time', 3),
	'max_tokens NULL is the same as max_tokens = llm.max_new_tokens');
RESET llm.max_new_tokens;

-- streaming gives the same text, piece by piece
SELECT is((SELECT string_agg(piece, '' ORDER BY n)
			 FROM llm_generate_stream('Once upon a time', 48) WITH ORDINALITY AS s(piece, n)),
	llm_generate('Once upon a time', 48),
	'llm_generate_stream pieces concatenate to llm_generate''s text');
SELECT cmp_ok((SELECT count(*) FROM llm_generate_stream('Once upon a time', 48))::int, '>', 1,
	'llm_generate_stream returns more than one row');
SELECT is((SELECT string_agg(piece, '' ORDER BY n)
			 FROM llm_generate_stream('Once upon a time', 40, temperature => 0.8, seed => 5)
				  WITH ORDINALITY AS s(piece, n)),
	llm_generate('Once upon a time', 40, temperature => 0.8, seed => 5),
	'stream and llm_generate agree when sampling with a seed');

-- n samples sharing the prompt's KV pages: sample i is the single
-- generation with seed + i
SELECT is((SELECT count(*)::int FROM llm_generate_n('Once upon a time', 3, 24, seed => 10)), 3,
	'llm_generate_n returns n rows');
SELECT is(ARRAY(SELECT llm_generate_n('Once upon a time', 3, 24, temperature => 0.8, seed => 10)),
	ARRAY[llm_generate('Once upon a time', 24, temperature => 0.8, seed => 10),
		  llm_generate('Once upon a time', 24, temperature => 0.8, seed => 11),
		  llm_generate('Once upon a time', 24, temperature => 0.8, seed => 12)],
	'llm_generate_n sample i equals llm_generate with seed + i');

-- stop strings: generation ends before the first stop string
SELECT ok(position('Lily' IN llm_generate('', 48)) > 0, 'the story mentions Lily (precondition)');
SELECT is(llm_generate('', 48, stop => ARRAY['Lily']),
	split_part(llm_generate('', 48), 'Lily', 1),
	'the text stops before the stop string, which is not returned');
SELECT is(llm_generate('', 48, stop => ARRAY['no such string', ' girl']),
	split_part(llm_generate('', 48), ' girl', 1),
	'any of several stop strings ends generation');
SELECT is(llm_generate('', 48, stop => ARRAY[]::text[]), llm_generate('', 48),
	'an empty stop array changes nothing');

-- tokenizer
SELECT is((llm_tokenize('Once upon a time', true))[1], 1, 'add_bos puts BOS (id 1) first');
SELECT isnt((llm_tokenize('Once upon a time'))[1], 1, 'no BOS by default');
SELECT is(array_length(llm_tokenize('Once upon a time', true), 1),
	array_length(llm_tokenize('Once upon a time'), 1) + 1, 'BOS adds exactly one token');
SELECT is(llm_detokenize(llm_tokenize('Once upon a time, there was a girl.')),
	'Once upon a time, there was a girl.', 'detokenize(tokenize(x)) = x');
SELECT is(llm_detokenize(llm_tokenize('naïve café — 東京 🙂')), 'naïve café — 東京 🙂',
	'non-ASCII text round-trips through byte-fallback tokens');
SELECT is(llm_tokenize(''), '{}'::int[], 'the empty string has no tokens');
SELECT is(llm_detokenize('{}'), '', 'no tokens detokenize to the empty string');
SELECT ok(llm_detokenize(ARRAY[3 + 195]) = U&'\FFFD',
	'a lone UTF-8 lead byte (token <0xC3>) becomes U+FFFD');
SELECT is(llm_detokenize(ARRAY[3 + 195, 3 + 169]), 'é',
	'two byte tokens <0xC3><0xA9> form one character');

-- chat
SELECT ok(length(llm_chat('[{"role": "user", "content": "Tell me a story."}]',
	16, template => 'chatml')) >= 0, 'llm_chat with an explicit template returns text');
SELECT is(llm_chat('[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]',
		16, template => 'llama2'),
	llm_chat('[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]',
		16, template => 'llama2'),
	'greedy llm_chat is deterministic');

-- every family name of the SQL contract can be passed as template
CREATE FUNCTION pg_temp.chat_accepts(family text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM llm_chat('[{"role": "user", "content": "Hi"}]', 2, template => family);
	RETURN true;
EXCEPTION
	WHEN OTHERS THEN
		RETURN false;
END $$;
SELECT is(ARRAY(SELECT f FROM unnest(ARRAY['chatml', 'llama2', 'llama3', 'mistral', 'zephyr',
											'gemma', 'phi3']) f
				 WHERE NOT pg_temp.chat_accepts(f)), '{}'::text[],
	'llm_chat accepts every documented template name (list shows the refused ones)');

-- model information
SELECT ok(llm_model_info() ?& ARRAY['path', 'name', 'architecture', 'n_vocab', 'n_ctx_train',
	'n_ctx', 'n_embd', 'n_layer', 'n_head', 'n_head_kv', 'n_ff', 'rope_theta', 'n_params',
	'size_bytes', 'file_type', 'tensor_types', 'bos', 'eos', 'chat_template_family',
	'threads', 'isa'], 'llm_model_info has every documented key');
SELECT is(jsonb_build_object('architecture', llm_model_info()->'architecture',
		'n_vocab', llm_model_info()->'n_vocab', 'n_layer', llm_model_info()->'n_layer',
		'n_embd', llm_model_info()->'n_embd', 'n_head', llm_model_info()->'n_head',
		'n_head_kv', llm_model_info()->'n_head_kv', 'n_ctx_train', llm_model_info()->'n_ctx_train',
		'bos', llm_model_info()->'bos', 'eos', llm_model_info()->'eos'),
	'{"architecture": "llama", "n_vocab": 512, "n_layer": 5, "n_embd": 64, "n_head": 8,
	  "n_head_kv": 4, "n_ctx_train": 512, "bos": 1, "eos": 2}'::jsonb,
	'llm_model_info describes stories260K');
SELECT is((llm_model_info()->>'path'), current_setting('llm.model'),
	'llm_model_info path is llm.model');
SELECT is((llm_model_info()->>'threads')::int, 2, 'llm_model_info reports llm.threads');
SELECT cmp_ok((llm_model_info()->>'n_ctx')::int, '<=', 512, 'n_ctx is at most the training context');

-- the paged KV cache and the request list
SELECT ok((SELECT pages_total > 0 AND pages_used + pages_cached + pages_free = pages_total
			 FROM llm_kv_cache), 'KV pages: used + cached + free = total');
SELECT is((SELECT pages_total * page_bytes FROM llm_kv_cache), (SELECT bytes_total FROM llm_kv_cache),
	'KV bytes_total = pages_total * page_bytes');
SELECT is_empty($$SELECT * FROM llm_requests$$, 'llm_requests is empty when nothing runs');

-- statistics
CREATE TEMP TABLE stats0 AS SELECT * FROM llm_stats;
SELECT ok(llm_generate('Once upon a time', 16) IS NOT NULL, 'one more generation');
SELECT cmp_ok((SELECT s.requests_served - s0.requests_served FROM llm_stats s, stats0 s0)::int,
	'>=', 1, 'requests_served counts the call');
SELECT ok((SELECT s.generated_tokens > s0.generated_tokens AND s.prompt_tokens > s0.prompt_tokens
			 FROM llm_stats s, stats0 s0), 'prompt and generated tokens are counted');
SELECT is((SELECT worker_pid FROM llm_stats),
	(SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'),
	'worker_pid is the llm worker of pg_stat_activity');

SELECT * FROM finish();
ROLLBACK;
