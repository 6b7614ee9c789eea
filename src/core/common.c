/*
 * common.c — error helpers for the engine core.
 */
#include "common.h"

#include <stdio.h>

llm_status
llm_errorf(llm_error *err, llm_status code, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *
llm_status_name(llm_status code)
{
	switch (code)
	{
		case LLM_OK:
			return "ok";
		case LLM_ERR_IO:
			return "i/o error";
		case LLM_ERR_FORMAT:
			return "format error";
		case LLM_ERR_UNSUPPORTED:
			return "unsupported";
		case LLM_ERR_NOMEM:
			return "out of memory";
		case LLM_ERR_INVALID_ARG:
			return "invalid argument";
		case LLM_ERR_RANGE:
			return "out of range";
		case LLM_ERR_FULL:
			return "resource exhausted";
		case LLM_ERR_INVALID_UTF8:
			return "invalid utf-8";
		case LLM_ERR_INTERNAL:
			return "internal error";
	}
	return "unknown error";
}
