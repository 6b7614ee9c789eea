-- llm_tokenize / llm_detokenize with stories260K's 512-token vocabulary

SELECT llm_tokenize('Once upon a time');
SELECT llm_tokenize('Once upon a time', true);
SELECT llm_tokenize('Once upon a time', add_bos => false);
SELECT llm_tokenize('');
SELECT llm_tokenize('', true);
SELECT llm_detokenize(llm_tokenize('Once upon a time'));
-- control tokens (BOS, EOS) are skipped
SELECT llm_detokenize(llm_tokenize('Once upon a time', true));
SELECT llm_detokenize(ARRAY[1, 403, 407, 2]);
SELECT llm_detokenize('{}');

-- round trips
SELECT s, llm_detokenize(llm_tokenize(s)) = s AS round_trip
FROM (VALUES ('Hello world'),
			 ('Lily and Ben played in the park.'),
			 ('  two leading spaces'),
			 ('trailing space '),
			 ('naïve café ☕ 🐉'),
			 (E'tabs\tand\nnewlines')) AS v(s);

-- characters outside the vocabulary become byte tokens (<0xNN> = 3 + NN),
-- after the leading space token 410
SELECT llm_tokenize('🐉');
SELECT llm_detokenize(ARRAY[243, 162, 147, 140]);
SELECT llm_detokenize(ARRAY[198, 172]);
-- an incomplete UTF-8 sequence becomes U+FFFD, never invalid text
SELECT llm_detokenize(ARRAY[198]) = U&'\FFFD' AS replacement_char;
SELECT llm_detokenize(ARRAY[198, 407]) = U&'\FFFD' || ' upon' AS replacement_then_text;

-- unknown ids and NULLs are errors
\set VERBOSITY sqlstate
SELECT llm_detokenize(ARRAY[512]);
SELECT llm_detokenize(ARRAY[403, -1]);
SELECT llm_detokenize(ARRAY[403, NULL]);
\set VERBOSITY default
SELECT llm_detokenize(ARRAY[512]);

-- NULL in, NULL out
SELECT llm_tokenize(NULL) IS NULL AS t, llm_detokenize(NULL) IS NULL AS d;
SELECT llm_tokenize('x', NULL) IS NULL AS null_add_bos;

-- a long input
SELECT array_length(llm_tokenize(repeat('Once upon a time, ', 500)), 1);
SELECT llm_detokenize(llm_tokenize(repeat('Once upon a time, ', 500)))
	= repeat('Once upon a time, ', 500) AS long_round_trip;
