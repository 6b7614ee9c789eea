#!/usr/bin/env bash
# 10-postmaster-threads.sh — the maths threads and BLAS live only in the llm
# worker: the postmaster (which forks every backend) must stay a single-
# threaded process with no BLAS library mapped, and so must an ordinary
# backend that has just called llm_generate.  To make the check meaningful
# the worker is made to load OpenBLAS first (llm.blas_min_rows = 1), when
# the system has it.
set -uo pipefail
. "$(dirname "$0")/common.sh"

BLAS_RE='lib(open)?blas|libgomp|libmkl'

restore()
{
	psql -XAtq -c "ALTER SYSTEM RESET llm.blas_min_rows" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap restore EXIT

# Make sure the worker has loaded the model and run the engine once.
ref=$(q "$GREEDY_SQL")
check "a generation works" [ -n "$ref" ]

wpid=$(worker_pid)
check "the llm worker is running" [ -n "$wpid" ]
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so'; then
	q "ALTER SYSTEM SET llm.blas_min_rows = 1" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	mapped=false
	for i in $(seq 1 50); do
		psql -XAtq -c "SELECT llm_generate('The little dog liked to run in the park with his friends', 4)" >/dev/null 2>&1
		wpid=$(worker_pid)
		if grep -qE "$BLAS_RE" "/proc/${wpid:-0}/maps" 2>/dev/null; then
			mapped=true
			break
		fi
		sleep 0.2
	done
	check "with llm.blas_min_rows = 1 the worker loads OpenBLAS" $mapped
else
	echo "ok $((T_N + 1)) # SKIP OpenBLAS is not installed"
	T_N=$((T_N + 1))
fi

pm=$(postmaster_pid)
check "postmaster pid known ($pm)" test -r "/proc/$pm/status"
threads=$(awk '/^Threads:/ {print $2}' "/proc/$pm/status" 2>/dev/null)
check_eq "postmaster has exactly one thread" "$threads" 1
if grep -qE "$BLAS_RE" "/proc/$pm/maps" 2>/dev/null; then
	not_ok "no BLAS library mapped in the postmaster"
	grep -E "$BLAS_RE" "/proc/$pm/maps" | awk '{print "#   " $NF}' | sort -u
else
	ok "no BLAS library mapped in the postmaster"
fi

# A backend that ran a generation: superuser can read its own /proc entry.
out=$(q "SELECT llm_generate('Once', 8) IS NOT NULL,
		(regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'),
		              'Threads:\s+(\d+)'))[1],
		pg_read_file('/proc/' || pg_backend_pid() || '/maps') ~ '$BLAS_RE'")
check_eq "a backend stays single-threaded, without BLAS, after llm_generate" "$out" "t|1|f"

if [ -n "$wpid" ]; then
	wthreads=$(awk '/^Threads:/ {print $2}' "/proc/$wpid/status" 2>/dev/null)
	diag "llm worker pid $wpid has ${wthreads:-?} threads (llm.threads = $(q 'SHOW llm.threads'))"
	blas=$(grep -oE '[^/ ]*lib(open)?blas[^ ]*' "/proc/$wpid/maps" 2>/dev/null | sort -u | tr '\n' ' ')
	diag "BLAS mapped in the worker: ${blas:-none}"
fi
done_testing
