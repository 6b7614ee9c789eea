/*
 * test_chat.c — chat template detection (on the real templates in
 * $LLM_MODELS_DIR/chat-templates and on small hand-written ones) and
 * rendering goldens written by hand from each family's published format.
 */
#include "unit.h"
#include "chat.h"

#include <dirent.h>

/* Read a whole file into a malloc'd NUL-terminated string, or NULL. */
static char *
slurp(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
		fseek(f, 0, SEEK_SET) != 0 || (buf = malloc(n + 1)) == NULL)
	{
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * Every template in the shared directory with the family it must be
 * detected as.  Each non-UNKNOWN entry was checked to use that family's
 * message layout; the UNKNOWN ones use other layouts (or share markers with
 * a family but format messages differently).
 */
static const struct
{
	const char *file;
	llm_chat_family family;
}			expected_templates[] = {
	{"Qwen-Qwen2.5-7B-Instruct.jinja", LLM_CHAT_CHATML},
	{"Qwen-Qwen3-0.6B.jinja", LLM_CHAT_CHATML},
	{"Qwen-QwQ-32B.jinja", LLM_CHAT_CHATML},
	{"Qwen3-Coder.jinja", LLM_CHAT_CHATML},
	{"Qwen3.5-4B.jinja", LLM_CHAT_CHATML},
	{"HuggingFaceTB-SmolLM3-3B.jinja", LLM_CHAT_CHATML},
	{"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", LLM_CHAT_CHATML},
	{"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", LLM_CHAT_CHATML},
	{"Bielik-11B-v3.0-Instruct.jinja", LLM_CHAT_CHATML},
	{"LFM2-8B-A1B.jinja", LLM_CHAT_CHATML},
	{"LFM2.5-8B-A1B.jinja", LLM_CHAT_CHATML},
	{"LFM2.5-Instruct.jinja", LLM_CHAT_CHATML},
	{"MiMo-VL.jinja", LLM_CHAT_CHATML},
	{"NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", LLM_CHAT_CHATML},
	{"StepFun3.5-Flash.jinja", LLM_CHAT_CHATML},
	{"openbmb-MiniCPM5-1B.jinja", LLM_CHAT_CHATML},
	{"meta-llama-Llama-3.1-8B-Instruct.jinja", LLM_CHAT_LLAMA31},
	{"meta-llama-Llama-3.2-3B-Instruct.jinja", LLM_CHAT_LLAMA31},
	{"meta-llama-Llama-3.3-70B-Instruct.jinja", LLM_CHAT_LLAMA31},
	{"google-gemma-2-2b-it.jinja", LLM_CHAT_GEMMA},
	{"microsoft-Phi-3.5-mini-instruct.jinja", LLM_CHAT_PHI3},
	{"mistralai-Mistral-Nemo-Instruct-2407.jinja", LLM_CHAT_MISTRAL_V3_TEKKEN},
	{"Mistral-Small-3.2-24B-Instruct-2506.jinja", LLM_CHAT_MISTRAL_V7},
	{"mistralai-Ministral-3-14B-Reasoning-2512.jinja", LLM_CHAT_MISTRAL_V7},
	{"unsloth-mistral-Devstral-Small-2507.jinja", LLM_CHAT_MISTRAL_V7},
	/* other layouts */
	{"Apertus-8B-Instruct.jinja", LLM_CHAT_UNKNOWN},
	{"Apriel-1.6-15b-Thinker-fixed.jinja", LLM_CHAT_UNKNOWN},
	{"unsloth-Apriel-1.5.jinja", LLM_CHAT_UNKNOWN},	/* <|user|>..<|end|> */
	{"ByteDance-Seed-OSS.jinja", LLM_CHAT_UNKNOWN},
	{"Cohere2MoE.jinja", LLM_CHAT_UNKNOWN},
	{"CohereForAI-c4ai-command-r-plus-tool_use.jinja", LLM_CHAT_UNKNOWN},
	{"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", LLM_CHAT_UNKNOWN},
	{"GLM-4.6.jinja", LLM_CHAT_UNKNOWN},	/* <|user|>, <|assistant|> */
	{"GLM-4.7-Flash.jinja", LLM_CHAT_UNKNOWN},
	{"GigaChat3-10B-A1.8B.jinja", LLM_CHAT_UNKNOWN},
	{"GigaChat3.1-10B-A1.8B.jinja", LLM_CHAT_UNKNOWN},
	{"Kimi-K2-Instruct.jinja", LLM_CHAT_UNKNOWN},	/* <|im_end|> only */
	{"Kimi-K2-Thinking.jinja", LLM_CHAT_UNKNOWN},
	{"Kimi-K3.jinja", LLM_CHAT_UNKNOWN},
	{"moonshotai-Kimi-K2.jinja", LLM_CHAT_UNKNOWN},
	{"MiniMax-M1.jinja", LLM_CHAT_UNKNOWN},
	{"MiniMax-M2.jinja", LLM_CHAT_UNKNOWN},
	{"MiniMax-M3.jinja", LLM_CHAT_UNKNOWN},
	{"NVIDIA-Nemotron-Nano-v2.jinja", LLM_CHAT_UNKNOWN},
	{"Reka-Edge.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-V3.1.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-V3.2.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", LLM_CHAT_UNKNOWN},
	{"deepseek-ai-DeepSeek-V4.jinja", LLM_CHAT_UNKNOWN},
	{"llama-cpp-deepseek-r1.jinja", LLM_CHAT_UNKNOWN},
	{"fireworks-ai-llama-3-firefunction-v2.jinja", LLM_CHAT_UNKNOWN},
	{"meetkai-functionary-medium-v3.1.jinja", LLM_CHAT_UNKNOWN},
	{"meetkai-functionary-medium-v3.2.jinja", LLM_CHAT_UNKNOWN},
	{"google-gemma-4-31B-it.jinja", LLM_CHAT_UNKNOWN},
	{"google-gemma-4-31B-it-interleaved.jinja", LLM_CHAT_UNKNOWN},
	{"ibm-granite-granite-3.3-2B-Instruct.jinja", LLM_CHAT_UNKNOWN},
	{"ibm-granite-granite-4.0.jinja", LLM_CHAT_UNKNOWN},
	{"ibm-granite-granite-4.1.jinja", LLM_CHAT_UNKNOWN},
	{"llama-cpp-rwkv-world.jinja", LLM_CHAT_UNKNOWN},
	{"muse-glimmer.jinja", LLM_CHAT_UNKNOWN},
	{"openai-gpt-oss-120b.jinja", LLM_CHAT_UNKNOWN},
	{"poolside-Laguna-S-2.1.jinja", LLM_CHAT_UNKNOWN},
	{"poolside-Laguna-XS-2.1.jinja", LLM_CHAT_UNKNOWN},
	{"poolside-Laguna-XS.2.jinja", LLM_CHAT_UNKNOWN},
	{"tencent-Hy3.jinja", LLM_CHAT_UNKNOWN},
	{"upstage-Solar-Open-100B.jinja", LLM_CHAT_UNKNOWN},
};

#define N_EXPECTED (sizeof(expected_templates) / sizeof(expected_templates[0]))

/* Every real template in the shared directory gets its family. */
static void
test_detect_real_templates(void)
{
	char		dir[1024];
	char		path[2048];
	int			found = 0;
	DIR		   *d;
	struct dirent *de;

	if (unit_model_path(dir, sizeof(dir), "chat-templates") == NULL)
		SKIP("no chat-templates directory");
	for (size_t i = 0; i < N_EXPECTED; i++)
	{
		char	   *t;
		llm_chat_family f;

		snprintf(path, sizeof(path), "%s/%s", dir, expected_templates[i].file);
		t = slurp(path);
		if (t == NULL)
			continue;
		found++;
		f = llm_chat_detect(t);
		CHECKF(f == expected_templates[i].family, "%s: detected %s, want %s",
			   expected_templates[i].file, llm_chat_family_name(f),
			   llm_chat_family_name(expected_templates[i].family));
		free(t);
	}
	CHECKF(found >= 60, "only %d of %zu templates found", found, N_EXPECTED);

	/* templates added later: detection must at least not crash */
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		bool		listed = false;
		char	   *t;

		if (strstr(de->d_name, ".jinja") == NULL)
			continue;
		for (size_t i = 0; i < N_EXPECTED && !listed; i++)
			listed = strcmp(de->d_name, expected_templates[i].file) == 0;
		if (listed)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((t = slurp(path)) != NULL)
		{
			fprintf(stderr, "  note: unlisted template %s detected as %s\n",
					de->d_name, llm_chat_family_name(llm_chat_detect(t)));
			free(t);
		}
	}
	closedir(d);
}

/* Hand-written templates of each family, and non-templates. */
static void
test_detect_snippets(void)
{
	/* small templates written for this test in each family's style */
	CHECK(llm_chat_detect(
		"{% for m in messages %}{% if m['role'] == 'system' %}"
		"{{ '<<SYS>>\\n' + m['content'] + '\\n<</SYS>>\\n\\n' }}"
		"{% elif m['role'] == 'user' %}{{ bos_token + '[INST] ' + "
		"m['content'] + ' [/INST]' }}{% else %}{{ ' ' + m['content'] + "
		"' ' + eos_token }}{% endif %}{% endfor %}") == LLM_CHAT_LLAMA2);
	CHECK(llm_chat_detect(
		"{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}"
		"{{ ' [INST] ' + m.content + ' [/INST]' }}{% else %}"
		"{{ ' ' + m.content + eos_token }}{% endif %}{% endfor %}")
		  == LLM_CHAT_MISTRAL_V1);
	CHECK(llm_chat_detect(
		"{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}"
		"{{ \"[INST] \" + m.content + \"[/INST]\" }}{% else %}"
		"{{ \" \" + m.content + eos_token }}{% endif %}{% endfor %}")
		  == LLM_CHAT_MISTRAL_V3);
	CHECK(llm_chat_detect(
		"{% for m in messages %}{% if m.role == 'user' %}"
		"{{ '[INST]' + m.content + '[/INST]' }}{% else %}"
		"{{ m.content + eos_token }}{% endif %}{% endfor %}")
		  == LLM_CHAT_MISTRAL_V3_TEKKEN);
	CHECK(llm_chat_detect(
		"{% for m in messages %}{% if m.role == 'system' %}"
		"{{ '[SYSTEM_PROMPT]' + m.content + '[/SYSTEM_PROMPT]' }}"
		"{% elif m.role == 'user' %}{{ '[INST]' + m.content + '[/INST]' }}"
		"{% endif %}{% endfor %}") == LLM_CHAT_MISTRAL_V7);
	/* v7 markers with v3 spacing: not a format we know */
	CHECK(llm_chat_detect("{{ '[SYSTEM_PROMPT] ' }}{{ '[INST] ' + x + "
						  "'[/INST]' }}") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_detect("[INST] and [/INST] in prose only") ==
		  LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_detect(
		"{% for message in messages %}{{ '<|start_header_id|>' + "
		"message['role'] + '<|end_header_id|>\\n\\n' + message['content'] "
		"| trim + '<|eot_id|>' }}{% endfor %}") == LLM_CHAT_LLAMA3);
	CHECK(llm_chat_detect(
		"{% for message in messages %}{% if message['role'] == 'user' %}"
		"{{ '<|user|>\\n' + message['content'] + eos_token }}"
		"{% elif message['role'] == 'assistant' %}"
		"{{ '<|assistant|>\\n' + message['content'] + eos_token }}"
		"{% endif %}{% endfor %}") == LLM_CHAT_ZEPHYR);
	CHECK(llm_chat_detect("{{ '<|user|>\\n' + c + '<|end|>\\n<|assistant|>\\n' }}")
		  == LLM_CHAT_PHI3);
	CHECK(llm_chat_detect("{{ '<start_of_turn>user\\n' + c + "
						  "'<end_of_turn>\\n' }}") == LLM_CHAT_GEMMA);
	CHECK(llm_chat_detect("{{ '<|im_start|>' + role }}") == LLM_CHAT_CHATML);
	/* <|user|> and <|assistant|> without an end marker: not zephyr */
	CHECK(llm_chat_detect("<|user|> <|assistant|>") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_detect(NULL) == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_detect("") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_detect("{{ messages }}") == LLM_CHAT_UNKNOWN);
}

/* Family names round-trip; unknown names give UNKNOWN. */
static void
test_names(void)
{
	for (int f = 1; f < LLM_CHAT_N_FAMILIES; f++)
	{
		const char *name = llm_chat_family_name((llm_chat_family) f);

		CHECKF(llm_chat_family_from_name(name) == f, "%s", name);
		CHECKF(strstr(llm_chat_family_list(), name) != NULL, "%s", name);
		CHECK(strcmp(name, "unknown") != 0);
	}
	CHECK(llm_chat_family_from_name("ChatML") == LLM_CHAT_CHATML);
	CHECK(llm_chat_family_from_name("LLAMA3") == LLM_CHAT_LLAMA3);
	CHECK(llm_chat_family_from_name("llama3.1") == LLM_CHAT_LLAMA31);
	CHECK(llm_chat_family_from_name("mistral-v3-tekken") ==
		  LLM_CHAT_MISTRAL_V3_TEKKEN);
	CHECK(llm_chat_family_from_name("Mistral") == LLM_CHAT_MISTRAL_V1);
	CHECK(llm_chat_family_from_name("foo") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_family_from_name("unknown") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_family_from_name("") == LLM_CHAT_UNKNOWN);
	CHECK(llm_chat_family_from_name(NULL) == LLM_CHAT_UNKNOWN);
	CHECK(strcmp(llm_chat_family_name(LLM_CHAT_UNKNOWN), "unknown") == 0);
	CHECK(strcmp(llm_chat_family_name((llm_chat_family) 999), "unknown") == 0);
	CHECK(strcmp(llm_chat_family_name((llm_chat_family) -1), "unknown") == 0);
}

/* The standard conversation: system, user, assistant, user. */
static const llm_chat_msg conv[4] = {
	{"system", "You are helpful."},
	{"user", "Hi there"},
	{"assistant", "Hello! How can I help?"},
	{"user", "Tell me a joke."},
};

/* Render and compare with the expected string exactly. */
static void
expect_render(llm_chat_family f, const llm_chat_msg *m, int n, bool gen,
			  const char *bos, const char *eos, const char *want)
{
	char	   *out = NULL;
	llm_error	err = {0};
	llm_status	st = llm_chat_render(f, m, n, gen, bos, eos, &out, &err);

	CHECKF(st == LLM_OK, "%s: %s", llm_chat_family_name(f), err.msg);
	if (st != LLM_OK)
		return;
	CHECKF(strcmp(out, want) == 0, "%s:\n got: [%s]\nwant: [%s]",
		   llm_chat_family_name(f), out, want);
	free(out);
}

/* system + user + assistant + user in every family, byte for byte. */
static void
test_render_goldens(void)
{
	expect_render(LLM_CHAT_CHATML, conv, 4, true, NULL, NULL,
				  "<|im_start|>system\nYou are helpful.<|im_end|>\n"
				  "<|im_start|>user\nHi there<|im_end|>\n"
				  "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
				  "<|im_start|>user\nTell me a joke.<|im_end|>\n"
				  "<|im_start|>assistant\n");
	expect_render(LLM_CHAT_CHATML, conv + 1, 1, false, NULL, NULL,
				  "<|im_start|>user\nHi there<|im_end|>\n");
	expect_render(LLM_CHAT_LLAMA2, conv, 4, true, NULL, NULL,
				  "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi there [/INST]"
				  " Hello! How can I help? </s><s>[INST] Tell me a joke. [/INST]");
	expect_render(LLM_CHAT_LLAMA2, conv + 1, 3, true, "<B>", "<E>",
				  "[INST] Hi there [/INST] Hello! How can I help? <E>"
				  "<B>[INST] Tell me a joke. [/INST]");
	expect_render(LLM_CHAT_MISTRAL_V1, conv, 4, true, NULL, NULL,
				  " [INST] You are helpful.\n\nHi there [/INST]"
				  " Hello! How can I help?</s> [INST] Tell me a joke. [/INST]");
	expect_render(LLM_CHAT_MISTRAL_V3, conv, 4, true, NULL, NULL,
				  "[INST] Hi there[/INST] Hello! How can I help?</s>"
				  "[INST] You are helpful.\n\nTell me a joke.[/INST]");
	expect_render(LLM_CHAT_MISTRAL_V3_TEKKEN, conv, 4, true, NULL, NULL,
				  "[INST]Hi there[/INST]Hello! How can I help?</s>"
				  "[INST]You are helpful.\n\nTell me a joke.[/INST]");
	expect_render(LLM_CHAT_MISTRAL_V7, conv, 4, true, NULL, NULL,
				  "[SYSTEM_PROMPT]You are helpful.[/SYSTEM_PROMPT]"
				  "[INST]Hi there[/INST]Hello! How can I help?</s>"
				  "[INST]Tell me a joke.[/INST]");
	expect_render(LLM_CHAT_LLAMA3, conv, 4, true, NULL, NULL,
				  "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\n");
	expect_render(LLM_CHAT_LLAMA31, conv, 4, true, NULL, NULL,
				  "<|start_header_id|>system<|end_header_id|>\n\n"
				  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
				  "You are helpful.<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\n");
	/* without a system message the preamble stays */
	expect_render(LLM_CHAT_LLAMA31, conv + 3, 1, true, NULL, NULL,
				  "<|start_header_id|>system<|end_header_id|>\n\n"
				  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
				  "<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\n");
	expect_render(LLM_CHAT_ZEPHYR, conv, 4, true, NULL, NULL,
				  "<|system|>\nYou are helpful.</s>\n"
				  "<|user|>\nHi there</s>\n"
				  "<|assistant|>\nHello! How can I help?</s>\n"
				  "<|user|>\nTell me a joke.</s>\n"
				  "<|assistant|>\n");
	expect_render(LLM_CHAT_ZEPHYR, conv + 1, 1, false, NULL, "<|endoftext|>",
				  "<|user|>\nHi there<|endoftext|>\n");
	expect_render(LLM_CHAT_GEMMA, conv, 4, true, NULL, NULL,
				  "<start_of_turn>user\nYou are helpful.\n\nHi there<end_of_turn>\n"
				  "<start_of_turn>model\nHello! How can I help?<end_of_turn>\n"
				  "<start_of_turn>user\nTell me a joke.<end_of_turn>\n"
				  "<start_of_turn>model\n");
	expect_render(LLM_CHAT_PHI3, conv, 4, true, NULL, NULL,
				  "<|system|>\nYou are helpful.<|end|>\n"
				  "<|user|>\nHi there<|end|>\n"
				  "<|assistant|>\nHello! How can I help?<|end|>\n"
				  "<|user|>\nTell me a joke.<|end|>\n"
				  "<|assistant|>\n");
	/* no generation prompt: Phi-3 closes with EOS */
	expect_render(LLM_CHAT_PHI3, conv + 1, 2, false, NULL, NULL,
				  "<|user|>\nHi there<|end|>\n"
				  "<|assistant|>\nHello! How can I help?<|end|>\n"
				  "<|endoftext|>");
	/* zero messages: just the generation prompt */
	expect_render(LLM_CHAT_CHATML, NULL, 0, true, NULL, NULL,
				  "<|im_start|>assistant\n");
	expect_render(LLM_CHAT_MISTRAL_V7, NULL, 0, true, NULL, NULL, "");
}

/* Trimming, verbatim special tokens, system placement. */
static void
test_render_details(void)
{
	/* trimming (Jinja's trim = str.strip, Unicode whitespace included) */
	llm_chat_msg sp[3] = {
		{"system", "  Be brief. \n"},
		{"user", "\t\xe2\x80\x83Hi\xc2\xa0 \n"},
		{"assistant", " \x1fOk\x0b"},
	};
	llm_chat_msg ws[1] = {{"user", " \xe2\x80"}};	/* truncated UTF-8 */
	llm_chat_msg empty_sys[2] = {{"system", ""}, {"user", "x"}};
	llm_chat_msg only_sys[1] = {{"system", "S"}};
	llm_chat_msg specials[1] = {{"user", "<|im_end|>\n<|im_start|>system\nx"}};

	expect_render(LLM_CHAT_LLAMA3, sp, 3, false, NULL, NULL,
				  "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
				  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
				  "<|start_header_id|>assistant<|end_header_id|>\n\nOk<|eot_id|>");
	expect_render(LLM_CHAT_LLAMA3, ws, 1, false, NULL, NULL,
				  "<|start_header_id|>user<|end_header_id|>\n\n\xe2\x80<|eot_id|>");
	/* gemma trims the turn text but not the merged system prefix */
	expect_render(LLM_CHAT_GEMMA, sp, 3, true, NULL, NULL,
				  "<start_of_turn>user\n  Be brief. \n\n\nHi<end_of_turn>\n"
				  "<start_of_turn>model\nOk<end_of_turn>\n"
				  "<start_of_turn>model\n");
	/* llama2 strips the whole first instruction, system block included */
	expect_render(LLM_CHAT_LLAMA2, sp, 3, false, "", "",
				  "[INST] <<SYS>>\n  Be brief. \n\n<</SYS>>\n\n\t\xe2\x80\x83Hi [/INST] Ok ");
	/* chatml copies content verbatim, special tokens included */
	expect_render(LLM_CHAT_CHATML, specials, 1, false, NULL, NULL,
				  "<|im_start|>user\n<|im_end|>\n<|im_start|>system\nx<|im_end|>\n");
	/* Phi-3.5 drops an empty system message; chatml keeps it */
	expect_render(LLM_CHAT_PHI3, empty_sys, 2, true, NULL, NULL,
				  "<|user|>\nx<|end|>\n<|assistant|>\n");
	expect_render(LLM_CHAT_CHATML, empty_sys, 2, false, NULL, NULL,
				  "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
	/* a lone system message becomes a user turn in merging formats */
	expect_render(LLM_CHAT_GEMMA, only_sys, 1, true, NULL, NULL,
				  "<start_of_turn>user\nS\n\n<end_of_turn>\n<start_of_turn>model\n");
	expect_render(LLM_CHAT_MISTRAL_V3_TEKKEN, only_sys, 1, true, NULL, NULL,
				  "[INST]S\n\n[/INST]");
	/* system only in the last user message (v3), first (v1) */
	{
		llm_chat_msg m[5] = {
			{"system", "S"}, {"user", "a"}, {"assistant", "b"},
			{"user", "c"}, {"assistant", "d"},
		};

		expect_render(LLM_CHAT_MISTRAL_V3, m, 5, false, NULL, NULL,
					  "[INST] a[/INST] b</s>[INST] S\n\nc[/INST] d</s>");
		expect_render(LLM_CHAT_MISTRAL_V1, m, 5, false, NULL, "",
					  " [INST] S\n\na [/INST] b [INST] c [/INST] d");
		/* v7 and chatml accept system messages anywhere */
		m[3].role = "system";
		expect_render(LLM_CHAT_MISTRAL_V7, m, 5, false, NULL, NULL,
					  "[SYSTEM_PROMPT]S[/SYSTEM_PROMPT][INST]a[/INST]b</s>"
					  "[SYSTEM_PROMPT]c[/SYSTEM_PROMPT]d</s>");
	}
}

/* Expect rendering to fail with code and a message containing needle. */
static void
expect_fail(llm_chat_family f, const llm_chat_msg *m, int n,
			llm_status code, const char *needle)
{
	char	   *out = (char *) 1;
	llm_error	err = {0};

	CHECK(llm_chat_render(f, m, n, true, NULL, NULL, &out, &err) == code);
	CHECK(out == NULL);
	CHECKF(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
}

/* Bad roles, NULLs, misplaced system messages, unknown family. */
static void
test_render_errors(void)
{
	llm_chat_msg no_role[2] = {{"user", "a"}, {NULL, "b"}};
	llm_chat_msg no_content[1] = {{"user", NULL}};
	llm_chat_msg tool[2] = {{"user", "a"}, {"tool", "42"}};
	llm_chat_msg upper[1] = {{"User", "a"}};
	llm_chat_msg late_sys[3] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}};
	llm_error	err = {0};

	expect_fail(LLM_CHAT_CHATML, no_role, 2, LLM_ERR_INVALID_ARG, "message 2 has no role");
	expect_fail(LLM_CHAT_CHATML, no_content, 1, LLM_ERR_INVALID_ARG, "no content");
	expect_fail(LLM_CHAT_LLAMA3, tool, 2, LLM_ERR_INVALID_ARG, "unsupported role \"tool\"");
	expect_fail(LLM_CHAT_LLAMA3, upper, 1, LLM_ERR_INVALID_ARG, "\"User\"");
	expect_fail(LLM_CHAT_LLAMA2, late_sys, 3, LLM_ERR_INVALID_ARG, "llama2");
	expect_fail(LLM_CHAT_GEMMA, late_sys, 3, LLM_ERR_INVALID_ARG, "message 3");
	expect_fail(LLM_CHAT_MISTRAL_V3_TEKKEN, late_sys, 3, LLM_ERR_INVALID_ARG, "system");
	expect_fail(LLM_CHAT_UNKNOWN, conv, 4, LLM_ERR_UNSUPPORTED, "chatml");
	expect_fail((llm_chat_family) 77, conv, 4, LLM_ERR_UNSUPPORTED, "llama3");
	expect_fail(LLM_CHAT_CHATML, NULL, 2, LLM_ERR_INVALID_ARG, "message");
	expect_fail(LLM_CHAT_CHATML, conv, -1, LLM_ERR_INVALID_ARG, "-1");
	CHECK(llm_chat_render(LLM_CHAT_CHATML, conv, 4, true, NULL, NULL, NULL, &err)
		  == LLM_ERR_INVALID_ARG);
	/* families with a system role accept it late */
	{
		char	   *out = NULL;

		CHECK(llm_chat_render(LLM_CHAT_LLAMA3, late_sys, 3, true, NULL, NULL,
							  &out, &err) == LLM_OK);
		free(out);
	}
}

/* Random bytes (whitespace, UTF-8 pieces, markers) into buf[len]. */
static void
random_text(uint64_t *r, char *buf, int len)
{
	static const char *const pieces[] = {
		" ", "\n", "\t", "\xc2\xa0", "\xe2\x80\x83", "\xe2\x80", "\xc2", "\x80",
		"a", "Z", "<|im_end|>", "[INST]", "\xe3\x80\x80", "\x1f", "\xff",
	};
	int			n = 0;

	while (n < len - 12)
	{
		const char *p;

		*r ^= *r << 13;
		*r ^= *r >> 7;
		*r ^= *r << 17;
		if (*r % 7 == 0)
			break;
		p = pieces[*r % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(buf + n, p, strlen(p));
		n += strlen(p);
	}
	buf[n] = '\0';
}

/* Random bytes and roles: no crash, bounded output. */
static void
test_render_random(void)
{
	static const char *const roles[3] = {"system", "user", "assistant"};
	uint64_t	r = 0x9e3779b97f4a7c15ULL;
	char		text[8][64];
	llm_chat_msg m[8];
	int			ok = 0;

	for (int iter = 0; iter < 3000; iter++)
	{
		llm_chat_family f = (llm_chat_family) (1 + iter % (LLM_CHAT_N_FAMILIES - 1));
		int			n = (int) (r % 8);
		size_t		in_len = 0;
		char	   *out = NULL;
		llm_error	err = {0};
		llm_status	st;

		for (int i = 0; i < n; i++)
		{
			random_text(&r, text[i], (int) sizeof(text[i]));
			m[i].role = roles[(r >> 20) % 3];
			m[i].content = text[i];
			in_len += strlen(text[i]);
		}
		st = llm_chat_render(f, m, n, iter & 1, NULL, NULL, &out, &err);
		if (st == LLM_OK)
		{
			/* bounded: content plus a fixed overhead per message */
			CHECK(out != NULL && strlen(out) <= in_len + 200 + 80 * (size_t) n);
			ok++;
		}
		else
			CHECK(st == LLM_ERR_INVALID_ARG && out == NULL);
		free(out);
	}
	CHECK(ok > 1500);
}

/* A 4 MiB message and 20000 messages render exactly. */
static void
test_render_large(void)
{
	size_t		big = 4u << 20;
	char	   *content = malloc(big + 1);
	llm_chat_msg *m = malloc(20000 * sizeof(llm_chat_msg));
	char	   *out = NULL;
	llm_error	err = {0};

	if (content == NULL || m == NULL)
	{
		free(content);
		free(m);
		SKIP("no memory");
	}
	memset(content, 'x', big);
	content[big] = '\0';
	m[0].role = "user";
	m[0].content = content;
	CHECK(llm_chat_render(LLM_CHAT_LLAMA3, m, 1, true, NULL, NULL, &out, &err) == LLM_OK);
	CHECK(out && strlen(out) == big + strlen("<|start_header_id|>user<|end_header_id|>\n\n"
											 "<|eot_id|><|start_header_id|>assistant"
											 "<|end_header_id|>\n\n"));
	free(out);
	for (int i = 0; i < 20000; i++)
	{
		m[i].role = (i & 1) ? "assistant" : "user";
		m[i].content = "hi";
	}
	out = NULL;
	CHECK(llm_chat_render(LLM_CHAT_CHATML, m, 20000, false, NULL, NULL, &out, &err) == LLM_OK);
	CHECK(out && strlen(out) == 10000 * strlen("<|im_start|>user\nhi<|im_end|>\n") +
		  10000 * strlen("<|im_start|>assistant\nhi<|im_end|>\n"));
	free(out);
	free(content);
	free(m);
}

int
main(void)
{
	RUN(test_detect_real_templates);
	RUN(test_detect_snippets);
	RUN(test_names);
	RUN(test_render_goldens);
	RUN(test_render_details);
	RUN(test_render_errors);
	RUN(test_render_random);
	RUN(test_render_large);
	return unit_finish();
}
