/*
 * chat.c — chat template detection and rendering (see chat.h for the
 * formats).
 *
 * Detection looks for substrings that only one family's templates contain
 * (the role markers, and for the Mistral variants the spacing around
 * [INST] in the template's string literals).  Templates that share markers
 * with a family but render differently (functionary and firefunction on
 * Llama 3, GLM and Apriel on <|user|>, Gemma 4, ...) are vetoed by their
 * own markers, so they come out UNKNOWN instead of as a wrong family.
 *
 * Rendering appends to a growing buffer whose size is checked against
 * LLM_CHAT_MAX_OUTPUT; the output is linear in the input, and nothing in
 * the message text is interpreted.  "Trim" below is Python's str.strip()
 * (what Jinja's trim filter does): Unicode whitespace at both ends.
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest rendered prompt (PostgreSQL cannot hold more in one value). */
#define LLM_CHAT_MAX_OUTPUT ((size_t) 1 << 30)

static const char *const family_names[LLM_CHAT_N_FAMILIES] = {
	[LLM_CHAT_UNKNOWN] = "unknown",
	[LLM_CHAT_CHATML] = "chatml",
	[LLM_CHAT_LLAMA2] = "llama2",
	[LLM_CHAT_MISTRAL_V1] = "mistral-v1",
	[LLM_CHAT_MISTRAL_V3] = "mistral-v3",
	[LLM_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
	[LLM_CHAT_MISTRAL_V7] = "mistral-v7",
	[LLM_CHAT_LLAMA3] = "llama3",
	[LLM_CHAT_LLAMA31] = "llama3.1",
	[LLM_CHAT_ZEPHYR] = "zephyr",
	[LLM_CHAT_GEMMA] = "gemma",
	[LLM_CHAT_PHI3] = "phi3",
};

/* Name of a family. */
const char *
llm_chat_family_name(llm_chat_family f)
{
	if ((int) f <= 0 || f >= LLM_CHAT_N_FAMILIES)
		return "unknown";
	return family_names[f];
}

/* Comma-separated list of the family names. */
const char *
llm_chat_family_list(void)
{
	return "chatml, llama2, mistral-v1, mistral-v3, mistral-v3-tekken, "
		"mistral-v7, llama3, llama3.1, zephyr, gemma, phi3";
}

/* Family from its name, case insensitive. */
llm_chat_family
llm_chat_family_from_name(const char *name)
{
	if (name == NULL)
		return LLM_CHAT_UNKNOWN;
	/* "mistral" alone means the original [INST] format (Mistral 7B v0.1) */
	if (strcasecmp(name, "mistral") == 0)
		return LLM_CHAT_MISTRAL_V1;
	for (int f = 1; f < LLM_CHAT_N_FAMILIES; f++)
		if (strcasecmp(name, family_names[f]) == 0)
			return (llm_chat_family) f;
	return LLM_CHAT_UNKNOWN;
}

/* Does the template contain s? */
static bool
has(const char *tmpl, const char *s)
{
	return strstr(tmpl, s) != NULL;
}

/* Does a string literal (either quote style) start with s? */
static bool
has_literal_start(const char *tmpl, const char *s)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "'%s", s);
	if (has(tmpl, buf))
		return true;
	snprintf(buf, sizeof(buf), "\"%s", s);
	return has(tmpl, buf);
}

/*
 * Which Mistral variant an [INST] template without <<SYS>> is, from the
 * spacing of its string literals: ' [/INST]' (v1), '[INST] ' (v3),
 * '[INST]' (v3-tekken), [SYSTEM_PROMPT] (v7, tekken spacing only).
 */
static llm_chat_family
detect_mistral(const char *t)
{
	bool		inst_space = has_literal_start(t, "[INST] ") ||
		has_literal_start(t, " [INST] ");
	bool		space_close = has_literal_start(t, " [/INST]");

	if (has(t, "[SYSTEM_PROMPT]"))
		return inst_space || space_close ? LLM_CHAT_UNKNOWN : LLM_CHAT_MISTRAL_V7;
	if (space_close)
		return LLM_CHAT_MISTRAL_V1;
	if (inst_space)
		return LLM_CHAT_MISTRAL_V3;
	if (has_literal_start(t, "[INST]"))
		return LLM_CHAT_MISTRAL_V3_TEKKEN;
	return LLM_CHAT_UNKNOWN;
}

/* Family of a Jinja chat template. */
llm_chat_family
llm_chat_detect(const char *t)
{
	if (t == NULL || *t == '\0')
		return LLM_CHAT_UNKNOWN;
	if (has(t, "<|im_start|>"))
		return LLM_CHAT_CHATML;
	if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
	{
		/* functionary v3.1/v3.2, firefunction: Llama 3 with own formats */
		if (has(t, "<function=") || has(t, ">>>") || has(t, "functools") ||
			has(t, "system_prompt_suffix"))
			return LLM_CHAT_UNKNOWN;
		if (has(t, "Cutting Knowledge Date") && has(t, "Today Date"))
			return LLM_CHAT_LLAMA31;
		return LLM_CHAT_LLAMA3;
	}
	if (has(t, "[INST]") && has(t, "[/INST]"))
	{
		if (has(t, "<<SYS>>"))
			return LLM_CHAT_LLAMA2;
		return detect_mistral(t);
	}
	if (has(t, "<start_of_turn>") && has(t, "<end_of_turn>"))
		return LLM_CHAT_GEMMA;
	if (has(t, "<|user|>") && has(t, "<|assistant|>"))
	{
		/* GLM, Apriel: same role markers, different layout */
		if (has(t, "[gMASK]") || has(t, "<sop>") ||
			has(t, "[BEGIN FINAL RESPONSE]"))
			return LLM_CHAT_UNKNOWN;
		if (has(t, "<|end|>"))
			return LLM_CHAT_PHI3;
		if (has(t, "eos_token") || has(t, "</s>"))
			return LLM_CHAT_ZEPHYR;
	}
	return LLM_CHAT_UNKNOWN;
}

/* ---- output buffer -------------------------------------------------- */

typedef struct chat_buf
{
	char	   *p;
	size_t		len;
	size_t		cap;
	llm_status	st;				/* first failure, LLM_OK while fine */
} chat_buf;

/* Append n bytes (no-op once an error was recorded). */
static void
put_n(chat_buf *b, const char *s, size_t n)
{
	size_t		need;

	if (b->st != LLM_OK || n == 0)
		return;
	if (!llm_add_size(b->len, n, &need) || need + 1 > LLM_CHAT_MAX_OUTPUT)
	{
		b->st = LLM_ERR_RANGE;
		return;
	}
	if (need + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *np;

		while (cap < need + 1)
			cap = cap < LLM_CHAT_MAX_OUTPUT / 2 ? cap * 2 : LLM_CHAT_MAX_OUTPUT;
		np = realloc(b->p, cap);
		if (np == NULL)
		{
			b->st = LLM_ERR_NOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len = need;
	b->p[b->len] = '\0';
}

/* Append a NUL-terminated string. */
static void
put(chat_buf *b, const char *s)
{
	put_n(b, s, strlen(s));
}

/*
 * Length of the whitespace code point at s[0..n) (0 if none): Python's
 * str.isspace() set.
 */
static size_t
ws_at(const unsigned char *s, size_t n)
{
	uint32_t	cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d) ||
				(s[0] >= 0x1c && s[0] <= 0x1f)) ? 1 : 0;
	if ((s[0] & 0xe0) == 0xc0 && n >= 2 && (s[1] & 0xc0) == 0x80)
	{
		cp = ((uint32_t) (s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		return (cp == 0x85 || cp == 0xa0) ? 2 : 0;
	}
	if ((s[0] & 0xf0) == 0xe0 && n >= 3 && (s[1] & 0xc0) == 0x80 &&
		(s[2] & 0xc0) == 0x80)
	{
		cp = ((uint32_t) (s[0] & 0x0f) << 12) |
			((uint32_t) (s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		return (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
				cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
				cp == 0x205f || cp == 0x3000) ? 3 : 0;
	}
	return 0;
}

/* Length of the whitespace code point that ends s[0..n) (0 if none). */
static size_t
ws_before(const unsigned char *s, size_t n)
{
	/* whitespace code points are at most 3 bytes long */
	for (size_t k = 1; k <= 3 && k <= n; k++)
	{
		if (k < n && k < 3 && (s[n - k] & 0xc0) == 0x80)
			continue;			/* continuation byte: look further back */
		return ws_at(s + n - k, k) == k ? k : 0;
	}
	return 0;
}

/* Trim (str.strip) everything appended since offset start. */
static void
trim_from(chat_buf *b, size_t start)
{
	unsigned char *s;
	size_t		n, lead = 0, k;

	if (b->st != LLM_OK || b->len <= start)
		return;
	s = (unsigned char *) b->p + start;
	n = b->len - start;
	while ((k = ws_before(s, n)) > 0)
		n -= k;
	while (lead < n && (k = ws_at(s + lead, n - lead)) > 0)
		lead += k;
	memmove(s, s + lead, n - lead);
	b->len = start + n - lead;
	b->p[b->len] = '\0';
}

/* Append a string trimmed at both ends. */
static void
put_trim(chat_buf *b, const char *s)
{
	size_t		start = b->len;

	put(b, s);
	trim_from(b, start);
}

/* ---- rendering -------------------------------------------------------- */

typedef enum chat_role
{
	ROLE_SYSTEM,
	ROLE_USER,
	ROLE_ASSISTANT
} chat_role;

/* Does the family lack a system role (system merged into a user turn)? */
static bool
merges_system(llm_chat_family f)
{
	return f == LLM_CHAT_LLAMA2 || f == LLM_CHAT_MISTRAL_V1 ||
		f == LLM_CHAT_MISTRAL_V3 || f == LLM_CHAT_MISTRAL_V3_TEKKEN ||
		f == LLM_CHAT_GEMMA;
}

/* The family's usual BOS and EOS spellings. */
static void
default_specials(llm_chat_family f, const char **bos, const char **eos)
{
	const char *b = "", *e = "";

	switch (f)
	{
		case LLM_CHAT_LLAMA2:
		case LLM_CHAT_MISTRAL_V1:
		case LLM_CHAT_MISTRAL_V3:
		case LLM_CHAT_MISTRAL_V3_TEKKEN:
		case LLM_CHAT_MISTRAL_V7:
		case LLM_CHAT_ZEPHYR:
			b = "<s>";
			e = "</s>";
			break;
		case LLM_CHAT_PHI3:
			e = "<|endoftext|>";
			break;
		default:
			break;
	}
	if (*bos == NULL)
		*bos = b;
	if (*eos == NULL)
		*eos = e;
}

/* Check the messages and classify their roles into roles[n]. */
static llm_status
check_messages(llm_chat_family f, const llm_chat_msg *msgs, int n,
			   chat_role *roles, llm_error *err)
{
	for (int i = 0; i < n; i++)
	{
		const char *r = msgs[i].role;

		if (r == NULL)
			return llm_errorf(err, LLM_ERR_INVALID_ARG,
							  "chat message %d has no role", i + 1);
		if (msgs[i].content == NULL)
			return llm_errorf(err, LLM_ERR_INVALID_ARG,
							  "chat message %d has no content", i + 1);
		if (strcmp(r, "system") == 0)
			roles[i] = ROLE_SYSTEM;
		else if (strcmp(r, "user") == 0)
			roles[i] = ROLE_USER;
		else if (strcmp(r, "assistant") == 0)
			roles[i] = ROLE_ASSISTANT;
		else
			return llm_errorf(err, LLM_ERR_INVALID_ARG,
							  "chat message %d has unsupported role \"%.40s\" "
							  "(expected system, user or assistant)",
							  i + 1, r);
		if (roles[i] == ROLE_SYSTEM && i > 0 && merges_system(f))
			return llm_errorf(err, LLM_ERR_INVALID_ARG,
							  "the %s chat format allows a system message "
							  "only first, but message %d is one",
							  llm_chat_family_name(f), i + 1);
	}
	return LLM_OK;
}

/*
 * For families that merge the system message: the index of the user
 * message that receives it (first or last user message; the system message
 * itself, rendered as a user turn, when there is no user message).  -1
 * when there is no system message.
 */
static int
merge_target(llm_chat_family f, const chat_role *roles, int n)
{
	int			t = -1;

	if (n == 0 || roles[0] != ROLE_SYSTEM)
		return -1;
	for (int i = 1; i < n; i++)
	{
		if (roles[i] != ROLE_USER)
			continue;
		t = i;
		if (f == LLM_CHAT_LLAMA2 || f == LLM_CHAT_MISTRAL_V1 ||
			f == LLM_CHAT_GEMMA)
			break;				/* first user message */
	}
	return t < 0 ? 0 : t;
}

/* chatml, llama3, llama3.1, zephyr, phi3, mistral-v7: one turn per message. */
static void
render_turns(chat_buf *b, llm_chat_family f, const llm_chat_msg *m,
			 const chat_role *roles, int n, bool gen, const char *eos)
{
	int			i = 0;

	if (f == LLM_CHAT_LLAMA31)
	{
		put(b, "<|start_header_id|>system<|end_header_id|>\n\n"
			"Cutting Knowledge Date: December 2023\n"
			"Today Date: 26 Jul 2024\n\n");
		if (n > 0 && roles[0] == ROLE_SYSTEM)
			put_trim(b, m[i++].content);
		put(b, "<|eot_id|>");
	}
	for (; i < n; i++)
	{
		const char *c = m[i].content;

		switch (f)
		{
			case LLM_CHAT_CHATML:
				put(b, "<|im_start|>");
				put(b, m[i].role);
				put(b, "\n");
				put(b, c);
				put(b, "<|im_end|>\n");
				break;
			case LLM_CHAT_LLAMA3:
			case LLM_CHAT_LLAMA31:
				put(b, "<|start_header_id|>");
				put(b, m[i].role);
				put(b, "<|end_header_id|>\n\n");
				put_trim(b, c);
				put(b, "<|eot_id|>");
				break;
			case LLM_CHAT_ZEPHYR:
				put(b, "<|");
				put(b, m[i].role);
				put(b, "|>\n");
				put(b, c);
				put(b, eos);
				put(b, "\n");
				break;
			case LLM_CHAT_PHI3:
				if (roles[i] == ROLE_SYSTEM && *c == '\0')
					break;		/* Phi-3.5 drops an empty system turn */
				put(b, "<|");
				put(b, m[i].role);
				put(b, "|>\n");
				put(b, c);
				put(b, "<|end|>\n");
				break;
			case LLM_CHAT_MISTRAL_V7:
				if (roles[i] == ROLE_SYSTEM)
				{
					put(b, "[SYSTEM_PROMPT]");
					put(b, c);
					put(b, "[/SYSTEM_PROMPT]");
				}
				else if (roles[i] == ROLE_USER)
				{
					put(b, "[INST]");
					put(b, c);
					put(b, "[/INST]");
				}
				else
				{
					put(b, c);
					put(b, eos);
				}
				break;
			default:
				break;
		}
	}
	if (!gen)
	{
		if (f == LLM_CHAT_PHI3)
			put(b, eos);
		return;
	}
	switch (f)
	{
		case LLM_CHAT_CHATML:
			put(b, "<|im_start|>assistant\n");
			break;
		case LLM_CHAT_LLAMA3:
		case LLM_CHAT_LLAMA31:
			put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
			break;
		case LLM_CHAT_ZEPHYR:
		case LLM_CHAT_PHI3:
			put(b, "<|assistant|>\n");
			break;
		default:
			break;				/* mistral-v7: the prompt ends with [/INST] */
	}
}

/* llama2, mistral v1/v3/v3-tekken, gemma: system merged into a user turn. */
static void
render_merged(chat_buf *b, llm_chat_family f, const llm_chat_msg *m,
			  const chat_role *roles, int n, bool gen, const char *bos,
			  const char *eos)
{
	int			target = merge_target(f, roles, n);
	const char *sys = target >= 0 ? m[0].content : NULL;

	for (int i = 0; i < n; i++)
	{
		bool		is_target = i == target;
		const char *c = m[i].content;
		size_t		start;

		if (roles[i] == ROLE_SYSTEM && !is_target)
			continue;			/* merged into message target */
		if (roles[i] == ROLE_SYSTEM)
			c = "";				/* no user message: a user turn of its own */
		switch (f)
		{
			case LLM_CHAT_LLAMA2:
				if (roles[i] == ROLE_ASSISTANT)
				{
					put(b, " ");
					put_trim(b, c);
					put(b, " ");
					put(b, eos);
					break;
				}
				if (b->len > 0)
					put(b, bos);
				put(b, "[INST] ");
				start = b->len;
				if (is_target)
				{
					put(b, "<<SYS>>\n");
					put(b, sys);
					put(b, "\n<</SYS>>\n\n");
				}
				put(b, c);
				trim_from(b, start);
				put(b, " [/INST]");
				break;
			case LLM_CHAT_MISTRAL_V1:
			case LLM_CHAT_MISTRAL_V3:
			case LLM_CHAT_MISTRAL_V3_TEKKEN:
				if (roles[i] == ROLE_ASSISTANT)
				{
					if (f != LLM_CHAT_MISTRAL_V3_TEKKEN)
						put(b, " ");
					put(b, c);
					put(b, eos);
					break;
				}
				put(b, f == LLM_CHAT_MISTRAL_V3_TEKKEN ? "[INST]" :
					f == LLM_CHAT_MISTRAL_V3 ? "[INST] " : " [INST] ");
				if (is_target)
				{
					put(b, sys);
					put(b, "\n\n");
				}
				put(b, c);
				put(b, f == LLM_CHAT_MISTRAL_V1 ? " [/INST]" : "[/INST]");
				break;
			case LLM_CHAT_GEMMA:
				put(b, roles[i] == ROLE_ASSISTANT ?
					"<start_of_turn>model\n" : "<start_of_turn>user\n");
				if (is_target)
				{
					put(b, sys);
					put(b, "\n\n");
				}
				put_trim(b, c);
				put(b, "<end_of_turn>\n");
				break;
			default:
				break;
		}
	}
	if (gen && f == LLM_CHAT_GEMMA)
		put(b, "<start_of_turn>model\n");
}

/* Render messages into a malloc'd prompt string. */
llm_status
llm_chat_render(llm_chat_family f, const llm_chat_msg *msgs, int n,
				bool add_generation_prompt, const char *bos, const char *eos,
				char **out, llm_error *err)
{
	chat_buf	b = {0};
	chat_role  *roles;
	llm_status	st;

	if (out == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "no output pointer");
	*out = NULL;
	if ((int) f <= 0 || f >= LLM_CHAT_N_FAMILIES)
		return llm_errorf(err, LLM_ERR_UNSUPPORTED,
						  "unknown chat template format; name one of: %s",
						  llm_chat_family_list());
	if (n < 0 || (n > 0 && msgs == NULL))
		return llm_errorf(err, LLM_ERR_INVALID_ARG,
						  "invalid chat message array (%d messages)", n);
	roles = malloc(((size_t) n + 1) * sizeof(chat_role));
	if (roles == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM,
						  "out of memory for %d chat messages", n);
	st = check_messages(f, msgs, n, roles, err);
	if (st != LLM_OK)
	{
		free(roles);
		return st;
	}
	default_specials(f, &bos, &eos);
	b.p = malloc(256);			/* so that *out is never NULL */
	if (b.p == NULL)
		b.st = LLM_ERR_NOMEM;
	else
	{
		b.cap = 256;
		b.p[0] = '\0';
	}
	if (merges_system(f))
		render_merged(&b, f, msgs, roles, n, add_generation_prompt, bos, eos);
	else
		render_turns(&b, f, msgs, roles, n, add_generation_prompt, eos);
	free(roles);
	if (b.st != LLM_OK)
	{
		free(b.p);
		if (b.st == LLM_ERR_NOMEM)
			return llm_errorf(err, LLM_ERR_NOMEM,
							  "out of memory rendering the chat prompt");
		return llm_errorf(err, b.st,
						  "rendered chat prompt exceeds %zu bytes",
						  LLM_CHAT_MAX_OUTPUT);
	}
	*out = b.p;
	return LLM_OK;
}
