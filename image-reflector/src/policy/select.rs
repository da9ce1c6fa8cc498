//! Choosing the latest tag of a list by an ImagePolicy, as Flux's image-reflector-controller does:
//! filter (and extract) first, then the policy over the values, then report the original tag.
//!
//! Two rules Flux leaves to the order of its tag list are fixed here:
//! - Ties: when two tags rank the same (the same extracted value, `1.0.0` and `v1.0.0`, `1.0.0+a`
//!   and `1.0.0+b`, `1` and `1.0` numerically) the byte-wise greatest original tag wins.
//! - No downgrade: the previous choice, when given and still qualifying (the filter keeps it and
//!   the policy accepts it, e.g. the semver range includes it), competes with the listed tags even
//!   if the listing no longer has it. A partial or stale listing (flux2#4984) therefore never
//!   moves the choice backwards; changing the range so it excludes the previous tag does.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::Error;
use super::filter::TagFilter;
use super::ordering::{compare_numbers, lateness, parse_number};
use crate::api::image_policy::{ImagePolicyChoice, SortOrder};
use sluice_semver::SemverRange;
use sluice_semver::{parse_tag_version, precedence};

/// A compiled policy: how tags are ranked.
#[derive(Debug, Clone)]
pub enum Policy {
    /// The highest strict `[v]X.Y.Z[-pre][+build]` version in the range; other tags are skipped.
    Semver(SemverRange),
    /// Byte-wise order of the values.
    Alphabetical(SortOrder),
    /// The values as numbers; any value that is not a number is an error.
    Numerical(SortOrder),
}

impl Policy {
    /// Compiles an ImagePolicy's `spec.policy`.
    ///
    /// Errors: [`Error::InvalidRange`] when a semver range does not parse.
    pub fn from_spec(choice: &ImagePolicyChoice) -> Result<Self, Error> {
        Ok(match choice {
            ImagePolicyChoice::Semver(semver) => {
                Self::Semver(SemverRange::parse(&semver.range).map_err(|source| {
                    Error::InvalidRange {
                        range: semver.range.clone(),
                        source,
                    }
                })?)
            }
            ImagePolicyChoice::Alphabetical(alphabetical) => Self::Alphabetical(alphabetical.order),
            ImagePolicyChoice::Numerical(numerical) => Self::Numerical(numerical.order),
        })
    }

    /// A short description, e.g. `semver range '>=1.0'` or `numerical order desc`.
    pub fn describe(&self) -> String {
        let order_name = |order: &SortOrder| match order {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        };
        match self {
            Self::Semver(range) => format!("semver range '{}'", range.as_str()),
            Self::Alphabetical(order) => format!("alphabetical order {}", order_name(order)),
            Self::Numerical(order) => format!("numerical order {}", order_name(order)),
        }
    }
}

/// The tag a policy chose, and the counts that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The chosen tag, as listed (not the extracted value).
    pub tag: String,
    /// How many tags were listed.
    pub tags_seen: usize,
    /// How many listed tags the filter kept.
    pub tags_kept: usize,
    /// How many kept tags the policy accepted (for semver: strict versions in the range).
    pub tags_qualified: usize,
    /// Whether the tag is the previous choice, kept although the listing no longer has it.
    pub kept_previous: bool,
    /// The policy's description (see [`Policy::describe`]).
    pub policy: String,
}

impl Selection {
    /// One line saying why this tag won, for `status.message` and the CLI.
    pub fn message(&self) -> String {
        let choice = if self.kept_previous {
            format!(
                "kept previous tag '{}', absent from the listing but later than every listed tag",
                self.tag
            )
        } else {
            format!("chose tag '{}'", self.tag)
        };
        format!(
            "{choice} by {}: {} tags seen, {} kept by the filter, {} qualified",
            self.policy, self.tags_seen, self.tags_kept, self.tags_qualified
        )
    }
}

/// Chooses the latest of `tags` (as listed by the registry) under `policy`, after `filter`.
/// `previous` is the tag chosen last time, if any: it wins over later-listed but lower tags and
/// stays chosen when the listing lost it, as long as it still qualifies (see the module doc).
///
/// Errors: [`Error::NotNumeric`] when a numerical policy meets a kept value that is not a number;
/// [`Error::NoTagQualifies`] when no tag is kept and accepted (and no previous tag qualifies).
pub fn select_latest<'a>(
    tags: impl IntoIterator<Item = &'a str>,
    policy: &Policy,
    filter: &TagFilter,
    previous: Option<&'a str>,
) -> Result<Selection, Error> {
    let candidates = Candidates { filter, previous };
    match policy {
        Policy::Semver(range) => candidates
            .choose(
                tags,
                |_, value| Ok(parse_tag_version(&value).filter(|version| range.matches(version))),
                precedence,
            )?
            .into_selection(policy, previous),
        Policy::Alphabetical(order) => candidates
            .choose(
                tags,
                |_, value| Ok(Some(value)),
                |left, right| lateness(*order, left.as_bytes().cmp(right.as_bytes())),
            )?
            .into_selection(policy, previous),
        Policy::Numerical(order) => candidates
            .choose(
                tags,
                |tag, value| match parse_number(&value) {
                    Some(number) => Ok(Some(number)),
                    None => Err(Error::NotNumeric {
                        tag: tag.to_owned(),
                        value: value.into_owned(),
                    }),
                },
                |left, right| lateness(*order, compare_numbers(*left, *right)),
            )?
            .into_selection(policy, previous),
    }
}

/// What a candidate is judged with: the filter, and the previous choice.
struct Candidates<'f, 'a> {
    filter: &'f TagFilter,
    previous: Option<&'a str>,
}

/// The counts of one pass over the tags, and the best tag with its rank key.
struct Outcome<'a, K> {
    seen: usize,
    kept: usize,
    qualified: usize,
    previous_listed: bool,
    best: Option<(K, &'a str)>,
}

impl<'a> Candidates<'_, 'a> {
    /// One pass: filter, rank (`None` = not accepted), keep the latest by `later` then by tag.
    fn choose<K>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
        rank: impl Fn(&'a str, Cow<'a, str>) -> Result<Option<K>, Error>,
        later: impl Fn(&K, &K) -> Ordering,
    ) -> Result<Outcome<'a, K>, Error> {
        let mut outcome = Outcome {
            seen: 0,
            kept: 0,
            qualified: 0,
            previous_listed: false,
            best: None,
        };
        for tag in tags {
            outcome.seen += 1;
            outcome.previous_listed |= self.previous == Some(tag);
            let Some(value) = self.filter.apply(tag) else {
                continue;
            };
            outcome.kept += 1;
            let Some(key) = rank(tag, value)? else {
                continue;
            };
            outcome.qualified += 1;
            outcome.offer(key, tag, &later);
        }
        if let Some(previous) = self.previous.filter(|_| !outcome.previous_listed)
            && let Some(value) = self.filter.apply(previous)
            && let Ok(Some(key)) = rank(previous, value)
        {
            outcome.offer(key, previous, &later);
        }
        Ok(outcome)
    }
}

impl<'a, K> Outcome<'a, K> {
    fn offer(&mut self, key: K, tag: &'a str, later: impl Fn(&K, &K) -> Ordering) {
        let wins = match &self.best {
            None => true,
            Some((best_key, best_tag)) => {
                later(&key, best_key).then_with(|| tag.cmp(best_tag)) == Ordering::Greater
            }
        };
        if wins {
            self.best = Some((key, tag));
        }
    }

    fn into_selection(self, policy: &Policy, previous: Option<&str>) -> Result<Selection, Error> {
        let Some((_, tag)) = self.best else {
            return Err(Error::NoTagQualifies {
                seen: self.seen,
                kept: self.kept,
                policy: policy.describe(),
            });
        };
        Ok(Selection {
            tag: tag.to_owned(),
            tags_seen: self.seen,
            tags_kept: self.kept,
            tags_qualified: self.qualified,
            kept_previous: previous == Some(tag) && !self.previous_listed,
            policy: policy.describe(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn semver(range: &str) -> Policy {
        Policy::Semver(SemverRange::parse(range).unwrap())
    }

    /// Chooses from `tags` and from the same tags reversed, asserting both agree.
    fn latest(tags: &[&str], policy: &Policy, filter: &TagFilter) -> Result<String, Error> {
        let forward = select_latest(tags.iter().copied(), policy, filter, None);
        let backward = select_latest(tags.iter().rev().copied(), policy, filter, None);
        assert_eq!(
            forward.as_ref().map(|selection| &selection.tag).ok(),
            backward.as_ref().map(|selection| &selection.tag).ok(),
            "the order of the listing changed the choice"
        );
        forward.map(|selection| selection.tag)
    }

    fn no_filter() -> TagFilter {
        TagFilter::default()
    }

    /// Flux's `TestSemVer_Latest`.
    #[test]
    fn semver_picks_the_highest_strict_version_in_range() {
        let tags = ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"];
        assert_eq!(
            latest(&tags, &semver("1.0.x"), &no_filter()).unwrap(),
            "1.0.1"
        );
        let prefixed = ["v1.2.3", "v1.0.0", "v0.1.0"];
        assert_eq!(
            latest(&prefixed, &semver("1.0.x"), &no_filter()).unwrap(),
            "v1.0.0"
        );
        for tags in [&["b1.2.3", "b1.0.0", "b0.1.0"][..], &[], &["1.2.0"]] {
            let error = latest(tags, &semver("1.0.x"), &no_filter()).unwrap_err();
            assert!(matches!(error, Error::NoTagQualifies { .. }), "{error}");
        }
    }

    #[test]
    fn semver_takes_prereleases_only_when_the_range_names_one() {
        let tags = ["1.0.0", "1.1.0-rc.1"];
        assert_eq!(
            latest(&tags, &semver(">=1.0.0"), &no_filter()).unwrap(),
            "1.0.0"
        );
        assert_eq!(
            latest(&tags, &semver(">=1.0.0-0"), &no_filter()).unwrap(),
            "1.1.0-rc.1"
        );
        // Pre-release identifiers compare as ASCII: rc9 is after rc10 (flux2#4599).
        let rcs = ["1.0.0-rc9", "1.0.0-rc10"];
        assert_eq!(
            latest(&rcs, &semver(">=1.0.0-0"), &no_filter()).unwrap(),
            "1.0.0-rc9"
        );
    }

    /// Flux's `TestAlphabetical_Latest`.
    #[test]
    fn alphabetical_picks_by_bytes() {
        let asc = Policy::Alphabetical(SortOrder::Asc);
        let desc = Policy::Alphabetical(SortOrder::Desc);
        let calver = ["16.04", "16.04.1", "16.10", "20.04", "20.10"];
        assert_eq!(latest(&calver, &asc, &no_filter()).unwrap(), "20.10");
        assert_eq!(latest(&calver, &desc, &no_filter()).unwrap(), "16.04");
        let names = ["xenial", "yakkety", "zesty", "artful", "bionic"];
        assert_eq!(latest(&names, &asc, &no_filter()).unwrap(), "zesty");
        assert_eq!(latest(&names, &desc, &no_filter()).unwrap(), "artful");
        let stamps = [
            "1606234201",
            "1606364286",
            "1606334092",
            "1606334284",
            "1606334201",
        ];
        assert_eq!(latest(&stamps, &asc, &no_filter()).unwrap(), "1606364286");
        assert_eq!(latest(&stamps, &desc, &no_filter()).unwrap(), "1606234201");
        let prefixed = stamps.map(|stamp| format!("rel-{stamp}"));
        let prefixed: Vec<&str> = prefixed.iter().map(String::as_str).collect();
        assert_eq!(
            latest(&prefixed, &asc, &no_filter()).unwrap(),
            "rel-1606364286"
        );
        assert!(matches!(
            latest(&[], &asc, &no_filter()),
            Err(Error::NoTagQualifies { .. })
        ));
    }

    /// Flux's `TestNumerical_Latest`.
    #[test]
    fn numerical_picks_by_value() {
        let asc = Policy::Numerical(SortOrder::Asc);
        let desc = Policy::Numerical(SortOrder::Desc);
        let integers = [
            "-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91",
        ];
        assert_eq!(latest(&integers, &asc, &no_filter()).unwrap(), "73");
        let integers = ["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"];
        assert_eq!(latest(&integers, &desc, &no_filter()).unwrap(), "-78");
        let floats = [
            "47.40896403322944",
            "-27.8520927455902",
            "-27.930666514224427",
            "-31.352485948094568",
            "-50.41072694704882",
            "-21.962849842263736",
            "24.71884721436865",
            "-39.99177354004344",
            "53.47333823144817",
            "3.2008658570411086",
        ];
        assert_eq!(
            latest(&floats, &asc, &no_filter()).unwrap(),
            "53.47333823144817"
        );
        let floats = [
            "-65.27202780220686",
            "57.82948329142309",
            "22.40184684363291",
            "-86.36934305697784",
            "-90.29082099756083",
            "-12.041712603564264",
            "77.70488240399305",
            "-38.98425003883552",
            "16.06867070412028",
            "53.735674335181216",
        ];
        assert_eq!(
            latest(&floats, &desc, &no_filter()).unwrap(),
            "-90.29082099756083"
        );
        let stamps = [
            "1606234201",
            "1606364286",
            "1606334092",
            "1606334284",
            "1606334201",
        ];
        assert_eq!(latest(&stamps, &asc, &no_filter()).unwrap(), "1606364286");
        assert_eq!(latest(&stamps, &desc, &no_filter()).unwrap(), "1606234201");
        assert_eq!(latest(&["1"], &desc, &no_filter()).unwrap(), "1");
        let error = latest(&["0", "1a", "b"], &asc, &no_filter()).unwrap_err();
        assert!(
            matches!(&error, Error::NotNumeric { tag, .. } if tag == "1a"),
            "{error}"
        );
        assert!(matches!(
            latest(&[], &asc, &no_filter()),
            Err(Error::NoTagQualifies { .. })
        ));
    }

    #[test]
    fn the_filter_runs_first_and_the_original_tag_is_reported() {
        let tags = [
            "main-1606234201-abc",
            "main-1606364286-def",
            "feature-1706364286-x",
            "latest",
        ];
        let filter = TagFilter::new(r"^main-(?P<ts>\d+)-", "$ts").unwrap();
        let policy = Policy::Numerical(SortOrder::Asc);
        assert_eq!(
            latest(&tags, &policy, &filter).unwrap(),
            "main-1606364286-def"
        );
        let selection = select_latest(tags, &policy, &filter, None).unwrap();
        assert_eq!(
            (
                selection.tags_seen,
                selection.tags_kept,
                selection.tags_qualified
            ),
            (4, 2, 2)
        );
        let versions = ["app-v1.2.0", "app-v1.10.0", "other-v9.0.0"];
        let filter = TagFilter::new(r"^app-(v.*)$", "$1").unwrap();
        assert_eq!(
            latest(&versions, &semver("^1"), &filter).unwrap(),
            "app-v1.10.0"
        );
    }

    #[test]
    fn ties_go_to_the_greatest_original_tag() {
        let filter = TagFilter::new(r"build-(\d+)", "$1").unwrap();
        let numeric = Policy::Numerical(SortOrder::Asc);
        assert_eq!(
            latest(&["build-5-a", "build-5-b", "build-4"], &numeric, &filter).unwrap(),
            "build-5-b"
        );
        assert_eq!(
            latest(&["1", "1.0"], &numeric, &no_filter()).unwrap(),
            "1.0"
        );
        assert_eq!(
            latest(&["1.0.0", "v1.0.0"], &semver("1"), &no_filter()).unwrap(),
            "v1.0.0"
        );
        let builds = ["1.0.0+a", "1.0.0+b"];
        assert_eq!(
            latest(&builds, &semver("1"), &no_filter()).unwrap(),
            "1.0.0+b"
        );
    }

    #[test]
    fn the_previous_tag_is_never_replaced_by_an_older_one() {
        let listed = ["1.0.0", "1.1.0"];
        let policy = semver(">=1.0");
        let kept = select_latest(listed, &policy, &no_filter(), Some("1.2.0")).unwrap();
        assert_eq!(kept.tag, "1.2.0");
        assert!(kept.kept_previous);
        assert!(
            kept.message().starts_with("kept previous tag '1.2.0'"),
            "{}",
            kept.message()
        );

        let excluded = select_latest(listed, &semver("<1.2"), &no_filter(), Some("1.2.0")).unwrap();
        assert_eq!(
            (excluded.tag.as_str(), excluded.kept_previous),
            ("1.1.0", false)
        );

        let newer =
            select_latest(["1.1.0", "1.3.0"], &policy, &no_filter(), Some("1.1.0")).unwrap();
        assert_eq!((newer.tag.as_str(), newer.kept_previous), ("1.3.0", false));

        let filter = TagFilter::new("^1\\.", "").unwrap();
        let filtered = select_latest(listed, &policy, &filter, Some("v9.0.0")).unwrap();
        assert_eq!(
            filtered.tag, "1.1.0",
            "a previous tag the filter drops does not compete"
        );

        let numeric = Policy::Numerical(SortOrder::Asc);
        let not_a_number = select_latest(["3"], &numeric, &no_filter(), Some("latest")).unwrap();
        assert_eq!(not_a_number.tag, "3");
    }

    #[test]
    fn the_message_explains_the_choice() {
        let filter = TagFilter::new("^v", "").unwrap();
        let selection = select_latest(
            ["v1.0.0", "v2.0.0", "v3.0.0-rc.1", "dev"],
            &semver("1.x || 2.x"),
            &filter,
            None,
        )
        .unwrap();
        assert_eq!(
            selection.message(),
            "chose tag 'v2.0.0' by semver range '1.x || 2.x': 4 tags seen, 3 kept by the filter, 2 qualified"
        );
        let error = select_latest(["dev"], &semver(">=1"), &filter, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no tag qualifies for semver range '>=1': 1 tags seen, 0 kept by the filter, none accepted"
        );
    }

    #[test]
    fn policies_compile_from_the_spec() {
        use crate::api::image_policy::{OrderPolicy, SemverPolicy};
        let bad = ImagePolicyChoice::Semver(SemverPolicy {
            range: "1.0.0p".into(),
        });
        let error = Policy::from_spec(&bad).unwrap_err();
        assert!(matches!(error, Error::InvalidRange { .. }) && error.is_terminal());
        let numerical = ImagePolicyChoice::Numerical(OrderPolicy {
            order: SortOrder::Desc,
        });
        assert_eq!(
            Policy::from_spec(&numerical).unwrap().describe(),
            "numerical order desc"
        );
    }

    /// Not timed: checks a semver policy over 100,000 tags picks the right one (the range is
    /// parsed once; tags are borrowed, parsed once each).
    #[test]
    fn a_hundred_thousand_tags_are_evaluated() {
        let tags: Vec<String> = (0..100_000u32)
            .map(|index| match index % 10 {
                9 => format!("sha-{index:08x}"),
                _ => format!(
                    "v{}.{}.{}",
                    index / 10_000,
                    (index / 100) % 100,
                    index % 100
                ),
            })
            .collect();
        let selection = select_latest(
            tags.iter().map(String::as_str),
            &semver(">=1.0.0 <9.50.0"),
            &no_filter(),
            None,
        )
        .unwrap();
        assert_eq!(selection.tag, "v9.49.98");
        assert_eq!(selection.tags_seen, 100_000);
    }
}
