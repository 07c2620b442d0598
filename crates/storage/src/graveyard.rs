//! Deferred deletes. Files dropped from the index (compaction inputs, expired days) stay in the
//! object store for [`StorageConfig::delete_grace`](crate::StorageConfig::delete_grace): a query
//! that listed them just before can still read them. A crash before the delete leaves them for
//! the next start, where reads deduplicate them and compaction or retention removes them again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::Inner;

/// Paths waiting for their delete, with the time they were dropped from the index.
#[derive(Debug, Default)]
pub(crate) struct Graveyard {
    entries: Mutex<Vec<(Instant, Path)>>,
}

impl Graveyard {
    pub(crate) fn bury(&self, paths: impl IntoIterator<Item = Path>) {
        let now = Instant::now();
        if let Ok(mut e) = self.entries.lock() {
            e.extend(paths.into_iter().map(|p| (now, p)));
        }
    }

    /// The paths dropped at least `grace` ago (all of them with `None`), taken out.
    fn due(&self, grace: Option<Duration>) -> Vec<Path> {
        let Ok(mut e) = self.entries.lock() else {
            return Vec::new();
        };
        let now = Instant::now();
        let (due, keep) = std::mem::take(&mut *e)
            .into_iter()
            .partition(|(t, _)| grace.is_none_or(|g| now.duration_since(*t) >= g));
        *e = keep;
        due.into_iter().map(|(_, p)| p).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.lock().map(|e| e.is_empty()).unwrap_or(true)
    }
}

impl Inner {
    /// Delete the buried files whose grace period is over (every one with `all`, at shutdown).
    /// A failed delete is logged and forgotten: the file is no longer listed, and the next
    /// start sees it again only as a duplicate that compaction removes.
    pub(crate) async fn sweep(&self, all: bool) {
        if self.graveyard.is_empty() {
            return;
        }
        let grace = (!all).then_some(self.config.delete_grace);
        for path in self.graveyard.due(grace) {
            match self.config.object_store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(%path, "could not delete a dropped file: {e}"),
            }
        }
    }
}
