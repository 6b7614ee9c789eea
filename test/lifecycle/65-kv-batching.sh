#!/usr/bin/env bash
# 65-kv-batching.sh — outputs do not depend on batching or on the prefix
# cache.  Eight different greedy prompts (four of them sharing a long
# prefix, so prefix-cache pages are reused) are run alone, one after the
# other, then all eight at once from eight psql sessions; the texts must be
# identical byte for byte.  This is done twice: once with the prefix pages
# already cached (the concurrent run hits them), once with a new prefix, so
# that the concurrent run is the cold one and the lone runs hit the cache.
# Also checks that llm_requests shows the concurrent requests, and that the
# samples of llm_generate_n share pages (llm_requests.shared_pages > 0).
#
# Runs against the cluster of test/run-pg-tests.sh (see common.sh).
set -uo pipefail
. "$(dirname "$0")/common.sh"

N=8
MAX_TOKENS=${KV_BATCHING_TOKENS:-160}

# The eight prompts for a nonce (a word that makes the shared prefix new).
prompts()
{
	local nonce=$1
	local prefix="In the town of $nonce there lived a kind old baker who made bread for every family on the hill, and each morning the children came to his shop"
	printf '%s\n' \
		"$prefix and asked for a cake" \
		"$prefix with their dog" \
		"$prefix. One day" \
		"$prefix, but Lily was sad" \
		"Once upon a time" \
		"Tom had a red ball" \
		"The sun was hot and the bird" \
		"Sue and Ben went to the park to play. They saw a big tree"
}

# run_alone NONCE TAG: each prompt alone, one after the other.
run_alone()
{
	local i=0 p
	while IFS= read -r p; do
		i=$((i + 1))
		# psql -c does not interpolate :'p': the statement goes on stdin
		printf '%s\n' "SELECT llm_generate(:'p', $MAX_TOKENS);" |
			psql -XAtq -v ON_ERROR_STOP=1 -v p="$p" >"$T_TMP/$2.$i" 2>&1
	done < <(prompts "$1")
}

# The most requests of this database llm_requests shows at once, polled
# every millisecond by one session until none has been seen for half a
# second after the first (or 60 s).  A new psql per poll took 20-40 ms and
# could miss a batch that the small test model finishes in a tenth of a
# second.
PEAK_SQL="CREATE FUNCTION pg_temp.peak() RETURNS int LANGUAGE plpgsql AS \$f\$
DECLARE
	m int := 0;
	c int;
	t0 timestamptz := clock_timestamp();
	seen timestamptz;
BEGIN
	WHILE clock_timestamp() - t0 < interval '60 s' LOOP
		SELECT count(*) INTO c FROM llm_requests WHERE database = current_database();
		m := greatest(m, c);
		IF c > 0 THEN
			seen := clock_timestamp();
		END IF;
		EXIT WHEN seen IS NOT NULL AND clock_timestamp() - seen > interval '0.5 s';
		PERFORM pg_sleep(0.001);
	END LOOP;
	RETURN m;
END \$f\$;
SELECT pg_temp.peak();"

# run_together NONCE TAG: the eight prompts at once, one session each;
# prints "failed_sessions most_requests_seen_at_once".
run_together()
{
	local i=0 p pids=() poller
	printf '%s\n' "$PEAK_SQL" | psql -XAtq -v ON_ERROR_STOP=1 >"$T_TMP/$2.peak" 2>&1 &
	poller=$!
	sleep 0.3				# the poller is connected and polling
	while IFS= read -r p; do
		i=$((i + 1))
		printf '%s\n' "SELECT llm_generate(:'p', $MAX_TOKENS);" |
			psql -XAtq -v ON_ERROR_STOP=1 -v p="$p" >"$T_TMP/$2.$i" 2>&1 &
		pids+=($!)
	done < <(prompts "$1")
	local fails=0 most
	for p in "${pids[@]}"; do
		wait "$p" || fails=$((fails + 1))
	done
	wait "$poller"
	most=$(tail -n 1 "$T_TMP/$2.peak")
	echo "$fails ${most:-0}"
}

# compare A B LABEL: the N outputs of A and B are identical.
compare()
{
	local i same=0
	for i in $(seq 1 $N); do
		if [ -s "$T_TMP/$1.$i" ] && cmp -s "$T_TMP/$1.$i" "$T_TMP/$2.$i"; then
			same=$((same + 1))
		else
			diag "prompt $i differs:"
			diag "  alone:    $(head -c 200 "$T_TMP/$1.$i")"
			diag "  together: $(head -c 200 "$T_TMP/$2.$i")"
		fi
	done
	check_eq "$3: $N of $N texts identical" "$same" "$N"
}

nonce1="Ar$RANDOM$$"
nonce2="Bel$RANDOM$$"
read -r hits0 < <(q 'SELECT prefix_hits FROM llm_kv_cache')

# 1. alone (the first shared-prefix prompt is cold), then together (warm)
run_alone "$nonce1" alone1
read -r fails most < <(run_together "$nonce1" together1)
check_eq "8 concurrent sessions succeeded" "$fails" 0
compare alone1 together1 "alone vs 8 concurrent sessions, prefix cached"
check "llm_requests listed several requests at once (max $most)" [ "$most" -ge 2 ]

# 2. together first (cold prefix), then alone (the prefix is cached)
read -r fails most < <(run_together "$nonce2" together2)
check_eq "8 concurrent sessions succeeded (cold prefix)" "$fails" 0
run_alone "$nonce2" alone2
compare alone2 together2 "8 concurrent sessions with a cold prefix vs alone with a cached one"

read -r hits1 < <(q 'SELECT prefix_hits FROM llm_kv_cache')
check "the runs reused prefix-cache pages ($((hits1 - hits0)))" [ $((hits1 - hits0)) -ge 12 ]
distinct=$(md5sum "$T_TMP"/alone1.* | cut -d" " -f1 | sort -u | wc -l)
check "the eight prompts give different texts ($distinct distinct)" [ "$distinct" -ge 6 ]

# 3. llm_generate_n: while it runs, its samples share the prompt's pages
# (polled; a fast machine may finish before a poll sees it: up to 3 tries)
p=$(prompts "$nonce1" | head -n1)
shared=0
samples=0
nrows=""
for try in 1 2 3; do
	printf '%s\n' "SELECT count(*) FROM llm_generate_n(:'p', 4, 300, seed => $try);" |
		psql -XAtq -v p="$p" >"$T_TMP/n.out" 2>&1 &
	npid=$!
	while kill -0 "$npid" 2>/dev/null; do
		read -r s sp < <(psql -XAtq -F ' ' -c "SELECT samples, shared_pages FROM llm_requests WHERE samples = 4" 2>/dev/null)
		if [ -n "${sp:-}" ] && [ "$sp" -gt "$shared" ]; then
			shared=$sp
			samples=$s
		fi
		sleep 0.01
	done
	wait "$npid"
	nrows=$(cat "$T_TMP/n.out")
	[ "$shared" -gt 0 ] && break
done
check_eq "llm_generate_n returned 4 samples" "$nrows" 4
check "llm_requests showed its 4 samples sharing pages (shared_pages up to $shared)" \
	[ "$samples" = 4 -a "$shared" -gt 0 ]
check_eq "pages_used is 0 afterwards" "$(q 'SELECT pages_used FROM llm_kv_cache')" 0
done_testing
