#!/usr/bin/env bash
# 10-postmaster-threads.sh — the maths threads and BLAS live only in the llm
# worker: the postmaster (which forks every backend) must stay a single-
# threaded process with no BLAS library mapped, and so must an ordinary
# backend that has just called llm_generate.
set -uo pipefail
. "$(dirname "$0")/common.sh"

# Make sure the worker has loaded the model and run the engine once.
ref=$(q "$GREEDY_SQL")
check "a generation works" [ -n "$ref" ]

pm=$(postmaster_pid)
check "postmaster pid known ($pm)" test -r "/proc/$pm/status"
threads=$(awk '/^Threads:/ {print $2}' "/proc/$pm/status" 2>/dev/null)
check_eq "postmaster has exactly one thread" "$threads" 1
if grep -qE 'lib(open)?blas|libgomp|libmkl' "/proc/$pm/maps" 2>/dev/null; then
	not_ok "no BLAS library mapped in the postmaster"
	grep -E 'lib(open)?blas|libgomp|libmkl' "/proc/$pm/maps" | awk '{print "#   " $NF}' | sort -u
else
	ok "no BLAS library mapped in the postmaster"
fi

# A backend that ran a generation: superuser can read its own /proc entry.
out=$(q "SELECT llm_generate('Once', 8) IS NOT NULL,
		(regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'),
		              'Threads:\s+(\d+)'))[1]")
check_eq "a backend stays single-threaded after llm_generate" "$out" "t|1"

wpid=$(worker_pid)
check "the llm worker is running" [ -n "$wpid" ]
if [ -n "$wpid" ]; then
	wthreads=$(awk '/^Threads:/ {print $2}' "/proc/$wpid/status" 2>/dev/null)
	diag "llm worker pid $wpid has ${wthreads:-?} threads (llm.threads = $(q 'SHOW llm.threads'))"
	blas=$(grep -oE '[^/ ]*lib(open)?blas[^ ]*' "/proc/$wpid/maps" 2>/dev/null | sort -u | tr '\n' ' ')
	diag "BLAS mapped in the worker: ${blas:-none}"
fi
done_testing
