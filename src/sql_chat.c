/*
 * sql_chat.c — llm_chat: render a conversation with the model's chat
 * template and generate the assistant's answer.
 *
 * messages is a JSON array of {"role": "system"|"user"|"assistant",
 * "content": "..."}; anything else is 22023.  The template family is the
 * one the worker detected in the model's tokenizer.chat_template, unless
 * the template argument names one; no family is an ERROR with a hint to
 * pass template.  Rendering happens here (src/core/chat.c, plain C); the
 * rendered prompt goes to the worker as a generation whose control tokens
 * are parsed, with BOS added when the vocabulary asks for it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "chat.h"
#include "llm_pg.h"

PG_FUNCTION_INFO_V1(llm_sql_chat);

#define LLM_CHAT_MESSAGES_ERROR \
	errhint("Pass a JSON array of objects such as [{\"role\": \"user\", \"content\": \"Hello\"}].")

/* A string member of a message object, converted to UTF-8. */
static char *
MessageField(JsonbContainer *obj, const char *key, int index)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
	char	   *s;
	char	   *u;

	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message %d has no string \"%s\"", index + 1, key),
				 LLM_CHAT_MESSAGES_ERROR));
	s = pnstrdup(v->val.string.val, v->val.string.len);
	u = pg_server_to_any(s, v->val.string.len, PG_UTF8);
	return u;
}

/* Parse messages into an array of llm_chat_msg; returns the count. */
static int
ParseMessages(Jsonb *jb, llm_chat_msg **out)
{
	int			n;
	int			i;
	llm_chat_msg *msgs;

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array"),
				 LLM_CHAT_MESSAGES_ERROR));
	n = JB_ROOT_COUNT(jb);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must not be empty"),
				 LLM_CHAT_MESSAGES_ERROR));
	msgs = palloc0(sizeof(llm_chat_msg) * n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&jb->root, i);
		char	   *role;

		if (v == NULL || v->type != jbvBinary ||
			!JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is not a JSON object", i + 1),
					 LLM_CHAT_MESSAGES_ERROR));
		role = MessageField(v->val.binary.data, "role", i);
		if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
			strcmp(role, "assistant") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d has role \"%s\", which is not system, user or assistant",
							i + 1, role)));
		msgs[i].role = role;
		msgs[i].content = MessageField(v->val.binary.data, "content", i);
	}
	*out = msgs;
	return n;
}

/* llm_chat(messages jsonb, ..., template text): the assistant's answer. */
Datum
llm_sql_chat(PG_FUNCTION_ARGS)
{
	LlmModelSnapshot *snap;
	llm_chat_family family = LLM_CHAT_UNKNOWN;
	llm_chat_msg *msgs;
	int			n;
	LlmGenParams gen;
	StringInfoData stops;
	StringInfoData out;
	char	   *rendered = NULL;
	char	   *prompt;
	llm_error	err = {0};
	LlmRequestId id;

	LlmCheckLoaded();
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	n = ParseMessages(PG_GETARG_JSONB_P(0), &msgs);
	initStringInfo(&stops);
	LlmGenParamsFromArgs(fcinfo, -1, &gen, &stops);

	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(8));

		family = llm_chat_family_from_name(name);
		if (family == LLM_CHAT_UNKNOWN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown chat template \"%s\"", name),
					 errhint("Pass one of: %s.", llm_chat_family_list())));
	}
	snap = palloc(sizeof(LlmModelSnapshot));
	LlmModelSnapshotGet(snap);
	LlmModelRequireLoaded(snap);
	if (PG_NARGS() <= 8 || PG_ARGISNULL(8))
	{
		family = snap->chat_family[0] ?
			llm_chat_family_from_name(snap->chat_family) : LLM_CHAT_UNKNOWN;
		if (family == LLM_CHAT_UNKNOWN)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the model has no chat template that llm recognizes"),
					 errhint("Pass the template argument, one of: %s.",
							 llm_chat_family_list())));
	}

	if (llm_chat_render(family, msgs, n, true,
						snap->bos_text[0] ? snap->bos_text : NULL,
						snap->eos_text[0] ? snap->eos_text : NULL,
						&rendered, &err) != LLM_OK)
	{
		free(rendered);
		ereport(ERROR,
				(errcode(LlmStatusSqlstate(err.code)),
				 errmsg("could not render the chat messages: %s", err.msg)));
	}
	prompt = pstrdup(rendered);
	free(rendered);

	gen.prompt_len = strlen(prompt);
	gen.parse_special = true;
	gen.chat = true;
	id = LlmRequestSubmit(LLM_REQ_GENERATE, &gen, true, prompt, gen.prompt_len,
						  stops.data, stops.len);
	initStringInfo(&out);
	LlmRequestCollect(id, &out);
	PG_RETURN_TEXT_P(LlmTextFromUtf8(out.data, out.len));
}
