//! What a tenant's GitRepository may make a controller do (the GitRepository source, and the
//! ImageUpdateAutomation and Pipeline that fetch and push its URL): which URLs it reaches, how
//! long a Git operation may take, and how much of a repository is read. Pure decisions.
//!
//! - URLs ([`check_url`]): `http://`, `https://` and `ssh://`, as Flux's GitRepository `url`
//!   pattern `^(http|https|ssh)://.*$` allows (Flux refuses `git://`, scp-like `user@host:path`
//!   and `file://`). `file://` reads the controller's own disk (its work caches, other tenants'
//!   artifacts, `/etc`), so it is accepted only when the controller runs with
//!   `--allow-file-sources`, which `deploy/` never sets (the test suites do, for their local
//!   repositories). The CRD admits `file://` so that such a controller can be used; every
//!   controller checks the URL again before it fetches.
//! - Time ([`git_timeout`]): `spec.timeout`, Flux's default 60 s when absent; every Git
//!   operation (fetch, push) stops at it (see `sluice_git::Deadline`).
//! - Size ([`TREE_LIMITS`]): Flux has no limit; Sluice reads a fetched tree into memory to pack
//!   its artifact, so it refuses a tree past [`MAX_FILES`] files or [`MAX_BYTES`] bytes with
//!   `ArtifactTooLarge`.

use std::time::Duration;

use sluice_git::TreeLimits;
use sluice_runtime::duration::parse_go_duration;

/// Flux's default timeout of a GitRepository's Git operations.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most files a source tree may hold (100,000). Manifest repositories hold hundreds to a
/// few thousand files, large monorepos tens of thousands; each file costs a path and a tar
/// header in memory and in the artifact, and a million files is a denial of service, not a
/// fleet.
pub const MAX_FILES: usize = 100_000;

/// The most bytes the files of a source tree may hold together, unpacked (100 MiB). The tree is
/// read into memory and packed into a tarball also built in memory, so one fetch costs up to
/// about twice this, and `--concurrent` fetches as many times that; manifests are KiB (the API
/// server refuses objects over 1.5 MiB), so a repository past 100 MiB holds something else
/// (binaries, data), which `spec.ignore` cannot leave out early enough: ignored files are read
/// before they are left out.
pub const MAX_BYTES: u64 = 100 * 1024 * 1024;

/// The largest artifact tarball a consumer reads (a Kustomization, a Pipeline): the files of a
/// tree within [`MAX_BYTES`] and [`MAX_FILES`], plus a tar header and padding (1 KiB) per file;
/// gzip only shrinks them. Past it the tarball cannot come from a source within the limits.
pub const MAX_ARTIFACT_BYTES: u64 = MAX_BYTES + MAX_FILES as u64 * 1024;

/// [`MAX_FILES`] and [`MAX_BYTES`] for the Git layer.
pub const TREE_LIMITS: TreeLimits = TreeLimits {
    max_files: MAX_FILES,
    max_bytes: MAX_BYTES,
};

/// The URL schemes every controller accepts, as Flux's pattern.
const NETWORK_SCHEMES: [&str; 3] = ["http", "https", "ssh"];

/// Why a source URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://`, `https://`, `ssh://` (or `file://`): `git://`, scp-like `host:path`, ...
    #[error(
        "URL '{0}' is not supported: use an http://, https:// or ssh:// URL (as Flux, git:// and scp-like addresses are refused)"
    )]
    UnsupportedScheme(String),
    /// A `file://` URL, and the controller does not run with `--allow-file-sources`.
    #[error(
        "URL '{0}' reads the controller's own disk: file:// sources are refused unless the controller runs with --allow-file-sources"
    )]
    FileNotAllowed(String),
    /// A network URL without a host.
    #[error("URL '{0}' names no host")]
    NoHost(String),
}

/// Checks `url` against the policy of the module doc; `allow_file_sources` is the controller's
/// `--allow-file-sources`.
///
/// Errors: [`UrlError`].
pub fn check_url(url: &str, allow_file_sources: bool) -> Result<(), UrlError> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .ok_or_else(|| UrlError::UnsupportedScheme(url.to_owned()))?;
    if scheme == "file" {
        return match allow_file_sources {
            true => Ok(()),
            false => Err(UrlError::FileNotAllowed(url.to_owned())),
        };
    }
    if !NETWORK_SCHEMES.contains(&scheme) {
        return Err(UrlError::UnsupportedScheme(url.to_owned()));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|_| UrlError::UnsupportedScheme(url.to_owned()))?;
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(UrlError::NoHost(url.to_owned())),
    }
}

/// A GitRepository's `spec.timeout`, [`DEFAULT_TIMEOUT`] when absent.
///
/// Errors: the text is not a Go duration (the message says why).
pub fn git_timeout(timeout: Option<&str>) -> Result<Duration, String> {
    match timeout {
        Some(text) => parse_go_duration(text).map_err(|error| error.to_string()),
        None => Ok(DEFAULT_TIMEOUT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_urls_are_accepted_as_flux_accepts_them() {
        for url in [
            "https://github.com/org/fleet",
            "http://127.0.0.1:3000/org/fleet.git",
            "ssh://git@github.com/org/fleet.git",
        ] {
            assert_eq!(check_url(url, false), Ok(()), "{url}");
        }
        for url in [
            "git://127.0.0.1/fleet.git",
            "git@github.com:org/fleet.git",
            "ftp://host/fleet",
            "ext::sh -c touch% /tmp/pwned",
        ] {
            assert_eq!(
                check_url(url, true),
                Err(UrlError::UnsupportedScheme(url.into())),
                "{url}"
            );
        }
        assert_eq!(
            check_url("ssh:///fleet.git", false),
            Err(UrlError::NoHost("ssh:///fleet.git".into()))
        );
    }

    #[test]
    fn file_urls_need_the_flag() {
        let url = "file:///etc";
        let refused = check_url(url, false).unwrap_err();
        assert_eq!(refused, UrlError::FileNotAllowed(url.into()));
        assert!(refused.to_string().contains("--allow-file-sources"));
        assert_eq!(check_url(url, true), Ok(()));
    }

    #[test]
    fn the_timeout_defaults_to_fluxs() {
        assert_eq!(git_timeout(None), Ok(DEFAULT_TIMEOUT));
        assert_eq!(git_timeout(Some("90s")), Ok(Duration::from_secs(90)));
        assert!(git_timeout(Some("soon")).is_err());
    }
}
