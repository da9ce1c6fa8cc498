//! Artifact storage, as Flux's source-controller keeps it: files at
//! `gitrepository/<namespace>/<name>/<commit>.tar.gz` under `--storage-path`, written to a
//! temporary file and renamed (mode 0600), served by HTTP GET at
//! `http://<--storage-adv-addr>/<path>` (on `--storage-addr`, else on the `--metrics-addr` server)
//! to Sluice's own ServiceAccounts only (a tenant's pod cannot download another tenant's
//! source), and garbage-collected down to the newest [`RETAINED`] files of each object.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use sluice_runtime::http_auth::ServiceAccountAuth;

/// How many artifacts of one object are kept (Flux's `--artifact-retention-records` default).
pub const RETAINED: usize = 2;

/// Where artifacts live and how consumers reach them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    root: Arc<PathBuf>,
    advertised: Arc<String>,
}

impl Storage {
    /// Storage under `root`, advertised at `host:port` `advertised_address`.
    pub fn new(root: PathBuf, advertised_address: &str) -> Self {
        Storage {
            root: Arc::new(root),
            advertised: Arc::new(advertised_address.to_string()),
        }
    }

    /// The path of an object's artifact for `commit`, relative to the storage root.
    pub fn artifact_path(namespace: &str, name: &str, commit: &str) -> String {
        format!("gitrepository/{namespace}/{name}/{commit}.tar.gz")
    }

    /// The URL consumers download `path` from.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.advertised)
    }

    /// Whether the artifact at `path` is on disk.
    pub async fn exists(&self, path: &str) -> bool {
        tokio::fs::try_exists(self.root.join(path))
            .await
            .unwrap_or(false)
    }

    /// Writes `bytes` at `path` atomically (temporary file, then rename), mode 0600, then
    /// deletes all but the newest [`RETAINED`] artifacts of the same object, never `path`.
    ///
    /// Errors: the file system's.
    pub async fn store(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.root.join(path);
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await?;
        let temporary = target.with_extension("tmp");
        tokio::fs::write(&temporary, bytes).await?;
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).await?;
        tokio::fs::rename(&temporary, &target).await?;
        self.garbage_collect(&dir, &target).await
    }

    async fn garbage_collect(&self, dir: &Path, current: &Path) -> std::io::Result<()> {
        let mut artifacts = Vec::new();
        let mut entries = tokio::fs::read_dir(dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path != current && path.to_string_lossy().ends_with(".tar.gz") {
                artifacts.push((entry.metadata().await?.modified()?, path));
            }
        }
        artifacts.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        for (_, stale) in artifacts.into_iter().skip(RETAINED - 1) {
            tokio::fs::remove_file(stale).await?;
        }
        Ok(())
    }

    /// Deletes every artifact of an object (when the GitRepository is deleted).
    ///
    /// Errors: the file system's; a missing folder is not an error.
    pub async fn remove_object(&self, namespace: &str, name: &str) -> std::io::Result<()> {
        let dir = self.root.join(format!("gitrepository/{namespace}/{name}"));
        match tokio::fs::remove_dir_all(dir).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The file under the storage root at `relative` (a path such as
    /// [`Storage::artifact_path`] returns), or `None` when `relative` is not a plain relative
    /// path (`..`, a root, `.`), so nothing outside the root is ever named.
    pub fn resolve(&self, relative: &Path) -> Option<PathBuf> {
        let plain = relative.components().next().is_some()
            && relative
                .components()
                .all(|component| matches!(component, Component::Normal(_)));
        plain.then(|| self.root.join(relative))
    }

    /// The file behind `url` when `url` is one this storage advertises ([`Storage::url`]), so
    /// that the process reads its own artifacts from disk rather than over HTTP; `None` for any
    /// other URL, or one whose path is not plain ([`Storage::resolve`]).
    pub fn local_file(&self, url: &str) -> Option<PathBuf> {
        let relative = url.strip_prefix(&self.url(""))?;
        self.resolve(Path::new(relative))
    }

    /// The HTTP route serving artifacts, `GET /gitrepository/<namespace>/<name>/<file>`, to the
    /// callers `auth` lets in (Sluice's own ServiceAccounts); others get 401 or 403.
    pub fn router(&self, auth: &ServiceAccountAuth) -> Router {
        auth.protect(
            Router::new()
                .route("/gitrepository/{namespace}/{name}/{file}", get(serve))
                .with_state(self.clone()),
        )
    }
}

async fn serve(
    State(storage): State<Storage>,
    UrlPath((namespace, name, file)): UrlPath<(String, String, String)>,
) -> Result<Vec<u8>, StatusCode> {
    let relative = PathBuf::from("gitrepository")
        .join(namespace)
        .join(name)
        .join(file);
    let path = storage.resolve(&relative).ok_or(StatusCode::BAD_REQUEST)?;
    tokio::fs::read(path)
        .await
        .map_err(|_| StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_newest_artifacts_and_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path().to_path_buf(), "127.0.0.1:1");
        for commit in ["a", "b", "c"] {
            let path = Storage::artifact_path("ns", "repo", commit);
            storage.store(&path, commit.as_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let a = Storage::artifact_path("ns", "repo", "a");
        let c = Storage::artifact_path("ns", "repo", "c");
        assert!(!storage.exists(&a).await);
        assert!(
            storage
                .exists(&Storage::artifact_path("ns", "repo", "b"))
                .await
        );
        assert!(storage.exists(&c).await);
        assert_eq!(
            storage.url(&c),
            "http://127.0.0.1:1/gitrepository/ns/repo/c.tar.gz"
        );
    }

    #[test]
    fn only_urls_of_this_storage_name_a_local_file_and_never_one_outside_it() {
        let storage = Storage::new(PathBuf::from("/data"), "core.sluice:9090");
        assert_eq!(
            storage.local_file("http://core.sluice:9090/gitrepository/ns/repo/c.tar.gz"),
            Some(PathBuf::from("/data/gitrepository/ns/repo/c.tar.gz"))
        );
        for foreign in [
            "http://other.sluice:9090/gitrepository/ns/repo/c.tar.gz",
            "http://core.sluice:90900/gitrepository/ns/repo/c.tar.gz",
            "https://core.sluice:9090/gitrepository/ns/repo/c.tar.gz",
            "http://core.sluice:9090/gitrepository/../../etc/passwd",
            "http://core.sluice:9090//etc/passwd",
            "http://core.sluice:9090/",
        ] {
            assert_eq!(storage.local_file(foreign), None, "{foreign}");
        }
    }
}
