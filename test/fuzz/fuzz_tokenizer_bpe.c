/*
 * fuzz_tokenizer_bpe.c — libFuzzer target for the byte-level BPE tokenizer
 * (default vocabulary: GPT-2; LLM_FUZZ_VOCAB may name deepseek-coder or any
 * other "gpt2" vocabulary); see fuzz_tokenizer_common.h for the input
 * format and the properties checked.
 */
#define FUZZ_DEFAULT_VOCAB "vocab/ggml-vocab-gpt-2.gguf"
#include "fuzz_tokenizer_common.h"
