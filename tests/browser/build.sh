#!/usr/bin/env bash
# Builds the browser playground's wasm into www/pkg (gitignored): the influxgate-browser cdylib
# for wasm32-unknown-unknown (workspace profile `wasm`: opt-level z, fat LTO, panic=abort), then
# wasm-bindgen --target web (the CLI must be exactly the crate's pinned version), then wasm-opt
# when asked: WASM_OPT=1 runs npm binaryen's wasm-opt -Oz (slow: JavaScript build of binaryen).
# Prints the sizes. Usage: tests/browser/build.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WBG_VERSION=0.2.130
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$ROOT/www/pkg

if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WBG_VERSION" ]; then
  cargo install --locked wasm-bindgen-cli --version "$WBG_VERSION"
fi
installed=$(rustup target list --installed)
grep -qx wasm32-unknown-unknown <<<"$installed" || rustup target add wasm32-unknown-unknown

cargo build -p influxgate-browser --target wasm32-unknown-unknown --profile wasm ${CARGO_LOCKED:+--locked}
rm -rf "$OUT"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm/influxgate_browser.wasm"
wasm=$OUT/influxgate_browser_bg.wasm
if [ "${WASM_OPT:-0}" = 1 ]; then
  (cd tests/browser && npm exec --no -- wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
     --enable-sign-ext --enable-mutable-globals "$wasm" -o "$wasm.opt") && mv "$wasm.opt" "$wasm"
fi
echo "playground wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip"
