#!/usr/bin/env bash
# 65-streaming.sh — llm_generate_stream hands out pieces as they are
# produced: through a cursor, the first row arrives long before the last
# (the function is called per row in the target list; a materialising SRF
# would make the first FETCH wait for the whole generation).
set -uo pipefail
. "$(dirname "$0")/common.sh"

times=$(psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
DECLARE c NO SCROLL CURSOR FOR
	SELECT llm_generate_stream('Once upon a time', 400, temperature => 1.0, seed => 3);
SELECT extract(epoch FROM clock_timestamp());
MOVE FORWARD 1 IN c;
SELECT extract(epoch FROM clock_timestamp());
MOVE FORWARD ALL IN c;
SELECT extract(epoch FROM clock_timestamp());
COMMIT;
SQL
)
check "the cursor over llm_generate_stream runs" [ "$(wc -l <<<"$times")" -eq 3 ]
read -r first total < <(awk 'NR == 1 {t0 = $1} NR == 2 {t1 = $1} NR == 3 {t2 = $1}
	END {printf "%d %d\n", (t1 - t0) * 1000, (t2 - t0) * 1000}' <<<"$times")
diag "first row after ${first} ms, all rows after ${total} ms"
if [ "$total" -lt 100 ]; then
	echo "ok $((T_N + 1)) # SKIP the whole generation took under 100 ms: too fast to tell"
	T_N=$((T_N + 1))
else
	check "the first row comes before a quarter of the total time" [ $((first * 4)) -lt "$total" ]
fi
n=$(q "SELECT count(*) FROM (SELECT llm_generate_stream('Once upon a time', 400, temperature => 1.0, seed => 3)) s")
check "the same call yields many rows ($n)" [ "${n:-0}" -gt 10 ]
done_testing
