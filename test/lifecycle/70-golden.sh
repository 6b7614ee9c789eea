#!/usr/bin/env bash
# 70-golden.sh — byte-for-byte golden test through SQL: stories260K's greedy
# output from a BOS-only prompt (llm_generate('')) must equal the decoded
# text in $LLM_MODELS_DIR/stories260K/greedy_from_bos_200.txt, which was
# produced independently (200 argmax tokens, see the models README).
set -uo pipefail
. "$(dirname "$0")/common.sh"

GOLD=${LLM_MODELS_DIR:-}/stories260K/greedy_from_bos_200.txt
shape=$(q "SELECT concat_ws(',', i->>'n_vocab', i->>'n_layer', i->>'n_embd', i->>'n_head', i->>'n_head_kv') FROM llm_model_info() i")
if [ "$shape" != "512,5,64,8,4" ] || [ ! -r "$GOLD" ]; then
	echo "ok 1 # SKIP not the stories260K model ($shape) or no $GOLD"
	echo "1..1"
	exit 0
fi
# Line 1 is a comment, line 2 the token ids, the rest the decoded text.
want=$(tail -n +3 "$GOLD")
got=$(q "SELECT llm_generate('', 200)")
check_eq "greedy text from BOS equals the reference (200 tokens)" "$got" "$want"
got=$(q "SELECT string_agg(piece, '' ORDER BY n) FROM llm_generate_stream('', 200) WITH ORDINALITY AS s(piece, n)")
check_eq "llm_generate_stream pieces concatenate to the same text" "$got" "$want"
ids=$(sed -n 2p "$GOLD" | tr ' ' ',')
got=$(q "SELECT llm_detokenize('{$ids}'::int[])")
check_eq "llm_detokenize of the reference ids gives the reference text" "$got" "$want"
done_testing
