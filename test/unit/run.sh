#!/usr/bin/env bash
# Run every unit-test binary given on the command line; print a total line
# "unit: N passed, N failed" and exit non-zero if any binary failed.
set -u
passed=0; failed=0; bad=()
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n1)
	p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	[[ "$p" =~ ^[0-9]+$ ]] || p=0; [[ "$f" =~ ^[0-9]+$ ]] || f=0
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ $rc -ne 0 ]; then bad+=("$t"); printf '%s\n' "$out" | tail -n 40; fi
	printf '%-40s %s\n' "$(basename "$t")" "${line:-exit $rc}"
done
[ ${#bad[@]} -eq 0 ] || echo "failing: ${bad[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
