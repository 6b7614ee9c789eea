#!/usr/bin/env bash
# test_cli.sh — llm-cli from the outside: greedy ids against the golden
# file, tokenize, the bench table (including -s, several sequences decoding
# together), and errors (exit 1 or 2 with a message, never a signal) for
# bad options and missing or truncated models.  Run by `make unit` like the
# C tests; prints "N passed, N failed".
set -u
CLI=${LLM_BUILD:-build}/llm-cli
MODELS=${LLM_MODELS_DIR:-../shared/models}
MODEL=$MODELS/stories260K/stories260K.gguf
GOLDEN=$MODELS/stories260K/greedy_from_bos_200.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

check()
{
	local what=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL test_cli: $what" >&2
	fi
}

# run CMD...: stdout to $TMP/out, stderr to $TMP/err, exit code in $rc
run()
{
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}

if [ ! -f "$MODEL" ]; then
	echo "SKIP test_cli: $MODEL absent" >&2
	echo "test_cli: 0 passed, 0 failed"
	exit 0
fi

# greedy from BOS = the golden ids (llama2.c's run on the same checkpoint)
run "$CLI" -m "$MODEL" -p "" -n 30 --ids
check "generate exits 0" [ "$rc" -eq 0 ]
want=$(grep -v '^#' "$GOLDEN" | head -n1 | cut -d' ' -f1-30)
got=$(head -n1 "$TMP/out" | grep -oE '^[0-9 ]+' | sed 's/ *$//')
check "greedy ids equal the golden file ($got)" [ "$got" = "$want" ]
check "generate reports speed on stderr" grep -q 'generation: 30 tokens' "$TMP/out" "$TMP/err"

# tokenize
run "$CLI" tokenize -m "$MODEL" -p "Once upon a time" --bos
check "tokenize exits 0" [ "$rc" -eq 0 ]
check "tokenize starts with BOS" grep -qE '^1( [0-9]+)+$' "$TMP/out"

# bench: one row per test, several sequences with -s
run "$CLI" bench -m "$MODEL" -p 16 -n 8 -t 1,2 -s 1,3 -r 1
check "bench exits 0" [ "$rc" -eq 0 ]
for t in 1 2; do
	for test in "pp16" "tg8" "tg8 x3"; do
		check "bench row threads=$t $test" \
			grep -qE "^\| [^|]+ \| [a-z0-9]+ \| off \| $t \| $test \| [0-9]+\.[0-9]+ \|$" "$TMP/out"
	done
done

# errors: a message and exit 1 (bad input) or 2 (usage), never a crash
run "$CLI" -p hi
check "no model: exit 2" [ "$rc" -eq 2 ]
check "no model: usage" grep -q 'usage:' "$TMP/err"
run "$CLI" -m "$TMP/absent.gguf" -p hi
check "missing model: exit 1" [ "$rc" -eq 1 ]
check "missing model: message" grep -q 'could not open model file' "$TMP/err"
head -c 1000 "$MODEL" >"$TMP/truncated.gguf"
run "$CLI" -m "$TMP/truncated.gguf" -p hi
check "truncated model: exit 1" [ "$rc" -eq 1 ]
check "truncated model: message" grep -q 'invalid gguf file' "$TMP/err"
run "$CLI" bench -m "$MODEL" -s 0
check "bench -s 0: exit 1" [ "$rc" -eq 1 ]
check "bench -s 0: message" grep -q 'bad list element 0' "$TMP/err"
run "$CLI" bench -m "$MODEL" -s 1,x
check "bench -s 1,x: exit 1" [ "$rc" -eq 1 ]
run "$CLI" bench -m "$MODEL" -n 1
check "bench -n 1: exit 1" [ "$rc" -eq 1 ]
run "$CLI" bench -m "$MODEL" -p 0 -n 0
check "bench -p 0 -n 0: exit 1" [ "$rc" -eq 1 ]
run "$CLI" bench -m "$MODEL" -p 8 -n 0 -r 1
check "bench -n 0: exit 0" [ "$rc" -eq 0 ]
check "bench -n 0: a prompt row" grep -q '| pp8 |' "$TMP/out"
check "bench -n 0: no generation row" bash -c "! grep -q '| tg' '$TMP/out'"
run "$CLI" -m "$MODEL" -p hi -n abc
check "bad -n: exit 2" [ "$rc" -eq 2 ]

echo "test_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
