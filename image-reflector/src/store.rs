//! The tag store: the tags of every ImageRepository's last scan, in an embedded redb database
//! under `--storage-path`, so a restarted controller neither loses them nor rescans what is
//! fresher than its interval. Entries are keyed by the ImageRepository (`namespace/name`), so
//! two objects on one image never overwrite each other. Tags are read from disk when a policy
//! needs them, not held in memory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// The file inside `--storage-path`.
pub const DATABASE_FILE: &str = "image-reflector.redb";

/// The page cache redb may keep in memory, in bytes.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

const SCANS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("scans");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage folder could not be created.
    #[error("creating the storage folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database failed (open, transaction, I/O).
    #[error("tag store: {0}")]
    Database(#[from] redb::Error),
    /// A stored entry does not decode (written by an incompatible version).
    #[error("tag store entry {key}: {source}")]
    Decode {
        /// The entry's key.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The blocking task running the database operation died.
    #[error("tag store task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// One ImageRepository's last scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScan {
    /// The canonical image name scanned.
    pub image: String,
    /// The exclusion list applied.
    pub exclusion_list: Vec<String>,
    /// When the scan finished, in milliseconds since the Unix epoch.
    pub scanned_at_ms: i64,
    /// The hash of `tags` (see `scan::revision`).
    pub revision: String,
    /// The tags kept, sorted byte-wise, without duplicates.
    pub tags: Vec<String>,
}

/// The one field of a stored entry that garbage collection reads (serde skips the tags).
#[derive(Deserialize)]
struct ScanTime {
    scanned_at_ms: i64,
}

/// Which entries [`TagStore::remove_stale`] may remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stale {
    /// The entry of this key, an ImageRepository that was deleted.
    Key(String),
    /// Every entry whose key is not in this set, the ImageRepositories that exist.
    AllBut(HashSet<String>),
}

/// The key of an ImageRepository: `namespace/name`.
pub fn object_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The open database. Cheap to clone.
#[derive(Clone)]
pub struct TagStore {
    database: Arc<Database>,
}

impl TagStore {
    /// Opens (or creates) the store in the folder `path`, creating the folder if needed.
    ///
    /// Errors: [`Error::Folder`], or [`Error::Database`] when the file cannot be opened (e.g.
    /// another process holds it).
    pub fn open(path: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(path).map_err(|source| Error::Folder {
            path: path.to_owned(),
            source,
        })?;
        let database = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path.join(DATABASE_FILE))
            .map_err(redb::Error::from)?;
        let transaction = database.begin_write().map_err(redb::Error::from)?;
        transaction.open_table(SCANS).map_err(redb::Error::from)?;
        transaction.commit().map_err(redb::Error::from)?;
        Ok(TagStore {
            database: Arc::new(database),
        })
    }

    /// The last scan stored under `key`, if any.
    ///
    /// Errors: [`Error::Database`], [`Error::Decode`], [`Error::Task`].
    pub async fn get(&self, key: &str) -> Result<Option<StoredScan>, Error> {
        let database = self.database.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let transaction = database.begin_read().map_err(redb::Error::from)?;
            let table = transaction.open_table(SCANS).map_err(redb::Error::from)?;
            let Some(bytes) = table.get(key.as_str()).map_err(redb::Error::from)? else {
                return Ok(None);
            };
            serde_json::from_slice(bytes.value())
                .map(Some)
                .map_err(|source| Error::Decode { key, source })
        })
        .await?
    }

    /// Stores `scan` under `key`, replacing what was there, durably.
    ///
    /// Errors: [`Error::Database`], [`Error::Task`].
    pub async fn put(&self, key: &str, scan: &StoredScan) -> Result<(), Error> {
        let bytes = serde_json::to_vec(scan).map_err(|source| Error::Decode {
            key: key.to_owned(),
            source,
        })?;
        let database = self.database.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let transaction = database.begin_write().map_err(redb::Error::from)?;
            {
                let mut table = transaction.open_table(SCANS).map_err(redb::Error::from)?;
                table
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(redb::Error::from)?;
            }
            transaction.commit().map_err(redb::Error::from)?;
            Ok(())
        })
        .await?
    }

    /// Removes the entries `stale` selects that were scanned before `before_ms` (milliseconds
    /// since the Unix epoch), in one transaction, and returns their keys. An entry scanned
    /// since then belongs to an object (re)created meanwhile and is kept.
    ///
    /// Errors: [`Error::Database`], [`Error::Task`].
    pub async fn remove_stale(&self, stale: Stale, before_ms: i64) -> Result<Vec<String>, Error> {
        let database = self.database.clone();
        tokio::task::spawn_blocking(move || {
            let transaction = database.begin_write().map_err(redb::Error::from)?;
            let removed = {
                let mut table = transaction.open_table(SCANS).map_err(redb::Error::from)?;
                let candidates = match stale {
                    Stale::Key(key) => vec![key],
                    Stale::AllBut(live) => absent_keys(&table, &live)?,
                };
                let mut removed = Vec::new();
                for key in candidates {
                    let scanned_at = match table.get(key.as_str()).map_err(redb::Error::from)? {
                        // An entry that does not decode is as stale as can be.
                        Some(bytes) => scan_time(bytes.value()).unwrap_or(i64::MIN),
                        None => continue,
                    };
                    if scanned_at < before_ms {
                        table.remove(key.as_str()).map_err(redb::Error::from)?;
                        removed.push(key);
                    }
                }
                removed
            };
            transaction.commit().map_err(redb::Error::from)?;
            Ok(removed)
        })
        .await?
    }
}

/// The keys of `table` not in `live`.
fn absent_keys(
    table: &redb::Table<'_, &str, &[u8]>,
    live: &HashSet<String>,
) -> Result<Vec<String>, Error> {
    let mut absent = Vec::new();
    for entry in table.iter().map_err(redb::Error::from)? {
        let (key, _) = entry.map_err(redb::Error::from)?;
        if !live.contains(key.value()) {
            absent.push(key.value().to_owned());
        }
    }
    Ok(absent)
}

fn scan_time(bytes: &[u8]) -> Option<i64> {
    serde_json::from_slice::<ScanTime>(bytes)
        .ok()
        .map(|time| time.scanned_at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(image: &str, tags: &[&str]) -> StoredScan {
        StoredScan {
            image: image.into(),
            exclusion_list: vec![],
            scanned_at_ms: 1_700_000_000_000,
            revision: format!("rev-{}", tags.len()),
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn two_objects_on_one_image_keep_their_own_tags() {
        let folder = tempfile::tempdir().unwrap();
        let store = TagStore::open(folder.path()).unwrap();
        let a = scan("r.io/app", &["1.0.0"]);
        let b = scan("r.io/app", &["1.0.0", "2.0.0"]);
        store.put(&object_key("team-a", "app"), &a).await.unwrap();
        store.put(&object_key("team-b", "app"), &b).await.unwrap();
        assert_eq!(store.get("team-a/app").await.unwrap(), Some(a));
        assert_eq!(store.get("team-b/app").await.unwrap(), Some(b));
    }

    #[tokio::test]
    async fn stale_entries_go_and_entries_scanned_since_stay() {
        let folder = tempfile::tempdir().unwrap();
        let store = TagStore::open(folder.path()).unwrap();
        let old = scan("r.io/app", &["1.0.0"]);
        let recent = StoredScan {
            scanned_at_ms: old.scanned_at_ms + 10,
            ..old.clone()
        };
        for key in ["ns/live", "ns/deleted", "ns/gone"] {
            store.put(key, &old).await.unwrap();
        }
        store.put("ns/recreated", &recent).await.unwrap();
        let cutoff = old.scanned_at_ms + 1;
        let live = HashSet::from(["ns/live".to_owned()]);
        let mut removed = store
            .remove_stale(Stale::AllBut(live), cutoff)
            .await
            .unwrap();
        removed.sort();
        assert_eq!(removed, ["ns/deleted", "ns/gone"]);
        assert_eq!(store.get("ns/live").await.unwrap(), Some(old.clone()));
        assert_eq!(store.get("ns/recreated").await.unwrap(), Some(recent));

        let removed = store
            .remove_stale(Stale::Key("ns/recreated".into()), cutoff)
            .await
            .unwrap();
        assert!(removed.is_empty(), "scanned after the cutoff: {removed:?}");
        let removed = store
            .remove_stale(Stale::Key("ns/live".into()), cutoff)
            .await
            .unwrap();
        assert_eq!(removed, ["ns/live"]);
        assert_eq!(store.get("ns/live").await.unwrap(), None);
    }

    #[tokio::test]
    async fn scans_survive_reopening() {
        let folder = tempfile::tempdir().unwrap();
        let stored = scan("r.io/app", &["1.0.0", "1.1.0"]);
        {
            let store = TagStore::open(folder.path()).unwrap();
            store.put("ns/app", &stored).await.unwrap();
        }
        let reopened = TagStore::open(folder.path()).unwrap();
        assert_eq!(reopened.get("ns/app").await.unwrap(), Some(stored));
    }
}
