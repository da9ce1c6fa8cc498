//! The artifact tarball, reproducible as Flux's: regular files only (sorted by path) with their
//! parent directories, ownership and times zeroed, modes fixed (`0750` directories, `0700`
//! executables, `0600` other files), gzip-compressed; the digest is the sha256 of the
//! compressed bytes (`sha256:<hex>`).

use std::collections::BTreeSet;
use std::io::Write;

use sha2::{Digest, Sha256};
use sluice_git::TreeFile;

use super::ignore_rules::{self, IgnoreRules, SOURCEIGNORE};
use super::policy::{MAX_BYTES, MAX_FILES};

/// Errors building an archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ignore rules could not be read.
    #[error(transparent)]
    Ignore(#[from] ignore_rules::Error),
    /// Writing the tar or gzip stream failed.
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    /// The archive unpacks to more files or bytes than a source may hold.
    #[error("{0}")]
    TooLarge(String),
}

/// A built artifact: the `tar.gz` bytes and their digest.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The compressed tarball.
    pub bytes: Vec<u8>,
    /// `sha256:<64 hex>` of [`Archive::bytes`].
    pub digest: String,
}

/// Packs `files` minus those `spec_ignore`, the defaults and the `.sourceignore` files among
/// `files` leave out (see [`ignore_rules`]).
///
/// Errors: [`Error::Ignore`] on a bad pattern, [`Error::Io`].
pub fn build(files: &[TreeFile], spec_ignore: Option<&str>) -> Result<Archive, Error> {
    let sourceignores: Vec<(String, String)> = files
        .iter()
        .filter_map(|file| {
            let dir = match file.path.rsplit_once('/') {
                Some((dir, name)) if name == SOURCEIGNORE => dir.to_string(),
                None if file.path == SOURCEIGNORE => String::new(),
                _ => return None,
            };
            Some((dir, String::from_utf8_lossy(&file.data).into_owned()))
        })
        .collect();
    let rules = IgnoreRules::new(spec_ignore, &sourceignores)?;
    let mut kept: Vec<&TreeFile> = files
        .iter()
        .filter(|f| !rules.is_ignored(&f.path))
        .collect();
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    let bytes = tar_gz(&kept)?;
    let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    Ok(Archive { bytes, digest })
}

/// `sha256:<hex>` of `bytes`, the form of `status.artifact.digest`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn tar_gz(files: &[&TreeFile]) -> Result<Vec<u8>, Error> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    let directories: BTreeSet<&str> = files
        .iter()
        .flat_map(|file| {
            file.path
                .match_indices('/')
                .map(|(end, _)| &file.path[..end])
        })
        .collect();
    for directory in directories {
        let mut header = header(tar::EntryType::Directory, 0o750, 0);
        tar.append_data(&mut header, format!("{directory}/"), std::io::empty())?;
    }
    for file in files {
        let mode = if file.executable { 0o700 } else { 0o600 };
        let mut header = header(tar::EntryType::Regular, mode, file.data.len() as u64);
        tar.append_data(&mut header, &file.path, file.data.as_slice())?;
    }
    let mut encoder = tar.into_inner()?;
    encoder.flush()?;
    Ok(encoder.finish()?)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks `bytes` (a tarball built by [`build`]) into `dir`; entries that would land outside
/// `dir` are left out by the `tar` crate. Stops before writing past [`MAX_FILES`] files or
/// [`MAX_BYTES`] bytes (what a source may hold), so a tarball that expands far beyond its size
/// cannot fill the disk.
///
/// Errors: [`Error::Io`] on a corrupt archive or a write failure, [`Error::TooLarge`].
pub fn unpack(bytes: &[u8], dir: &std::path::Path) -> Result<(), Error> {
    let decoder = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(decoder);
    let (mut files, mut total) = (0usize, 0u64);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            files += 1;
            total = total.saturating_add(entry.header().size()?);
        }
        if files > MAX_FILES || total > MAX_BYTES {
            return Err(Error::TooLarge(format!(
                "the artifact unpacks to more than {MAX_FILES} files or {MAX_BYTES} bytes"
            )));
        }
        entry.unpack_in(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str) -> TreeFile {
        TreeFile {
            path: path.into(),
            executable: path.ends_with(".sh"),
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_same_tree_gives_the_same_digest_whatever_the_order() {
        let a = [
            file("b/x.yaml", "x"),
            file("a.yaml", "a"),
            file("run.sh", "#!"),
        ];
        let b = [
            file("run.sh", "#!"),
            file("a.yaml", "a"),
            file("b/x.yaml", "x"),
        ];
        let (first, second) = (build(&a, None).unwrap(), build(&b, None).unwrap());
        assert_eq!(first.digest, second.digest);
        assert_eq!(first.digest, digest(&first.bytes));
        let changed = build(&[file("a.yaml", "A")], None).unwrap();
        assert_ne!(changed.digest, first.digest);
    }

    #[test]
    fn headers_are_sanitised_and_ignored_files_left_out() {
        let files = [
            file("app/deploy.yaml", "kind: x"),
            file("run.sh", "#!"),
            file(".github/ci.yaml", "ci"),
            file("app/.sourceignore", "local.yaml\n"),
            file("app/local.yaml", "local"),
        ];
        let archive = build(&files, None).unwrap();
        let decoder = flate2::read::GzDecoder::new(archive.bytes.as_slice());
        let mut tar = tar::Archive::new(decoder);
        let entries: Vec<(String, u32, u64, u64)> = tar
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().display().to_string(),
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                    header.uid().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["app/", "app/.sourceignore", "app/deploy.yaml", "run.sh"]
        );
        assert_eq!(entries[0].1, 0o750);
        assert_eq!(entries[2].1, 0o600);
        assert_eq!(entries[3].1, 0o700);
        assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 0));
    }

    #[test]
    fn an_archive_past_the_source_limits_is_not_unpacked() {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut claimed = header(tar::EntryType::Regular, 0o600, MAX_BYTES + 1);
        tar.append_data(&mut claimed, "huge.yaml", std::io::empty())
            .unwrap();
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let refused = unpack(&bytes, dir.path());
        assert!(matches!(refused, Err(Error::TooLarge(_))), "{refused:?}");
        assert!(!dir.path().join("huge.yaml").exists());
        let fine = build(&[file("a.yaml", "a")], None).unwrap();
        unpack(&fine.bytes, dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(),
            "a"
        );
    }
}
