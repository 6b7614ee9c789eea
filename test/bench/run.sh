#!/usr/bin/env bash
# run.sh — the benchmarks, run by `make bench` (after `make core`).
#
#   test/bench/run.sh [--kernels] [--sql] [--kv] [--all]
#
# Always: test/bench/engine_bench.sh — llm-cli bench (pp128 / tg32 tokens/s)
# on random-weight 110M (F16, Q8_0) and 1.1B (Q8_0, Q4_0, Q4_K_M) models at
# 1 and 2 threads, against the read-bandwidth roofline measured in the same
# run (test/bench/bandwidth.c) and the llama.cpp reference figures quoted in
# issue 2.  BENCH_QUICK=1 runs the 110M shape only (about a minute; the
# 1.1B models take minutes to generate the first time and about a minute
# each to bench).
# Optional:
#   --kernels (BENCH_KERNELS=1)  build/bench_matmul: kernel GB/s per type/ISA;
#                                build/bench_attn: attention block per tile
#   --sql     (BENCH_SQL=1)      test/bench/sql_bench.sh: memory per
#                                backend, first-call latency, SQL path vs
#                                llm-cli (needs the extension installed)
#   --kv      (BENCH_KV=1)       test/bench/kv_bench.sh, if present
#   --all                        all of the above
# Variables of the scripts (BENCH_MODELS, BENCH_THREADS, BENCH_REPS,
# BENCH_NICE, BENCH_CONNS, ...) are documented at their tops and in
# docs/performance.md; `make bench BENCH_QUICK=1` passes them through too.
# The whole output is also saved to build/bench/bench-YYYYmmdd-HHMMSS.md.
# Nothing here is a test: the figures are printed, never asserted.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
KERNELS=${BENCH_KERNELS:-0}
SQL=${BENCH_SQL:-0}
KV=${BENCH_KV:-0}
for arg in "$@"; do
	case "$arg" in
		--kernels) KERNELS=1 ;;
		--sql) SQL=1 ;;
		--kv) KV=1 ;;
		--all) KERNELS=1; SQL=1; KV=1 ;;
		-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
		*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
	esac
done

mkdir -p "$BUILD/bench"
LOG=$BUILD/bench/bench-$(date -u +%Y%m%d-%H%M%S).md

# Run every selected benchmark; non-zero if any of them failed.
run_all()
{
	local rc=0

	echo "# llm benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	test/bench/engine_bench.sh || rc=1
	if [ "$KERNELS" = 1 ]; then
		echo
		echo "## Kernels (build/bench_matmul)"
		echo
		if make --no-print-directory -s "$BUILD/bench_matmul" "$BUILD/bench_attn" BUILD="$BUILD" >/dev/null; then
			"$BUILD/bench_matmul" || rc=1
			echo
			"$BUILD/bench_attn" || rc=1
		else
			rc=1
		fi
	fi
	if [ "$SQL" = 1 ]; then
		echo
		test/bench/sql_bench.sh || rc=1
	fi
	if [ "$KV" = 1 ]; then
		echo
		if [ -x test/bench/kv_bench.sh ] || [ -f test/bench/kv_bench.sh ]; then
			bash test/bench/kv_bench.sh || rc=1
		else
			echo "test/bench/kv_bench.sh is not there: skipped"
		fi
	fi
	return $rc
}

run_all 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
echo
echo "saved to $LOG"
exit "$rc"
