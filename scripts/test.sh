#!/usr/bin/env bash
# Runs every test of influxgate on a fresh machine: installs what the tests need (rustup targets,
# PyPI and npm packages), then checks formatting and lints, runs the Rust tests, builds the core
# for both wasm targets, runs the client-library tests against the real binary and the edge
# hosts (Worker under miniflare, Spin component under wasmtime). Each step prints its wall time.
# Usage: scripts/test.sh
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

step "setup: InfluxDB 1.x as the reference server for InfluxQL answers"
command -v influxd >/dev/null || { apt-get update -qq && apt-get install -y -qq influxdb; }

step "setup: wasm-bindgen and worker-build (skipped when installed at the right version)"
export PATH="$HOME/.cargo/bin:$PATH"
wbg=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
[ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wbg" ] || cargo install wasm-bindgen-cli --version "$wbg"
[ "$(worker-build --version 2>/dev/null | head -1)" = "0.8.7" ] || cargo install worker-build --version 0.8.7

step "setup: wasmtime for the Spin component (skipped when installed at the right version)"
[ "$(wasmtime --version 2>/dev/null | awk '{print $2}')" = "48.0.8" ] ||
  cargo install wasmtime-cli --version 48.0.8 --locked --no-default-features \
    --features run,serve,cranelift,component-model,component-model-async

step "setup: browser playground (Chromium, playwright-core, wasm into www/pkg)"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
CARGO_LOCKED=1 tests/browser/build.sh

step "fmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p influxgate-browser --target wasm32-unknown-unknown --locked -- -D warnings

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
(cd tests/browser && node --test --test-concurrency=1 ./*.test.mjs)

step "reference: the same queries on InfluxDB 1.x and influxgate, answers compared"
python3 -m pytest -q tests/reference

step "Cloudflare Worker under miniflare (upstream and R2 modes, real upstream server)"
(cd tests/worker && npm ci --no-audit --no-fund --loglevel=error)
cargo clippy -p influxgate-worker --target wasm32-unknown-unknown --locked -- -D warnings
cargo clippy -p influxgate-worker --target wasm32-unknown-unknown --locked --no-default-features -- -D warnings
WASM_OPT=none tests/worker/build.sh
node --test tests/worker/

step "Spin component under wasmtime serve (real upstream server) and the WIT core component (jco)"
# Not `npm ci`: jco-node-fs 0.3.2 lists optional platform packages that were never published, so
# the lock file can never list them and `npm ci` refuses it. `install --no-save` still follows
# the lock file and leaves it unchanged.
(cd tests/spin && npm install --no-save --no-audit --no-fund --loglevel=error)
cargo clippy -p influxgate-spin --target wasm32-wasip2 --locked -- -D warnings
cargo clippy -p influxgate-core-component --target wasm32-unknown-unknown --locked -- -D warnings
tests/spin/build.sh
(cd tests/spin && node --test --test-concurrency=1 ./*.test.mjs)

# The InfluxQL fuzz target (fuzz/run.sh, cargo-fuzz on nightly) is run by hand, not here: its
# install and sanitizer build cost about 7 minutes of CI time, which the Spin step above needs.
# The parsers' proptests run in `cargo test`.

step "all tests passed"
