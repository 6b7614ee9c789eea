#!/usr/bin/env bash
# 36-threads-reload.sh — llm.threads is a reload-time setting: after
# ALTER SYSTEM + pg_reload_conf() the worker reopens the engine with the new
# thread count (llm_model_info()->'threads'), and the results do not depend
# on it: greedy and seeded sampled texts are identical with 1 and 2 threads.
set -uo pipefail
. "$(dirname "$0")/common.sh"

restore()
{
	psql -XAtq -c "ALTER SYSTEM RESET llm.threads" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap restore EXIT

SAMPLED="SELECT llm_generate('Once upon a time', 64, temperature => 0.9, top_p => 0.9, seed => 77)"

# set_threads N: reload with llm.threads = N and wait until it is in use.
set_threads()
{
	q "ALTER SYSTEM SET llm.threads = $1" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	wait_until 20 model_info_is threads "$1"
}

check "reload to llm.threads = 1 takes effect" set_threads 1
g1=$(q_retry "$GREEDY_SQL" 10)
s1=$(q_retry "$SAMPLED" 10)
check "generation works with 1 thread" [ -n "$g1" ]
check "reload to llm.threads = 2 takes effect" set_threads 2
g2=$(q_retry "$GREEDY_SQL" 10)
s2=$(q_retry "$SAMPLED" 10)
check_eq "greedy text is the same with 1 and 2 threads" "$g2" "$g1"
check_eq "seeded sampled text is the same with 1 and 2 threads" "$s2" "$s1"
done_testing
