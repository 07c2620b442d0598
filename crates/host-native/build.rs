//! Stages the browser playground (`www/`) for `src/playground.rs` to embed.
//!
//! The page's own files are committed; its wasm (`www/pkg`) is built by `tests/browser/build.sh`
//! and not committed. So this script copies whichever of the five files exist into `OUT_DIR`
//! and writes empty files for the missing ones: the server always compiles, and serves the
//! playground fully when the wasm was built before it (an empty asset is answered 404 and the
//! page says how to build the wasm). It never builds wasm itself.
#![allow(clippy::disallowed_methods)] // a build script reads files by nature

use std::path::Path;
use std::{env, fs};

const FILES: [&str; 5] = [
    "index.html",
    "app.js",
    "style.css",
    "pkg/influxgate_browser.js",
    "pkg/influxgate_browser_bg.wasm",
];

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let www = Path::new(&manifest).join("../../www");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("playground");
    fs::create_dir_all(out.join("pkg")).expect("create OUT_DIR/playground/pkg");
    // A directory makes Cargo rerun when any file under it changes, or appears.
    println!("cargo::rerun-if-changed={}", www.display());
    for file in FILES {
        let bytes = fs::read(www.join(file)).unwrap_or_default();
        fs::write(out.join(file), bytes).expect("write OUT_DIR/playground file");
    }
}
