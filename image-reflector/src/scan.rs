//! What a scan keeps and reports, as Flux's image-reflector-controller does: the exclusion list
//! drops tags, the rest is stored sorted, and the status summarises it (`tagCount`, a revision
//! hash, the 10 latest tags in descending byte-wise order).

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::api::image_repository::ScanResult;

/// How many tags `status.lastScanResult.latestTags` shows.
pub const LATEST_TAGS_SHOWN: usize = 10;

/// Why the scan settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry of `spec.exclusionList` is not a regular expression.
    #[error("invalid exclusionList entry '{pattern}': {reason}")]
    InvalidExclusion {
        /// The entry as written.
        pattern: String,
        /// The regex compiler's message, on one line.
        reason: String,
    },
}

/// A compiled `spec.exclusionList`.
#[derive(Clone, Debug)]
pub struct Exclusions {
    patterns: Vec<Regex>,
}

impl Exclusions {
    /// Compiles `list` (unanchored regular expressions, as Flux's).
    ///
    /// Errors: [`Error::InvalidExclusion`] for the first entry that does not compile.
    pub fn new(list: &[String]) -> Result<Self, Error> {
        let patterns = list
            .iter()
            .map(|pattern| {
                Regex::new(pattern).map_err(|error| Error::InvalidExclusion {
                    pattern: pattern.clone(),
                    reason: error.to_string().replace('\n', " "),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Exclusions { patterns })
    }

    /// The tags no pattern matches, sorted byte-wise, without duplicates.
    pub fn keep(&self, tags: Vec<String>) -> Vec<String> {
        let mut kept: Vec<String> = tags
            .into_iter()
            .filter(|tag| !self.patterns.iter().any(|pattern| pattern.is_match(tag)))
            .collect();
        kept.sort_unstable();
        kept.dedup();
        kept
    }
}

/// A stable hash of a sorted tag set: `sha256:` and the hex digest of the tags joined by `\n`.
pub fn revision(sorted_tags: &[String]) -> String {
    let mut hasher = Sha256::new();
    for tag in sorted_tags {
        hasher.update(tag.as_bytes());
        hasher.update(b"\n");
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// `status.lastScanResult` for `sorted_tags` scanned at `scan_time`.
pub fn scan_result(
    sorted_tags: &[String],
    revision: &str,
    scan_time: jiff::Timestamp,
) -> ScanResult {
    ScanResult {
        tag_count: i64::try_from(sorted_tags.len()).unwrap_or(i64::MAX),
        scan_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            scan_time,
        )),
        revision: revision.to_owned(),
        latest_tags: sorted_tags
            .iter()
            .rev()
            .take(LATEST_TAGS_SHOWN)
            .cloned()
            .collect(),
    }
}

/// Whether an ImageRepository must be scanned now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanDue {
    /// Scan now.
    Now,
    /// The stored scan is fresh; scan again after this delay.
    Later(std::time::Duration),
}

/// What the stored scan was made with, to compare with the current spec.
#[derive(Clone, Copy, Debug)]
pub struct Stored<'a> {
    /// The canonical image scanned.
    pub image: &'a str,
    /// The exclusion list applied.
    pub exclusion_list: &'a [String],
    /// When it was scanned.
    pub scanned_at: jiff::Timestamp,
}

/// Decides whether to scan: now when nothing is stored, when the image or exclusion list
/// changed, when a reconcile was requested (the requested-at annotation is not yet handled, as
/// the webhook asks), or when the stored scan is `interval` old; later otherwise, so a restart
/// does not rescan what is fresher than its interval.
pub fn scan_due(
    stored: Option<Stored<'_>>,
    image: &str,
    exclusion_list: &[String],
    request_pending: bool,
    interval: std::time::Duration,
    now: jiff::Timestamp,
) -> ScanDue {
    let Some(stored) = stored else {
        return ScanDue::Now;
    };
    if request_pending || stored.image != image || stored.exclusion_list != exclusion_list {
        return ScanDue::Now;
    }
    let age = std::time::Duration::try_from(stored.scanned_at.duration_until(now))
        .unwrap_or(std::time::Duration::ZERO);
    match interval.checked_sub(age) {
        Some(remaining) if !remaining.is_zero() => ScanDue::Later(remaining),
        _ => ScanDue::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn the_default_exclusion_drops_signatures_and_the_rest_is_sorted() {
        let exclusions = Exclusions::new(&strings(&[r"^.*\.sig$"])).unwrap();
        let kept = exclusions.keep(strings(&["b", "sha256-abc.sig", "a", "b"]));
        assert_eq!(kept, ["a", "b"]);
    }

    #[test]
    fn an_invalid_exclusion_is_named() {
        let error = Exclusions::new(&strings(&["ok", "(unclosed"])).unwrap_err();
        assert!(error.to_string().contains("(unclosed"), "{error}");
    }

    #[test]
    fn the_revision_changes_with_the_tag_set() {
        let one = revision(&strings(&["1.0.0"]));
        assert_eq!(one, revision(&strings(&["1.0.0"])));
        assert_ne!(one, revision(&strings(&["1.0.0", "1.1.0"])));
        assert_ne!(
            revision(&strings(&["ab", "c"])),
            revision(&strings(&["a", "bc"]))
        );
    }

    #[test]
    fn latest_tags_are_the_ten_greatest_descending() {
        let tags: Vec<String> = (0..15).map(|i| format!("t{i:02}")).collect();
        let result = scan_result(&tags, "r", jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(result.tag_count, 15);
        assert_eq!(result.latest_tags.len(), 10);
        assert_eq!(result.latest_tags[0], "t14");
        assert_eq!(result.latest_tags[9], "t05");
    }
    #[test]
    fn a_fresh_stored_scan_is_not_repeated() {
        let list = strings(&["x"]);
        let scanned_at: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let stored = Some(Stored {
            image: "r.io/app",
            exclusion_list: &list,
            scanned_at,
        });
        let minute = std::time::Duration::from_secs(60);
        let later = scanned_at + jiff::SignedDuration::from_secs(20);
        let due = |image, list: &[String], pending, now| {
            scan_due(stored, image, list, pending, minute, now)
        };
        assert_eq!(
            due("r.io/app", &list, false, later),
            ScanDue::Later(std::time::Duration::from_secs(40))
        );
        assert_eq!(
            due("r.io/app", &list, true, later),
            ScanDue::Now,
            "requested"
        );
        assert_eq!(
            due("r.io/other", &list, false, later),
            ScanDue::Now,
            "image changed"
        );
        assert_eq!(
            due("r.io/app", &[], false, later),
            ScanDue::Now,
            "exclusions changed"
        );
        let stale = scanned_at + jiff::SignedDuration::from_secs(60);
        assert_eq!(
            due("r.io/app", &list, false, stale),
            ScanDue::Now,
            "interval passed"
        );
        assert_eq!(
            scan_due(None, "r.io/app", &list, false, minute, later),
            ScanDue::Now
        );
    }
}
