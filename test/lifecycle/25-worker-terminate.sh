#!/usr/bin/env bash
# 25-worker-terminate.sh — pg_terminate_backend() on the llm worker is a
# clean exit, not a crash: the postmaster only restarts the worker (no
# cluster restart, other sessions keep their connections), a request that
# was running fails with an error instead of hanging, and the new worker
# serves the same greedy text.
set -uo pipefail
. "$(dirname "$0")/common.sh"

cleanup()
{
	psql -XAtq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'llm-terminate-test'" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT

ref=$(q "$GREEDY_SQL")
check "greedy generation before" [ -n "$ref" ]
started=$(q "SELECT pg_postmaster_start_time()")
wpid=$(worker_pid)
check "the worker is running (pid ${wpid:-none})" [ -n "$wpid" ]

LONG="SELECT count(llm_generate('Once', 400)) FROM generate_series(1, 100000)"
PGAPPNAME=llm-terminate-test psql -XAtq -v VERBOSITY=verbose -c "$LONG" >/dev/null 2>"$T_TMP/err" &
client=$!
wait_until 10 sh -c "[ -n \"\$(psql -XAtq -c \"SELECT 1 FROM pg_stat_activity WHERE application_name = 'llm-terminate-test' AND state = 'active'\")\" ]"
sleep 0.5

check_eq "pg_terminate_backend(worker) returns true" "$(q "SELECT pg_terminate_backend(${wpid:-0})")" t
ended=false
for i in $(seq 1 150); do
	if ! kill -0 "$client" 2>/dev/null; then ended=true; break; fi
	sleep 0.1
done
check "the running request ends within 15 s" $ended
wait "$client" 2>/dev/null
check "... with an ERROR" grep -q 'ERROR' "$T_TMP/err"
diag "$(grep -m1 ERROR "$T_TMP/err")"

new=""
for i in $(seq 1 100); do
	new=$(worker_pid)
	[ -n "$new" ] && [ "$new" != "$wpid" ] && break
	sleep 0.2
done
fresh=false
[ -n "$new" ] && [ "$new" != "$wpid" ] && fresh=true
check "a new worker runs within 20 s (old $wpid, new ${new:-none})" $fresh
check_eq "no crash restart of the cluster" "$(q 'SELECT pg_postmaster_start_time()')" "$started"
check_eq "same greedy text from the new worker" "$(q_retry "$GREEDY_SQL" 20)" "$ref"
done_testing
