#!/usr/bin/env bash
# 50-client-disconnect.sh — killing the psql *client* (not the backend) in
# the middle of a long generation: the backend notices the lost connection
# while it waits for the worker, exits, and its request is released
# (requests_running back to 0, nothing more served for it).  Two cases:
# default settings (the adapter checks the socket itself while waiting) and
# PostgreSQL's own client_connection_check_interval.
set -uo pipefail
. "$(dirname "$0")/common.sh"

LONG="SELECT count(llm_generate('Once', 400)) FROM generate_series(1, 100000)"

# Never leave a runaway backend behind for the next tests.
cleanup()
{
	psql -XAtq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name LIKE 'llm-disconnect-%'" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT

# run_case LABEL PGOPTIONS: start the long query, kill its client, check.
run_case()
{
	local label=$1 opts=$2 app="llm-disconnect-$1" pid="" client i gone served1 served2
	PGAPPNAME=$app PGOPTIONS=$opts psql -XAtq -c "$LONG" >/dev/null 2>&1 &
	client=$!
	for i in $(seq 1 100); do
		pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND state = 'active'")
		[ -n "$pid" ] && break
		sleep 0.1
	done
	check "$label: the long generation is running (backend ${pid:-not found})" [ -n "$pid" ]
	sleep 0.5

	kill -9 "$client"
	wait "$client" 2>/dev/null
	gone=false
	for i in $(seq 1 50); do
		if [ -z "$(q "SELECT pid FROM pg_stat_activity WHERE pid = ${pid:-0}")" ]; then
			gone=true
			break
		fi
		sleep 0.1
	done
	check "$label: the backend exits within 5 s of the client's death" $gone
	check "$label: requests_running back to 0 within 5 s" \
		wait_until 5 sh -c "[ \"\$(psql -XAtq -c 'SELECT requests_running FROM llm_stats')\" = 0 ]"
	served1=$(q 'SELECT requests_served FROM llm_stats')
	sleep 2
	served2=$(q 'SELECT requests_served FROM llm_stats')
	check_eq "$label: nothing more is served for the dead client" "$served2" "$served1"
	# Whatever happened, do not let it run on.
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'" >/dev/null
	wait_until 5 sh -c "[ -z \"\$(psql -XAtq -c \"SELECT 1 FROM pg_stat_activity WHERE application_name = '$app'\")\" ]"
}

ref=$(q "$GREEDY_SQL")
check "greedy generation before the disconnects" [ -n "$ref" ]
run_case default ""
run_case check-interval "-c client_connection_check_interval=200ms"
check_eq "the next call works and gives the same greedy text" "$(q "$GREEDY_SQL")" "$ref"
done_testing
