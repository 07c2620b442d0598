#!/usr/bin/env bash
# Runs the InfluxQL parser fuzz target for a bounded time: fuzz/run.sh [SECONDS] (default 60).
# Installs cargo-fuzz if missing; needs a nightly toolchain. Exits non-zero on a crash.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
cd "$(dirname "$0")"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
mkdir -p corpus/influxql_parse
# Seed the corpus with a few representative queries (idempotent).
seed() { printf '%s' "$2" > "corpus/influxql_parse/seed-$1"; }
seed select 'SELECT mean("value") FROM "cpu" WHERE ("host" =~ /^(a|b)$/) AND time >= now() - 6h GROUP BY time(1m), "host" fill(null)'
seed subquery 'SELECT max(m) FROM (SELECT mean(v) AS m FROM db..cpu GROUP BY time(1m, -30s), *) ORDER BY time DESC LIMIT 3 SLIMIT 1 tz('"'"'UTC'"'"')'
seed show 'SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, "region") WHERE a = '"'"'x\'"'"'y'"'"' LIMIT 5; SHOW SERIES'
seed expr 'SELECT -a * (b + 1.5) % 2 & c | d ^ e, count(DISTINCT x), $p, /a\/b/, *::field, v::tag FROM /m/ -- c'
exec cargo +nightly fuzz run influxql_parse -- -max_total_time="$SECONDS_TO_RUN" -max_len=4096
