//! Which remote reference an automation checks out, from a Flux `GitRepositoryRef` (the
//! automation's `git.checkout.ref`, else the GitRepository's `spec.ref`): the most specific field
//! wins (commit, name, semver, tag, branch) and branch `master` is the default, as Flux's.

use sluice_semver::SemverRange;
use sluice_semver::{parse_tag_version, precedence};

use crate::api::image_update_automation::GitRepositoryRef;

/// Flux's default branch when no reference is given.
pub const DEFAULT_BRANCH: &str = "master";

/// Why a checkout reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutRefError {
    /// The semver range does not parse.
    #[error("invalid semver range '{range}': {reason}")]
    InvalidSemver {
        /// The range.
        range: String,
        /// The parser's message.
        reason: String,
    },
    /// No tag of the remote satisfies the range.
    #[error("no tag matches semver range '{0}'")]
    NoMatchingTag(String),
}

/// The reference to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutRef {
    /// A branch name, e.g. `main`.
    Branch(String),
    /// A tag name, e.g. `v1.0.0`.
    Tag(String),
    /// A Masterminds semver range over the remote's tags, e.g. `>=1.0.0 <2.0.0`.
    Semver(String),
    /// A full reference name, e.g. `refs/pull/4/head`.
    Name(String),
    /// A commit SHA (hex).
    Commit(String),
}

impl CheckoutRef {
    /// The checkout of `reference` (branch [`DEFAULT_BRANCH`] when `None` or empty), by Flux's
    /// precedence: commit, then name, then semver, then tag, then branch.
    pub fn from_ref(reference: Option<&GitRepositoryRef>) -> Self {
        let Some(reference) = reference else {
            return Self::Branch(DEFAULT_BRANCH.to_owned());
        };
        let set = |field: &Option<String>| field.clone().filter(|value| !value.is_empty());
        set(&reference.commit)
            .map(Self::Commit)
            .or_else(|| set(&reference.name).map(Self::Name))
            .or_else(|| set(&reference.semver).map(Self::Semver))
            .or_else(|| set(&reference.tag).map(Self::Tag))
            .or_else(|| set(&reference.branch).map(Self::Branch))
            .unwrap_or_else(|| Self::Branch(DEFAULT_BRANCH.to_owned()))
    }

    /// The branch checked out, when the reference is a branch.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Self::Branch(branch) => Some(branch),
            _ => None,
        }
    }

    /// What to ask the remote for: a full reference name or a commit SHA; `None` for a semver
    /// range, which must first be resolved with [`pick_semver_tag`] into a [`CheckoutRef::Tag`].
    pub fn remote_source(&self) -> Option<String> {
        match self {
            Self::Branch(branch) => Some(format!("refs/heads/{branch}")),
            Self::Tag(tag) => Some(format!("refs/tags/{tag}")),
            Self::Name(name) | Self::Commit(name) => Some(name.clone()),
            Self::Semver(_) => None,
        }
    }

    /// The revision as Flux writes it in `observedSourceRevision`: `<branch|tag|name>@sha1:<sha>`,
    /// or `sha1:<sha>` for a commit.
    pub fn revision(&self, sha: &str) -> String {
        match self {
            Self::Branch(label) | Self::Tag(label) | Self::Name(label) | Self::Semver(label) => {
                format!("{label}@sha1:{sha}")
            }
            Self::Commit(_) => format!("sha1:{sha}"),
        }
    }
}

/// The highest tag (semver precedence, one leading `v` allowed) among `tags` that satisfies the
/// Masterminds `range`, as Flux's semver checkout.
///
/// Errors: [`CheckoutRefError::InvalidSemver`] when the range does not parse,
/// [`CheckoutRefError::NoMatchingTag`] when no tag satisfies it.
pub fn pick_semver_tag<'a>(
    range: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Result<String, CheckoutRefError> {
    let parsed = SemverRange::parse(range).map_err(|error| CheckoutRefError::InvalidSemver {
        range: range.to_owned(),
        reason: error.to_string(),
    })?;
    tags.into_iter()
        .filter_map(|tag| parse_tag_version(tag).map(|version| (version, tag)))
        .filter(|(version, _)| parsed.matches(version))
        .max_by(|(left, _), (right, _)| precedence(left, right))
        .map(|(_, tag)| tag.to_owned())
        .ok_or_else(|| CheckoutRefError::NoMatchingTag(range.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_field_wins_and_master_is_the_default() {
        let reference = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(
            CheckoutRef::from_ref(Some(&reference)),
            CheckoutRef::Tag("v1".into())
        );
        let with_commit = GitRepositoryRef {
            commit: Some("abc".into()),
            ..reference
        };
        assert_eq!(
            CheckoutRef::from_ref(Some(&with_commit)),
            CheckoutRef::Commit("abc".into())
        );
        assert_eq!(
            CheckoutRef::from_ref(None),
            CheckoutRef::Branch("master".into())
        );
        assert_eq!(
            CheckoutRef::from_ref(Some(&GitRepositoryRef::default())).branch(),
            Some("master")
        );
    }

    #[test]
    fn revisions_are_written_as_flux_writes_them() {
        let branch = CheckoutRef::Branch("main".into());
        assert_eq!(branch.revision("8084f1bb"), "main@sha1:8084f1bb");
        assert_eq!(branch.remote_source().as_deref(), Some("refs/heads/main"));
        assert_eq!(
            CheckoutRef::Commit("8084f1bb".into()).revision("8084f1bb"),
            "sha1:8084f1bb"
        );
    }

    #[test]
    fn semver_picks_the_highest_matching_tag() {
        let tags = ["v1.0.0", "v1.4.2", "v2.0.0", "latest", "v1.5.0-rc.1"];
        assert_eq!(pick_semver_tag(">=1.0.0 <2.0.0", tags).unwrap(), "v1.4.2");
        assert_eq!(
            pick_semver_tag(">=3.0.0", tags),
            Err(CheckoutRefError::NoMatchingTag(">=3.0.0".into()))
        );
        assert!(matches!(
            pick_semver_tag("not a range", tags),
            Err(CheckoutRefError::InvalidSemver { .. })
        ));
    }
}
