-- llm_generate with stories260K (greedy results are goldens: the model's
-- reference output from BOS begins "Once upon a time, there was a little
-- girl named Lily.")

-- greedy continuation
SELECT llm_generate('Once upon a time', 32);

-- an empty prompt is just BOS: the reference story opening
SELECT llm_generate('', 40);
SELECT llm_generate('', 24) LIKE 'Once upon a time, there was a little girl named Lily.%'
	AS reference_opening;

-- max_tokens: fewer tokens give a prefix of more tokens
SELECT starts_with(llm_generate('Once upon a time', 32),
				   llm_generate('Once upon a time', 8)) AS prefix_of_longer;
SELECT llm_generate('Once upon a time', 8) <> llm_generate('Once upon a time', 32)
	AS shorter;
SELECT llm_generate('Once upon a time', 1);

-- max_tokens NULL means llm.max_new_tokens
SET llm.max_new_tokens = 8;
SELECT llm_generate('Once upon a time') = llm_generate('Once upon a time', 8)
	AS uses_max_new_tokens;
RESET llm.max_new_tokens;

-- stop strings: the text before the first match, without the stop string
SELECT llm_generate('Once upon a time', 64, stop => ARRAY['Lily']);
SELECT llm_generate('Once upon a time', 64, stop => ARRAY['park', '.']);
SELECT llm_generate('Once upon a time', 64, stop => ARRAY[NULL, 'girl']);
SELECT llm_generate('Once upon a time', 64, stop => ARRAY['named L']);
-- a stop string that never appears changes nothing
SELECT llm_generate('Once upon a time', 32, stop => ARRAY['zzz', 'Lily!'])
	= llm_generate('Once upon a time', 32) AS unchanged;

-- seeded sampling is reproducible; different seeds differ
SELECT llm_generate('Once upon a time', 32, temperature => 0.8, seed => 42)
	= llm_generate('Once upon a time', 32, temperature => 0.8, seed => 42)
	AS same_seed_same_text;
SELECT llm_generate('Once upon a time', 32, temperature => 0.8, seed => 42)
	<> llm_generate('Once upon a time', 32, temperature => 0.8, seed => 43)
	AS different_seed_differs;
SELECT llm_generate('Once upon a time', 32, temperature => 0.8, seed => 42);
-- greedy ignores the seed
SELECT llm_generate('Once upon a time', 16, seed => 1)
	= llm_generate('Once upon a time', 16, seed => 2) AS greedy_ignores_seed;
-- top_k 1 keeps only the most likely token: greedy at any temperature
SELECT llm_generate('Once upon a time', 32, temperature => 1.5, top_k => 1, seed => 5)
	= llm_generate('Once upon a time', 32) AS top_k_1_is_greedy;
-- the other filters run and stay reproducible
SELECT llm_generate('Once upon a time', 24, temperature => 1, top_k => 40,
					top_p => 0.9, min_p => 0.05, seed => 7, repeat_penalty => 1.1)
	= llm_generate('Once upon a time', 24, temperature => 1, top_k => 40,
				   top_p => 0.9, min_p => 0.05, seed => 7, repeat_penalty => 1.1)
	AS filters_reproducible;
-- a strong repeat penalty changes the greedy text
SELECT llm_generate('Once upon a time', 64, repeat_penalty => 2)
	<> llm_generate('Once upon a time', 64) AS penalty_changes_text;

-- NULL prompt, NULL settings (NULL means the default)
SELECT llm_generate(NULL) IS NULL AS null_prompt;
SELECT llm_generate('Once upon a time', 16, temperature => NULL, top_p => NULL)
	= llm_generate('Once upon a time', 16) AS null_means_default;

-- non-ASCII text in and out (byte-fallback tokens)
SELECT length(llm_generate('Il était une fois un dragon 🐉', 8)) > 0 AS non_ascii;

-- several requests in one query
SELECT n, llm_generate('Once upon a time', 6) FROM generate_series(1, 3) n;
