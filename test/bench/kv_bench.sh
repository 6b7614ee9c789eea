#!/usr/bin/env bash
# kv_bench.sh — benchmarks of the paged KV cache and continuous batching,
# through PostgreSQL, on the random-weight 110M-shape Q8_0 model.  Not run by
# CI: it takes a few minutes of both CPUs.  Every figure is a ratio of two
# measurements taken in the same run, so that a loaded machine shifts both.
#
#   1. throughput: aggregate generated tokens/s with 1, 2, 4, 8, 16
#      concurrent sessions (pgbench, custom script SELECT llm_generate(...),
#      fixed max_tokens, greedy), as the ratio to one session (target: 8
#      sessions >= 4x one; the levels are measured in interleaved rounds,
#      since the shared machine's speed drifts over minutes, each timed in
#      its steady state, while all N sessions run, with the whole pgbench
#      run's figure beside it, and the worker's rows and generated tokens
#      per forward pass in those windows, from llm_stats); beside it the
#      engine alone (llm-cli bench -s N -p 14 -n TOKENS: N sequences of the
#      same lengths decoding together, no SQL, prompts not timed), so the
#      SQL path's share shows, and, when
#      LLAMA_BATCHED_BENCH names llama.cpp's llama-batched-bench, the same
#      ratios for llama.cpp on the same model and threads; plotted to
#      docs/throughput.png with gnuplot;
#   2. KV memory waste under a mixed-length workload (prompts of about 64
#      to 400 tokens, 32 to 192 new tokens, 12 sessions): llm_kv_cache's
#      internal_fragmentation_percent sampled every 0.2 s (target < 4%),
#      and how many sequences of that workload fit the pool vs. reserving
#      the maximum context per request (from page counts);
#   3. time to first token (max_tokens => 1) of a ~900-token prompt whose
#      first 90% is a cached prefix vs. a same-length prompt cold (target
#      >= 5x); the fixed cost of a request (a 2-token prompt) is printed
#      beside it, since it bounds the ratio for shorter prompts.
#
# It starts its own cluster (port $KV_BENCH_PORT, directory $KV_BENCH_DIR)
# and stops it at the end; as root the cluster belongs to "postgres".
# Environment (defaults in brackets):
#   KV_BENCH_PORT [54350]  KV_BENCH_DIR [/tmp/llm-kvbench-PORT]
#   KV_BENCH_MODEL [build/models/rand-110M-q8_0.gguf, made if absent]
#   KV_BENCH_THREADS [2]   KV_BENCH_TOKENS [64] (max_tokens, part 1)
#   KV_BENCH_LEVELS ["1 2 4 8 16"]  KV_BENCH_SECONDS [30] (per level)
#   KV_BENCH_ROUNDS [3] (part 1: rounds the seconds of a level are split in)
#   KV_BENCH_MIXED_SECONDS [60]     KV_BENCH_REPS [3] (part 3)
#   KV_BENCH_PARTS ["1 2 3"] (which measurements to run)
#   KV_BENCH_KEEP [0] (leave the cluster up)
#   LLAMA_BATCHED_BENCH [unset] (path of llama.cpp's llama-batched-bench)
#   LLM_MODELS_DIR [../shared/models]  PG_CONFIG [pg_config]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PORT=${KV_BENCH_PORT:-54350}
RUN=${KV_BENCH_DIR:-/tmp/llm-kvbench-$PORT}
DATA=$RUN/data
LLM_MODELS_DIR=${LLM_MODELS_DIR:-$ROOT/../shared/models}
MODEL=${KV_BENCH_MODEL:-$ROOT/build/models/rand-110M-q8_0.gguf}
THREADS=${KV_BENCH_THREADS:-2}
TOKENS=${KV_BENCH_TOKENS:-64}
LEVELS=${KV_BENCH_LEVELS:-1 2 4 8 16}
SECS=${KV_BENCH_SECONDS:-30}
ROUNDS=${KV_BENCH_ROUNDS:-3}
MIXED_SECS=${KV_BENCH_MIXED_SECONDS:-60}
KV_SIZE=256MB
PARTS=" ${KV_BENCH_PARTS:-1 2 3} "
RESULTS=$RUN/results.txt
PLOT=$ROOT/docs/throughput.png

export PGHOST=$RUN PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres

# Run a command as the owner of the cluster (postgres when we are root).
as_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# q SQL: one value.
q()
{
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# Print and record a result line.
say()
{
	echo "$*" | tee -a "$RESULTS"
}

stop_cluster()
{
	[ -f "$DATA/postmaster.pid" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 ||
		as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
}

on_exit()
{
	[ "${KV_BENCH_KEEP:-0}" = 1 ] || stop_cluster
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- model and cluster --------------------------------------------------
if [ ! -r "$MODEL" ]; then
	echo "making $MODEL"
	mkdir -p "$(dirname "$MODEL")"
	build/llm-random-model --shape 110M --type q8_0 \
		--vocab "$LLM_MODELS_DIR/gguf/ggml-vocab-llama-spm.gguf" -o "$MODEL" || exit 1
fi
stop_cluster
rm -rf "$RUN"
mkdir -p "$RUN"
[ "$(id -u)" -eq 0 ] && chown postgres: "$RUN"
if ! as_owner test -r "$MODEL"; then
	cp "$MODEL" "$RUN/model.gguf" && chmod 644 "$RUN/model.gguf"
	MODEL=$RUN/model.gguf
fi
as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 \
	--no-locale >"$RUN/initdb.log" 2>&1 || { cat "$RUN/initdb.log"; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$RUN'
max_connections = 60
fsync = off
shared_preload_libraries = 'llm'
llm.model = '$MODEL'
llm.threads = $THREADS
llm.kv_cache_size = '$KV_SIZE'
llm.max_requests = 32
EOF
as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$RUN/server.log" -w start >/dev/null ||
	{ tail -n 20 "$RUN/server.log"; exit 1; }
q 'CREATE EXTENSION llm' || exit 1
for i in $(seq 1 120); do
	[ "$(q 'SELECT model_loaded FROM llm_stats')" = t ] && break
	sleep 0.5
done
[ "$(q 'SELECT model_loaded FROM llm_stats')" = t ] || { echo "model not loaded"; exit 1; }
: >"$RESULTS"
say "# kv_bench $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "# model $(q "SELECT llm_model_info()->>'name'") ($(q "SELECT llm_model_info()->>'n_params'") parameters), context $(q "SELECT llm_model_info()->>'n_ctx'"), llm.threads $THREADS, llm.kv_cache_size $KV_SIZE"
say "# pool: $(q 'SELECT pages_total FROM llm_kv_cache') pages of $(q 'SELECT page_bytes FROM llm_kv_cache') bytes ($(q "SELECT setting FROM pg_settings WHERE name = 'llm.kv_block_size'") tokens each)"
q "SELECT llm_generate('warm up', 4)" >/dev/null

# ---- 1. throughput vs. concurrency --------------------------------------
if [[ $PARTS == *" 1 "* ]]; then
cat >"$RUN/gen.sql" <<EOF
\\set id random(1, 1000000)
SELECT llm_generate('Once upon a time ' || :id || ' there was', $TOKENS);
EOF
say ""
say "## 1. throughput: llm_generate(max_tokens => $TOKENS, greedy), ${SECS} s per level in $ROUNDS rounds"
say "# sessions  tokens/s  ratio_to_1  requests  rows/step  tokens/step  whole_run  ratio  per_round"
: >"$RUN/throughput.dat"
# stats: "generated_tokens requests_served epoch engine_steps batch_rows"
# as the server sees them now.
stats()
{
	psql -XAtq -F ' ' -c "SELECT generated_tokens, requests_served,
		extract(epoch FROM clock_timestamp()), engine_steps, batch_rows FROM llm_stats"
}
# measure C SECS: "tokens seconds requests all_tokens all_seconds steps
# rows" of C sessions.  pgbench runs for SECS plus LEAD seconds on either side; the
# first three figures count only the middle SECS seconds, when all C
# sessions are running (steady state), the last two the whole pgbench run,
# whose start (connections, C prompts arriving at once) and end (sessions
# finishing their last request one by one, concurrency falling to zero)
# are not C concurrent sessions.
LEAD=2
measure()
{
	local c=$1 secs=$2 pid a0 r0 e0 g0 s0 t0 g1 s1 t1 a1 r1 e1 n0 b0 n1 b1 x
	read -r a0 r0 e0 x x < <(stats)
	pgbench -n -c "$c" -j "$(( c < 4 ? c : 4 ))" -T "$(( secs + 2 * LEAD ))" \
		-f "$RUN/gen.sql" postgres >"$RUN/pgbench.$c.log" 2>&1 &
	pid=$!
	sleep "$LEAD"
	read -r g0 s0 t0 n0 b0 < <(stats)
	sleep "$secs"
	read -r g1 s1 t1 n1 b1 < <(stats)
	wait "$pid" || tail -n 5 "$RUN/pgbench.$c.log" >&2
	read -r a1 r1 e1 x x < <(stats)
	awk -v g=$((g1 - g0)) -v a="$t0" -v b="$t1" -v r=$((s1 - s0)) \
		-v ga=$((a1 - a0)) -v ea="$e0" -v eb="$e1" -v n=$((n1 - n0)) -v w=$((b1 - b0)) \
		'BEGIN { printf "%d %.3f %d %d %.3f %d %d\n", g, b - a, r, ga, eb - ea, n, w }'
}
# The machine's speed drifts by tens of percent over minutes (it is
# shared), so the levels are measured in interleaved rounds, ascending in
# odd rounds and descending in even ones (a linear drift then weighs on
# every level alike): each level's figure is its tokens over its time of
# all rounds, and each round's own ratios of every level to one session
# give the spread printed beside it.
first=${LEVELS%% *}
rsecs=$(( SECS / ROUNDS > 5 ? SECS / ROUNDS : 5 ))
rev=""
for c in $LEVELS; do rev="$c $rev"; done
declare -A tok sec reqs atok asec round_tps spread steps brows
for r in $(seq 1 "$ROUNDS"); do
	order=$LEVELS
	[ $((r % 2)) = 0 ] && order=$rev
	for c in $order; do
		read -r g t n ga ta ns nb < <(measure "$c" "$rsecs")
		tok[$c]=$(( ${tok[$c]:-0} + g ))
		steps[$c]=$(( ${steps[$c]:-0} + ns ))
		brows[$c]=$(( ${brows[$c]:-0} + nb ))
		atok[$c]=$(( ${atok[$c]:-0} + ga ))
		asec[$c]=$(awk -v a="${asec[$c]:-0}" -v b="$ta" 'BEGIN { print a + b }')
		sec[$c]=$(awk -v a="${sec[$c]:-0}" -v b="$t" 'BEGIN { print a + b }')
		reqs[$c]=$(( ${reqs[$c]:-0} + n ))
		round_tps[$c]=$(awk -v g="$g" -v t="$t" 'BEGIN { print g / t }')
	done
	for c in $LEVELS; do
		spread[$c]+="$(awk -v x="${round_tps[$c]}" -v y="${round_tps[$first]}" 'BEGIN { printf "%.2f", x / y }') "
	done
done
base=$(awk -v g="${tok[$first]}" -v t="${sec[$first]}" 'BEGIN { printf "%.1f", g / t }')
abase=$(awk -v g="${atok[$first]}" -v t="${asec[$first]}" 'BEGIN { printf "%.1f", g / t }')
for c in $LEVELS; do
	tps=$(awk -v g="${tok[$c]}" -v t="${sec[$c]}" 'BEGIN { printf "%.1f", g / t }')
	ratio=$(awk -v x="$tps" -v y="$base" 'BEGIN { printf "%.2f", x / y }')
	atps=$(awk -v g="${atok[$c]}" -v t="${asec[$c]}" 'BEGIN { printf "%.1f", g / t }')
	aratio=$(awk -v x="$atps" -v y="$abase" 'BEGIN { printf "%.2f", x / y }')
	rps=$(awk -v w="${brows[$c]}" -v n="${steps[$c]}" 'BEGIN { if (n > 0) printf "%.2f", w / n; else print "-" }')
	tps_step=$(awk -v g="${tok[$c]}" -v n="${steps[$c]}" 'BEGIN { if (n > 0) printf "%.2f", g / n; else print "-" }')
	printf '%d %s %s\n' "$c" "$tps" "$ratio" >>"$RUN/throughput.dat"
	say "$(printf '%10d  %8s  %9sx  %8d  %9s  %11s  %9s  %6sx  %s' "$c" "$tps" "$ratio" "${reqs[$c]}" \
		"$rps" "$tps_step" "$atps" "$aratio" "${spread[$c]}")"
done
say "# $ROUNDS interleaved rounds per level, each pgbench -T $((rsecs + 2 * LEAD)) timed over its middle ${rsecs} s (all sessions running); rows/step and tokens/step = the worker's forward passes in those windows (llm_stats.batch_rows and generated_tokens over engine_steps: a step's rows are its prompt chunks plus one per decoding sequence); whole_run = over the whole pgbench run, start and end included; per_round = that round's steady tokens/s ÷ its one-session tokens/s"
r8=$(awk '$1 == 8 { print $3 }' "$RUN/throughput.dat")
[ -n "$r8" ] && say "# 8 sessions: ${r8}x one session (target >= 4x)"

# ratio_table RAW DAT: RAW holds "sequences tokens/s" lines; append
# "sequences tokens/s ratio" (to the 1-sequence line) to DAT and print them.
ratio_table()
{
	local base n tps ratio
	base=$(awk '$1 == 1 { print $2 }' "$1")
	while read -r n tps; do
		ratio=$(awk -v x="$tps" -v y="${base:-0}" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }')
		printf '%d %s %s\n' "$n" "$tps" "$ratio" >>"$2"
		say "$(printf '%11d  %8s  %9sx' "$n" "$tps" "$ratio")"
	done <"$1"
}

# The same batched decode steps without PostgreSQL (llm-cli bench -s: N
# sequences generating together in one engine, each a 14-token prompt,
# prefilled untimed, then $TOKENS tokens, as the SQL requests and
# llama-batched-bench below), so that the SQL path's share of the figures
# above can be told apart: its prompts' prefill and its staggered arrivals.
say ""
say "# engine alone: llm-cli bench -s N -p 14 -n $TOKENS (N sequences decoding together after their prompts, $TOKENS timed steps, median of 3)"
say "# sequences  tokens/s  ratio_to_1"
: >"$RUN/engine.dat"
"$ROOT/build/llm-cli" bench -m "$MODEL" -p 14 -n "$TOKENS" -t "$THREADS" -r 3 \
	-s "$(echo $LEVELS | tr ' ' ',')" >"$RUN/engine.md" 2>&1 || tail -n 3 "$RUN/engine.md"
awk -F'|' '$6 ~ /tg/ { n = 1; if (split($6, f, "x") > 1) n = f[2] + 0; gsub(/ /, "", $7); print n, $7 }' \
	"$RUN/engine.md" >"$RUN/engine.raw"
ratio_table "$RUN/engine.raw" "$RUN/engine.dat"

# A reference engine on the same machine and model, when its path is given:
# llama.cpp's llama-batched-bench (B sequences, each a 14-token prompt
# then $TOKENS generated tokens, decoded together), its generation rate at
# each B as the ratio to B = 1 in its own run.
: >"$RUN/llamacpp.dat"
if [ -n "${LLAMA_BATCHED_BENCH:-}" ]; then
	say ""
	say "# llama.cpp alone: $LLAMA_BATCHED_BENCH -npp 14 -ntg $TOKENS -t $THREADS (S_TG: generated tokens/s of B sequences together)"
	say "# sequences  tokens/s  ratio_to_1"
	"$LLAMA_BATCHED_BENCH" -m "$MODEL" -c 4096 -b 512 -ub 512 -npp 14 -ntg "$TOKENS" \
		-npl "$(echo $LEVELS | tr ' ' ',')" -t "$THREADS" >"$RUN/llamacpp.md" 2>&1 ||
		tail -n 3 "$RUN/llamacpp.md"
	awk -F'|' '$2 ~ /^ *14 *$/ { gsub(/ /, "", $4); gsub(/ /, "", $9); print $4, $9 }' \
		"$RUN/llamacpp.md" >"$RUN/llamacpp.raw"
	ratio_table "$RUN/llamacpp.raw" "$RUN/llamacpp.dat"
fi

if command -v gnuplot >/dev/null; then
	lplot=""
	[ -s "$RUN/llamacpp.dat" ] &&
		lplot=", '$RUN/llamacpp.dat' using 1:2 with linespoints lw 2 pt 9 dt 4 title 'llama.cpp alone (llama-batched-bench)'"
	mkdir -p "$(dirname "$PLOT")"
	gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output '$PLOT'
set title "llm: aggregate generation throughput vs. concurrent SQL sessions\\n(random-weight 110M Q8_0, llm.threads = $THREADS, greedy, $TOKENS tokens per request)"
set xlabel 'concurrent SQL sessions'
set ylabel 'generated tokens/s (all sessions)'
set logscale x 2
set xrange [0.8:20]
set xtics (1, 2, 4, 8, 16)
set key left top Left reverse
set grid
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
base = $base
plot '$RUN/throughput.dat' using 1:2 with linespoints lw 2 pt 7 title 'SQL sessions (continuous batching)', \
	 '$RUN/engine.dat' using 1:2 with linespoints lw 2 pt 5 dt 3 title 'engine alone (llm-cli bench -s N -p 14 -n $TOKENS)', \
	 base title 'one session (no batching)' with lines dt 2$lplot
EOF
	[ -s "$PLOT" ] && say "# plot: ${PLOT#$ROOT/}"
fi
fi

# ---- 2. KV memory waste under a mixed-length workload --------------------
WORDS=(apple river house garden little happy sunny window yellow rabbit
	forest castle dragon pencil silver winter summer bridge candle basket
	orange purple market friend school teacher kitten puppy flower cookie)
# mixed_prompt N: N random words
mixed_prompt()
{
	local n=$1 i out=""
	for i in $(seq 1 "$n"); do
		out+="${WORDS[RANDOM % ${#WORDS[@]}]} "
	done
	printf '%s' "$out"
}
# A session of the mixed workload: prompts of ~64-400 tokens, 32-192 new.
mixed_session()
{
	local i
	for i in $(seq 1 40); do
		echo "SELECT length(llm_generate('$(mixed_prompt $((40 + RANDOM % 220)))', $((32 + RANDOM % 161))));"
	done
}
if [[ $PARTS == *" 2 "* ]]; then
say ""
say "## 2. KV memory waste, 12 sessions, prompts ~64-400 tokens, 32-192 new tokens, ${MIXED_SECS} s"
pids=()
for s in $(seq 1 12); do
	mixed_session >"$RUN/mixed.$s.sql"
	psql -Xq -f "$RUN/mixed.$s.sql" >/dev/null 2>&1 &
	pids+=($!)
done
: >"$RUN/mixed.dat"
end=$(($(date +%s) + MIXED_SECS))
while [ "$(date +%s)" -lt "$end" ]; do
	psql -XAtq -F ' ' -c "SELECT k.pages_used, round(k.internal_fragmentation_percent::numeric, 3),
			(SELECT count(*) FROM llm_requests WHERE state = 'running' AND pages > 0),
			(SELECT coalesce(sum(pages), 0) FROM llm_requests)
		FROM llm_kv_cache k WHERE k.pages_used > 0" >>"$RUN/mixed.dat" 2>/dev/null
	sleep 0.2
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
pages_total=$(q 'SELECT pages_total FROM llm_kv_cache')
block=$(q "SELECT setting FROM pg_settings WHERE name = 'llm.kv_block_size'")
n_ctx=$(q "SELECT llm_model_info()->>'n_ctx'")
awk -v total="$pages_total" -v bs="$block" -v ctx="$n_ctx" '
	NF == 4 && $3 > 0 { n++; frag += $2; if ($2 > fmax) fmax = $2; used += $1; seqs += $3; held += $4 }
	END {
		if (n == 0) { print "# no samples"; exit }
		per_seq = held / seqs
		reserve = int((ctx + bs - 1) / bs)
		printf "# samples %d, sequences running per sample %.1f, pages used per sample %.1f of %d\n", n, seqs / n, used / n, total
		printf "internal fragmentation: mean %.2f%%, max %.2f%% (target < 4%%)\n", frag / n, fmax
		printf "pages per sequence (measured) %.1f vs. %d for a %d-token max-context reservation\n", per_seq, reserve, ctx
		printf "sequences that fit %d pages: %d paged vs. %d reserved (%.1fx)\n", total, int(total / per_seq), int(total / reserve), (total / per_seq) / int(total / reserve)
	}' "$RUN/mixed.dat" | tee -a "$RESULTS"
say "# $(q "SELECT 'preemptions ' || preemptions || ', evictions ' || evictions FROM llm_kv_cache")"
for i in $(seq 1 100); do
	[ "$(q 'SELECT pages_used FROM llm_kv_cache')" = 0 ] && break
	sleep 0.2
done
fi

# ---- 3. time to first token: 90% cached prefix vs. cold ------------------
# ttft PROMPT: milliseconds of SELECT llm_generate(prompt, 1), as psql times it
ttft()
{
	printf '%s\n' '\timing on' "SELECT length(llm_generate(:'p', 1));" |
		psql -Xq -v p="$1" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
}
if [[ $PARTS == *" 3 "* ]]; then
say ""
say "## 3. time to first token (max_tokens => 1), prompt ~900 tokens, first 90% cached vs. cold"
say "# rep  prompt_tokens  cold_ms  cached_ms  ratio  2-token_prompt_ms"
: >"$RUN/ttft.dat"
suffix=" and then the $(mixed_prompt 55)"
for rep in $(seq 1 "${KV_BENCH_REPS:-3}"); do
	warm_prefix="Story $rep$RANDOM: $(mixed_prompt 520)"
	cold_prefix="Story $rep$RANDOM: $(mixed_prompt 520)"
	ttft "$warm_prefix and so" >/dev/null	# caches the prefix's pages
	ntok=$(printf '%s\n' "SELECT array_length(llm_tokenize(:'p', true), 1);" | psql -XAtq -v p="$cold_prefix$suffix")
	cold=$(ttft "$cold_prefix$suffix")
	cached=$(ttft "$warm_prefix$suffix")
	fixed=$(ttft "Once")
	ratio=$(awk -v a="$cold" -v b="$cached" 'BEGIN { printf "%.1f", a / b }')
	echo "$cold $cached $fixed" >>"$RUN/ttft.dat"
	say "$(printf '%5d  %13s  %7s  %9s  %5sx  %17s' "$rep" "$ntok" "$cold" "$cached" "$ratio" "$fixed")"
done
sort -n -k1 "$RUN/ttft.dat" | awk '{ c[NR] = $1 } END { print c[int((NR + 1) / 2)] }' >"$RUN/cold.med"
sort -n -k2 "$RUN/ttft.dat" | awk '{ w[NR] = $2 } END { print w[int((NR + 1) / 2)] }' >"$RUN/warm.med"
say "$(awk -v a="$(cat "$RUN/cold.med")" -v b="$(cat "$RUN/warm.med")" \
	'BEGIN { printf "median: cold %.1f ms, cached prefix %.1f ms: %.1fx faster (target >= 5x)", a, b, a / b }')"
say "# $(q "SELECT 'prefix queries ' || prefix_queries || ', hits ' || prefix_hits || ', hit rate ' || round(prefix_hit_rate::numeric, 3) FROM llm_kv_cache")"
fi
echo
echo "results: $RESULTS"
