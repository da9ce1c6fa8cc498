//! How an image tag is read as a semantic version, as Flux's semver ImagePolicy reads it.
//!
//! Flux parses tags with `fluxcd/pkg/version.ParseVersion`: Masterminds/semver's
//! `StrictNewVersion` after removing one leading `v`. That is exactly `X.Y.Z[-pre][+build]`, with
//! no leading zeros in `X`, `Y`, `Z` nor in numeric pre-release identifiers: `1.2`, `1.0.0.1`,
//! `01.2.3` and `latest` are not versions. The `semver` crate's `Version::parse` takes the same
//! grammar, so it does the parsing here.

use std::cmp::Ordering;

use semver::Version;

/// Reads `tag` as a strict semantic version, allowing one leading `v` (`v1.2.3`).
///
/// Returns `None` when the tag is not `[v]X.Y.Z[-pre][+build]`, which a semver policy skips.
pub fn parse_tag_version(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// Orders two versions by semver precedence: major, minor, patch, then pre-release (a version
/// without pre-release is above the same version with one). Build metadata is ignored, as semver
/// 2.0 and Masterminds' `Compare` say (the `semver` crate's own `Ord` also orders by build).
pub fn precedence(left: &Version, right: &Version) -> Ordering {
    (left.major, left.minor, left.patch, &left.pre).cmp(&(
        right.major,
        right.minor,
        right.patch,
        &right.pre,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_strict_versions_with_an_optional_v() {
        for tag in [
            "1.2.3",
            "v1.2.3",
            "0.0.0",
            "1.2.3-rc.1+build.5",
            "10.20.30-alpha-1",
        ] {
            assert!(parse_tag_version(tag).is_some(), "{tag} should parse");
        }
        for tag in [
            "1.2", "1.0.0.1", "1.0.0p", "01.2.3", "1.2.3-01", "vv1.2.3", "b1.0.0", "latest",
        ] {
            assert!(parse_tag_version(tag).is_none(), "{tag} should not parse");
        }
    }

    #[test]
    fn precedence_follows_semver_and_ignores_build() {
        let v = |text: &str| parse_tag_version(text).unwrap();
        assert_eq!(precedence(&v("1.0.0+a"), &v("1.0.0+b")), Ordering::Equal);
        assert_eq!(precedence(&v("1.0.0-rc.1"), &v("1.0.0")), Ordering::Less);
        assert_eq!(
            precedence(&v("1.0.0-rc.10"), &v("1.0.0-rc.9")),
            Ordering::Greater
        );
        assert_eq!(
            precedence(&v("1.0.0-rc10"), &v("1.0.0-rc9")),
            Ordering::Less
        );
        assert_eq!(
            precedence(&v("1.0.0-alpha"), &v("1.0.0-1")),
            Ordering::Greater
        );
        assert_eq!(precedence(&v("v2.0.0"), &v("1.99.99")), Ordering::Greater);
    }
}
