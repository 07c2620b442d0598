//! The browser playground (`www/`), embedded in the binary and served at `/`.
//!
//! `build.rs` stages the files into `OUT_DIR`; the wasm and its JavaScript glue are there only
//! when `tests/browser/build.sh` ran before this crate was built (otherwise they are empty, are
//! answered 404, and the page explains how to build them).

use influxgate::Response;

/// `(path, content type, bytes)` of every embedded file.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/index.html")),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/app.js")),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/style.css")),
    ),
    (
        "/pkg/influxgate_browser.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(
            env!("OUT_DIR"),
            "/playground/pkg/influxgate_browser.js"
        )),
    ),
    (
        "/pkg/influxgate_browser_bg.wasm",
        "application/wasm",
        include_bytes!(concat!(
            env!("OUT_DIR"),
            "/playground/pkg/influxgate_browser_bg.wasm"
        )),
    ),
];

/// The content type and bytes of the playground file at `path` (`/` is `index.html`), or
/// `None` for any other path and for a file that was not built.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .iter()
        .find(|(p, _, bytes)| *p == path && !bytes.is_empty())
        .map(|&(_, content_type, bytes)| (content_type, bytes))
}

/// [`asset`] as a 200 response, revalidated on every load so a rebuilt page is picked up.
pub fn response(path: &str) -> Option<Response> {
    let (content_type, bytes) = asset(path)?;
    Some(Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.to_string()),
            ("Cache-Control", "no-cache".to_string()),
            ("X-Content-Type-Options", "nosniff".to_string()),
        ],
        body: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_nothing_else() {
        let (ct, html) = asset("/").expect("index.html is committed");
        assert_eq!(ct, "text/html; charset=utf-8");
        assert!(std::str::from_utf8(html).unwrap().contains("./app.js"));
        assert_eq!(asset("/index.html").map(|a| a.1), Some(html));
        assert_eq!(
            asset("/app.js").unwrap().0,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(asset("/style.css").unwrap().0, "text/css; charset=utf-8");
        assert!(asset("/../Cargo.toml").is_none());
        assert!(asset("/pkg/other.wasm").is_none());
        assert!(asset("/write").is_none());
        let r = response("/style.css").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
        // The wasm is there exactly when it was built before this crate.
        if let Some((ct, wasm)) = asset("/pkg/influxgate_browser_bg.wasm") {
            assert_eq!(ct, "application/wasm");
            assert_eq!(&wasm[..4], b"\0asm");
            assert!(asset("/pkg/influxgate_browser.js").is_some());
        }
    }
}
