#!/usr/bin/env bash
# 37-pack-weights.sh — llm.pack_weights: with a Q8_0 model (a random-weight
# tiny model made by build/llm-random-model with the stories260K vocabulary)
# the worker reports its packed copies in llm_model_info()->'packed_bytes'
# (on a CPU with AMX; 0 elsewhere), a reload with llm.pack_weights = off
# reopens the model without them, and generation works either way.
set -uo pipefail
. "$(dirname "$0")/common.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
Q8=$LLM_TEST_RUN/pack-q8_0.gguf

restore()
{
	psql -XAtq -c "ALTER SYSTEM RESET llm.model" -c "ALTER SYSTEM RESET llm.pack_weights" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap restore EXIT

# packed_is OP N: the test model is in use and [ packed_bytes OP N ] holds.
packed_is()
{
	local p
	p=$(model_info packed_bytes)
	[ "$(model_info n_embd)" = 256 ] && [ -n "$p" ] && [ "$p" "$1" "$2" ]
}

"$ROOT/build/llm-random-model" --shape tiny --dim 256 --hidden 512 --layers 2 --heads 4 \
	--kv-heads 2 --ctx 128 --type q8_0 --vocab "$LLM_TEST_MODEL" -o "$Q8" >/dev/null 2>&1
chmod 644 "$Q8" 2>/dev/null
check "made a Q8_0 test model" [ -r "$Q8" ]

if grep -q amx_int8 /proc/cpuinfo; then
	expect=-gt
else
	expect=-eq
fi
q "ALTER SYSTEM SET llm.model = '$Q8'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
check "the Q8_0 model is in use, packed_bytes $expect 0" wait_until 20 packed_is $expect 0
on=$(q_retry "SELECT llm_generate('Once upon a time', 16)" 10)
check "generation works with packed matrices" [ -n "$on" ]

q "ALTER SYSTEM SET llm.pack_weights = off" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
check "a reload with llm.pack_weights = off reopens the model without packed copies" \
	wait_until 20 packed_is -eq 0
off=$(q_retry "SELECT llm_generate('Once upon a time', 16)" 10)
check "generation works without them" [ -n "$off" ]
done_testing
