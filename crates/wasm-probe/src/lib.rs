//! A tiny cdylib around the core: proves it links for wasm32-unknown-unknown and gives the size
//! the core costs a web build. It exports a buffer allocator and one entry point that runs a v2
//! write through `influxgate::handle` and returns the HTTP status the core chose.
#![allow(unsafe_code)] // the C ABI exports below are the point of this crate

use influxgate::auth::{Access, Permission};
use influxgate::schema::EmptySchema;
use influxgate::{Action, Config, Request, handle};

/// Reserve `len` bytes the host fills with a request body.
#[unsafe(no_mangle)]
pub extern "C" fn probe_alloc(len: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Validate `len` bytes of line protocol at `ptr` as a v2 write at `now_ns`; returns the status.
///
/// # Safety
/// `ptr` must come from [`probe_alloc`] with at least `len` initialised bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn probe_write(ptr: *mut u8, len: usize, now_ns: i64) -> u32 {
    // SAFETY: the caller passes a buffer from probe_alloc, filled with `len` bytes.
    let body = unsafe { Vec::from_raw_parts(ptr, len, len) };
    u32::from(status(&body, now_ns))
}

/// The status the core answers for a v2 write of `body` (shared with native tests).
pub fn status(body: &[u8], now_ns: i64) -> u16 {
    let mut config = Config::default();
    config
        .tokens
        .add("probe", "probe", vec![Permission::all(Access::Write)]);
    let headers = [("Authorization", "Token probe")];
    let req = Request {
        method: "POST",
        path: "/api/v2/write",
        query: "bucket=probe&precision=ns",
        headers: &headers,
        body,
    };
    match handle(&req, now_ns, &config, &EmptySchema) {
        Action::Respond(r) => r.status,
        Action::Write(plan) => plan.response.status,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn statuses() {
        assert_eq!(super::status(b"m v=1 1\n", 0), 204);
        assert_eq!(super::status(b"m v=\n", 0), 400);
    }
}
