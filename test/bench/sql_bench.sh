#!/usr/bin/env bash
# sql_bench.sh — what the SQL path costs: memory per connection and speed
# through llm_generate() against the same generation through llm-cli.
#
# Starts a throwaway cluster (port $BENCH_PORT, default 54350; data in
# $BENCH_DIR, default /tmp/llm-sqlbench-$BENCH_PORT; owned by the postgres
# user when run as root, since PostgreSQL refuses to run as root) with
#   shared_preload_libraries = 'llm', llm.model = MODEL, llm.threads = 2
# using the INSTALLED extension (make install first), and stops it on exit.
# MODEL is the random-weight 110M-shape Q8_0 model made by the repo's
# build/llm-random-model (cached as build/models/rand-110M-q8_0.gguf, the
# same file test/bench/engine_bench.sh uses), or $BENCH_SQL_MODEL.
#
# (a) Memory per backend.  N connections ($BENCH_CONNS, default 10) are
#     opened and kept open; each one, in turn, runs one
#     llm_generate('Once upon a time', 4) (4 = $BENCH_FIRST_TOKENS: short,
#     so the latency shows per-call costs rather than generation).  Every
#     backend's /proc/PID/smaps_rollup is read before and after its first call:
#     growth of Rss (every page the backend touched, shared or not: the
#     conservative figure, target < 5 MiB per backend), of Pss and of
#     private (Private_Clean + Private_Dirty) memory, in MiB, next to the
#     llm worker's Rss/Pss (which holds the model).  (Pss and private
#     pages shift as other processes map the same pages, so they can even
#     shrink.)  Latency: the first call of a fresh
#     connection, a second (warm) call on the same connection, and a new
#     connection plus its call in one `psql -c` (wall clock).
# (b) SQL-path overhead.  The same greedy generation (prompt 'Once upon a
#     time', $BENCH_SQL_TOKENS = 128 new tokens) $BENCH_SQL_REPS (5) times
#     through SELECT llm_generate(...) (psql \timing: client round trip) and
#     through build/llm-cli -m MODEL --threads 2 --temp 0 (its prompt +
#     generation time, model loading excluded), interleaved; medians.
#     Tokens/s = generated tokens / time; the generated token count of the
#     SQL calls comes from the llm_stats view.  Target: SQL at most 5%
#     slower.  Also checks that both produce the same text, and reports
#     the worker-side generation rate (llm_stats) and the CPU time the idle
#     worker used while llm-cli ran.
#
# Environment: BENCH_PORT, BENCH_DIR, BENCH_SQL_MODEL, BENCH_CONNS,
# BENCH_SQL_TOKENS, BENCH_SQL_REPS, BENCH_THREADS_SQL (default 2), BENCH_FIRST_TOKENS,
# BENCH_SQL_CONF (extra postgresql.conf lines, e.g. "llm.max_requests = 1"),
# BENCH_KEEP=1 (leave the cluster running), LLM_MODELS_DIR, PG_CONFIG,
# BENCH_NICE=-10 (renice the llm worker's threads, the benchmark backends
# and llm-cli alike, so other jobs on a shared machine disturb less).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null) || { echo "sql_bench: pg_config not found" >&2; exit 2; }
PORT=${BENCH_PORT:-54350}
RUN=${BENCH_DIR:-/tmp/llm-sqlbench-$PORT}
DATA=$RUN/data
CONNS=${BENCH_CONNS:-10}
NTOK=${BENCH_SQL_TOKENS:-128}
REPS=${BENCH_SQL_REPS:-5}
THREADS=${BENCH_THREADS_SQL:-2}
FT=${BENCH_FIRST_TOKENS:-4}
PROMPT='Once upon a time'
LLM_MODELS_DIR=${LLM_MODELS_DIR:-$ROOT/../shared/models}
VOCAB=$LLM_MODELS_DIR/gguf/ggml-vocab-llama-spm.gguf
CLI=$BUILD/llm-cli
TMP=$(mktemp -d)
CLUSTER_UP=0
PSQL_PIDS=()

# Run a command as the owner of the cluster (postgres when we are root).
as_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Give every thread of process $1 the BENCH_NICE priority (if set).
boost()
{
	[ -n "${BENCH_NICE:-}" ] || return 0
	local t
	for t in /proc/"$1"/task/*; do
		renice -n "$BENCH_NICE" -p "${t##*/}" >/dev/null 2>&1
	done
}

# Stop the cluster, the psql sessions we started, and clean up.
on_exit()
{
	local p
	for p in "${PSQL_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	if [ "$CLUSTER_UP" -eq 1 ]; then
		if [ "${BENCH_KEEP:-0}" = 1 ]; then
			echo "cluster left running: PGHOST=$RUN PGPORT=$PORT PGUSER=postgres psql bench"
		else
			as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -t 30 -w stop >/dev/null 2>&1 ||
				as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
			rm -rf "$RUN"
		fi
	fi
	rm -rf "$TMP"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

die()
{
	echo "sql_bench: $*" >&2
	exit 1
}

# ---- model and cluster ----------------------------------------------------
[ -x "$CLI" ] || die "$CLI is missing (run make core)"
[ -f "$("$PG_CONFIG" --pkglibdir)/llm.so" ] || die "the extension is not installed (run make install)"
if [ -f llm.so ] && [ llm.so -nt "$("$PG_CONFIG" --pkglibdir)/llm.so" ]; then
	echo "note: ./llm.so is newer than the installed one; this run uses the installed extension" >&2
fi
MODEL=${BENCH_SQL_MODEL:-$BUILD/models/rand-110M-q8_0.gguf}
if [ ! -s "$MODEL" ]; then
	[ -z "${BENCH_SQL_MODEL:-}" ] || die "$MODEL not found"
	[ -r "$VOCAB" ] || die "$VOCAB not found (set LLM_MODELS_DIR)"
	mkdir -p "$(dirname "$MODEL")"
	echo "generating $MODEL ..." >&2
	"$BUILD/llm-random-model" --shape 110M --type q8_0 --vocab "$VOCAB" -o "$MODEL.tmp.$$" >&2 &&
		mv "$MODEL.tmp.$$" "$MODEL" || die "could not generate $MODEL"
fi
MODEL=$(readlink -f "$MODEL")

as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
rm -rf "$RUN"
mkdir -p "$RUN" || die "cannot create $RUN"
[ "$(id -u)" -ne 0 ] || chown postgres: "$RUN"
SERVER_MODEL=$MODEL
if ! as_owner test -r "$MODEL"; then
	cp "$MODEL" "$RUN/model.gguf" && chmod 644 "$RUN/model.gguf" || die "cannot copy the model"
	SERVER_MODEL=$RUN/model.gguf
fi
as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 --no-locale \
	>"$RUN/initdb.log" 2>&1 || { cat "$RUN/initdb.log"; die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF

# ---- test/bench/sql_bench.sh ----
port = $PORT
listen_addresses = ''
unix_socket_directories = '$RUN'
max_connections = $((CONNS + 20))
shared_buffers = 32MB
fsync = off
synchronous_commit = off
shared_preload_libraries = 'llm'
llm.model = '$SERVER_MODEL'
llm.threads = $THREADS
llm.max_new_tokens = $NTOK
${BENCH_SQL_CONF:-}
EOF
as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$RUN/server.log" -w -t 60 start >/dev/null ||
	{ tail -n 30 "$RUN/server.log"; die "the cluster did not start"; }
CLUSTER_UP=1
export PGHOST=$RUN PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
"$PGBIN/createdb" bench || die "createdb failed"
psql -XAtq -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION llm' || die "CREATE EXTENSION failed"
loaded=""
for _ in $(seq 1 120); do
	loaded=$(psql -XAtq -c 'SELECT model_loaded FROM llm_stats' 2>/dev/null)
	[ "$loaded" = t ] && break
	sleep 0.5
done
[ "$loaded" = t ] || { tail -n 30 "$RUN/server.log"; die "the worker did not load $SERVER_MODEL within 60 s"; }
WORKER=$(psql -XAtq -c 'SELECT worker_pid FROM llm_stats')
boost "$WORKER"
NICE=()
[ -z "${BENCH_NICE:-}" ] || NICE=(nice -n "$BENCH_NICE")

echo "## SQL benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- model: $MODEL ($(psql -XAtq -c "SELECT llm_model_info()->>'n_params'") parameters, $(psql -XAtq -c "SELECT round((llm_model_info()->>'size_bytes')::numeric / 1048576, 1)") MiB), llm.threads = $THREADS, isa $(psql -XAtq -c "SELECT llm_model_info()->>'isa'")"
echo "- PostgreSQL $(psql -XAtq -c 'SHOW server_version'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "${BENCH_NICE:-}" ] || echo "- the llm worker, the benchmark's backends and llm-cli ran at nice $BENCH_NICE (BENCH_NICE)"

# ---- helpers ----------------------------------------------------------------

# "rss pss private" of a process in kB, from /proc/PID/smaps_rollup.
mem_of()
{
	awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { v += $2 }
		END { print r + 0, p + 0, v + 0 }' "/proc/$1/smaps_rollup"
}

# Median of numbers on stdin.
median()
{
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A persistent psql session: conn_open I starts it, conn_run I SQL runs SQL
# in it and prints the output (waits for a marker line; 300 s at most).
declare -A CONN_FD
conn_open()
{
	local i=$1 fd
	mkfifo "$TMP/in$i"
	psql -XAtq <"$TMP/in$i" >"$TMP/out$i" 2>&1 &
	PSQL_PIDS+=($!)
	exec {fd}>"$TMP/in$i"
	CONN_FD[$i]=$fd
	echo '\timing on' >&"$fd"
}

conn_run()
{
	local i=$1 sql=$2 fd=${CONN_FD[$1]} from MARK
	MARK=$(date +%s%N)
	from=$(wc -l <"$TMP/out$i")
	printf '%s\n\\echo __mark_%d__\n' "$sql" "$MARK" >&"$fd"
	for _ in $(seq 1 3000); do
		grep -q "^__mark_${MARK}__\$" "$TMP/out$i" && break
		sleep 0.1
	done
	tail -n +"$((from + 1))" "$TMP/out$i" | grep -v "^__mark_${MARK}__\$"
}

# Milliseconds from psql's "Time: N ms" line on stdin.
time_ms()
{
	awk '/^Time: / { print $2 }' | tail -n1
}

# ---- (a) memory per backend, first-call latency -----------------------------
echo
echo "### (a) Memory per backend and first-call latency ($CONNS connections, llm_generate(prompt, $FT))"
echo
read -r w_rss w_pss w_priv < <(mem_of "$WORKER")
echo "llm worker (pid $WORKER) before: Rss $((w_rss / 1024)) MiB, Pss $((w_pss / 1024)) MiB, private $((w_priv / 1024)) MiB"
echo
echo "| backend | pid | Rss before MiB | Rss after MiB | Rss growth MiB | Pss growth MiB | private growth MiB | first call ms | second call ms |"
echo "|---|---|---|---|---|---|---|---|---|"
: >"$TMP/a_rows"
for i in $(seq 1 "$CONNS"); do
	conn_open "$i"
	pid=$(conn_run "$i" 'SELECT pg_backend_pid();' | grep -E '^[0-9]+$' | head -n1)
	[ -n "$pid" ] || die "connection $i: no backend pid"
	boost "$pid"
	read -r r0 p0 v0 < <(mem_of "$pid")
	t1=$(conn_run "$i" "SELECT length(llm_generate('$PROMPT', $FT));" | time_ms)
	read -r r1 p1 v1 < <(mem_of "$pid")
	t2=$(conn_run "$i" "SELECT length(llm_generate('$PROMPT', $FT));" | time_ms)
	# columns: i pid rss0 rss1 pss0 pss1 priv0 priv1 first_ms second_ms
	echo "$i $pid $r0 $r1 $p0 $p1 $v0 $v1 ${t1:-0} ${t2:-0}" >>"$TMP/a_rows"
	awk -v i="$i" -v pid="$pid" -v r0="$r0" -v r1="$r1" -v p0="$p0" -v p1="$p1" -v v0="$v0" -v v1="$v1" -v t1="${t1:-0}" -v t2="${t2:-0}" 'BEGIN {
		printf "| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f |\n",
			i, pid, r0 / 1024, r1 / 1024, (r1 - r0) / 1024, (p1 - p0) / 1024, (v1 - v0) / 1024, t1, t2 }'
done
read -r w_rss w_pss w_priv < <(mem_of "$WORKER")
total_pss=0
for pid in $(awk '{ print $2 }' "$TMP/a_rows"); do
	read -r _ p _ < <(mem_of "$pid")
	total_pss=$((total_pss + p))
done
# A new connection and its first call, wall clock, as a user sees it.
: >"$TMP/newconn"
for _ in 1 2 3; do
	s=$(date +%s%N)
	psql -XAtq -c "SELECT length(llm_generate('$PROMPT', $FT))" >/dev/null
	echo $((($(date +%s%N) - s) / 1000)) >>"$TMP/newconn"
done
m1=$(awk '{ print $9 }' "$TMP/a_rows" | median)
m2=$(awk '{ print $10 }' "$TMP/a_rows" | median)
echo
awk -v w_rss="$w_rss" -v w_pss="$w_pss" -v w_priv="$w_priv" -v tp="$total_pss" -v n="$CONNS" \
	-v nc="$(median <"$TMP/newconn")" -v m1="$m1" -v m2="$m2" '
	{ rg += $4 - $3; pg += $6 - $5; vg += $8 - $7; if ($4 - $3 > rmax) rmax = $4 - $3 }
	END {
		printf "- llm worker after: Rss %.1f MiB, Pss %.1f MiB, private %.1f MiB (the model is mapped once, here)\n", w_rss / 1024, w_pss / 1024, w_priv / 1024;
		printf "- per backend, first llm_generate: Rss growth %.2f MiB mean, %.2f MiB max (target < 5 MiB); Pss growth %.2f MiB mean; private growth %.2f MiB mean\n", rg / NR / 1024, rmax / 1024, pg / NR / 1024, vg / NR / 1024;
		printf "- Pss of all %d backends together now: %.1f MiB\n", n, tp / 1024;
		printf "- first call on a fresh connection: median %.1f ms; second call on the same connection: median %.1f ms (ratio %.2f)\n", m1, m2, (m2 > 0 ? m1 / m2 : 0);
		printf "- new connection + first call (psql -c, wall clock incl. connection start): median %.1f ms\n", nc / 1000;
	}' "$TMP/a_rows"

# ---- (b) SQL path vs llm-cli ------------------------------------------------
echo
echo "### (b) SQL path vs llm-cli: greedy, prompt '$PROMPT', $NTOK new tokens, $THREADS threads, $REPS repetitions"
echo
conn_open sql
conn_run sql "SET statement_timeout = '600s';" >/dev/null
boost "$(conn_run sql 'SELECT pg_backend_pid();' | grep -E '^[0-9]+$' | head -n1)"
boost "$WORKER"
w_cpu0=0
: >"$TMP/b_sql"
: >"$TMP/b_cli"
stats_q="SELECT generated_tokens || ' ' || generation_seconds FROM llm_stats;"
for r in $(seq 1 "$REPS"); do
	# SQL
	read -r g0 gs0 < <(conn_run sql "$stats_q" | grep -E '^[0-9]' | head -n1)
	out=$(conn_run sql "SELECT encode(convert_to(llm_generate('$PROMPT', $NTOK, temperature => 0), 'UTF8'), 'hex');")
	ms=$(time_ms <<<"$out")
	hex=$(grep -E '^[0-9a-f]+$' <<<"$out" | head -n1)
	read -r g1 gs1 < <(conn_run sql "$stats_q" | grep -E '^[0-9]' | head -n1)
	echo "$((g1 - g0)) $ms $(awk -v a="$gs0" -v b="$gs1" 'BEGIN { print b - a }')" >>"$TMP/b_sql"
	[ "$r" -eq 1 ] && printf '%s' "$PROMPT" | od -An -tx1 | tr -d ' \n' >"$TMP/sql_text" && printf '%s' "$hex" >>"$TMP/sql_text"
	# CLI; the worker's CPU time meanwhile shows whether an idle worker costs anything
	w0=$(awk '{ print $14 + $15 }' "/proc/$WORKER/stat")
	timeout 600 "${NICE[@]}" "$CLI" -m "$MODEL" -p "$PROMPT" -n "$NTOK" --threads "$THREADS" --temp 0 >"$TMP/cli_out" 2>"$TMP/cli_err" ||
		{ cat "$TMP/cli_err"; die "llm-cli failed"; }
	w1=$(awk '{ print $14 + $15 }' "/proc/$WORKER/stat")
	w_cpu0=$((w_cpu0 + w1 - w0))
	sed -nE 's/^prompt: ([0-9]+) tokens, ([0-9.]+) tokens\/s; generation: ([0-9]+) tokens, ([0-9.]+) tokens\/s.*/\1 \2 \3 \4/p' "$TMP/cli_err" >>"$TMP/b_cli"
	[ "$r" -eq 1 ] && head -c -1 "$TMP/cli_out" | od -An -tx1 | tr -d ' \n' >"$TMP/cli_text"
done
[ -s "$TMP/b_cli" ] || { cat "$TMP/cli_err"; die "could not parse llm-cli's timing line"; }
same=no
phex=$(printf '%s' "$PROMPT" | od -An -tx1 | tr -d ' \n')
if cmp -s "$TMP/sql_text" "$TMP/cli_text"; then
	same=yes
elif [ "$(sed "s/^${phex}20/${phex}/" "$TMP/sql_text")" = "$(cat "$TMP/cli_text")" ]; then
	same="yes (llm-cli prints the continuation without its leading space)"
else
	same="NO (hex of prompt + text, first 160 digits: SQL $(head -c 160 "$TMP/sql_text"), llm-cli $(head -c 160 "$TMP/cli_text"))"
fi
# SQL: tokens / statement time.  CLI: tokens / (prompt time + generation time),
# from its printed rates: n_prompt / pp + (n_gen - 1) / tg.
sql_tps=$(awk '{ if ($2 > 0) print $1 / ($2 / 1000) }' "$TMP/b_sql" | median)
sql_worker_tps=$(awk '{ if ($3 > 0) print $1 / $3 }' "$TMP/b_sql" | median)
sql_n=$(awk '{ print $1 }' "$TMP/b_sql" | median)
sql_ms=$(awk '{ print $2 }' "$TMP/b_sql" | median)
cli_tps=$(awk '{ t = $1 / $2 + ($3 > 1 ? ($3 - 1) / $4 : 0); if (t > 0) print $3 / t }' "$TMP/b_cli" | median)
cli_gen_tps=$(awk '{ print $4 }' "$TMP/b_cli" | median)
cli_n=$(awk '{ print $3 }' "$TMP/b_cli" | median)
cli_ms=$(awk '{ t = $1 / $2 + ($3 > 1 ? ($3 - 1) / $4 : 0); print t * 1000 }' "$TMP/b_cli" | median)
echo "| path | generated tokens | time ms (median) | tokens/s end to end (median) | generation-only tokens/s |"
echo "|---|---|---|---|---|"
printf '| SELECT llm_generate(...) | %s | %.1f | %.2f | %.2f (worker, llm_stats) |\n' "$sql_n" "$sql_ms" "$sql_tps" "$sql_worker_tps"
printf '| llm-cli | %s | %.1f | %.2f | %.2f (llm-cli) |\n' "$cli_n" "$cli_ms" "$cli_tps" "$cli_gen_tps"
echo
awk -v s="$sql_tps" -v c="$cli_tps" 'BEGIN {
	printf "- SQL path / llm-cli tokens/s = %.3f: the SQL path is %.1f%% %s (target: at most 5%% slower)\n",
		s / c, (s < c ? (c / s - 1) : (1 - c / s)) * 100, (s < c ? "slower" : "faster") }'
echo "- same text from both paths: $same"
echo "- llm worker CPU time while llm-cli ran (idle worker): $(awk -v t="$w_cpu0" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f s", t / hz }')"
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
