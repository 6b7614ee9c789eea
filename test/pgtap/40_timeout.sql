-- 40_timeout.sql — statement_timeout interrupts a long generation promptly
-- with 57014 (query_canceled), the request is released, and the next call
-- works.  (Cancel from another session and client disconnects are shell
-- tests: test/lifecycle/40-cancel.sh, 50-client-disconnect.sh.)
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS llm;

BEGIN;
SELECT plan(8);

-- Run a statement and return the SQLSTATE it failed with ('' if none).
-- pgTAP's throws_ok cannot be used: WHEN OTHERS never catches 57014.
CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN '';
EXCEPTION
	WHEN query_canceled THEN
		RETURN SQLSTATE;
	WHEN OTHERS THEN
		RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t, requests_served, cancellations FROM llm_stats;

-- Thousands of generations in one statement: minutes of work without the
-- timeout.
SET LOCAL statement_timeout = '200ms';
SELECT is(pg_temp.sqlstate_of($$SELECT count(llm_generate('Once', 400)) FROM generate_series(1, 100000)$$),
	'57014', 'statement_timeout cancels a long generation (57014)');
SET LOCAL statement_timeout = 0;
SELECT cmp_ok(extract(epoch FROM clock_timestamp() - t)::numeric, '<', 2.0,
	'the timeout took effect promptly (well under 2 s)') FROM t0;

-- Poll a condition every 0.1 s for at most 5 s (llm_stats reads shared
-- memory, not a snapshot, so it changes within the transaction).
CREATE FUNCTION pg_temp.wait_for(cond text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	done boolean;
BEGIN
	FOR i IN 1..50 LOOP
		EXECUTE 'SELECT ' || cond INTO done;
		IF done THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;
SELECT ok(pg_temp.wait_for('(SELECT requests_running + requests_waiting = 0 FROM llm_stats)'),
	'the cancelled request is released');
SELECT ok(pg_temp.wait_for('(SELECT s.cancellations > t0.cancellations FROM llm_stats s, t0)'),
	'llm_stats counts the cancellation');

SELECT matches(llm_generate('', 24), '^Once upon a time, there was a little girl named Lily',
	'the next call works and gives the usual greedy text');

-- a timeout that is long enough does not disturb a short call
SET LOCAL statement_timeout = '30s';
SELECT lives_ok($$SELECT llm_generate('Once upon a time', 32)$$,
	'a short generation under a generous statement_timeout');

-- the same for a set-returning stream
SET LOCAL statement_timeout = '200ms';
SELECT is(pg_temp.sqlstate_of($$SELECT count(*) FROM generate_series(1, 100000) g,
		LATERAL llm_generate_stream('Once', 400) s$$),
	'57014', 'statement_timeout cancels a long llm_generate_stream query');
SET LOCAL statement_timeout = 0;
SELECT ok(pg_temp.wait_for('(SELECT requests_running + requests_waiting = 0 FROM llm_stats)'),
	'the cancelled stream request is released');

SELECT * FROM finish();
ROLLBACK;
