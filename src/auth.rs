//! Credentials and permissions.
//!
//! Tokens come as `Authorization: Token T`, `Bearer T` (equivalent), `Basic base64(user:T)`
//! (username ignored), or on v1 `/write` and `/query` as `?p=T`. Tokens are held as SHA-256
//! digests and compared in constant time against every entry, so neither the store nor the
//! timing reveals a token.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, quote};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// One permission: an access on one database (and its retention policies) or on all (`*`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permission {
    pub access: Access,
    /// A database name, or `*` for all.
    pub database: String,
}

impl Permission {
    pub fn all(access: Access) -> Self {
        Permission {
            access,
            database: "*".to_string(),
        }
    }

    fn covers(&self, access: Access, database: &str) -> bool {
        if self.access != access {
            return false;
        }
        if self.database == "*" {
            return true;
        }
        // A grant on `db` covers `db` and its retention policies `db/rp`.
        match database.strip_prefix(self.database.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// A token as stored: its digest, a name for logs, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    digest: [u8; 32],
    pub permissions: Vec<Permission>,
}

impl TokenEntry {
    pub fn allows(&self, access: Access, database: &str) -> bool {
        self.permissions.iter().any(|p| p.covers(access, database))
    }

    /// The digest as lowercase hex, the form written to token files.
    pub fn digest_hex(&self) -> String {
        hex(&self.digest)
    }
}

/// SHA-256 of a token, as lowercase hex.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()).into())
}

fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The tokens a deployment accepts.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    entries: Vec<TokenEntry>,
}

impl TokenStore {
    /// Add a token given in clear; only its digest is kept.
    pub fn add(&mut self, name: &str, token: &str, permissions: Vec<Permission>) {
        self.entries.push(TokenEntry {
            name: name.to_string(),
            digest: Sha256::digest(token.as_bytes()).into(),
            permissions,
        });
    }

    /// Add a token given as its SHA-256 hex digest (`sha256:<hex>` or bare hex).
    pub fn add_hashed(
        &mut self,
        name: &str,
        digest_hex: &str,
        permissions: Vec<Permission>,
    ) -> Result<(), Error> {
        let hex = digest_hex.strip_prefix("sha256:").unwrap_or(digest_hex);
        let digest = unhex(&hex.to_ascii_lowercase()).ok_or_else(|| {
            Error::InvalidParameter(format!(
                "token digest {} is not 64 hex digits",
                quote(digest_hex)
            ))
        })?;
        self.entries.push(TokenEntry {
            name: name.to_string(),
            digest,
            permissions,
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `token`, comparing against every entry in constant time.
    pub fn lookup(&self, token: &str) -> Option<&TokenEntry> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) && found.is_none() {
                found = Some(entry);
            }
        }
        found
    }
}

/// The JSON tokens file every host reads (native `--tokens-file`, the Worker's and the Spin
/// component's `INFLUXGATE_TOKENS`): `{"tokens": [{"name": "telegraf", "sha256": "<hex>",
/// "permissions": [{"access": "write", "database": "telegraf"}]}]}`. An entry may give `"token"`
/// in clear instead of `"sha256"`; only its digest is kept.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TokenFile {
    pub tokens: Vec<TokenSpec>,
}

/// One entry of a [`TokenFile`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub permissions: Vec<Permission>,
}

/// Read and write on every database.
pub fn admin_permissions() -> Vec<Permission> {
    vec![
        Permission::all(Access::Read),
        Permission::all(Access::Write),
    ]
}

impl TokenStore {
    /// Add every entry of a [`TokenFile`] given as JSON. Errors name the entry at fault.
    pub fn add_json(&mut self, json: &str) -> Result<(), String> {
        let file: TokenFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for spec in file.tokens {
            match (spec.sha256, spec.token) {
                (Some(digest), _) => self
                    .add_hashed(&spec.name, &digest, spec.permissions)
                    .map_err(|e| e.to_string())?,
                (None, Some(token)) => self.add(&spec.name, &token, spec.permissions),
                (None, None) => {
                    return Err(format!(
                        "token {} has neither \"sha256\" nor \"token\"",
                        quote(&spec.name)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Add one admin token (read and write everywhere), in clear or as `sha256:<hex>`.
    pub fn add_admin(&mut self, token: &str) -> Result<(), String> {
        if token.starts_with("sha256:") {
            self.add_hashed("admin", token, admin_permissions())
                .map_err(|e| e.to_string())
        } else {
            self.add("admin", token, admin_permissions());
            Ok(())
        }
    }
}

/// Extract the token from the `Authorization` header value or, where allowed, the `p` parameter.
/// `Ok(None)` means no credentials were given.
pub fn credentials<'a>(
    authorization: Option<&'a str>,
    query_token: Option<&'a str>,
) -> Result<Option<String>, Error> {
    let Some(header) = authorization else {
        return Ok(query_token.filter(|t| !t.is_empty()).map(str::to_string));
    };
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    let malformed = |why: &str| Error::MalformedAuthorization(why.to_string());
    // Schemes are case-sensitive in InfluxDB's docs; clients only ever send these spellings,
    // and accepting other cases breaks nobody.
    match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => {
            if rest.is_empty() || rest.contains(' ') {
                return Err(malformed("expected `Token <token>` or `Bearer <token>`"));
            }
            Ok(Some(rest.to_string()))
        }
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| malformed("Basic credentials are not valid base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| malformed("Basic credentials are not valid UTF-8"))?;
            // Split at the last `:`: usernames may contain colons, tokens do not.
            let (_, password) = decoded
                .rsplit_once(':')
                .ok_or_else(|| malformed("Basic credentials must be `username:token`"))?;
            if password.is_empty() {
                return Err(malformed("Basic credentials carry an empty token"));
            }
            Ok(Some(password.to_string()))
        }
        _ => Err(Error::MalformedAuthorization(format!(
            "unknown scheme {}: expected Token, Bearer or Basic",
            quote(scheme)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> TokenStore {
        let mut s = TokenStore::default();
        s.add("admin", "secret", vec![Permission::all(Access::Write)]);
        s.add_hashed(
            "reader",
            &hash_token("r"),
            vec![Permission {
                access: Access::Read,
                database: "db1".into(),
            }],
        )
        .unwrap();
        s
    }

    #[test]
    fn token_file_json() {
        let mut s = TokenStore::default();
        s.add_json(&format!(
            r#"{{"tokens":[{{"name":"w","token":"wt","permissions":[{{"access":"write","database":"db"}}]}},
                {{"name":"r","sha256":"{}","permissions":[{{"access":"read","database":"*"}}]}}]}}"#,
            hash_token("rt")
        ))
        .unwrap();
        s.add_admin(&format!("sha256:{}", hash_token("at")))
            .unwrap();
        s.add_admin("clear").unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.lookup("wt").unwrap().allows(Access::Write, "db/rp"));
        assert!(!s.lookup("wt").unwrap().allows(Access::Read, "db"));
        assert!(s.lookup("rt").unwrap().allows(Access::Read, "other"));
        assert!(s.lookup("at").unwrap().allows(Access::Write, "x"));
        assert!(s.lookup("clear").unwrap().allows(Access::Read, "x"));
        let err = s
            .add_json(r#"{"tokens":[{"name":"n","permissions":[]}]}"#)
            .unwrap_err();
        assert!(err.contains("\"n\" has neither"), "{err}");
        assert!(s.add_json("{").is_err());
        assert!(s.add_admin("sha256:zz").is_err());
    }

    #[test]
    fn schemes() {
        assert_eq!(
            credentials(Some("Token abc"), None).unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(
            credentials(Some("Bearer abc"), None).unwrap().as_deref(),
            Some("abc")
        );
        let b = base64::engine::general_purpose::STANDARD.encode("us:er:tok");
        assert_eq!(
            credentials(Some(&format!("Basic {b}")), None)
                .unwrap()
                .as_deref(),
            Some("tok")
        );
        assert_eq!(
            credentials(None, Some("qp")).unwrap().as_deref(),
            Some("qp")
        );
        assert_eq!(credentials(None, None).unwrap(), None);
        assert!(matches!(
            credentials(Some("Digest x"), None),
            Err(Error::MalformedAuthorization(_))
        ));
        assert!(credentials(Some("Token"), None).is_err());
        assert!(credentials(Some("Basic !!!"), None).is_err());
    }

    #[test]
    fn lookup_and_permissions() {
        let s = store();
        assert!(s.lookup("nope").is_none());
        let admin = s.lookup("secret").unwrap();
        assert!(admin.allows(Access::Write, "anything/rp"));
        assert!(!admin.allows(Access::Read, "anything"));
        let reader = s.lookup("r").unwrap();
        assert!(reader.allows(Access::Read, "db1"));
        assert!(reader.allows(Access::Read, "db1/rp"));
        assert!(!reader.allows(Access::Read, "db10"));
        assert!(!reader.allows(Access::Write, "db1"));
        assert_eq!(reader.digest_hex(), hash_token("r"));
    }

    #[test]
    fn bad_digest_is_rejected() {
        let mut s = TokenStore::default();
        assert!(s.add_hashed("x", "zz", vec![]).is_err());
        assert!(
            s.add_hashed("x", &format!("sha256:{}", hash_token("t")), vec![])
                .is_ok()
        );
        assert!(s.lookup("t").is_some());
    }
}
