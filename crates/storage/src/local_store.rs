//! A local-directory object store whose writes survive a power cut once they return.
//!
//! `object_store`'s `LocalFileSystem` writes a staging file and renames it into place, but never
//! syncs: the file's data and its directory entry stay in the page cache until the kernel writes
//! them back (up to `dirty_expire_centisecs`, 30 s by default). The storage deletes WAL segments
//! as soon as their rows are in Parquet files, so for those seconds acknowledged points would
//! live only in memory. Here every put, copy and rename also syncs the new file and the
//! directories from its parent up to the store's root (a put may have created some of them), and
//! a delete syncs what is left of the file's directory chain, before returning. A failed sync
//! fails the call, so a persist is retried instead of its WAL segments being deleted.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

/// [`LocalFileSystem`] with synced writes (see the module docs).
#[derive(Debug)]
pub struct SyncedLocalFileSystem {
    inner: LocalFileSystem,
    sync: Syncer,
}

/// Syncs files and directories under one root.
#[derive(Debug, Clone)]
struct Syncer {
    /// The canonical root directory: syncs stop here.
    root: Arc<PathBuf>,
    /// Files and directories synced so far.
    count: Arc<AtomicU64>,
}

impl Syncer {
    /// Sync a new or replaced `file`, then its directory chain.
    async fn written(&self, file: PathBuf) -> object_store::Result<()> {
        let this = self.clone();
        blocking(move || {
            File::open(&file)?.sync_all()?;
            this.count.fetch_add(1, Ordering::Relaxed);
            this.dirs(file.parent())
        })
        .await
    }

    /// Sync the directory chain of a removed `file`: its nearest directory left (automatic
    /// cleanup removes emptied parents) up to the root.
    async fn removed(&self, file: PathBuf) -> object_store::Result<()> {
        let this = self.clone();
        blocking(move || this.dirs(file.ancestors().skip(1).find(|d| d.is_dir()))).await
    }

    /// Sync `dir` and each of its ancestors up to and including the root.
    fn dirs(&self, dir: Option<&FsPath>) -> std::io::Result<()> {
        let Some(dir) = dir else { return Ok(()) };
        for d in dir.ancestors().take_while(|d| d.starts_with(&*self.root)) {
            File::open(d)?.sync_all()?;
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl SyncedLocalFileSystem {
    /// A store rooted at the existing directory `root`; empty directories left by deletes are
    /// removed (as `LocalFileSystem::with_automatic_cleanup`).
    pub fn new(root: &FsPath) -> object_store::Result<Self> {
        let inner = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true);
        let root = std::fs::canonicalize(root).map_err(|e| generic(Box::new(e)))?;
        Ok(Self {
            inner,
            sync: Syncer {
                root: Arc::new(root),
                count: Arc::new(AtomicU64::new(0)),
            },
        })
    }

    /// How many files and directories have been synced so far.
    pub fn syncs(&self) -> u64 {
        self.sync.count.load(Ordering::Relaxed)
    }
}

fn generic(source: Box<dyn std::error::Error + Send + Sync>) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source,
    }
}

/// Run blocking file-system calls off the async threads.
async fn blocking(
    f: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> object_store::Result<()> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| generic(Box::new(e)))?
        .map_err(|e| generic(Box::new(e)))
}

impl fmt::Display for SyncedLocalFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Synced{}", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for SyncedLocalFileSystem {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await?;
        let file = self.inner.path_to_filesystem(location)?;
        self.sync.written(file).await?;
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SyncedUpload {
            upload,
            file: self.inner.path_to_filesystem(location)?,
            sync: self.sync.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let (inner, sync) = (self.inner.clone(), self.sync.clone());
        self.inner
            .delete_stream(locations)
            .and_then(move |path| {
                let file = inner.path_to_filesystem(&path);
                let sync = sync.clone();
                async move {
                    sync.removed(file?).await?;
                    Ok(path)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        self.sync.written(self.inner.path_to_filesystem(to)?).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        self.sync
            .written(self.inner.path_to_filesystem(to)?)
            .await?;
        self.sync
            .removed(self.inner.path_to_filesystem(from)?)
            .await
    }
}

/// A multipart upload whose completion syncs the file like a put.
#[derive(Debug)]
struct SyncedUpload {
    upload: Box<dyn MultipartUpload>,
    file: PathBuf,
    sync: Syncer,
}

#[async_trait]
impl MultipartUpload for SyncedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.upload.complete().await?;
        self.sync.written(self.file.clone()).await?;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    /// A put syncs the file and every directory from its parent up to the root, created by the
    /// put or not; what is read back is what was written.
    #[tokio::test]
    async fn put_syncs_the_file_and_its_directories() {
        let dir = tempfile::tempdir().unwrap();
        let store = SyncedLocalFileSystem::new(dir.path()).unwrap();
        let path = Path::from("db/cpu/2026-12-07/a.parquet");
        store
            .put(&path, Bytes::from_static(b"one").into())
            .await
            .unwrap();
        // The file, its day, table and database directories, and the root.
        assert_eq!(store.syncs(), 5);
        let got = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"one");

        // A second file in the same directory: the same chain again.
        let other = Path::from("db/cpu/2026-12-07/b.parquet");
        store
            .put(&other, Bytes::from_static(b"two").into())
            .await
            .unwrap();
        assert_eq!(store.syncs(), 10);

        // Copy and rename sync their target like a put; rename also the source's directory.
        let copied = Path::from("db/mem/2026-12-07/c.parquet");
        store.copy(&path, &copied).await.unwrap();
        assert_eq!(store.syncs(), 15);
        let renamed = Path::from("db/mem/2026-12-08/d.parquet");
        store.rename(&other, &renamed).await.unwrap();
        assert_eq!(store.syncs(), 24);
        assert_eq!(
            &store.get(&renamed).await.unwrap().bytes().await.unwrap()[..],
            b"two"
        );
        assert!(store.head(&other).await.is_err());
    }

    /// A delete syncs the nearest directory still there (automatic cleanup removes emptied
    /// ones) and its ancestors.
    #[tokio::test]
    async fn delete_syncs_what_is_left_of_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let store = SyncedLocalFileSystem::new(dir.path()).unwrap();
        let kept = Path::from("db/cpu/2026-12-07/a.parquet");
        let gone = Path::from("db/cpu/2026-12-08/b.parquet");
        for p in [&kept, &gone] {
            store.put(p, Bytes::from_static(b"x").into()).await.unwrap();
        }
        let before = store.syncs();
        store.delete(&gone).await.unwrap();
        // 2026-12-08 is removed as empty: cpu, db and the root are synced.
        assert!(!dir.path().join("db/cpu/2026-12-08").exists());
        assert_eq!(store.syncs() - before, 3);
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].location, kept);
    }

    /// A multipart upload's completion syncs like a put.
    #[tokio::test]
    async fn a_completed_multipart_upload_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let store = SyncedLocalFileSystem::new(dir.path()).unwrap();
        let path = Path::from("t/big.parquet");
        let mut upload = store.put_multipart(&path).await.unwrap();
        upload
            .put_part(Bytes::from_static(b"ab").into())
            .await
            .unwrap();
        upload
            .put_part(Bytes::from_static(b"cd").into())
            .await
            .unwrap();
        assert_eq!(store.syncs(), 0);
        upload.complete().await.unwrap();
        assert_eq!(store.syncs(), 3);
        let got = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"abcd");
    }
}
