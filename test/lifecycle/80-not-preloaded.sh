#!/usr/bin/env bash
# 80-not-preloaded.sh — without shared_preload_libraries = 'llm' the
# extension can be created but every function fails with SQLSTATE 55000
# "llm must be loaded via shared_preload_libraries".  Uses a second,
# short-lived cluster on PGPORT+1 in its own socket directory.
set -uo pipefail
. "$(dirname "$0")/common.sh"

DIR=${LLM_TEST_RUN:-$T_TMP}/nopreload
PORT2=$((PGPORT + 1))
stop2()
{
	[ -f "$DIR/data/postmaster.pid" ] &&
		as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap stop2 EXIT

rm -rf "$DIR"
mkdir -p "$DIR"
[ "$(id -u)" -ne 0 ] || chown postgres: "$DIR"
as_owner "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust --no-sync \
	-E UTF8 --no-locale >"$DIR/initdb.log" 2>&1
cat >>"$DIR/data/postgresql.conf" <<CONF
port = $PORT2
listen_addresses = ''
unix_socket_directories = '$DIR'
fsync = off
CONF
check "second cluster without shared_preload_libraries starts" \
	as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start
export PGHOST=$DIR PGPORT=$PORT2 PGDATABASE=postgres

check "CREATE EXTENSION llm works without preloading" q "CREATE EXTENSION llm"
for call in "llm_generate('Once', 8)" "llm_tokenize('Once')" "llm_model_info()" \
	"llm_stats()"; do
	err=$(q_error "SELECT $call")
	check_eq "$call fails with 55000" "${err%% *}" 55000
done
err=$(q_error "SELECT llm_generate('Once', 8)")
check "the message says how to load it" grep -qF "llm must be loaded via shared_preload_libraries" <<<"$err"
hint=$(psql -XAtq -c "SELECT llm_generate('Once', 8)" 2>&1 | sed -n 's/^HINT: *//p')
check "a hint is given (${hint:-none})" [ -n "$hint" ]
done_testing
