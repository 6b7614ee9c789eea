#!/usr/bin/env bash
# run-pg-tests.sh — every test stage of the project, run by `make test` (the
# README's test command) and by CI (.ci/run).
#
# Stages, in order; each one adds to a single tally:
#
#   unit       make unit                      C unit tests of the engine core
#   build      make, make install             (sudo if not root)
#   model      build/llm-convert stories260K -> build/models/stories260K.gguf
#   cluster    initdb + start a throwaway cluster on $LLM_TEST_PORT (54329)
#              with shared_preload_libraries = 'llm'
#   regress    make installcheck              pg_regress: sql/ against expected/
#   pgtap      pg_prove test/pgtap/*.sql
#   lifecycle  test/lifecycle/[0-9]*.sh       crash/restart, missing model,
#                                             cancel, concurrency, threads...
#
# What is counted: unit and pgTAP assertions, pg_regress test files,
# lifecycle "ok"/"not ok" lines, and one point for each setup step (build,
# install, model, cluster) so that a broken build is a failure, not a silent
# skip.  The last line printed is "N passed, N failed"; the exit status is
# non-zero if anything failed or could not run.
#
# The cluster never touches a system cluster: it listens only on a Unix
# socket in its own directory, so even Debian's "main" cluster on 5432 (or
# anything else on 54329 elsewhere) cannot collide with it.  PostgreSQL
# refuses to run as root, so when run as root the cluster belongs to the
# "postgres" user (runuser); otherwise to the current user.  It is stopped
# on exit whatever happens (trap), unless LLM_TEST_KEEP=1.
#
# Options:  --no-unit       skip the unit stage
#           --no-build      skip build/install (test what is installed)
#           --cluster-only  stop after starting the cluster and leave it
#                           running (prints how to connect; for debugging)
# Environment:
#   LLM_MODELS_DIR   test models (default ../shared/models beside the repo)
#   LLM_TEST_MODEL   use this GGUF instead of converting stories260K
#   LLM_TEST_PORT    port of the throwaway cluster (default 54329)
#   LLM_TEST_DIR     its directory (default /tmp/llm-pgtest-$LLM_TEST_PORT)
#   LLM_TEST_THREADS llm.threads of the test cluster (default 2)
#   LLM_TEST_KEEP    1 = leave the cluster running at the end
#   PG_CONFIG        pg_config of the target PostgreSQL (default pg_config)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

RUN_UNIT=1
RUN_BUILD=1
CLUSTER_ONLY=0
for arg in "$@"; do
	case "$arg" in
		--no-unit) RUN_UNIT=0 ;;
		--no-build) RUN_BUILD=0 ;;
		--cluster-only) CLUSTER_ONLY=1; LLM_TEST_KEEP=1 ;;
		-h|--help) sed -n '2,40p' "$0"; exit 0 ;;
		*) echo "unknown option: $arg" >&2; exit 2 ;;
	esac
done

MAKE=${MAKE:-make}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null) || PGBIN=""
PORT=${LLM_TEST_PORT:-54329}
RUN=${LLM_TEST_DIR:-/tmp/llm-pgtest-$PORT}
DATA=$RUN/data
LLM_MODELS_DIR=${LLM_MODELS_DIR:-$ROOT/../shared/models}
LLM_MODELS_DIR=$(cd "$LLM_MODELS_DIR" 2>/dev/null && pwd || echo "$LLM_MODELS_DIR")
export LLM_MODELS_DIR PG_CONFIG

PASSED=0
FAILED=0
STAGE_T0=0
PROBLEMS=()
CLUSTER_UP=0

# One run per port at a time: a second run would stop the first's cluster.
exec 9>>"$RUN.lock"
chmod 666 "$RUN.lock" 2>/dev/null
if ! flock -n 9; then
	echo "another test run holds $RUN.lock; wait for it or set LLM_TEST_PORT" >&2
	exit 2
fi

# Add to the tally and print a one-line stage result.
tally()
{
	local stage=$1 p=$2 f=$3
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	[ "$f" -eq 0 ] || PROBLEMS+=("$stage")
	printf '=== %-10s %d passed, %d failed (%ds)\n' "$stage" "$p" "$f" $((SECONDS - STAGE_T0))
}

# Print a stage banner.
banner()
{
	STAGE_T0=$SECONDS
	printf '\n=== %s: %s\n' "$1" "$2"
}

# Run a command as the owner of the cluster (postgres when we are root).
as_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Stop the throwaway cluster (fast, then immediate).
stop_cluster()
{
	[ -f "$DATA/postmaster.pid" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -t 30 -w stop >/dev/null 2>&1 ||
		as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
}

# On exit: stop the cluster unless asked to keep it.
on_exit()
{
	if [ "$CLUSTER_UP" -eq 1 ]; then
		if [ "${LLM_TEST_KEEP:-0}" = 1 ]; then
			echo "cluster left running: PGHOST=$RUN PGPORT=$PORT PGUSER=postgres psql llm_test"
		else
			stop_cluster
		fi
	fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Print "P F" from the last "N passed, N failed" line of a log (or "0 0").
parse_counts()
{
	local line
	line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
	if [ -z "$line" ]; then
		echo "0 0"
	else
		awk '{print $1, $3}' <<<"$line"
	fi
}

# ---- unit ---------------------------------------------------------------
if [ "$RUN_UNIT" -eq 1 ]; then
	banner unit "$MAKE unit"
	log=$(mktemp)
	timeout 1200 "$MAKE" --no-print-directory unit 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r p f < <(parse_counts "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	rm -f "$log"
	tally unit "$p" "$f"
fi

# ---- build and install --------------------------------------------------
BUILD_OK=1
if [ "$RUN_BUILD" -eq 1 ]; then
	banner build "$MAKE; $MAKE install"
	if timeout 1200 "$MAKE" --no-print-directory PG_CONFIG="$PG_CONFIG"; then
		tally build 1 0
		if [ "$(id -u)" -eq 0 ]; then
			"$MAKE" --no-print-directory PG_CONFIG="$PG_CONFIG" install >/dev/null
		elif command -v sudo >/dev/null; then
			sudo "$MAKE" --no-print-directory PG_CONFIG="$PG_CONFIG" install >/dev/null
		else
			echo "not root and no sudo: cannot run make install" >&2
			false
		fi
		if [ $? -eq 0 ]; then tally install 1 0; else tally install 0 1; BUILD_OK=0; fi
	else
		tally build 0 1
		BUILD_OK=0
	fi
fi

# ---- model --------------------------------------------------------------
banner model "convert stories260K with the repo's converter"
MODEL=""
if [ -n "${LLM_TEST_MODEL:-}" ]; then
	MODEL=$(readlink -f "$LLM_TEST_MODEL")
	if [ -r "$MODEL" ]; then tally model 1 0; else tally model 0 1; MODEL=""; fi
else
	ckpt=$LLM_MODELS_DIR/stories260K/stories260K.bin
	tok=$LLM_MODELS_DIR/stories260K/tok512.bin
	out=$ROOT/build/models/stories260K.gguf
	mkdir -p "$ROOT/build/models"
	if [ ! -r "$ckpt" ] || [ ! -r "$tok" ]; then
		echo "test model not found in $LLM_MODELS_DIR (set LLM_MODELS_DIR)" >&2
		tally model 0 1
	elif [ ! -x build/llm-convert ]; then
		echo "build/llm-convert was not built" >&2
		tally model 0 1
	elif build/llm-convert --checkpoint "$ckpt" --tokenizer "$tok" -o "$out.tmp" &&
		mv "$out.tmp" "$out"; then
		MODEL=$out
		tally model 1 0
	else
		rm -f "$out.tmp"
		tally model 0 1
	fi
	# Without a converter the SQL stages still run on the shipped GGUF, so
	# one failing component does not hide the state of all the others.
	if [ -z "$MODEL" ] && [ -r "$LLM_MODELS_DIR/stories260K/stories260K.gguf" ]; then
		MODEL=$LLM_MODELS_DIR/stories260K/stories260K.gguf
		echo "falling back to $MODEL for the SQL stages"
	fi
fi

# ---- cluster ------------------------------------------------------------
banner cluster "throwaway cluster on port $PORT in $RUN"
start_cluster()
{
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
		echo "no PostgreSQL server binaries (PG_CONFIG=$PG_CONFIG)" >&2
		return 1
	fi
	if [ -z "$MODEL" ]; then
		echo "no model to load" >&2
		return 1
	fi
	stop_cluster
	rm -rf "$RUN"
	mkdir -p "$RUN" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$RUN" || return 1
	fi
	# The server process must be able to read the model: a repo under /root
	# is not readable by postgres, so use a private copy outside the repo.
	if ! as_owner test -r "$MODEL"; then
		cp "$MODEL" "$RUN/model.gguf" && chmod 644 "$RUN/model.gguf" || return 1
		MODEL=$RUN/model.gguf
	fi
	as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync \
		-E UTF8 --no-locale >"$RUN/initdb.log" 2>&1 || { cat "$RUN/initdb.log"; return 1; }
	cat >>"$DATA/postgresql.conf" <<EOF

# ---- test/run-pg-tests.sh ----
port = $PORT
listen_addresses = ''
unix_socket_directories = '$RUN'
max_connections = 60
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
restart_after_crash = on
log_line_prefix = '%m [%p] %b '
shared_preload_libraries = 'llm'
llm.model = '$MODEL'
llm.kv_cache_size = '16MB'
llm.threads = ${LLM_TEST_THREADS:-2}
EOF
	# 9>&-: the server must not inherit (and keep) the run lock
	as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$RUN/server.log" -w -t 60 start >/dev/null 9>&- ||
		{ tail -n 30 "$RUN/server.log"; return 1; }
	CLUSTER_UP=1
	export PGHOST=$RUN PGPORT=$PORT PGUSER=postgres PGDATABASE=llm_test
	"$PGBIN/createdb" llm_test && "$PGBIN/createdb" llm_test2 || return 1
	psql -XAtq -v ON_ERROR_STOP=1 -d llm_test -c 'CREATE EXTENSION llm' || return 1
	psql -XAtq -v ON_ERROR_STOP=1 -d llm_test2 -c 'CREATE EXTENSION llm' || return 1
	# Wait (at most 30 s) for the worker to have loaded the model.
	local i
	for i in $(seq 1 60); do
		[ "$(psql -XAtq -c 'SELECT model_loaded FROM llm_stats' 2>/dev/null)" = t ] && return 0
		sleep 0.5
	done
	echo "the llm worker did not report a loaded model within 30 s" >&2
	tail -n 30 "$RUN/server.log"
	return 1
}
if start_cluster; then
	tally cluster 1 0
else
	tally cluster 0 1
fi

if [ "$CLUSTER_ONLY" -eq 1 ]; then
	echo "export PGHOST=$RUN PGPORT=$PORT PGUSER=postgres PGDATABASE=llm_test" \
		"LLM_TEST_DATA=$DATA LLM_TEST_RUN=$RUN LLM_TEST_MODEL=$MODEL PGBIN=$PGBIN"
	exit $((FAILED > 0))
fi

# The remaining stages need a running server.
if [ "$CLUSTER_UP" -eq 1 ] && [ "$BUILD_OK" -eq 1 ]; then
	export LLM_TEST_DATA=$DATA LLM_TEST_RUN=$RUN LLM_TEST_MODEL=$MODEL PGBIN

	# ---- regress ----------------------------------------------------------
	banner regress "$MAKE installcheck"
	if ls sql/*.sql >/dev/null 2>&1; then
		log=$(mktemp)
		# Results and diffs go to the run directory, not the source tree
		# (no clutter, no clash with someone else's installcheck).
		out=$RUN/regress
		rm -rf "$out"
		mkdir -p "$out"
		timeout 600 "$MAKE" --no-print-directory PG_CONFIG="$PG_CONFIG" \
			EXTRA_REGRESS_OPTS="--outputdir=$out" installcheck 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		p=$(grep -cE '\.\.\. +ok' "$log")
		f=$(grep -cE '\.\.\. +FAILED|\.\.\. +failed' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		if [ -s "$out/regression.diffs" ]; then
			echo "---- $out/regression.diffs"
			head -n 300 "$out/regression.diffs"
		fi
		rm -f "$log"
		tally regress "$p" "$f"
	else
		echo "no sql/*.sql regression tests"
		tally regress 0 1
	fi

	# ---- pgtap ------------------------------------------------------------
	banner pgtap "pg_prove test/pgtap/*.sql"
	if ! command -v pg_prove >/dev/null; then
		echo "pg_prove not found (Debian: libtap-parser-sourcehandler-pgtap-perl)" >&2
		tally pgtap 0 1
	else
		log=$(mktemp)
		timeout 600 pg_prove --verbose --timer -d llm_test test/pgtap/*.sql 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		p=$(grep -cE '^ok [0-9]+' "$log")
		f=$(grep -cE '^not ok [0-9]+' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		rm -f "$log"
		tally pgtap "$p" "$f"
	fi

	# ---- lifecycle --------------------------------------------------------
	for t in test/lifecycle/[0-9]*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		banner "$name" "$t"
		log=$(mktemp)
		timeout 300 bash "$t" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		p=$(grep -cE '^ok [0-9]+' "$log")
		f=$(grep -cE '^not ok [0-9]+' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		rm -f "$log"
		tally "$name" "$p" "$f"
		# A test that took the server down must not fail every later one.
		if ! "$PGBIN/pg_isready" -q -t 30; then
			echo "server not ready after $name; server log:"
			tail -n 40 "$RUN/server.log"
		fi
	done
else
	echo "server not running or build failed: regress, pgtap and lifecycle not run"
	tally not-run 0 3
fi

if [ "$CLUSTER_UP" -eq 1 ] && [ "$FAILED" -ne 0 ]; then
	echo
	echo "---- last lines of the server log ($RUN/server.log)"
	tail -n 40 "$RUN/server.log"
fi
echo
echo "total time: ${SECONDS}s"
[ ${#PROBLEMS[@]} -eq 0 ] || echo "failing stages: ${PROBLEMS[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
