//! Which tag is the latest: the pure decisions of an ImagePolicy, over plain values, as Flux's
//! image-reflector-controller makes them (`internal/policy`).
//!
//! - Semver ranges and tag versions come from `sluice_semver` (Masterminds/semver v3, as Flux).
//! - [`ordering`]: the alphabetical and numerical orders.
//! - [`filter`]: `filterTags` pattern and extract template.
//! - [`select`]: choosing the latest tag, with counts that explain the choice.

pub mod filter;
pub mod ordering;
pub mod select;

pub use filter::TagFilter;
pub use select::{Policy, Selection, select_latest};
pub use sluice_semver::{RangeError, SemverRange};

/// Why a policy could not choose a tag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.policy.semver.range` does not parse.
    #[error("invalid semver range '{range}': {source}")]
    InvalidRange {
        /// The range as written.
        range: String,
        /// What is wrong with it.
        source: RangeError,
    },
    /// `spec.filterTags.pattern` is not a regular expression.
    #[error("invalid filterTags pattern '{pattern}': {reason}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// The regex compiler's message, on one line.
        reason: String,
    },
    /// `spec.filterTags.extract` refers to a group the pattern does not define.
    #[error("invalid filterTags extract '{extract}': {reason}")]
    InvalidExtract {
        /// The template as written.
        extract: String,
        /// Which reference is unknown.
        reason: String,
    },
    /// A numerical policy met a value that is not a number (Flux fails the whole policy).
    #[error(
        "tag '{tag}' is not a number (value '{value}'); a numerical policy needs every kept tag to be one"
    )]
    NotNumeric {
        /// The tag as listed.
        tag: String,
        /// The value compared (the tag, or what `extract` made of it).
        value: String,
    },
    /// No tag passed the filter and the policy.
    #[error(
        "no tag qualifies for {policy}: {seen} tags seen, {kept} kept by the filter, none accepted"
    )]
    NoTagQualifies {
        /// How many tags were listed.
        seen: usize,
        /// How many the filter kept.
        kept: usize,
        /// The policy's description.
        policy: String,
    },
}

impl Error {
    /// Whether retrying with the same spec and tags cannot help, so the object is Stalled
    /// (true for every variant: each needs a spec change or new tags, which trigger a new
    /// evaluation by themselves).
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::InvalidRange { .. }
            | Self::InvalidPattern { .. }
            | Self::InvalidExtract { .. }
            | Self::NotNumeric { .. }
            | Self::NoTagQualifies { .. } => true,
        }
    }
}
