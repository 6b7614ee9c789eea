#!/usr/bin/env bash
# 40-cancel.sh — pg_cancel_backend() from another session stops a long
# generation promptly (within ~2 s, SQLSTATE 57014), frees its request, and
# the next call in a fresh session works and gives the usual greedy text.
set -uo pipefail
. "$(dirname "$0")/common.sh"

ref=$(q "$GREEDY_SQL")
check "greedy generation before the cancel" [ -n "$ref" ]

# Thousands of generations in one statement: far longer than the test.
LONG="SELECT count(llm_generate('Once', 400)) FROM generate_series(1, 100000)"
PGAPPNAME=llm-cancel-test psql -XAtq -v VERBOSITY=verbose -c "$LONG" \
	>"$T_TMP/out" 2>"$T_TMP/err" &
client=$!

pid=""
for i in $(seq 1 100); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'llm-cancel-test' AND state = 'active'")
	[ -n "$pid" ] && break
	sleep 0.1
done
check "the long generation is running (backend ${pid:-not found})" [ -n "$pid" ]
# the statement runs one short generation after another: poll, since a
# single look can fall between two of them
check "requests_running >= 1 during the generation" \
	wait_until 5 sh -c "[ \"\$(psql -XAtq -c 'SELECT requests_running FROM llm_stats')\" -ge 1 ]"

t0=$(date +%s%N)
check_eq "pg_cancel_backend returns true" "$(q "SELECT pg_cancel_backend($pid)")" t
ended=false
for i in $(seq 1 100); do
	if ! kill -0 "$client" 2>/dev/null; then ended=true; break; fi
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
prompt=false
$ended && [ "$ms" -le 2000 ] && prompt=true
check "the statement ended within 2 s of the cancel (${ms} ms)" $prompt
if ! $ended; then
	kill -9 "$client" 2>/dev/null
	q "SELECT pg_terminate_backend($pid)" >/dev/null
fi
wait "$client" 2>/dev/null
check "the client saw SQLSTATE 57014 (query_canceled)" grep -q 'ERROR: *57014' "$T_TMP/err"
diag "$(head -n1 "$T_TMP/err")"

check "requests_running back to 0 within 5 s" wait_until 5 sh -c "[ \"\$(psql -XAtq -c 'SELECT requests_running FROM llm_stats')\" = 0 ]"
check_eq "the next call works and gives the same greedy text" "$(q "$GREEDY_SQL")" "$ref"
check "llm_stats counted the cancellation" \
	[ "$(q 'SELECT cancellations FROM llm_stats')" -ge 1 ]
done_testing
