#!/usr/bin/env bash
# 20-worker-crash.sh — kill -9 of the llm worker: the postmaster treats it
# as a crash, restarts the cluster (restart_after_crash = on), the worker
# comes back, reloads the model and gives the same greedy text as before.
set -uo pipefail
. "$(dirname "$0")/common.sh"

ref=$(q "$GREEDY_SQL")
check "greedy generation before the crash" [ -n "$ref" ]
pm=$(postmaster_pid)
check "the llm worker is listed in pg_stat_activity (backend_type 'llm worker')" \
	[ -n "$(worker_pid_activity)" ]
wpid=$(worker_pid)
check "its pid ($wpid) is a running process titled 'llm worker'" \
	grep -q 'llm worker' "/proc/${wpid:-0}/cmdline"
if [ -z "$wpid" ]; then
	done_testing
fi

kill -9 "$wpid"
check "the worker process is gone" wait_until 10 sh -c "! kill -0 $wpid 2>/dev/null"
# Let the postmaster notice and begin its crash restart before polling.
sleep 1
check "the server accepts connections again within 60 s" \
	wait_until 60 "$PGBIN/pg_isready" -q
check_eq "the postmaster itself survived" "$(postmaster_pid)" "$pm"

new=""
for i in $(seq 1 120); do
	new=$(worker_pid)
	[ -n "$new" ] && [ "$new" != "$wpid" ] && break
	sleep 0.25
done
fresh=false
[ -n "$new" ] && [ "$new" != "$wpid" ] && fresh=true
check "a new llm worker is running (old $wpid, new ${new:-none})" $fresh

after=$(q_retry "$GREEDY_SQL" 30)
check_eq "same greedy text after the restart" "$after" "$ref"
check_eq "statistics report a loaded model" "$(q 'SELECT model_loaded FROM llm_stats')" t
done_testing
