# common.sh — helpers sourced by the lifecycle tests (test/lifecycle/[0-9]*.sh).
#
# The tests run against the cluster started by test/run-pg-tests.sh, which
# exports PGHOST, PGPORT, PGUSER, PGDATABASE, PGBIN and
#   LLM_TEST_DATA   the cluster's data directory (postmaster.pid lives there)
#   LLM_TEST_RUN    its run directory (socket, server.log)
#   LLM_TEST_MODEL  absolute path of the GGUF the server loads
# Each test prints TAP lines ("ok N - ...", "not ok N - ...", then "1..N")
# and exits non-zero if any check failed.  Run one alone with the same
# variables set, e.g. against a cluster kept with LLM_TEST_KEEP=1.

: "${PGHOST:?run from test/run-pg-tests.sh (PGHOST unset)}"
: "${PGPORT:?}" "${LLM_TEST_DATA:?}" "${LLM_TEST_MODEL:?}"
export PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-llm_test}
PGBIN=${PGBIN:-$(pg_config --bindir)}

T_N=0
T_FAILED=0
T_TMP=$(mktemp -d)
trap 'rm -rf "$T_TMP"' EXIT

# Report a passing check.
ok()
{
	T_N=$((T_N + 1))
	echo "ok $T_N - $*"
}

# Report a failing check.
not_ok()
{
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $*"
}

# check DESCRIPTION COMMAND...: ok if the command succeeds.
check()
{
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESCRIPTION GOT EXPECTED: ok if equal, else show both.
check_eq()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:      %s\n#   expected: %s\n' "$(head -c 300 <<<"$2")" "$(head -c 300 <<<"$3")"
	fi
}

# Print a TAP diagnostic line.
diag()
{
	echo "# $*"
}

# Finish: print the plan and exit with the right status.
done_testing()
{
	echo "1..$T_N"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# q SQL: run one statement, unaligned tuples only, stop on error.
q()
{
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# q_retry SQL [SECONDS]: like q, retrying while the server restarts.
q_retry()
{
	local i out
	for i in $(seq 1 $((${2:-30} * 4))); do
		if out=$(psql -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null); then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.25
	done
	return 1
}

# q_error SQL: run a statement expected to fail; print "SQLSTATE message".
q_error()
{
	psql -XAtq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
		sed -nE 's/^(psql:[^E]*)?ERROR: +([0-9A-Z]{5}): (.*)$/\2 \3/p' | head -n1
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

# wait_until SECONDS COMMAND...: poll every 0.1 s until the command succeeds.
wait_until()
{
	local limit=$1 i
	shift
	for i in $(seq 1 $((limit * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# model_info KEY: llm_model_info()->>KEY (empty when the call fails).
model_info()
{
	psql -XAtq -c "SELECT llm_model_info()->>'$1'" 2>/dev/null
}

# model_info_is KEY VALUE: llm_model_info()->>KEY is VALUE (for wait_until).
model_info_is()
{
	[ "$(model_info "$1")" = "$2" ]
}

# The postmaster's pid (first line of postmaster.pid).
postmaster_pid()
{
	head -n1 "$LLM_TEST_DATA/postmaster.pid" 2>/dev/null
}

# The llm worker's pid as pg_stat_activity lists it (empty if not listed).
worker_pid_activity()
{
	psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'" 2>/dev/null
}

# The llm worker's pid, empty if it is not running: from pg_stat_activity,
# else from llm_stats (so one missing listing does not fail every test).
worker_pid()
{
	local p
	p=$(worker_pid_activity)
	[ -n "$p" ] || p=$(psql -XAtq -c "SELECT worker_pid FROM llm_stats WHERE worker_pid > 0" 2>/dev/null)
	echo "$p"
}

# requests_running from llm_stats (empty on error).
requests_running()
{
	psql -XAtq -c "SELECT requests_running FROM llm_stats" 2>/dev/null
}

# The reference greedy generation every test compares against.
GREEDY_SQL="SELECT llm_generate('Once upon a time', 64)"
