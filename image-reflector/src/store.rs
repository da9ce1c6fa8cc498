//! The tag store: the tags of every ImageRepository's last scan, in an embedded redb database
//! under `--storage-path`, so a restarted controller neither loses them nor rescans what is
//! fresher than its interval. Entries are keyed by the ImageRepository (`namespace/name`), so
//! two objects on one image never overwrite each other. Tags are read from disk when a policy
//! needs them, not held in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

/// The file inside `--storage-path`.
pub const DATABASE_FILE: &str = "image-reflector.redb";

/// The page cache redb may keep in memory, in bytes.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

const SCANS: TableDefinition<&str, &[u8]> = TableDefinition::new("scans");

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
        self.write(key, Some(bytes)).await
    }

    /// Removes the entry under `key`, if any.
    ///
    /// Errors: [`Error::Database`], [`Error::Task`].
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        self.write(key, None).await
    }

    async fn write(&self, key: &str, bytes: Option<Vec<u8>>) -> Result<(), Error> {
        let database = self.database.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let transaction = database.begin_write().map_err(redb::Error::from)?;
            {
                let mut table = transaction.open_table(SCANS).map_err(redb::Error::from)?;
                match &bytes {
                    Some(bytes) => table.insert(key.as_str(), bytes.as_slice()),
                    None => table.remove(key.as_str()),
                }
                .map_err(redb::Error::from)?;
            }
            transaction.commit().map_err(redb::Error::from)?;
            Ok(())
        })
        .await?
    }
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
        store.remove("team-a/app").await.unwrap();
        assert_eq!(store.get("team-a/app").await.unwrap(), None);
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
