#!/usr/bin/env bash
# Build the Cloudflare Worker (crates/host-worker) into crates/host-worker/build/ offline:
# worker-build with the local wasm-bindgen, npm's esbuild and binaryen's wasm-opt (EDGE.md).
#
#   WORKER_FEATURES  cargo features: "r2" (default: both modes) or "" (upstream only)
#   WASM_OPT         wasm-opt level: -Oz (default), -O1, ... or "none"
#   OUT_DIR          output directory relative to the crate (default: build)
#
# The test command installs the tools; this script only checks they are there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
features=${WORKER_FEATURES-r2}
opt=${WASM_OPT:--Oz}
out=${OUT_DIR:-build}
crate=crates/host-worker
nm=tests/worker/node_modules

want_bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
have_bindgen=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$have_bindgen" != "$want_bindgen" ]; then
  echo "build.sh: need wasm-bindgen $want_bindgen (have '${have_bindgen:-none}'):" >&2
  echo "  cargo install wasm-bindgen-cli --version $want_bindgen" >&2
  exit 1
fi
command -v worker-build >/dev/null || { echo "build.sh: cargo install worker-build --version 0.8.7" >&2; exit 1; }
[ -x "$nm/.bin/wasm-opt" ] || (cd tests/worker && npm install --no-audit --no-fund)
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

export WASM_BINDGEN_BIN=$(command -v wasm-bindgen)
export WASM_OPT_BIN=$root/$nm/.bin/wasm-opt
export ESBUILD_BIN=$root/$nm/@esbuild/linux-x64/bin/esbuild
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

extra=(--no-default-features --features "$features")
# The workspace's `wasm` profile: opt-level z, fat LTO, one codegen unit, panic=abort.
# wasm-opt runs below so its level can be chosen (npm's binaryen is slow on big modules).
worker-build --profile wasm --no-opt --out-dir "$out" "$crate" "${extra[@]}"

wasm=$crate/$out/index_bg.wasm
if [ "$opt" != none ]; then
  "$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" "$opt" \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
  mv "$wasm.opt" "$wasm"
fi
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build.sh: $wasm features='${features}' wasm-opt=$opt: $raw bytes, $gz gzip"
