//! Masterminds/semver v3, as Flux uses it for an ImagePolicy's `semver.range` and a
//! GitRepository's (or ImageUpdateAutomation's) `ref.semver`: one dialect for every range a
//! Sluice user writes.
//!
//! - [`SemverRange`]: constraints such as `>=1.0 <2`, `^1.x`, `~1.2`, `1.2 - 1.4.5 || 3.x`.
//! - [`parse_tag_version`]: strict `[v]X.Y.Z[-pre][+build]` tags; [`precedence`]: their order.
//!
//! Written here because no crate parses Masterminds' dialect (the `semver` crate follows Cargo's
//! rules: no `||`, no hyphen ranges, other wildcard and caret meanings); versions themselves are
//! the `semver` crate's.

mod range;
mod version;

pub use range::{RangeError, SemverRange};
pub use version::{parse_tag_version, precedence};
