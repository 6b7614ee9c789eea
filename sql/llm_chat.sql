-- llm_chat: stories260K has no chat template, so the template must be named

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- no template in the model: an error whose hint says what to do
\set VERBOSITY terse
SELECT llm_chat('[{"role": "user", "content": "Tell me a story"}]');
\set VERBOSITY default
DO $$
DECLARE
	h text;
BEGIN
	PERFORM llm_chat('[{"role": "user", "content": "Tell me a story"}]');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RAISE NOTICE 'hint names the template argument: %', h LIKE 'Pass the template argument%chatml%';
END $$;

-- an explicit template renders and generates
SELECT llm_chat('[{"role": "user", "content": "Tell me a story"}]', 24,
				template => 'chatml');
-- it is exactly a generation from the rendered chatml prompt
SELECT llm_chat('[{"role": "user", "content": "Tell me a story"}]', 24,
				template => 'chatml')
	= llm_generate(E'<|im_start|>user\nTell me a story<|im_end|>\n<|im_start|>assistant\n', 24)
	AS chatml_rendering;
SELECT llm_chat('[{"role": "system", "content": "You tell stories."},
				  {"role": "user", "content": "Once upon a time"},
				  {"role": "assistant", "content": "there was a cat."},
				  {"role": "user", "content": "And then?"}]', 16,
				template => 'zephyr');
SELECT length(llm_chat('[{"role": "user", "content": "Hi"}]', 8,
					   template => 'llama2')) > 0 AS llama2_runs;
-- sampling settings and stop strings apply
SELECT llm_chat('[{"role": "user", "content": "Hi"}]', 16, temperature => 0.7,
				seed => 3, template => 'chatml')
	= llm_chat('[{"role": "user", "content": "Hi"}]', 16, temperature => 0.7,
			   seed => 3, template => 'chatml') AS reproducible;
SELECT llm_chat('[{"role": "user", "content": "Tell me a story"}]', 24,
				stop => ARRAY['?'], template => 'chatml');

-- bad messages are 22023
SELECT pg_temp.err($$SELECT llm_chat('{"role": "user", "content": "hi"}', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('"hi"', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[1]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user"}]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"content": "hi"}]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "robot", "content": "hi"}]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user", "content": 42}]', template => 'chatml')$$);
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user", "content": "hi"}]', template => 'no-such-family')$$);
-- malformed JSON never gets to us: jsonb input rejects it
SELECT pg_temp.err($$SELECT llm_chat('[{"role": ', template => 'chatml')$$);
-- a family without a system role accepts it only first
SELECT pg_temp.err($$SELECT llm_chat('[{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}]', 8, template => 'llama2')$$);

SELECT llm_chat(NULL) IS NULL AS null_messages;
