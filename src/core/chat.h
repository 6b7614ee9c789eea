/*
 * chat.h — rendering chat messages into a model's prompt format.
 *
 * A GGUF model carries its chat template as a Jinja string
 * (tokenizer.chat_template).  The engine does not run Jinja: like
 * llama.cpp, llm_chat_detect() recognises the template's family from
 * distinctive substrings, and llm_chat_render() writes that family's
 * published format with hand-written code.  Templates it cannot place give
 * LLM_CHAT_UNKNOWN (never a guess); the caller may then name a family
 * explicitly (llm_chat_family_from_name).
 *
 * Conventions of the rendered text:
 *   - The leading BOS is NOT written: tokenize the result with
 *     add_bos = llm_vocab_add_bos(v) and parse_special = true.  BOS and EOS
 *     that a format places inside the conversation (llama2's "</s><s>",
 *     mistral's "</s>" after each answer, zephyr's and phi3's end markers)
 *     are written as text, using the bos/eos strings passed in (NULL means
 *     the family's usual spelling, "" means leave it out).
 *   - Message content is copied as is (special tokens in it are not escaped)
 *     except where the family's template trims it (llama3, gemma, llama2).
 *   - Model-specific extras that some templates add are not reproduced:
 *     default system prompts (Qwen2.5, Mistral Small, ...), reasoning
 *     prefixes such as "<think>\n" after the generation prompt, tool
 *     preambles.  Pass a system message to get a system prompt.
 *
 * Families and their formats (S system, U user, A assistant, gen = the
 * generation prompt appended when add_generation_prompt):
 *   chatml       <|im_start|>role\nX<|im_end|>\n ...      gen <|im_start|>assistant\n
 *   llama2       [INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s><s>[INST] U [/INST]
 *   mistral-v1    [INST] S\n\nU [/INST] A</s> [INST] U [/INST] (S in the first U;
 *                each [INST] is preceded by a space, as SentencePiece saw it)
 *   mistral-v3   [INST] U[/INST] A</s>[INST] S\n\nU[/INST]     (S in the last U)
 *   mistral-v3-tekken  [INST]U[/INST]A</s>[INST]S\n\nU[/INST] (S in the last U)
 *   mistral-v7   [SYSTEM_PROMPT]S[/SYSTEM_PROMPT][INST]U[/INST]A</s>
 *   llama3       <|start_header_id|>role<|end_header_id|>\n\nX<|eot_id|>
 *                                         gen <|start_header_id|>assistant<|end_header_id|>\n\n
 *   llama3.1     llama3 behind a system turn that always starts with
 *                "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
 *   zephyr       <|role|>\nX</s>\n ...                    gen <|assistant|>\n
 *   gemma        <start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n
 *                                                         gen <start_of_turn>model\n
 *   phi3         <|role|>\nX<|end|>\n ...                 gen <|assistant|>\n, else EOS
 * Families without a system role (llama2, mistral v1/v3/v3-tekken, gemma)
 * merge the system message into a user turn and accept it only as the first
 * message.
 */
#ifndef LLM_CORE_CHAT_H
#define LLM_CORE_CHAT_H

#include "common.h"

typedef enum llm_chat_family
{
	LLM_CHAT_UNKNOWN = 0,
	LLM_CHAT_CHATML,			/* Qwen, SmolLM, Hermes, ... */
	LLM_CHAT_LLAMA2,			/* Llama 2 chat */
	LLM_CHAT_MISTRAL_V1,		/* Mistral 7B v0.1/v0.2 */
	LLM_CHAT_MISTRAL_V3,		/* Mistral 7B v0.3, Mixtral 8x22B */
	LLM_CHAT_MISTRAL_V3_TEKKEN, /* Mistral Nemo */
	LLM_CHAT_MISTRAL_V7,		/* Mistral Small 3.x, Devstral, Ministral 3 */
	LLM_CHAT_LLAMA3,			/* Llama 3.0 */
	LLM_CHAT_LLAMA31,			/* Llama 3.1/3.2/3.3 */
	LLM_CHAT_ZEPHYR,
	LLM_CHAT_GEMMA,				/* Gemma 1/2/3 */
	LLM_CHAT_PHI3,				/* Phi-3, Phi-3.5 */
	LLM_CHAT_N_FAMILIES
} llm_chat_family;

typedef struct llm_chat_msg
{
	const char *role;			/* "system", "user" or "assistant" */
	const char *content;		/* NUL-terminated UTF-8 */
} llm_chat_msg;

/* Family of a Jinja chat template (NULL or unrecognised: UNKNOWN). */
llm_chat_family llm_chat_detect(const char *tmpl);

/*
 * Family from its name ("chatml", "llama3", "mistral-v7", ...; case
 * insensitive), for an explicit override; UNKNOWN if no family has it.
 */
llm_chat_family llm_chat_family_from_name(const char *name);

/* Name of a family ("unknown" for UNKNOWN or out-of-range values). */
const char *llm_chat_family_name(llm_chat_family f);

/* All family names, comma-separated, for error hints. */
const char *llm_chat_family_list(void);

/*
 * Render n messages (and the assistant prompt prefix when
 * add_generation_prompt) into a malloc'd NUL-terminated string *out (the
 * caller frees it).  Roles other than system, user and assistant, NULL
 * roles or contents, and misplaced system messages give
 * LLM_ERR_INVALID_ARG; an UNKNOWN family gives LLM_ERR_UNSUPPORTED.
 */
llm_status	llm_chat_render(llm_chat_family f, const llm_chat_msg *msgs, int n,
							bool add_generation_prompt, const char *bos,
							const char *eos, char **out, llm_error *err);

#endif							/* LLM_CORE_CHAT_H */
