//! Token configuration: `--token`, a tokens file, or a generated admin token.
//!
//! The tokens file is JSON and holds only digests:
//! `{"tokens": [{"name": "telegraf", "sha256": "<hex>", "permissions": [{"access": "write",
//! "database": "telegraf"}]}]}`. An entry may give `"token"` in clear instead of `"sha256"`
//! (convenient for hand-written files); it is hashed on load and never written back.

use std::path::Path;

use influxgate::auth::{TokenFile, TokenSpec, TokenStore, admin_permissions, hash_token};

pub fn load_file(path: &Path, store: &mut TokenStore) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read tokens file {}: {e}", path.display()))?;
    store
        .add_json(&text)
        .map_err(|e| format!("tokens file {} is not valid: {e}", path.display()))
}

/// A fresh random admin token: 32 bytes from the OS, hex.
fn random_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Build the token store: `--token`, then the tokens file; with neither, the admin token file in
/// the data directory, generated (and printed once) on first start.
pub fn configure(
    cli_token: Option<&str>,
    tokens_file: Option<&Path>,
    data_dir: &Path,
) -> Result<TokenStore, String> {
    let mut store = TokenStore::default();
    if let Some(t) = cli_token {
        store.add("cli", t, admin_permissions());
    }
    if let Some(path) = tokens_file {
        load_file(path, &mut store)?;
    }
    if !store.is_empty() {
        return Ok(store);
    }
    let generated = data_dir.join("admin-token.json");
    if generated.exists() {
        load_file(&generated, &mut store)?;
        tracing::info!(file = %generated.display(), "loaded the admin token digest");
        return Ok(store);
    }
    let token = random_token().map_err(|e| format!("cannot generate a token: {e}"))?;
    let file = TokenFile {
        tokens: vec![TokenSpec {
            name: "admin".into(),
            sha256: Some(hash_token(&token)),
            token: None,
            permissions: admin_permissions(),
        }],
    };
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let json = serde_json::to_string_pretty(&file).expect("token file serializes");
    std::fs::write(&generated, json)
        .map_err(|e| format!("cannot write {}: {e}", generated.display()))?;
    // Printed once, on stdout, so it can be captured; only its digest is stored.
    println!("influxgate generated an admin token (shown only now, store it safely):\n{token}");
    load_file(&generated, &mut store)?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use influxgate::auth::Access;

    #[test]
    fn generates_once_and_reloads_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = configure(None, None, dir.path()).unwrap();
        assert_eq!(a.len(), 1);
        let stored = std::fs::read_to_string(dir.path().join("admin-token.json")).unwrap();
        assert!(stored.contains("sha256"));
        let b = configure(None, None, dir.path()).unwrap();
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn file_with_clear_and_hashed_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let json = format!(
            r#"{{"tokens":[{{"name":"a","token":"x","permissions":[{{"access":"read","database":"db"}}]}},
                {{"name":"b","sha256":"{}","permissions":[{{"access":"write","database":"*"}}]}}]}}"#,
            hash_token("y")
        );
        std::fs::write(&path, json).unwrap();
        let s = configure(None, Some(&path), dir.path()).unwrap();
        assert!(s.lookup("x").unwrap().allows(Access::Read, "db"));
        assert!(s.lookup("y").unwrap().allows(Access::Write, "any"));
        assert!(!dir.path().join("admin-token.json").exists());
    }
}
