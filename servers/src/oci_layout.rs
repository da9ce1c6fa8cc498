//! Tiny OCI image layouts, written by the test itself, to push into a test registry with
//! `skopeo copy oci:DIR:TAG docker://...` (no image can be downloaded on these machines).
//! Each image has one uncompressed layer holding `hello.txt` and a config whose `created` is
//! the given time, so policies that read build times can be tested.

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::HarnessError;

/// Adds an image tagged `tag` to the OCI layout in `dir` (created when missing), with its
/// config's `created` set to `created` (RFC 3339). Returns the manifest digest (`sha256:...`).
///
/// Errors: a file could not be written.
pub fn add_image(dir: &Path, tag: &str, created: &str) -> Result<String, HarnessError> {
    let io = |source| HarnessError::Io {
        what: format!("writing the OCI layout {}", dir.display()),
        source,
    };
    std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(io)?;
    let layer = single_file_tar("hello.txt", format!("hello {tag}\n").as_bytes())?;
    let layer_digest = write_blob(dir, &layer)?;
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.version": tag}},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let config_bytes = config.to_string().into_bytes();
    let config_digest = write_blob(dir, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    });
    let manifest_bytes = manifest.to_string().into_bytes();
    let manifest_digest = write_blob(dir, &manifest_bytes)?;
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value = std::fs::read(&index_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    if let Some(manifests) = index["manifests"].as_array_mut() {
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    }
    std::fs::write(&index_path, index.to_string()).map_err(io)?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    Ok(manifest_digest)
}

fn write_blob(dir: &Path, bytes: &[u8]) -> Result<String, HarnessError> {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).map_err(|source| {
        HarnessError::Io {
            what: "writing a blob".into(),
            source,
        }
    })?;
    Ok(format!("sha256:{hex}"))
}

/// A ustar archive of one regular file, as the OCI image spec's layer format requires.
fn single_file_tar(name: &str, content: &[u8]) -> Result<Vec<u8>, HarnessError> {
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    let io = |source| HarnessError::Io {
        what: "writing a layer".into(),
        source,
    };
    builder
        .append_data(&mut header, name, content)
        .map_err(io)?;
    builder.into_inner().map_err(io)
}
