/*
 * request.c — the backend side of a request: claim a slot, submit, wait for
 * output, give up.
 *
 * A backend claims a FREE slot (waiting interruptibly on the slot_freed
 * condition variable when all llm.max_requests slots are taken), copies its
 * input into the slot's buffer, marks it SUBMITTED and sets the worker's
 * latch.  It then sleeps on its own latch, which the worker sets whenever it
 * appended output, finished or failed; every wake-up runs
 * CHECK_FOR_INTERRUPTS, so statement_timeout, pg_cancel_backend and
 * pg_terminate_backend stop the wait at once.  Once a second it also checks
 * that the client is still connected and that the worker is alive.
 *
 * Giving up (any ERROR, FATAL, an SRF stopped early) marks the slot
 * CANCELLED: the worker then removes the sequence from the engine, which
 * frees its KV pages, and frees the slot.  Three nets make sure no slot is
 * left behind:
 *   - LlmRequestCollect runs the wait in PG_TRY/PG_FINALLY;
 *   - transaction and subtransaction abort callbacks cancel the requests
 *     started in the aborted (sub)transaction, e.g. a half-read SRF when the
 *     query fails; transaction end cancels whatever is left;
 *   - a before_shmem_exit callback cancels everything at backend exit.
 * A backend keeps at most LLM_MAX_BACKEND_REQUESTS requests at once (several
 * streaming SRFs in one query); each is known by a session-unique id, so a
 * stale id is harmless.
 *
 * If the worker exits, its exit callback fails every RUNNING slot and sets
 * the owners' latches; a worker that starts fails any RUNNING slot left by
 * its predecessor.  A backend that finds no worker for 30 s gives up.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "llm_pg.h"

/*
 * From libpq/libpq.h, which cannot be included without the GSSAPI headers
 * that the server was configured with (libpq-be.h includes them).
 */
extern bool pq_check_connection(void);

#define LLM_MAX_BACKEND_REQUESTS 16
#define LLM_WAIT_POLL_MS 1000L
#define LLM_NO_WORKER_TIMEOUT_MS 30000L

typedef struct BackendRequest
{
	LlmRequestId id;			/* 0 = unused */
	int			slot;
	uint64		ticket;
	SubTransactionId subid;
} BackendRequest;

static BackendRequest backend_requests[LLM_MAX_BACKEND_REQUESTS];
static LlmRequestId next_request_id = 1;
static bool callbacks_registered = false;
static TimestampTz last_connection_check = 0;

static void ReleaseRequest(BackendRequest *r);

/* The local entry of request id, or NULL. */
static BackendRequest *
FindRequest(LlmRequestId id)
{
	int			i;

	if (id == 0)
		return NULL;
	for (i = 0; i < LLM_MAX_BACKEND_REQUESTS; i++)
		if (backend_requests[i].id == id)
			return &backend_requests[i];
	return NULL;
}

/* Cancel every request (or those of one subtransaction). */
static void
CancelRequests(bool all, SubTransactionId subid)
{
	int			i;

	for (i = 0; i < LLM_MAX_BACKEND_REQUESTS; i++)
	{
		BackendRequest *r = &backend_requests[i];

		if (r->id != 0 && (all || r->subid == subid))
			ReleaseRequest(r);
	}
}

/* Transaction end: no request outlives its transaction. */
static void
LlmXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			CancelRequests(true, InvalidSubTransactionId);
			break;
		default:
			break;
	}
}

/* Subtransaction abort: cancel the requests it started. */
static void
LlmSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		CancelRequests(false, mySubid);
}

/* Backend exit: cancel everything. */
static void
LlmBackendExit(int code, Datum arg)
{
	if (llm_pg_shared != NULL)
		CancelRequests(true, InvalidSubTransactionId);
}

/* Install the three cleanup nets once per backend. */
static void
RegisterCallbacks(void)
{
	if (callbacks_registered)
		return;
	before_shmem_exit(LlmBackendExit, (Datum) 0);
	RegisterXactCallback(LlmXactCallback, NULL);
	RegisterSubXactCallback(LlmSubXactCallback, NULL);
	callbacks_registered = true;
}

/* The worker's latch, or NULL when no worker runs. */
static Latch *
WorkerLatch(int *pid)
{
	Latch	   *latch;

	SpinLockAcquire(&llm_pg_shared->mutex);
	latch = llm_pg_shared->worker_latch;
	if (pid)
		*pid = llm_pg_shared->worker_pid;
	SpinLockRelease(&llm_pg_shared->mutex);
	return latch;
}

/* Wake the worker (no-op when it is not running). */
static void
WakeWorker(void)
{
	Latch	   *latch = WorkerLatch(NULL);

	if (latch)
		SetLatch(latch);
}

/*
 * Give a request up: free the slot if the worker is done with it, else mark
 * it CANCELLED for the worker.  Never raises an error (runs in callbacks).
 */
static void
ReleaseRequest(BackendRequest *r)
{
	LlmSlot    *slot = &llm_pg_shared->slots[r->slot];
	bool		freed = false;
	bool		wake = false;

	SpinLockAcquire(&slot->mutex);
	if (slot->ticket == r->ticket && slot->backend_pid == MyProcPid)
	{
		switch (slot->state)
		{
			case LLM_SLOT_FILLING:
			case LLM_SLOT_DONE:
			case LLM_SLOT_FAILED:
				slot->state = LLM_SLOT_FREE;
				slot->backend_pid = 0;
				slot->backend_latch = NULL;
				freed = true;
				break;
			case LLM_SLOT_SUBMITTED:
			case LLM_SLOT_RUNNING:
				slot->state = LLM_SLOT_CANCELLED;
				wake = true;
				break;
			default:
				break;
		}
	}
	SpinLockRelease(&slot->mutex);
	r->id = 0;

	if (freed)
		ConditionVariableBroadcast(&llm_pg_shared->slot_freed);
	if (wake)
		WakeWorker();
}

/* Claim a FREE slot for entry r, waiting while all are taken. */
static void
ClaimSlot(BackendRequest *r)
{
	int			i;
	bool		sleeping = false;

	for (;;)
	{
		for (i = 0; i < llm_pg_shared->n_slots; i++)
		{
			LlmSlot    *slot = &llm_pg_shared->slots[i];
			bool		got = false;

			SpinLockAcquire(&slot->mutex);
			if (slot->state == LLM_SLOT_FREE)
			{
				slot->state = LLM_SLOT_FILLING;
				slot->ticket++;
				slot->backend_pid = MyProcPid;
				slot->database_id = MyDatabaseId;
				slot->backend_latch = MyLatch;
				memset(&slot->progress, 0, sizeof(slot->progress));
				slot->ring_write = 0;
				slot->ring_read = 0;
				slot->worker_wants_space = false;
				slot->sqlerrcode = 0;
				slot->errmsg[0] = '\0';
				slot->errhint[0] = '\0';
				r->slot = i;
				r->ticket = slot->ticket;
				got = true;
			}
			SpinLockRelease(&slot->mutex);
			if (got)
			{
				if (sleeping)
					ConditionVariableCancelSleep();
				return;
			}
		}
		/* Every slot is taken: wait for one, interruptibly */
		if (!sleeping)
		{
			ConditionVariablePrepareToSleep(&llm_pg_shared->slot_freed);
			sleeping = true;
			continue;
		}
		(void) ConditionVariableTimedSleep(&llm_pg_shared->slot_freed,
										   LLM_WAIT_POLL_MS,
										   PG_WAIT_EXTENSION);
	}
}

/*
 * Submit a request: input (len bytes) followed by extra (extra_len bytes)
 * go to the slot's input buffer.  Returns the request's id.
 */
LlmRequestId
LlmRequestSubmit(LlmRequestKind kind, const LlmGenParams *gen, bool add_bos,
				 const char *input, Size len,
				 const char *extra, Size extra_len)
{
	BackendRequest *r = NULL;
	LlmSlot    *slot;
	char	   *buf;
	int			i;

	LlmCheckLoaded();
	if (len + extra_len > llm_pg_shared->input_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("llm input is too long: %zu bytes, the limit is %zu bytes",
						len + extra_len, llm_pg_shared->input_size),
				 errhint("Shorten the input, or raise llm.context_size (the input buffer holds 16 bytes per context token).")));

	for (i = 0; i < LLM_MAX_BACKEND_REQUESTS; i++)
	{
		if (backend_requests[i].id == 0)
		{
			r = &backend_requests[i];
			break;
		}
	}
	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many concurrent llm requests in one session"),
				 errhint("A session can run at most %d llm requests at once.",
						 LLM_MAX_BACKEND_REQUESTS)));
	RegisterCallbacks();

	ClaimSlot(r);
	/* From here on nothing can fail until the entry is recorded */
	r->id = next_request_id++;
	r->subid = GetCurrentSubTransactionId();

	slot = &llm_pg_shared->slots[r->slot];
	buf = LlmSlotInput(r->slot);
	if (len > 0)
		memcpy(buf, input, len);
	if (extra_len > 0)
		memcpy(buf + len, extra, extra_len);

	SpinLockAcquire(&slot->mutex);
	slot->kind = kind;
	if (gen)
		slot->gen = *gen;
	else
		memset(&slot->gen, 0, sizeof(slot->gen));
	slot->add_bos = add_bos;
	slot->input_len = len + extra_len;
	slot->submitted_at = GetCurrentTimestamp();
	slot->state = LLM_SLOT_SUBMITTED;
	SpinLockRelease(&slot->mutex);

	WakeWorker();
	return r->id;
}

/* If the client has gone away, make the next CHECK_FOR_INTERRUPTS exit. */
static void
CheckClientConnection(void)
{
	if (whereToSendOutput == DestRemote && MyProcPort != NULL &&
		!pq_check_connection())
	{
		ClientConnectionLost = true;
		InterruptPending = true;
	}
}

/*
 * Wait for the next output record of request id and append it to out.
 * Returns false when the request finished (its slot is then freed); raises
 * the request's error if it failed.
 */
bool
LlmRequestNext(LlmRequestId id, StringInfo out)
{
	BackendRequest *r = FindRequest(id);
	LlmSlot    *slot;
	long		no_worker_ms = 0;

	if (r == NULL)
		elog(ERROR, "llm request " UINT64_FORMAT " is not active", id);
	slot = &llm_pg_shared->slots[r->slot];

	for (;;)
	{
		LlmSlotState state;
		int			worker_pid;
		int			rc;

		if (LlmRingGet(r->slot, out))
			return true;

		SpinLockAcquire(&slot->mutex);
		state = slot->state;
		SpinLockRelease(&slot->mutex);

		if (state == LLM_SLOT_DONE)
		{
			/* the worker fills the ring before it marks the slot DONE */
			if (LlmRingGet(r->slot, out))
				return true;
			ReleaseRequest(r);
			return false;
		}
		if (state == LLM_SLOT_FAILED)
		{
			int			code;
			char		msg[LLM_ERRMSG_LEN];
			char		hint[LLM_ERRHINT_LEN];

			SpinLockAcquire(&slot->mutex);
			code = slot->sqlerrcode;
			memcpy(msg, slot->errmsg, sizeof(msg));
			memcpy(hint, slot->errhint, sizeof(hint));
			SpinLockRelease(&slot->mutex);
			msg[sizeof(msg) - 1] = '\0';
			hint[sizeof(hint) - 1] = '\0';
			ReleaseRequest(r);
			LlmRaiseError(code, msg, hint);
		}

		(void) WorkerLatch(&worker_pid);
		if (worker_pid == 0 && no_worker_ms >= LLM_NO_WORKER_TIMEOUT_MS)
		{
			ReleaseRequest(r);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("llm worker is not running"),
					 errhint("Check the server log for why the llm worker exited; it is restarted automatically.")));
		}

		rc = WaitLatch(MyLatch,
					   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   LLM_WAIT_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (rc & WL_TIMEOUT)
		{
			if (worker_pid == 0)
				no_worker_ms += LLM_WAIT_POLL_MS;
		}
		/* once a second, even while output keeps arriving */
		if (TimestampDifferenceExceeds(last_connection_check,
									   GetCurrentTimestamp(),
									   (int) LLM_WAIT_POLL_MS))
		{
			CheckClientConnection();
			last_connection_check = GetCurrentTimestamp();
		}
		/* Generation can take a while, so ensure we can interrupt */
		CHECK_FOR_INTERRUPTS();
	}
}

/* Wait for the whole output of request id; cancels it on any error. */
void
LlmRequestCollect(LlmRequestId id, StringInfo out)
{
	PG_TRY();
	{
		while (LlmRequestNext(id, out))
			;
	}
	PG_FINALLY();
	{
		LlmRequestCancel(id);
	}
	PG_END_TRY();
}

/* Give request id up (no-op if it already finished). */
void
LlmRequestCancel(LlmRequestId id)
{
	BackendRequest *r = FindRequest(id);

	if (r != NULL)
		ReleaseRequest(r);
}

/* Read the model snapshot (waits while the worker is loading the model). */
void
LlmModelSnapshotGet(LlmModelSnapshot *out)
{
	long		waited = 0;

	LlmCheckLoaded();
	for (;;)
	{
		LlmModelState state;

		LWLockAcquire(llm_pg_shared->lock, LW_SHARED);
		state = llm_pg_shared->model.state;
		if (state != LLM_MODEL_NONE && state != LLM_MODEL_LOADING)
			memcpy(out, &llm_pg_shared->model, sizeof(LlmModelSnapshot));
		LWLockRelease(llm_pg_shared->lock);
		if (state != LLM_MODEL_NONE && state != LLM_MODEL_LOADING)
			return;
		if (state == LLM_MODEL_NONE && waited >= LLM_NO_WORKER_TIMEOUT_MS)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("llm worker is not running"),
					 errhint("Check the server log for why the llm worker did not start.")));
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		waited += 100;
		/* Loading a big model can take a while, so ensure we can interrupt */
		CHECK_FOR_INTERRUPTS();
	}
}

/* Raise the model's error unless a model is loaded (snapshot in snap). */
void
LlmModelRequireLoaded(const LlmModelSnapshot *snap)
{
	if (snap->state == LLM_MODEL_LOADED)
		return;
	if (snap->state == LLM_MODEL_UNCONFIGURED)
		LlmRaiseError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					  snap->error[0] ? snap->error : "no model is configured",
					  "Set llm.model to the absolute path of a GGUF file in postgresql.conf and run SELECT pg_reload_conf().");
	LlmRaiseError(snap->sqlerrcode, snap->error,
				  "Check llm.model and the server log, then run SELECT pg_reload_conf().");
}
