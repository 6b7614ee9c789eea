/*
 * fuzz_tokenizer_spm.c — libFuzzer target for the SentencePiece tokenizer
 * (default vocabulary: the Llama 2 SPM vocabulary); see
 * fuzz_tokenizer_common.h for the input format and the properties checked.
 */
#define FUZZ_DEFAULT_VOCAB "gguf/ggml-vocab-llama-spm.gguf"
#include "fuzz_tokenizer_common.h"
