-- 20_privileges.sql — generation is not open to PUBLIC: a role without a
-- grant gets "permission denied" (42501); GRANT EXECUTE (the README's
-- recipe) makes it work.  llm.model is visible to superusers only.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(13);

CREATE ROLE llm_test_nogrant NOLOGIN;
CREATE ROLE llm_test_user NOLOGIN;
CREATE ROLE llm_test_member NOLOGIN IN ROLE llm_test_user;

SELECT ok(NOT has_function_privilege('llm_test_nogrant',
	'llm_generate(text, integer, double precision, double precision, integer, double precision, bigint, text[], double precision)',
	'EXECUTE'), 'PUBLIC cannot execute llm_generate');
SELECT ok(NOT has_function_privilege('llm_test_nogrant',
	'llm_generate_stream(text, integer, double precision, double precision, integer, double precision, bigint, text[], double precision)',
	'EXECUTE'), 'PUBLIC cannot execute llm_generate_stream');
SELECT ok(NOT has_function_privilege('llm_test_nogrant',
	'llm_chat(jsonb, integer, double precision, double precision, integer, double precision, bigint, text[], text)',
	'EXECUTE'), 'PUBLIC cannot execute llm_chat');
SELECT ok(NOT has_function_privilege('llm_test_nogrant',
	'llm_generate_n(text, integer, integer, double precision, double precision, integer, double precision, bigint)',
	'EXECUTE'), 'PUBLIC cannot execute llm_generate_n');

SET LOCAL ROLE llm_test_nogrant;
SELECT throws_ok($$SELECT llm_generate('Once', 4)$$, '42501', NULL,
	'llm_generate without a grant: permission denied');
SELECT throws_ok($$SELECT * FROM llm_generate_stream('Once', 4)$$, '42501', NULL,
	'llm_generate_stream without a grant: permission denied');
SELECT throws_ok($$SELECT llm_chat('[{"role": "user", "content": "Hi"}]', 4, template => 'chatml')$$,
	'42501', NULL, 'llm_chat without a grant: permission denied');
SELECT throws_ok($$SHOW llm.model$$, '42501', NULL,
	'llm.model is hidden from ordinary roles (superuser only)');
RESET ROLE;

-- the README's recipe: grant to a group role, members inherit it
GRANT EXECUTE ON FUNCTION llm_generate, llm_generate_stream, llm_chat TO llm_test_user;
SELECT is(llm_generate('Once upon a time', 24), llm_generate('Once upon a time', 24),
	'superuser reference text (precondition)');
CREATE TEMP TABLE ref AS SELECT llm_generate('Once upon a time', 24) AS t;
GRANT SELECT ON ref TO PUBLIC;

SET LOCAL ROLE llm_test_member;
SELECT lives_ok($$SELECT llm_generate('Once', 4)$$, 'llm_generate works after GRANT EXECUTE');
SELECT is(llm_generate('Once upon a time', 24), (SELECT t FROM ref),
	'a granted role gets the same greedy text as the superuser');
SELECT lives_ok($$SELECT * FROM llm_generate_stream('Once', 4)$$,
	'llm_generate_stream works after GRANT EXECUTE');
RESET ROLE;

REVOKE EXECUTE ON FUNCTION llm_generate FROM llm_test_user;
SET LOCAL ROLE llm_test_member;
SELECT throws_ok($$SELECT llm_generate('Once', 4)$$, '42501', NULL,
	'REVOKE takes the privilege away again');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
