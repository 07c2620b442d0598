//! Building an object store from a URL.

use std::str::FromStr;
use std::sync::Arc;

use object_store::ClientConfigKey;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;

use crate::error::{Result, StorageError};
use crate::local_store::SyncedLocalFileSystem;

/// Build an object store and the prefix inside it from a URL:
///
/// - `file:///abs/dir` (or a plain path): a local directory, created if missing, whose writes are
///   synced before they return ([`SyncedLocalFileSystem`]);
/// - `s3://bucket/prefix`: S3 and S3-compatible stores (MinIO, R2, moto), configured from the usual
///   `AWS_*` environment variables, then from `options` (e.g. `endpoint`, `region`,
///   `access_key_id`, `secret_access_key`, `allow_http`, `virtual_hosted_style_request`);
/// - `gs://bucket/prefix`: Google Cloud Storage (`GOOGLE_*` env, `service_account` option, …);
/// - `az://container/prefix` (also `azure://`, `abfs://`): Azure Blob Storage (`AZURE_*` env,
///   `account_name`, `access_key`, `use_emulator`, …).
///
/// Option keys are those of `object_store`'s config key enums (`AmazonS3ConfigKey`, …), or the
/// client keys (`allow_http`, `timeout`, …).
pub fn object_store_from_url<I, K, V>(url: &str, options: I) -> Result<(Arc<dyn ObjectStore>, Path)>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<String>,
{
    let bad = |m: String| StorageError::Config(m);
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("file".to_string(), url),
    };
    let options: Vec<(String, String)> = options
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
        .collect();
    if scheme == "file" {
        if rest.is_empty() {
            return Err(bad(format!("no directory in {url:?}")));
        }
        std::fs::create_dir_all(rest)
            .map_err(|e| bad(format!("cannot create directory {rest:?}: {e}")))?;
        // Synced: WAL segments are deleted once their rows are in files (see `local_store`).
        let fs = SyncedLocalFileSystem::new(std::path::Path::new(rest))?;
        return Ok((Arc::new(fs), Path::default()));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad(format!("no bucket in {url:?}")));
    }
    let prefix = Path::parse(prefix).map_err(|e| bad(format!("bad prefix in {url:?}: {e}")))?;
    let client_key = |k: &str| {
        ClientConfigKey::from_str(k).map_err(|_| bad(format!("unknown option {k:?} for {scheme}")))
    };
    let store: Arc<dyn ObjectStore> = match scheme.as_str() {
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (k, v) in options {
                let key = match AmazonS3ConfigKey::from_str(&k) {
                    Ok(key) => key,
                    Err(_) => AmazonS3ConfigKey::Client(client_key(&k)?),
                };
                b = b.with_config(key, v);
            }
            Arc::new(b.build()?)
        }
        "gs" | "gcs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            for (k, v) in options {
                let key = match GoogleConfigKey::from_str(&k) {
                    Ok(key) => key,
                    Err(_) => GoogleConfigKey::Client(client_key(&k)?),
                };
                b = b.with_config(key, v);
            }
            Arc::new(b.build()?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
            for (k, v) in options {
                let key = match AzureConfigKey::from_str(&k) {
                    Ok(key) => key,
                    Err(_) => AzureConfigKey::Client(client_key(&k)?),
                };
                b = b.with_config(key, v);
            }
            Arc::new(b.build()?)
        }
        other => return Err(bad(format!("unsupported object store scheme {other:?}"))),
    };
    Ok((store, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/sub", dir.path().display());
        let (_, prefix) = object_store_from_url(&url, Vec::<(String, String)>::new()).unwrap();
        assert!(prefix.is_root());
        assert!(dir.path().join("sub").is_dir());
        // Local directories get the synced store (a power cut must not undo a persist).
        let (store, _) = object_store_from_url(&url, Vec::<(String, String)>::new()).unwrap();
        assert!(store.to_string().starts_with("SyncedLocalFileSystem"));

        let (store, prefix) = object_store_from_url(
            "s3://bucket/some/prefix",
            [
                ("endpoint", "http://127.0.0.1:9000"),
                ("allow_http", "true"),
                ("region", "us-east-1"),
                ("access_key_id", "a"),
                ("secret_access_key", "b"),
            ],
        )
        .unwrap();
        assert_eq!(prefix.as_ref(), "some/prefix");
        assert!(store.to_string().contains("bucket"));

        let err = object_store_from_url("s3://bucket", [("no_such_option", "1")]).unwrap_err();
        assert_eq!(err.code(), "config");
        let err = object_store_from_url("ftp://x/y", Vec::<(String, String)>::new()).unwrap_err();
        assert_eq!(err.code(), "config");
    }
}
