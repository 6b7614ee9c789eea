-- 50_cross_database.sql — one worker serves every database: the same
-- prompt, parameters and seed give the same text in another database
-- (llm_test2, created by test/run-pg-tests.sh), reached through dblink.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;
CREATE EXTENSION IF NOT EXISTS dblink;

BEGIN;
SELECT plan(4);

CREATE TEMP TABLE conn AS
SELECT format('dbname=llm_test2 user=%s host=%s port=%s', current_user,
			  split_part(current_setting('unix_socket_directories'), ',', 1),
			  current_setting('port')) AS s;

SELECT lives_ok($$SELECT dblink_exec((SELECT s FROM conn), 'CREATE EXTENSION IF NOT EXISTS llm')$$,
	'the llm extension exists in the second database');
SELECT is((SELECT t FROM conn, dblink(conn.s,
			$q$SELECT llm_generate('Once upon a time', 48)$q$) AS r(t text)),
	llm_generate('Once upon a time', 48),
	'greedy: same text in another database');
SELECT is((SELECT t FROM conn, dblink(conn.s,
			$q$SELECT llm_generate('Once upon a time', 48, temperature => 0.9, top_p => 0.95, seed => 2024)$q$) AS r(t text)),
	llm_generate('Once upon a time', 48, temperature => 0.9, top_p => 0.95, seed => 2024),
	'seeded sampling: same text in another database');
SELECT is((SELECT t FROM conn, dblink(conn.s,
			$q$SELECT llm_tokenize('Once upon a time', true)::text$q$) AS r(t text)),
	llm_tokenize('Once upon a time', true)::text,
	'same tokens in another database');

SELECT * FROM finish();
ROLLBACK;
