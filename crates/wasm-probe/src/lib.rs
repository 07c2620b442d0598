//! wasm probe
