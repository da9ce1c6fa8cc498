//! Getting a source artifact the way Flux's kustomize-controller does: HTTP GET of
//! `status.artifact.url` (retried), the sha256 digest verified, the tarball unpacked into a
//! fresh folder per reconcile. Verified tarballs are kept in memory by URL, so the Kustomizations
//! of one source download it once per revision.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::Error;
use crate::api::git_repository::Artifact;
use crate::source::archive;

/// How many tarballs are kept in memory.
const CACHED: usize = 32;
/// Download attempts before giving up.
const ATTEMPTS: u32 = 3;

/// Downloaded, verified tarballs by URL.
pub struct ArtifactCache {
    http: reqwest::Client,
    tarballs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Default for ArtifactCache {
    fn default() -> Self {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        ArtifactCache {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            tarballs: Mutex::default(),
        }
    }
}

impl ArtifactCache {
    /// Unpacks `artifact` into `dir`, downloading and verifying it unless already cached.
    ///
    /// Errors: [`Error::ArtifactFailed`] when the download fails after retries, the digest does
    /// not match, or the tarball cannot be unpacked.
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
            .get(&artifact.url)
        {
            return Ok(cached.clone());
        }
        let bytes = Arc::new(self.download(&artifact.url).await?);
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
        let mut cache = self.tarballs.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(artifact.url.clone(), bytes.clone());
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
                Ok(response) => match response.bytes().await {
                    Ok(bytes) => return Ok(bytes.to_vec()),
                    Err(error) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
        }
        Err(Error::ArtifactFailed(format!(
            "failed to download artifact from {url}: {last_error}"
        )))
    }
}
