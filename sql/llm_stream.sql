-- llm_generate_stream: one row per decoded piece, as it is produced

SELECT llm_generate_stream('Once upon a time', 8);

-- the rows concatenate to llm_generate's text
SELECT string_agg(p, '' ORDER BY n) = llm_generate('Once upon a time', 48) AS same_text
FROM llm_generate_stream('Once upon a time', 48) WITH ORDINALITY AS t(p, n);
SELECT string_agg(p, '' ORDER BY n)
	= llm_generate('Once upon a time', 32, temperature => 0.9, seed => 11) AS same_sampled_text
FROM llm_generate_stream('Once upon a time', 32, temperature => 0.9, seed => 11)
	WITH ORDINALITY AS t(p, n);
SELECT string_agg(p, '' ORDER BY n)
	= llm_generate('Once upon a time', 64, stop => ARRAY['Lily']) AS same_text_with_stop
FROM llm_generate_stream('Once upon a time', 64, stop => ARRAY['Lily'])
	WITH ORDINALITY AS t(p, n);

-- at most one row per token, no empty rows
SELECT count(*) BETWEEN 1 AND 16 AS rows_ok, bool_and(p <> '') AS no_empty_rows
FROM llm_generate_stream('Once upon a time', 16) p;

-- in the SELECT list, LIMIT stops the generation early ...
SELECT llm_generate_stream('Once upon a time', 200) LIMIT 3;
-- ... and the next call works
SELECT llm_generate('Once upon a time', 8);

-- the early stop is a cancellation; the worker frees the sequence
CREATE FUNCTION pg_temp.wait_for_cancellation(c0 bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	WHILE (SELECT cancellations FROM llm_stats) <= c0
		OR (SELECT requests_running + requests_waiting FROM llm_stats) > 0
	LOOP
		IF clock_timestamp() - t0 > interval '10 seconds' THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN true;
END $$;
SELECT cancellations AS c0 FROM llm_stats \gset
SELECT llm_generate_stream('Once upon a time', 200) LIMIT 1;
SELECT pg_temp.wait_for_cancellation(:c0) AS cancelled_and_idle;

-- a cursor read in part, then closed
BEGIN;
DECLARE c CURSOR FOR SELECT llm_generate_stream('Once upon a time', 100);
FETCH 2 FROM c;
CLOSE c;
COMMIT;

-- an error later in the query cancels the stream (transaction abort)
SELECT llm_generate_stream('Once upon a time', 20) AS p, 1 / (3 - n) AS boom
FROM generate_series(1, 3) n;
SELECT llm_generate('Once upon a time', 4);

-- two streams at once in one query
SELECT a, b
FROM ROWS FROM (llm_generate_stream('Once upon a time', 4),
				llm_generate_stream('Lily and Ben', 4)) AS t(a, b);

-- NULL prompt: no rows
SELECT count(*) FROM llm_generate_stream(NULL);
