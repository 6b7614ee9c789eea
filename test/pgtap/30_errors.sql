-- 30_errors.sql — every invalid argument is an ERROR with its documented
-- SQLSTATE (22023 invalid_parameter_value naming the parameter, 54000 for a
-- prompt longer than the context), and an error leaves the session and the
-- worker usable.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(31);

-- temperature
SELECT throws_ok($$SELECT llm_generate('Once', 4, temperature => 'NaN')$$, '22023', NULL,
	'temperature NaN: 22023');
SELECT throws_ok($$SELECT llm_generate('Once', 4, temperature => -0.5)$$, '22023', NULL,
	'negative temperature: 22023');
SELECT throws_like($$SELECT llm_generate('Once', 4, temperature => -0.5)$$, '%temperature%',
	'the message names temperature');
SELECT throws_ok($$SELECT llm_generate('Once', 4, temperature => 'Infinity')$$, '22023', NULL,
	'infinite temperature: 22023');

-- top_p in (0, 1]
SELECT throws_ok($$SELECT llm_generate('Once', 4, top_p => 0)$$, '22023', NULL, 'top_p = 0: 22023');
SELECT throws_ok($$SELECT llm_generate('Once', 4, top_p => 1.5)$$, '22023', NULL, 'top_p = 1.5: 22023');
SELECT throws_like($$SELECT llm_generate('Once', 4, top_p => 1.5)$$, '%top_p%',
	'the message names top_p');
SELECT lives_ok($$SELECT llm_generate('Once', 4, temperature => 0.7, top_p => 1, seed => 1)$$,
	'top_p = 1 is valid');

-- top_k >= 0
SELECT throws_ok($$SELECT llm_generate('Once', 4, top_k => -1)$$, '22023', NULL, 'top_k = -1: 22023');
SELECT throws_like($$SELECT llm_generate('Once', 4, top_k => -1)$$, '%top_k%',
	'the message names top_k');

-- min_p in [0, 1]
SELECT throws_ok($$SELECT llm_generate('Once', 4, min_p => -0.1)$$, '22023', NULL, 'min_p = -0.1: 22023');
SELECT throws_ok($$SELECT llm_generate('Once', 4, min_p => 1.1)$$, '22023', NULL, 'min_p = 1.1: 22023');
SELECT throws_like($$SELECT llm_generate('Once', 4, min_p => 1.1)$$, '%min_p%',
	'the message names min_p');

-- max_tokens in [1, context]
SELECT throws_ok($$SELECT llm_generate('Once', 0)$$, '22023', NULL, 'max_tokens = 0: 22023');
SELECT throws_ok($$SELECT llm_generate('Once', -5)$$, '22023', NULL, 'negative max_tokens: 22023');
SELECT throws_ok($$SELECT llm_generate('Once', 100000)$$, '22023', NULL,
	'max_tokens beyond the context: 22023');
SELECT throws_like($$SELECT llm_generate('Once', 0)$$, '%max_tokens%',
	'the message names max_tokens');
SELECT throws_ok($$SELECT * FROM llm_generate_stream('Once', 0)$$, '22023', NULL,
	'llm_generate_stream checks max_tokens too');
SELECT throws_ok($$SELECT llm_chat('[{"role": "user", "content": "Hi"}]', 4, top_k => -1, template => 'chatml')$$,
	'22023', NULL, 'llm_chat checks its sampling parameters too');

-- prompt longer than the context (512 tokens for stories260K)
SELECT throws_ok($$SELECT llm_generate(repeat('Once upon a time ', 400), 4)$$, '54000', NULL,
	'a prompt longer than the context: 54000');

SET LOCAL llm.context_overflow = 'truncate';
SELECT lives_ok($$SELECT llm_generate(repeat('Once upon a time ', 400), 4)$$,
	'with llm.context_overflow = truncate the same prompt is accepted');
RESET llm.context_overflow;

-- detokenize: unknown ids
SELECT throws_ok($$SELECT llm_detokenize(ARRAY[1000000])$$, '22023', NULL,
	'an unknown token id: 22023');
SELECT throws_ok($$SELECT llm_detokenize(ARRAY[-1])$$, '22023', NULL, 'a negative token id: 22023');

-- chat: bad messages
SELECT throws_ok($$SELECT llm_chat('{"role": "user"}', 4, template => 'chatml')$$, '22023', NULL,
	'messages that are not an array: 22023');
SELECT throws_ok($$SELECT llm_chat('[{"role": "user"}]', 4, template => 'chatml')$$, '22023', NULL,
	'a message without content: 22023');
SELECT throws_ok($$SELECT llm_chat('[{"role": "wizard", "content": "Hi"}]', 4, template => 'chatml')$$,
	'22023', NULL, 'an unknown role: 22023');
SELECT throws_ok($$SELECT llm_chat('[42]', 4, template => 'chatml')$$, '22023', NULL,
	'a message that is not an object: 22023');
SELECT throws_ok($$SELECT llm_chat('[{"role": "user", "content": "Hi"}]', 4, template => 'no-such-family')$$,
	NULL, 'an unknown template name is an error');
-- stories260K has no tokenizer.chat_template: the hint must say to pass one
SELECT throws_like($$SELECT llm_chat('[{"role": "user", "content": "Hi"}]', 4)$$, '%template%',
	'a model without a chat template: error mentioning the template');

-- after all those errors, the session and the worker still work
SELECT is(llm_generate('Once upon a time', 16), llm_generate('Once upon a time', 16),
	'generation still works after the errors');
SELECT is((SELECT requests_running FROM llm_stats), 0, 'no request is left running');

SELECT * FROM finish();
ROLLBACK;
