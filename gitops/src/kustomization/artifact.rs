//! Getting a source artifact the way Flux's kustomize-controller does: `status.artifact.url`
//! fetched, the sha256 digest verified, the tarball unpacked into a fresh folder per reconcile.
//! Verified tarballs are kept in memory by URL, so the Kustomizations and Pipelines of one
//! source get it once per revision, up to [`CACHED`] tarballs and [`MAX_CACHED_BYTES`] bytes;
//! a tarball past [`policy::MAX_ARTIFACT_BYTES`] is refused before it is read whole.
//!
//! An artifact of this process' own storage (its URL starts with `http://<--storage-adv-addr>/`)
//! is read from disk, not downloaded: the artifact server lets in only Sluice's ServiceAccounts
//! (`sluice_runtime::http_auth`), and reading the file the same process wrote needs no
//! credentials at all. This was chosen over sending the controller's own token because it is
//! simpler (no token to find, refresh or send; it works the same whether the process runs
//! in-cluster or from a kubeconfig with a client certificate, which has no token to send) and
//! safer: the controller never hands its ServiceAccount token, which may impersonate every
//! tenant's ServiceAccount, to a URL read from an object's status. The core process consumes
//! the artifacts it produces (one leader reconciles both kinds; with `--watch-label-selector`
//! sharding, a Kustomization and its source must be in the same shard). Any other URL is
//! fetched by plain HTTP GET (retried), with no credentials: another Sluice's artifact server
//! refuses it with 401, which the Kustomization's Ready condition then shows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::Error;
use crate::api::git_repository::Artifact;
use crate::source::archive;
use crate::source::policy;
use crate::source::storage::Storage;

/// How many tarballs are kept in memory.
const CACHED: usize = 32;
/// How many bytes of tarballs are kept in memory, all together (128 MiB): artifacts of manifest
/// repositories are KiB to a few MiB, so this holds the current revision of many sources, while
/// one source at the size limit ([`policy::MAX_ARTIFACT_BYTES`]) cannot make the cache hold
/// gigabytes. A tarball larger than this is used and not kept.
const MAX_CACHED_BYTES: usize = 128 * 1024 * 1024;
/// Download attempts before giving up.
const ATTEMPTS: u32 = 3;

/// Verified tarballs by URL, read from the process' own storage or downloaded.
pub struct ArtifactCache {
    storage: Storage,
    http: reqwest::Client,
    tarballs: Mutex<Tarballs>,
}

/// The cached tarballs, by URL, and their total size.
#[derive(Default)]
struct Tarballs {
    by_url: HashMap<String, Arc<Vec<u8>>>,
    bytes: usize,
}

impl Tarballs {
    /// Keeps `tarball` for `url`, first emptying the cache when it would go past [`CACHED`]
    /// tarballs or [`MAX_CACHED_BYTES`]; a tarball larger than the latter is not kept.
    fn insert(&mut self, url: String, tarball: Arc<Vec<u8>>) {
        if tarball.len() > MAX_CACHED_BYTES {
            return;
        }
        if self.by_url.len() >= CACHED || self.bytes + tarball.len() > MAX_CACHED_BYTES {
            self.by_url.clear();
            self.bytes = 0;
        }
        self.bytes += tarball.len();
        if let Some(replaced) = self.by_url.insert(url, tarball) {
            self.bytes -= replaced.len();
        }
    }
}

impl ArtifactCache {
    /// A cache reading the artifacts of `storage` (the process' own) from disk and downloading
    /// any other.
    pub fn new(storage: Storage) -> Self {
        sluice_runtime::logging::install_crypto_provider();
        ArtifactCache {
            storage,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            tarballs: Mutex::default(),
        }
    }

    /// Unpacks `artifact` into `dir`, reading or downloading it and verifying it unless already
    /// cached.
    ///
    /// Errors: [`Error::ArtifactFailed`] when the local file cannot be read, the download fails
    /// after retries, the digest does not match, or the tarball cannot be unpacked.
    pub async fn unpack(&self, artifact: &Artifact, dir: &Path) -> Result<(), Error> {
        let tarball = self.tarball(artifact).await?;
        archive::unpack(&tarball, dir)
            .map_err(|e| Error::ArtifactFailed(format!("failed to extract {}: {e}", artifact.url)))
    }

    async fn tarball(&self, artifact: &Artifact) -> Result<Arc<Vec<u8>>, Error> {
        if let Some(cached) = self
            .tarballs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_url
            .get(&artifact.url)
        {
            return Ok(cached.clone());
        }
        let bytes = Arc::new(match self.storage.local_file(&artifact.url) {
            Some(file) => read_local(&file, &artifact.url).await?,
            None => self.download(&artifact.url).await?,
        });
        let digest = archive::digest(&bytes);
        if let Some(expected) = artifact
            .digest
            .as_deref()
            .filter(|expected| **expected != digest)
        {
            return Err(Error::ArtifactFailed(format!(
                "failed to verify artifact {}: computed digest {digest} does not match {expected}",
                artifact.url
            )));
        }
        self.tarballs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(artifact.url.clone(), bytes.clone());
        Ok(bytes)
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, Error> {
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let response = self
                .http
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status());
            match response {
                Ok(response) => match read_body(response, url).await {
                    Ok(bytes) => return Ok(bytes),
                    Err(Body::TooLarge(error)) => return Err(error),
                    Err(Body::Failed(error)) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
        }
        Err(Error::ArtifactFailed(format!(
            "failed to download artifact from {url}: {last_error}"
        )))
    }
}

/// Why a download's body could not be read.
enum Body {
    /// Past [`policy::MAX_ARTIFACT_BYTES`]: not worth retrying.
    TooLarge(Error),
    /// The transfer failed.
    Failed(reqwest::Error),
}

/// The error of an artifact at `url` larger than [`policy::MAX_ARTIFACT_BYTES`].
fn too_large(url: &str) -> Error {
    Error::ArtifactFailed(format!(
        "artifact {url} is larger than {} bytes, refused",
        policy::MAX_ARTIFACT_BYTES
    ))
}

/// The body of `response`, read chunk by chunk and refused once past
/// [`policy::MAX_ARTIFACT_BYTES`].
async fn read_body(mut response: reqwest::Response, url: &str) -> Result<Vec<u8>, Body> {
    let max = policy::MAX_ARTIFACT_BYTES;
    if response.content_length().is_some_and(|length| length > max) {
        return Err(Body::TooLarge(too_large(url)));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Body::Failed)? {
        if (bytes.len() + chunk.len()) as u64 > max {
            return Err(Body::TooLarge(too_large(url)));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The artifact file `file` of this process' storage (for `url`), refused when larger than
/// [`policy::MAX_ARTIFACT_BYTES`].
async fn read_local(file: &Path, url: &str) -> Result<Vec<u8>, Error> {
    let failed = |error: std::io::Error| {
        Error::ArtifactFailed(format!("failed to read artifact {url}: {error}"))
    };
    let size = tokio::fs::metadata(file).await.map_err(failed)?.len();
    if size > policy::MAX_ARTIFACT_BYTES {
        return Err(too_large(url));
    }
    tokio::fs::read(file).await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let mut tarballs = Tarballs::default();
        let half = Arc::new(vec![0u8; MAX_CACHED_BYTES / 2]);
        tarballs.insert("a".into(), half.clone());
        tarballs.insert("a".into(), half.clone());
        assert_eq!(tarballs.bytes, MAX_CACHED_BYTES / 2);
        tarballs.insert("b".into(), half.clone());
        assert_eq!(tarballs.by_url.len(), 2);
        tarballs.insert("c".into(), Arc::new(vec![0u8; 10]));
        assert_eq!(tarballs.by_url.len(), 1);
        assert_eq!(tarballs.bytes, 10);
        tarballs.insert("huge".into(), Arc::new(vec![0u8; MAX_CACHED_BYTES + 1]));
        assert!(!tarballs.by_url.contains_key("huge"));
    }
}
