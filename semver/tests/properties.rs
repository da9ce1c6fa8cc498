//! Properties of [`SemverRange`] over generated input: parsing never panics whatever the text,
//! and `matches` agrees with the meaning of `||`, AND, `!=`, complementary bounds, build
//! metadata and round trips. 64 cases per property by default; `PROPTEST_CASES` for longer runs.

use proptest::prelude::*;
use semver::{BuildMetadata, Prerelease, Version};
use sluice_semver::SemverRange;

fn config() -> ProptestConfig {
    match std::env::var_os("PROPTEST_CASES") {
        Some(_) => ProptestConfig::default(),
        None => ProptestConfig::with_cases(64),
    }
}

/// Small versions (so that ranges and versions meet), a pre-release now and then.
fn version() -> impl Strategy<Value = Version> {
    (
        0u64..4,
        0u64..4,
        0u64..4,
        prop::option::weighted(
            0.2,
            prop::sample::select(vec!["0", "alpha", "rc.1", "beta.2"]),
        ),
    )
        .prop_map(|(major, minor, patch, pre)| {
            let mut version = Version::new(major, minor, patch);
            if let Some(pre) = pre {
                version.pre = Prerelease::new(pre).expect("valid pre-release");
            }
            version
        })
}

/// One comparison, well formed or nearly: operators, wildcards, short and long versions.
fn comparison() -> impl Strategy<Value = String> {
    "(=|!=|>|<|>=|=>|<=|=<|~|~>|\\^)?v?[0-3xX*](\\.[0-3xX*]){0,2}(-(0|rc\\.1|alpha))?"
}

/// A range made of generated comparisons and the separators of the grammar, with noise.
fn range_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            comparison(),
            prop::sample::select(vec![" ", ",", ", ", " || ", "||", " - ", "  ", "x", ""]),
        ),
        1..5,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(comparison, separator)| comparison + separator)
            .collect::<String>()
    })
}

/// `version` without pre-release: the one kind AND and `!=` treat plainly.
fn release(mut version: Version) -> Version {
    version.pre = Prerelease::EMPTY;
    version
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = SemverRange::parse(&text);
    }

    #[test]
    fn range_like_text_never_panics_and_round_trips(text in range_text(), version in version()) {
        if let Ok(range) = SemverRange::parse(&text) {
            prop_assert_eq!(range.as_str(), text.as_str());
            let again = SemverRange::parse(range.as_str()).expect("parses again");
            prop_assert_eq!(again.matches(&version), range.matches(&version));
        }
    }

    #[test]
    fn or_is_either_alternative(
        left in comparison(), right in comparison(), version in version()
    ) {
        let (Ok(a), Ok(b)) = (SemverRange::parse(&left), SemverRange::parse(&right)) else {
            return Ok(());
        };
        let either = SemverRange::parse(&format!("{left} || {right}")).expect("both parse");
        prop_assert_eq!(either.matches(&version), a.matches(&version) || b.matches(&version));
    }

    #[test]
    fn and_is_both_comparisons_for_releases(
        left in comparison(), right in comparison(), version in version()
    ) {
        let version = release(version);
        let (Ok(a), Ok(b)) = (SemverRange::parse(&left), SemverRange::parse(&right)) else {
            return Ok(());
        };
        for joined in [format!("{left} {right}"), format!("{left}, {right}")] {
            let both = SemverRange::parse(&joined).expect("both parse");
            prop_assert_eq!(both.matches(&version), a.matches(&version) && b.matches(&version));
        }
    }

    #[test]
    fn bounds_split_releases_and_equality_is_exact(bound in version(), version in version()) {
        let (bound, version) = (release(bound), release(version));
        let at_least = SemverRange::parse(&format!(">={bound}")).expect("valid");
        let below = SemverRange::parse(&format!("<{bound}")).expect("valid");
        prop_assert!(at_least.matches(&version) != below.matches(&version));
        let equal = SemverRange::parse(&format!("={bound}")).expect("valid");
        let not_equal = SemverRange::parse(&format!("!={bound}")).expect("valid");
        prop_assert_eq!(equal.matches(&version), version == bound);
        prop_assert_eq!(not_equal.matches(&version), version != bound);
    }

    #[test]
    fn build_metadata_never_matters(text in range_text(), version in version()) {
        let Ok(range) = SemverRange::parse(&text) else {
            return Ok(());
        };
        let mut built = version.clone();
        built.build = BuildMetadata::new("build.7").expect("valid build metadata");
        prop_assert_eq!(range.matches(&built), range.matches(&version));
    }
}
