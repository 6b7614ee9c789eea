#!/usr/bin/env bash
# 35-model-swap.sh — changing llm.model to another valid model and reloading:
# a generation in flight fails with a clear error instead of hanging, the
# worker serves the new model (BabyLlama, a 105-token character vocabulary),
# and switching back restores the original greedy text.
set -uo pipefail
. "$(dirname "$0")/common.sh"

OTHER=${LLM_MODELS_DIR:-}/babyllama-tok105/babyllama-tok105-f32.gguf
if [ ! -r "$OTHER" ]; then
	echo "ok 1 # SKIP $OTHER not found"
	echo "1..1"
	exit 0
fi
# The server must be able to read it (the models may live under /root).
if ! as_owner test -r "$OTHER"; then
	cp "$OTHER" "$LLM_TEST_RUN/other.gguf" && chmod 644 "$LLM_TEST_RUN/other.gguf"
	OTHER=$LLM_TEST_RUN/other.gguf
fi

restore()
{
	psql -XAtq -c "ALTER SYSTEM RESET llm.model" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	psql -XAtq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'llm-swap-test'" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap restore EXIT

# client_ended: the long generation's psql has exited.
client_ended()
{
	! kill -0 "$client" 2>/dev/null
}

ref=$(q "$GREEDY_SQL")
check "greedy generation with the original model" [ -n "$ref" ]

LONG="SELECT count(llm_generate('Once', 400)) FROM generate_series(1, 100000)"
PGAPPNAME=llm-swap-test psql -XAtq -v VERBOSITY=verbose -c "$LONG" >/dev/null 2>"$T_TMP/err" &
client=$!
check "a long generation is running" \
	wait_until 10 sh -c "[ -n \"\$(psql -XAtq -c \"SELECT 1 FROM pg_stat_activity WHERE application_name = 'llm-swap-test' AND state = 'active'\")\" ]"
sleep 0.5

q "ALTER SYSTEM SET llm.model = '$OTHER'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
check "the in-flight generation ends within 15 s of the swap" wait_until 15 client_ended
wait "$client" 2>/dev/null
check "... with an ERROR" grep -q 'ERROR' "$T_TMP/err"
diag "$(grep -m1 ERROR "$T_TMP/err")"

check "the worker now serves the other model (n_vocab 105)" wait_until 20 model_info_is n_vocab 105
got=$(q "SELECT llm_generate('', 120)")
check "its greedy text is BabyLlama's story" \
	grep -q '^Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine' <<<"$got"
diag "$(head -c 100 <<<"$got")"
check_eq "its tokenizer has 105 tokens" \
	"$(q "SELECT max(t) < 105 FROM unnest(llm_tokenize('Once upon a time, there was a dog.')) t")" t

q "ALTER SYSTEM RESET llm.model" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
check "back to the original model (n_vocab 512)" wait_until 20 model_info_is n_vocab 512
check_eq "the original greedy text again" "$(q_retry "$GREEDY_SQL" 20)" "$ref"
done_testing
