#!/usr/bin/env bash
# 60-concurrency.sh — 20 sessions at once: every greedy result is identical
# to the single-session result (batched decoding must not mix sequences),
# and seeded sampling gives each session the single-session text too.
set -uo pipefail
. "$(dirname "$0")/common.sh"

N=20
ref=$(q "$GREEDY_SQL")
check "single-session greedy generation" [ -n "$ref" ]
SAMPLED="SELECT llm_generate('Once upon a time', 48, temperature => 0.9, top_k => 40, seed => 1234)"
sref=$(q "$SAMPLED")
check "single-session seeded sampling" [ -n "$sref" ]
served0=$(q 'SELECT requests_served FROM llm_stats')

pids=()
for i in $(seq 1 $N); do
	psql -XAtq -v ON_ERROR_STOP=1 -c "$GREEDY_SQL" >"$T_TMP/g.$i" 2>"$T_TMP/ge.$i" &
	pids+=($!)
	psql -XAtq -v ON_ERROR_STOP=1 -c "$SAMPLED" >"$T_TMP/s.$i" 2>"$T_TMP/se.$i" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do
	wait "$p" || fails=$((fails + 1))
done
check_eq "all $((2 * N)) concurrent sessions succeeded" "$fails" 0
[ "$fails" -eq 0 ] || cat "$T_TMP"/ge.* "$T_TMP"/se.* | sort | uniq -c | head -n 5 | sed 's/^/#   /'

same=0
for i in $(seq 1 $N); do
	[ "$(cat "$T_TMP/g.$i")" = "$ref" ] && same=$((same + 1))
done
check_eq "greedy: $N concurrent results identical to the single-session one" "$same" "$N"
same=0
for i in $(seq 1 $N); do
	[ "$(cat "$T_TMP/s.$i")" = "$sref" ] && same=$((same + 1))
done
check_eq "seeded sampling: $N concurrent results identical to the single-session one" "$same" "$N"

served1=$(q 'SELECT requests_served FROM llm_stats')
check "llm_stats counted the $((2 * N)) requests (served $served0 -> $served1)" \
	[ "$((served1 - served0))" -ge $((2 * N)) ]
check_eq "requests_running is 0 afterwards" "$(requests_running)" 0
done_testing
