/*
 * common.h — error reporting shared by every part of the engine core.
 *
 * The core never exits or aborts: every fallible function returns an
 * llm_status (LLM_OK on success) and fills an llm_error with a precise,
 * lower-case message.  The PostgreSQL adapter maps the code to an SQLSTATE
 * and the message to errmsg; the CLI prints it.
 */
#ifndef LLM_CORE_COMMON_H
#define LLM_CORE_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum llm_status
{
	LLM_OK = 0,
	LLM_ERR_IO = 1,				/* file cannot be opened, read or mapped */
	LLM_ERR_FORMAT = 2,			/* malformed or hostile file contents */
	LLM_ERR_UNSUPPORTED = 3,	/* valid but not supported (arch, type) */
	LLM_ERR_NOMEM = 4,			/* allocation failed */
	LLM_ERR_INVALID_ARG = 5,	/* caller passed a bad parameter */
	LLM_ERR_RANGE = 6,			/* value out of range (too many tokens...) */
	LLM_ERR_FULL = 7,			/* a pool or queue is exhausted */
	LLM_ERR_INVALID_UTF8 = 8,	/* text is not valid UTF-8 */
	LLM_ERR_INTERNAL = 9		/* an invariant does not hold */
} llm_status;

#define LLM_ERROR_MSG_LEN 256

typedef struct llm_error
{
	llm_status	code;
	char		msg[LLM_ERROR_MSG_LEN];
} llm_error;

/* Record an error (err may be NULL) and return its code. */
llm_status	llm_errorf(llm_error *err, llm_status code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Short name of a status code ("format error", ...). */
const char *llm_status_name(llm_status code);

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool
llm_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline bool
llm_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

#endif							/* LLM_CORE_COMMON_H */
