#!/usr/bin/env bash
# 30-missing-model.sh — llm.model pointing at a missing file: calls fail
# with the documented error naming the file (55000 or 58P01), the worker
# does not crash-loop (same pid, same postmaster start time), and setting
# the real model back and reloading makes generation work again.
set -uo pipefail
. "$(dirname "$0")/common.sh"

BAD=/nonexistent.gguf

# Always put the real model back, even if this script fails half-way.
restore()
{
	psql -XAtq -c "ALTER SYSTEM RESET llm.model" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap restore EXIT

ref=$(q "$GREEDY_SQL")
check "greedy generation with the real model" [ -n "$ref" ]
started=$(q "SELECT pg_postmaster_start_time()")

q "ALTER SYSTEM SET llm.model = '$BAD'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

# The worker swaps models after the reload: poll until calls fail.
err=""
for i in $(seq 1 100); do
	err=$(q_error "SELECT llm_generate('Once', 8)")
	[ -n "$err" ] && break
	sleep 0.1
done
diag "error: $err"
code=${err%% *}
documented=false
[ "$code" = 55000 ] || [ "$code" = 58P01 ] && documented=true
check "llm_generate fails after llm.model = '$BAD' (got SQLSTATE ${code:-none})" $documented
check "the error message names the file" grep -qF "$BAD" <<<"$err"
check_eq "llm_stats shows no loaded model" "$(q 'SELECT model_loaded FROM llm_stats')" f

w1=$(worker_pid)
sleep 3
err2=$(q_error "SELECT llm_generate('Once', 8)")
w2=$(worker_pid)
stable=false
[ -n "$w1" ] && [ "$w1" = "$w2" ] && stable=true
check "the worker is alive and not restarting (pid $w1 then $w2)" $stable
check_eq "no crash restart of the cluster" "$(q 'SELECT pg_postmaster_start_time()')" "$started"
check_eq "the same error on the next call" "${err2%% *}" "$code"

q "ALTER SYSTEM RESET llm.model" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
after=""
for i in $(seq 1 150); do
	after=$(psql -XAtq -c "$GREEDY_SQL" 2>/dev/null) && [ -n "$after" ] && break
	sleep 0.2
done
check_eq "generation works again with the real model (same greedy text)" "$after" "$ref"
check_eq "llm_stats shows the model loaded" \
	"$(q "SELECT model_loaded, model_path = current_setting('llm.model') FROM llm_stats")" "t|t"
done_testing
