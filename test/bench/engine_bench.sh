#!/usr/bin/env bash
# engine_bench.sh — engine speed against the memory-bandwidth roofline.
#
# For random-weight models at real shapes (made by the repo's own
# build/llm-random-model with the Llama 2 vocabulary, cached in
# build/models/rand-SHAPE-TYPE.gguf), this runs
#
#   build/llm-cli bench -m MODEL -p 128 -n 32 -t 1,2 -r 3
#
# (pp128 = prompt processing, one batched pass over 128 tokens; tg32 =
# generation, 31 timed single-token decode steps; medians of 3 repetitions)
# and measures, in the same run, the machine's read bandwidth with
# build/bandwidth (test/bench/bandwidth.c: 1 and 2 pthreads streaming a
# 1 GiB buffer with prefetching AVX-512 loads, best of 10 passes).
#
# Decode reads every weight once per token, so its speed limit is
#   roofline tok/s = read bandwidth / bytes of weights read per token
# where the bytes per token are the sizes of all tensors a decode step reads:
# every layer matrix and norm plus the output matrix, and of the token
# embedding only one row when the output matrix is a separate tensor (a
# tied embedding is read whole, as the output matrix).  The sizes come from
# the GGUF tensor table (and the file total is checked against
# `llm-cli info`).  "% roofline" = measured tg tok/s / roofline tok/s.
#
# The DRAM roofline uses the 1 GiB figure.  A model smaller than the
# last-level cache (this machine: 300 MiB of L3) can be read from the LLC
# at more than DRAM speed, so the bandwidth is also measured over a buffer
# the size of the model's per-token bytes ("@size") and a second fraction is
# printed against it.
#
# Bandwidth figures are divided by the slowest thread's CPU time (the
# cpu_best_gbps of bandwidth.c): on a machine shared with other jobs this
# leaves out time slices taken by others, so the roofline is not lowered by
# the load (the fraction is then conservative); on an idle machine it equals
# the wall-clock figure.
#
# "CPUs free?" compares the wall-clock and CPU-time bandwidth measured just
# before each model's run: well below 1 means other processes were running,
# which on a 2-CPU machine hurts the 2-thread figures most.
#
# The llama.cpp columns: with LLAMA_BENCH=/path/to/llama-bench (a llama.cpp
# build of your own beside the project; this repository neither ships nor
# builds it), llama-bench runs on the same file, thread counts and
# repetitions right after llm-cli, and the ratios are against those
# same-run figures.  Without it they are the REFERENCE figures quoted in
# issue 2 (its fastest native build measured on this machine type: 1.1B
# Q8_0 250/23, Q4_0 236/33, 110M Q8_0 3160/306 tok/s pp/tg at 2 threads),
# which this machine does not always reproduce.
#
# Environment:
#   BENCH_QUICK=1     only the 110M shape (F16, Q8_0): about a minute
#   BENCH_MODELS      override the list, e.g. "110M:q8_0 1.1B:q4_0"
#   BENCH_THREADS     thread counts (default 1,2)
#   BENCH_REPS        llm-cli bench repetitions (default 3)
#   BENCH_REGEN=1     regenerate the cached random models
#   BENCH_NICE        run llm-cli and build/bandwidth at this nice level (e.g.
#                     -10, needs root) so that other jobs on a shared machine
#                     disturb the figures less; the output says so
#   BENCH_CLI_ARGS    extra llm-cli bench options, e.g. "--blas 32" (OpenBLAS prefill)
#   BENCH_TIMEOUT     seconds allowed for one model's llm-cli bench (default 600)
#   LLAMA_BENCH       a llama-bench binary to measure llama.cpp in the same run
#   LLM_MODELS_DIR    where ggml-vocab-llama-spm.gguf is (default ../shared/models)
#   BUILD             build directory (default build)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
LLM_MODELS_DIR=${LLM_MODELS_DIR:-$ROOT/../shared/models}
VOCAB=$LLM_MODELS_DIR/gguf/ggml-vocab-llama-spm.gguf
THREADS=${BENCH_THREADS:-1,2}
REPS=${BENCH_REPS:-3}
LIMIT=${BENCH_TIMEOUT:-600}
FAILED=0
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	MODELS=${BENCH_MODELS:-"110M:f16 110M:q8_0"}
else
	MODELS=${BENCH_MODELS:-"110M:f16 110M:q8_0 1.1B:q8_0 1.1B:q4_0 1.1B:q4_k_m"}
fi
CLI=$BUILD/llm-cli
GEN=$BUILD/llm-random-model
BW=$BUILD/bandwidth
NICE=()
if [ -n "${BENCH_NICE:-}" ]; then
	NICE=(nice -n "$BENCH_NICE")
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for b in "$CLI" "$GEN"; do
	if [ ! -x "$b" ]; then
		echo "engine_bench: $b is missing (run make core)" >&2
		exit 2
	fi
done
make --no-print-directory -s "$BW" BUILD="$BUILD" >/dev/null || exit 2
if [ ! -r "$VOCAB" ]; then
	echo "engine_bench: $VOCAB not found (set LLM_MODELS_DIR)" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "engine_bench: python3 is needed to read GGUF tensor tables" >&2; exit 2; }

# Print "decode_bytes total_bytes embd_type output" for a GGUF file: the bytes
# one decode step reads, and the sum of all tensor sizes.
gguf_bytes()
{
	python3 - "$1" <<'PY'
import struct, sys
# ggml type -> (block elements, block bytes)
SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         8: (32, 34), 9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144),
         13: (256, 176), 14: (256, 210), 15: (256, 292), 30: (1, 2)}
NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 8: "Q8_0", 12: "Q4_K", 14: "Q6_K", 30: "BF16"}
f = open(sys.argv[1], "rb")
def rd(fmt):
    return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
def rstr():
    return f.read(rd("Q")).decode("utf-8", "replace")
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
def skip(t):
    if t in SCALAR:
        f.seek(struct.calcsize("<" + SCALAR[t]), 1)
    elif t == 8:
        f.seek(rd("Q"), 1)
    elif t == 9:
        et, n = rd("I"), rd("Q")
        if et in SCALAR:
            f.seek(n * struct.calcsize("<" + SCALAR[et]), 1)
        else:
            for _ in range(n):
                skip(et)
    else:
        raise SystemExit("unknown metadata type %d" % t)
assert f.read(4) == b"GGUF", "not a GGUF file"
ver = rd("I")
assert ver >= 2, "GGUF v1 is not supported"
n_t, n_kv = rd("Q"), rd("Q")
for _ in range(n_kv):
    rstr()
    skip(rd("I"))
tensors = {}
for _ in range(n_t):
    name = rstr()
    nd = rd("I")
    dims = [rd("Q") for _ in range(nd)]
    t = rd("I")
    rd("Q")
    n = 1
    for d in dims:
        n *= d
    blk, bb = SIZES[t]
    tensors[name] = (t, dims, n // blk * bb)
total = sum(v[2] for v in tensors.values())
decode = total
emb = tensors.get("token_embd.weight")
has_out = "output.weight" in tensors
if emb is not None and has_out:
    rows = emb[1][1] if len(emb[1]) > 1 else 1
    decode = total - emb[2] + emb[2] // rows
print(decode, total, NAMES.get(emb[0], str(emb[0])) if emb else "-",
      NAMES.get(tensors["output.weight"][0], "?") if has_out else "tied")
PY
}

# Make (or reuse) build/models/rand-SHAPE-TYPE.gguf; prints its path.
model_for()
{
	local shape=$1 type=$2
	local out=$BUILD/models/rand-$shape-$type.gguf
	mkdir -p "$BUILD/models"
	if [ -s "$out" ] && [ "${BENCH_REGEN:-0}" != 1 ] &&
		"$CLI" info -m "$out" >/dev/null 2>&1; then
		echo "$out"
		return 0
	fi
	echo "generating $out (random weights, shape $shape, type $type)..." >&2
	local t0=$SECONDS
	if ! "$GEN" --shape "$shape" --type "$type" --vocab "$VOCAB" -o "$out.tmp.$$" >&2; then
		rm -f "$out.tmp.$$"
		return 1
	fi
	mv "$out.tmp.$$" "$out"
	echo "  done in $((SECONDS - t0)) s" >&2
	echo "$out"
}

# Field of a "bandwidth ..." line: bw_field FILE THREADS KEY.
bw_field()
{
	awk -v t="threads=$2" -v k="$3=" '$2 == t { for (i = 3; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$1" | tail -n1
}

# "threads test tokens/s isa" for each row of llm-cli bench's markdown
# table, whatever the column order (found from the header line).
bench_rows()
{
	awk -F'|' '
		/^\| *model *\|/ {
			for (i = 2; i < NF; i++) { h = $i; gsub(/ /, "", h); col[h] = i }
			next
		}
		/^\|/ && col["threads"] && $col["threads"] ~ /[0-9]/ {
			t = $col["threads"]; x = $col["test"]; v = $col["tokens/s"]
			isa = col["isa"] ? $col["isa"] : "-"
			if (col["blas"]) { b = $col["blas"]; gsub(/ /, "", b); if (b != "" && b != "off") isa = isa "+blas" }
			gsub(/ /, "", t); gsub(/ /, "", x); gsub(/ /, "", v); gsub(/ /, "", isa)
			print t, x, v, isa
		}' "$1"
}

# Reference llama.cpp figures from issue 2 (2 threads): "pp tg" or empty.
reference()
{
	case "$1:$2:$3" in
		1.1B:q8_0:2) echo "250 23" ;;
		1.1B:q4_0:2) echo "236 33" ;;
		110M:q8_0:2) echo "3160 306" ;;
		*) echo "" ;;
	esac
}

echo "## Engine benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs; ISA used: see the table"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "${BENCH_NICE:-}" ] || echo "- llm-cli and bandwidth ran at nice $BENCH_NICE (BENCH_NICE) to reduce interference from other jobs"

# Models first (generation is slow and must not overlap the timing).
declare -A PATHS
for m in $MODELS; do
	shape=${m%%:*}
	type=${m##*:}
	p=$(model_for "$shape" "$type") || { echo "engine_bench: could not make $m" >&2; exit 1; }
	PATHS[$m]=$p
done

echo
echo "Read bandwidth (build/bandwidth, 1 GiB buffer, best of 10 passes):"
"${NICE[@]}" "$BW" -t "$THREADS" -s 1024 -r 10 | tee "$TMP/bw_dram" | sed 's/^/    /'

ROWS=$TMP/rows
: >"$ROWS"
for m in $MODELS; do
	shape=${m%%:*}
	type=${m##*:}
	path=${PATHS[$m]}
	read -r dec total embt outt < <(gguf_bytes "$path") || { echo "engine_bench: cannot read $path" >&2; exit 1; }
	info_bytes=$("$CLI" info -m "$path" | awk '$1 == "bytes" { print $2 }')
	if [ -n "$info_bytes" ] && [ "$info_bytes" != "$total" ]; then
		echo "    note: llm-cli info reports $info_bytes tensor bytes, the GGUF table $total" >&2
	fi
	size_mib=$(( (dec + (1 << 20) - 1) >> 20 ))
	"${NICE[@]}" "$BW" -t "$THREADS" -s "$size_mib" -r 10 >"$TMP/bw_size_${shape}_${type}" 2>&1
	echo
	echo "$shape $type: $(awk -v b="$dec" 'BEGIN { printf "%.1f", b / 1e6 }') MB of weights read per token (token_embd $embt, output $outt; file tensors $(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
	sed 's/^/    /' "$TMP/bw_size_${shape}_${type}"
	timeout "$LIMIT" "${NICE[@]}" "$CLI" bench -m "$path" -p 128 -n 32 -t "$THREADS" -r "$REPS" ${BENCH_CLI_ARGS:-} >"$TMP/bench" 2>&1
	rc=$?
	if [ "$rc" -eq 124 ]; then
		echo "    llm-cli bench did not finish within $LIMIT s (BENCH_TIMEOUT): rows missing below"
		FAILED=1
	elif [ "$rc" -ne 0 ]; then
		cat "$TMP/bench"
		echo "engine_bench: llm-cli bench failed on $path" >&2
		exit 1
	fi
	sed 's/^/    /' "$TMP/bench"
	# rows: shape type threads isa pp tg dec bw_dram bw_size quiet [lc_pp lc_tg]
	bench_rows "$TMP/bench" >"$TMP/parsed"
	: >"$TMP/lc_parsed"
	if [ -n "${LLAMA_BENCH:-}" ]; then
		echo "    llama.cpp (LLAMA_BENCH=$LLAMA_BENCH), same file:"
		timeout "$LIMIT" "${NICE[@]}" "$LLAMA_BENCH" -m "$path" -p 128 -n 32 -t "$THREADS" -r "$REPS" -o md \
			>"$TMP/lc_bench" 2>&1 || echo "    llama-bench failed (rc $?)"
		grep '^|' "$TMP/lc_bench" | sed 's/^/    /'
		# "threads test tokens/s" from llama-bench's markdown table
		awk -F'|' '/^\|/ { t = $(NF - 3); x = $(NF - 2); v = $(NF - 1); gsub(/ /, "", t); gsub(/ /, "", x);
			split(v, a, "±"); gsub(/ /, "", a[1]); if (t ~ /^[0-9]+$/) print t, x, a[1] }' "$TMP/lc_bench" >"$TMP/lc_parsed"
	fi
	for t in ${THREADS//,/ }; do
		tg=$(awk -v t="$t" '$1 == t && $2 ~ /^tg/ { print $3 }' "$TMP/parsed" | tail -n1)
		[ -n "$tg" ] || continue
		pp=$(awk -v t="$t" '$1 == t && $2 ~ /^pp/ { print $3 }' "$TMP/parsed" | tail -n1)
		isa=$(awk -v t="$t" '$1 == t && $2 ~ /^tg/ { print $4 }' "$TMP/parsed" | tail -n1)
		# wall-clock ÷ CPU-time bandwidth just before this model: < 0.8 = busy machine
		quiet=$(awk -v w="$(bw_field "$TMP/bw_size_${shape}_${type}" "$t" best_gbps)" \
			-v c="$(bw_field "$TMP/bw_size_${shape}_${type}" "$t" cpu_best_gbps)" 'BEGIN { printf "%.2f", (c > 0 ? w / c : 0) }')
		lpp=$(awk -v t="$t" '$1 == t && $2 ~ /^pp/ { print $3 }' "$TMP/lc_parsed" | tail -n1)
		ltg=$(awk -v t="$t" '$1 == t && $2 ~ /^tg/ { print $3 }' "$TMP/lc_parsed" | tail -n1)
		echo "$shape $type $t ${isa:--} ${pp:-0} ${tg:-0} $dec $(bw_field "$TMP/bw_dram" "$t" cpu_best_gbps) $(bw_field "$TMP/bw_size_${shape}_${type}" "$t" cpu_best_gbps) $quiet $lpp $ltg" >>"$ROWS"
	done
done

echo
echo "Read bandwidth again at the end (1 GiB):"
"${NICE[@]}" "$BW" -t "$THREADS" -s 1024 -r 10 | tee "$TMP/bw_dram2" | sed 's/^/    /'
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in ${THREADS//,/ }; do
	for f in "$TMP/bw_dram" "$TMP/bw_dram2"; do
		awk -v t="$t" -v w="$(bw_field "$f" "$t" best_gbps)" -v c="$(bw_field "$f" "$t" cpu_best_gbps)" 'BEGIN {
			if (c > 0 && w < 0.8 * c)
				printf "- WARNING: at %d threads the wall-clock bandwidth (%.1f GB/s) is far below the CPU-time one (%.1f GB/s): other processes were using the CPUs, so the tokens/s below (wall clock) are lower than on an idle machine\n", t, w, c }'
	done
done

echo
if [ -n "${LLAMA_BENCH:-}" ]; then
	refhead="llama.cpp pp / tg (measured in this run)"
else
	refhead="llama.cpp ref pp / tg (issue 2, not measured here)"
fi
echo "| model | threads | isa | weights/token MB | pp128 tok/s | tg32 tok/s | DRAM GB/s | roofline tok/s | tg % of DRAM roofline | GB/s @size | tg % of roofline @size | $refhead | pp ÷ llama.cpp | tg ÷ llama.cpp | CPUs free? |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
while read -r shape type t isa pp tg dec bw bws quiet lpp ltg; do
	if [ -n "${LLAMA_BENCH:-}" ]; then
		ref=""
		[ -n "$lpp" ] && [ -n "$ltg" ] && ref="$lpp $ltg"
	else
		ref=$(reference "$shape" "$type" "$t")
	fi
	# use the better of the two DRAM measurements (start, end)
	bw2=$(bw_field "$TMP/bw_dram2" "$t" cpu_best_gbps)
	awk -v shape="$shape" -v type="$type" -v t="$t" -v isa="$isa" -v pp="$pp" -v tg="$tg" \
		-v dec="$dec" -v bw="$bw" -v bw2="$bw2" -v bws="$bws" -v ref="$ref" -v quiet="$quiet" 'BEGIN {
		if (bw2 + 0 > bw + 0) bw = bw2;
		roof = bw * 1e9 / dec;
		roofs = bws * 1e9 / dec;
		if (ref != "") {
			split(ref, r, " ");
			refs = sprintf("%.0f / %.1f", r[1], r[2]);
			rpp = sprintf("%.2f", pp / r[1]);
			rtg = sprintf("%.2f", tg / r[2]);
		} else { refs = "—"; rpp = "—"; rtg = "—"; }
		busy = (quiet + 0 < 0.8) ? sprintf("NO (%.2f)", quiet) : sprintf("yes (%.2f)", quiet);
		printf "| %s %s | %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.0f%% | %s | %s | %s | %s |\n",
			shape, toupper(type), t, isa, dec / 1e6, pp, tg, bw, roof, 100 * tg / roof,
			bws, 100 * tg / roofs, refs, rpp, rtg, busy;
	}'
done <"$ROWS"
echo
echo "weights/token: bytes of tensors one decode step reads (all matrices, norms, output; one token_embd row)."
echo "roofline tok/s = DRAM GB/s ÷ weights/token; @size = bandwidth over a buffer as large as weights/token (LLC-resident when smaller than the L3)."
echo "Bandwidth = best of 10 passes, bytes ÷ slowest thread's CPU time (build/bandwidth cpu_best_gbps)."
echo "CPUs free? = wall-clock ÷ CPU-time bandwidth measured just before the model's run (1.00 = the benchmark had the CPUs to itself; NO below 0.8: other processes were running, so that row's tokens/s, wall clock, understate the engine, the 2-thread ones most)."
exit $FAILED
