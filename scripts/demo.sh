#!/usr/bin/env bash
# demo.sh — the README's first command: from a fresh Debian 12 checkout to a
# PostgreSQL that writes a story, in one go.
#
#   scripts/demo.sh [MODEL.gguf]
#
# 1. installs the build dependencies with apt (when root and something is
#    missing; otherwise it only says what is missing),
# 2. builds and installs the extension (make, make install; sudo if needed),
# 3. converts the test model stories260K from $LLM_MODELS_DIR with the
#    repo's own converter, unless a GGUF file is given,
# 4. starts a local cluster (data in $LLM_DEMO_DIR, default
#    /var/tmp/llm-demo, port $LLM_DEMO_PORT, default 54321; run by the
#    "postgres" user when we are root) with shared_preload_libraries = 'llm',
# 5. CREATE EXTENSION llm and SELECT llm_generate('Once upon a time', 64).
#
# Running it again reuses the cluster (restarting it if the model changed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=pg_config
PORT=${LLM_DEMO_PORT:-54321}
DIR=${LLM_DEMO_DIR:-/var/tmp/llm-demo}
LLM_MODELS_DIR=${LLM_MODELS_DIR:-$ROOT/../shared/models}
MODEL_ARG=${1:-}

say()
{
	printf '\n==> %s\n' "$*"
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

# Run a command as root (directly, or with sudo).
as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

say "dependencies"
PACKAGES=(build-essential clang postgresql-15 postgresql-server-dev-15
	libopenblas-dev postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "all present"
elif [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
	echo "installing: ${missing[*]}"
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "missing packages: ${missing[*]} (install them as root)" >&2
	exit 1
fi
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
[ -x "$PG_CONFIG" ] || PG_CONFIG=pg_config
PGBIN=$("$PG_CONFIG" --bindir)

say "build and install"
make -s PG_CONFIG="$PG_CONFIG"
as_root make -s PG_CONFIG="$PG_CONFIG" install

say "model"
if [ -n "$MODEL_ARG" ]; then
	MODEL=$(readlink -f "$MODEL_ARG")
	[ -r "$MODEL" ] || { echo "cannot read $MODEL_ARG" >&2; exit 1; }
else
	MODEL=$ROOT/build/models/stories260K.gguf
	if [ ! -r "$LLM_MODELS_DIR/stories260K/stories260K.bin" ]; then
		echo "no $LLM_MODELS_DIR/stories260K/stories260K.bin: set LLM_MODELS_DIR" \
			"(see README.md, Models) or pass a GGUF file: $0 MODEL.gguf" >&2
		exit 1
	fi
	mkdir -p "$ROOT/build/models"
	build/llm-convert --checkpoint "$LLM_MODELS_DIR/stories260K/stories260K.bin" \
		--tokenizer "$LLM_MODELS_DIR/stories260K/tok512.bin" -o "$MODEL"
fi
echo "$MODEL"

say "cluster in $DIR on port $PORT"
mkdir -p "$DIR"
[ "$(id -u)" -ne 0 ] || chown postgres: "$DIR"
# The server must be able to read the model (a checkout under /root is not
# readable by postgres): then it gets its own copy next to the cluster.
if ! as_owner test -r "$MODEL"; then
	cp "$MODEL" "$DIR/$(basename "$MODEL")"
	chmod 644 "$DIR/$(basename "$MODEL")"
	MODEL=$DIR/$(basename "$MODEL")
fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
	as_owner "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 \
		--no-locale >"$DIR/initdb.log"
	cat >>"$DIR/data/postgresql.conf" <<CONF

# ---- scripts/demo.sh ----
port = $PORT
listen_addresses = 'localhost'
unix_socket_directories = '$DIR'
shared_preload_libraries = 'llm'
llm.model = '$MODEL'
CONF
fi
# Point the cluster at this model (ALTER SYSTEM wins over postgresql.conf).
if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null; then
	PGHOST=$DIR PGPORT=$PORT psql -XAtq -U postgres -d postgres \
		-c "ALTER SYSTEM SET llm.model = '$MODEL'" -c "SELECT pg_reload_conf()" >/dev/null
	# Reloading swaps the model; restart anyway so a new llm.so is loaded.
	as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w restart >/dev/null
else
	as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
	PGHOST=$DIR PGPORT=$PORT psql -XAtq -U postgres -d postgres \
		-c "ALTER SYSTEM SET llm.model = '$MODEL'" -c "SELECT pg_reload_conf()" >/dev/null
fi

export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql -XAtq -c "CREATE EXTENSION IF NOT EXISTS llm" 2>&1 | grep -v 'already exists' || true
# The worker loads the model in the background: wait for it (30 s at most).
for i in $(seq 1 60); do
	[ "$(psql -XAtq -c 'SELECT model_loaded FROM llm_stats' 2>/dev/null)" = t ] && break
	sleep 0.5
done

say "SELECT llm_generate('Once upon a time', 64);"
psql -X -c "SELECT llm_generate('Once upon a time', 64);"

cat <<EOF

The demo cluster is running (log: $DIR/server.log).
  connect:  psql -h $DIR -p $PORT -U postgres postgres     (or -h localhost)
  try:      SELECT llm_generate('Once upon a time', 128, temperature => 0.8);
            SELECT * FROM llm_stats;
  stop:     $( [ "$(id -u)" -eq 0 ] && echo "runuser -u postgres -- " )$PGBIN/pg_ctl -D $DIR/data stop
  remove:   stop it, then rm -rf $DIR
EOF
