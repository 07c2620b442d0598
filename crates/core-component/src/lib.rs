//! The influxgate core as a WebAssembly component with no imports: the guest side of the WIT
//! world `influxgate:core/core` in `wit/world.wit`.
//!
//! Build for `wasm32-unknown-unknown` (no WASI imports), then wrap the core module as a
//! component with `jco new` (see `tests/spin/build.sh`). Every function is a thin mapping of
//! the core's own API; no policy lives here.

// wit-bindgen's generated export glue uses `unsafe` and `#[unsafe(export_name)]`; the code in
// `guest.rs` has none of its own.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod guest;
