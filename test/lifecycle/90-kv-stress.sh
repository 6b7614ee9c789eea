#!/usr/bin/env bash
# 90-kv-stress.sh — the KV page accounting never leaks.
#
# Several concurrent psql sessions run thousands of short generations
# (llm_generate with random statement_timeouts, llm_generate_stream
# stopped early by LIMIT or by an error in the same query, llm_generate_n,
# prompts sharing a long prefix so that prefix-cache pages and
# copy-on-write are exercised) while a chaos loop calls pg_cancel_backend
# on random sessions and starts clients that are killed (SIGKILL) or
# terminated (pg_terminate_backend) in the middle of a generation.
# Afterwards llm_kv_cache.pages_used must return to 0, llm_requests must be
# empty, the worker must not have restarted, the server log must show no
# crash, and a greedy generation must still give the reference text.
#
# Runs against the cluster of test/run-pg-tests.sh (PGHOST, PGPORT, ...,
# see common.sh), e.g. with LLM_TEST_KEEP=1 or --cluster-only.
# Environment:
#   KV_STRESS_ITERATIONS  statements over all sessions (default 2000: about 30 s with
#                         llm.threads = 1, 100 s with 2 on a loaded 2-core machine)
#   KV_STRESS_SESSIONS    concurrent sessions (default 6)
set -uo pipefail
. "$(dirname "$0")/common.sh"

ITERATIONS=${KV_STRESS_ITERATIONS:-2000}
SESSIONS=${KV_STRESS_SESSIONS:-6}
PER_SESSION=$(((ITERATIONS + SESSIONS - 1) / SESSIONS))
LOG=${LLM_TEST_RUN:-}/server.log
PREFIX='The old blue kettle sang in the kitchen of the little house by the river, where a girl named Mia and her brother Tom were baking bread'
WORDS=(dog cat sun tree ball girl boy bird park cake rain moon fish box car)

# A prompt: half share the long prefix (prefix cache, copy-on-write).
prompt()
{
	local w=${WORDS[RANDOM % ${#WORDS[@]}]}
	if [ $((RANDOM % 2)) -eq 0 ]; then
		printf '%s. The %s' "$PREFIX" "$w"
	else
		printf 'Once upon a time, a %s' "$w"
	fi
}

# The SQL script of one session: PER_SESSION random statements.
session_script()
{
	local i r p mt
	echo "SET client_min_messages = error;"
	for i in $(seq 1 "$PER_SESSION"); do
		r=$((RANDOM % 100))
		p=$(prompt)
		mt=$((1 + RANDOM % 48))
		if [ $r -lt 40 ]; then
			# no timeout, or one that may fire in the middle
			if [ $((RANDOM % 3)) -eq 0 ]; then
				echo "SET statement_timeout = $((5 + RANDOM % 60));"
			else
				echo "SET statement_timeout = 0;"
			fi
			echo "SELECT length(llm_generate('$p', $mt, temperature => 0.7, seed => $i));"
		elif [ $r -lt 55 ]; then
			echo "SET statement_timeout = 0;"
			echo "SELECT llm_generate_stream('$p', 64) LIMIT $((1 + RANDOM % 4));"
		elif [ $r -lt 70 ]; then
			echo "SET statement_timeout = $((RANDOM % 2 * (10 + RANDOM % 80)));"
			echo "SELECT count(*) FROM llm_generate_n('$p', $((2 + RANDOM % 3)), $mt, seed => $i);"
		elif [ $r -lt 80 ]; then
			# an error in the query while a stream is half read
			echo "SET statement_timeout = 0;"
			echo "SELECT 1 / (4 - n) FROM (SELECT generate_series(1, 8) AS n, llm_generate_stream('$p', 48) AS piece) s;"
		elif [ $r -lt 90 ]; then
			# a subtransaction that aborts with a generation in it
			echo "SET statement_timeout = 0;"
			echo "BEGIN; SAVEPOINT s; SELECT llm_generate_stream('$p', 32) LIMIT 1; SELECT 1/0; ROLLBACK TO s; SELECT length(llm_generate('$p', 4)); COMMIT;"
		else
			# almost certainly times out
			echo "SET statement_timeout = $((1 + RANDOM % 20));"
			echo "SELECT llm_generate('$p', 300);"
		fi
	done
	echo "SET statement_timeout = 0;"
}

# Poll a SQL condition (true/false) for at most $2 seconds.
wait_sql()
{
	local i
	for i in $(seq 1 $(($2 * 10))); do
		[ "$(psql -XAtq -c "$1" 2>/dev/null)" = t ] && return 0
		sleep 0.1
	done
	return 1
}

ref=$(q "$GREEDY_SQL")
check "reference greedy generation" [ -n "$ref" ]
wpid0=$(worker_pid)
log0=0
[ -f "$LOG" ] && log0=$(wc -l <"$LOG")
read -r served0 cancel0 < <(psql -XAtq -F ' ' -c 'SELECT requests_served, cancellations FROM llm_stats')
read -r queries0 hits0 < <(psql -XAtq -F ' ' -c 'SELECT prefix_queries, prefix_hits FROM llm_kv_cache')
diag "$SESSIONS sessions x $PER_SESSION statements, chaos: cancels, killed and terminated clients"

start=$(date +%s)
pids=()
for s in $(seq 1 "$SESSIONS"); do
	session_script >"$T_TMP/s$s.sql"
	PGAPPNAME=kv_stress psql -Xq -f "$T_TMP/s$s.sql" >"$T_TMP/s$s.out" 2>"$T_TMP/s$s.err" &
	pids+=($!)
done

# Chaos while any session runs.
n_cancel=0
n_kill=0
n_term=0
round=0
alive()
{
	local p
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}
while alive; do
	round=$((round + 1))
	sleep "0.$((1 + RANDOM % 3))"
	victim=$(psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'kv_stress' AND state = 'active' ORDER BY random() LIMIT 1" 2>/dev/null)
	if [ -n "$victim" ]; then
		psql -XAtq -c "SELECT pg_cancel_backend($victim)" >/dev/null 2>&1 && n_cancel=$((n_cancel + 1))
	fi
	if [ $((round % 4)) -eq 0 ]; then
		# a client that goes away in the middle of a long generation
		PGAPPNAME=kv_stress_victim psql -XAtq -c "SELECT llm_generate('$(prompt)', 400)" >/dev/null 2>&1 &
		cpid=$!
		sleep "0.$((1 + RANDOM % 4))"
		if [ $((round % 8)) -eq 0 ]; then
			psql -XAtq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kv_stress_victim'" >/dev/null 2>&1
			n_term=$((n_term + 1))
		else
			kill -9 "$cpid" 2>/dev/null && n_kill=$((n_kill + 1))
		fi
		wait "$cpid" 2>/dev/null
	fi
done
fails=0
for p in "${pids[@]}"; do
	wait "$p" || fails=$((fails + 1))
done
elapsed=$(($(date +%s) - start))
diag "ran in ${elapsed}s: $n_cancel pg_cancel_backend, $n_kill killed clients, $n_term terminated"

check_eq "all $SESSIONS sessions ran their scripts to the end" "$fails" 0
errs=$(cat "$T_TMP"/s*.err | grep -E '^psql:.*ERROR' | sed -E 's/^psql:[^E]*ERROR: +//' | sort | uniq -c | sort -rn)
diag "errors seen (expected: cancels, timeouts, division by zero):"
printf '%s\n' "$errs" | head -n 8 | sed 's/^/#   /'
unexpected=$(printf '%s\n' "$errs" | grep -vE 'canceling statement|division by zero|^$|current transaction is aborted' || true)
check_eq "no unexpected error" "$unexpected" ""
read -r served1 cancel1 < <(psql -XAtq -F ' ' -c 'SELECT requests_served, cancellations FROM llm_stats')
check "many generations completed ($((served1 - served0)))" [ $((served1 - served0)) -ge $((ITERATIONS / 4)) ]
check "the worker saw cancellations ($((cancel1 - cancel0)))" [ $((cancel1 - cancel0)) -gt 0 ]
read -r queries1 hits1 < <(psql -XAtq -F ' ' -c 'SELECT prefix_queries, prefix_hits FROM llm_kv_cache')
check "the shared prefix hit the prefix cache ($((hits1 - hits0)) pages)" [ $((hits1 - hits0)) -gt 0 ]

# Killed clients are noticed within a second; give the worker some time.
if wait_sql "SELECT pages_used = 0 FROM llm_kv_cache" 30; then
	ok "llm_kv_cache.pages_used returned to 0"
else
	not_ok "llm_kv_cache.pages_used returned to 0"
	psql -X -c 'SELECT * FROM llm_kv_cache' -c 'SELECT * FROM llm_requests' | sed 's/^/#   /'
fi
check "llm_requests is empty" wait_sql "SELECT count(*) = 0 FROM llm_requests" 10
check_eq "page counts add up" \
	"$(q 'SELECT pages_used + pages_cached + pages_free = pages_total FROM llm_kv_cache')" t
check_eq "requests_running and requests_waiting are 0" \
	"$(q 'SELECT requests_running + requests_waiting FROM llm_stats')" 0
check_eq "the llm worker did not restart" "$(worker_pid)" "$wpid0"
if [ -f "$LOG" ]; then
	crash=$(tail -n +"$((log0 + 1))" "$LOG" | grep -E 'PANIC|TRAP|terminated by signal|was terminated|server process .* exited' | head -n 3)
	check_eq "no crash in the server log" "$crash" ""
fi
check_eq "greedy generation still gives the reference text" "$(q "$GREEDY_SQL")" "$ref"
# every slot is free again: max_requests generations at once all succeed
n=$(q "SELECT setting FROM pg_settings WHERE name = 'llm.max_requests'")
check_eq "llm_generate_n with n = llm.max_requests ($n) still runs" \
	"$(q "SELECT count(*) FROM llm_generate_n('Once', $n, 4)")" "$n"
check_eq "pages_used is 0 at the end" "$(q 'SELECT pages_used FROM llm_kv_cache')" 0
done_testing
