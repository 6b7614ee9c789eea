-- parameter validation: every error with its SQLSTATE

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- max_tokens: at least 1, at most the context (512 tokens)
SELECT pg_temp.err($$SELECT llm_generate('x', 0)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', -5)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', 513)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', 512, stop => ARRAY['.', ' '])$$) AS whole_context_is_fine;
-- temperature: finite, 0 to 100
SELECT pg_temp.err($$SELECT llm_generate('x', temperature => 'NaN')$$);
SELECT pg_temp.err($$SELECT llm_generate('x', temperature => 'Infinity')$$);
SELECT pg_temp.err($$SELECT llm_generate('x', temperature => -0.5)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', temperature => 101)$$);
-- top_p in (0, 1]
SELECT pg_temp.err($$SELECT llm_generate('x', top_p => 0)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', top_p => 1.5)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', top_p => 'NaN')$$);
-- top_k >= 0
SELECT pg_temp.err($$SELECT llm_generate('x', top_k => -1)$$);
-- min_p in [0, 1]
SELECT pg_temp.err($$SELECT llm_generate('x', min_p => -0.1)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', min_p => 1.5)$$);
-- repeat_penalty > 0
SELECT pg_temp.err($$SELECT llm_generate('x', repeat_penalty => 0)$$);
SELECT pg_temp.err($$SELECT llm_generate('x', repeat_penalty => -1)$$);
-- stop strings
SELECT pg_temp.err($$SELECT llm_generate('x', stop => ARRAY[''])$$);
SELECT pg_temp.err($$SELECT llm_generate('x', stop => array_fill('a'::text, ARRAY[17]))$$);
SELECT pg_temp.err($$SELECT llm_generate('x', stop => ARRAY[repeat('a', 300)])$$);
-- the same checks apply to llm_generate_stream and llm_chat
SELECT pg_temp.err($$SELECT llm_generate_stream('x', 0)$$);
SELECT pg_temp.err($$SELECT llm_generate_stream('x', top_p => 2)$$);
SELECT pg_temp.err($$SELECT llm_generate_stream('x', 600)$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user", "content": "hi"}]', 0, template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user", "content": "hi"}]', temperature => -1, template => 'chatml')$$);

-- a prompt longer than the context: 54000
SELECT pg_temp.err($$SELECT llm_generate(repeat('Once upon a time ', 200), 10)$$);
-- a prompt that fits generates what room is left (max_tokens is clamped)
SELECT pg_temp.err($$SELECT llm_generate(repeat('Once upon a time ', 127), 10)$$);
-- an input larger than the request buffer: 54000
SELECT pg_temp.err($$SELECT llm_generate(repeat('a', 70000), 10)$$);
SELECT pg_temp.err($$SELECT llm_tokenize(repeat('a', 70000))$$);
-- unknown token ids: 22023
SELECT pg_temp.err($$SELECT llm_detokenize(ARRAY[1, 512])$$);

-- the SQLSTATE as clients see it
\set VERBOSITY sqlstate
SELECT llm_generate('x', 0);
SELECT llm_generate('x', temperature => -1);
SELECT llm_generate(repeat('Once upon a time ', 200), 10);
\set VERBOSITY default
SELECT llm_generate(repeat('Once upon a time ', 200), 10);

-- catching a SQLSTATE
DO $$
BEGIN
	PERFORM llm_generate(repeat('Once upon a time ', 200), 10);
EXCEPTION WHEN program_limit_exceeded THEN
	RAISE NOTICE 'caught program_limit_exceeded';
END $$;

-- errors never leak request slots: more failures than llm.max_requests
DO $$
BEGIN
	FOR i IN 1 .. 40 LOOP
		BEGIN
			PERFORM llm_generate('x', 513);
		EXCEPTION WHEN invalid_parameter_value THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT llm_generate('Once upon a time', 4);

-- statement_timeout stops generation promptly (this would take minutes);
-- the next request works
SET statement_timeout = '200ms';
SELECT count(llm_generate('Once upon a time', 500)) FROM generate_series(1, 10000);
RESET statement_timeout;
SELECT llm_generate('Once upon a time', 4);
