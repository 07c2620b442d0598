#!/usr/bin/env bash
# Runs every test of influxgate on a fresh machine: installs what the tests need (rustup targets,
# PyPI and npm packages), then checks formatting and lints, runs the Rust tests, builds the core
# for both wasm targets, runs the client-library tests against the real binary, and a bounded
# fuzz run. Each step prints its wall time. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
export INFLUXGATE_TEST_ARTIFACTS="$ROOT/tests/artifacts"
mkdir -p "$INFLUXGATE_TEST_ARTIFACTS"

step() { echo; echo "=== $* ($(date +%T))"; }

step "setup: rust targets"
installed=$(rustup target list --installed)
for t in wasm32-unknown-unknown wasm32-wasip2; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

step "setup: Python client libraries and the S3 test server"
python3 -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt

step "setup: Node client libraries"
(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)

step "fmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rust tests"
cargo test --workspace --locked

step "core builds for wasm32-unknown-unknown and wasm32-wasip2"
cargo build -p influxgate --locked --target wasm32-unknown-unknown
cargo build -p influxgate --locked --target wasm32-wasip2
cargo build -p influxgate-wasm-probe --locked --target wasm32-unknown-unknown --profile wasm
probe=target/wasm32-unknown-unknown/wasm/influxgate_wasm_probe.wasm
echo "wasm probe: $(stat -c %s "$probe") bytes raw, $(gzip -9c "$probe" | wc -c) bytes gzip"

step "client-library tests against the real binary"
# The debug binary: `cargo test` already compiled its dependencies, a release build would
# compile them all again.
cargo build -p influxgate-server --locked
export INFLUXGATE_BIN="$ROOT/target/debug/influxgate"
python3 -m pytest -q tests/clients
(cd tests/clients && node --test --test-concurrency=1 ./*.test.mjs)

if [ -x fuzz/run.sh ]; then
  step "fuzz (bounded)"
  fuzz/run.sh 60
fi

step "all tests passed"
