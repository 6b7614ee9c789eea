/*
 * llm.c — the extension's entry point.
 *
 * _PG_init is a table of contents: settings, shared memory, the worker.
 * Shared memory and the worker exist only when llm is listed in
 * shared_preload_libraries; otherwise every SQL function raises 55000.
 */
#include "postgres.h"

#include "fmgr.h"

#include "llm_pg.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: define the settings, then shared memory and the worker. */
void
_PG_init(void)
{
	LlmGucInit();
	LlmShmemInit();
	LlmWorkerRegister();
}
