#!/usr/bin/env bash
# Builds the two components of issue 6 and prints their sizes:
#   - the Spin / wasi:http component (crates/host-spin, wasm32-wasip2, spin-sdk 7);
#   - the WIT core component with no imports (crates/core-component, wasm32-unknown-unknown,
#     wrapped with `jco new`).
# Outputs: $OUT/influxgate_spin.wasm and $OUT/influxgate_core.component.wasm
# (OUT defaults to tests/spin/build). Needs `npm ci` in tests/spin for jco.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$HERE/build}
LOCKED=${LOCKED---locked}
# The workspace's `wasm` profile (opt-level z, fat LTO, one codegen unit, panic=abort), shared
# with the Worker and browser builds.
PROFILE=${PROFILE:-wasm}
mkdir -p "$OUT"

cargo build $LOCKED -p influxgate-spin --target wasm32-wasip2 --profile "$PROFILE"
cp "$TARGET_DIR/wasm32-wasip2/$PROFILE/influxgate_spin.wasm" "$OUT/influxgate_spin.wasm"

cargo build $LOCKED -p influxgate-core-component --target wasm32-unknown-unknown --profile "$PROFILE"
cp "$TARGET_DIR/wasm32-unknown-unknown/$PROFILE/influxgate_core_component.wasm" "$OUT/influxgate_core.wasm"
(cd "$HERE" && npx --no-install jco new "$OUT/influxgate_core.wasm" -o "$OUT/influxgate_core.component.wasm")

size() { echo "$(stat -c %s "$1") bytes raw, $(gzip -9c "$1" | wc -c) bytes gzip"; }
echo "spin component (wasm32-wasip2, $PROFILE): $(size "$OUT/influxgate_spin.wasm")"
echo "WIT core component (no imports):         $(size "$OUT/influxgate_core.component.wasm")"
