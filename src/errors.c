/*
 * errors.c — from engine status codes to SQLSTATEs, and raising the error a
 * worker left in a request slot.
 *
 *   LLM_ERR_IO            58P01 undefined_file (model file problems)
 *   LLM_ERR_FORMAT        XX001 data_corrupted
 *   LLM_ERR_UNSUPPORTED   0A000 feature_not_supported
 *   LLM_ERR_NOMEM         53200 out_of_memory
 *   LLM_ERR_INVALID_ARG   22023 invalid_parameter_value
 *   LLM_ERR_RANGE         54000 program_limit_exceeded
 *   LLM_ERR_FULL          53000 insufficient_resources
 *   LLM_ERR_INVALID_UTF8  22021 character_not_in_repertoire
 *   LLM_ERR_INTERNAL      XX000 internal_error
 *
 * Model load failures are reported by the worker itself with 58P01 (I/O)
 * or 55000 (anything else), see worker.c.
 */
#include "postgres.h"

#include "llm_pg.h"

/* The SQLSTATE for an engine status code. */
int
LlmStatusSqlstate(llm_status code)
{
	switch (code)
	{
		case LLM_OK:
			return ERRCODE_SUCCESSFUL_COMPLETION;
		case LLM_ERR_IO:
			return ERRCODE_UNDEFINED_FILE;
		case LLM_ERR_FORMAT:
			return ERRCODE_DATA_CORRUPTED;
		case LLM_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case LLM_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case LLM_ERR_INVALID_ARG:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case LLM_ERR_RANGE:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case LLM_ERR_FULL:
			return ERRCODE_INSUFFICIENT_RESOURCES;
		case LLM_ERR_INVALID_UTF8:
			return ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
		case LLM_ERR_INTERNAL:
			return ERRCODE_INTERNAL_ERROR;
	}
	return ERRCODE_INTERNAL_ERROR;
}

/* ereport(ERROR) with a code, message and optional hint from a slot. */
void
LlmRaiseError(int sqlerrcode, const char *msg, const char *hint)
{
	if (sqlerrcode == 0 || sqlerrcode == ERRCODE_SUCCESSFUL_COMPLETION)
		sqlerrcode = ERRCODE_INTERNAL_ERROR;
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg_internal("%s", msg[0] ? msg : "llm request failed"),
			 (hint && hint[0]) ? errhint("%s", hint) : 0));
	pg_unreachable();
}
