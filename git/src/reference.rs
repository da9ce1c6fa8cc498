//! Which Git ref to fetch, as Flux's `GitRepositoryRef` selects it (for a GitRepository's
//! `spec.ref` and an ImageUpdateAutomation's `git.checkout.ref` alike): the refspec that fetches
//! it, the commit the remote advertises for it, and Flux's revision string for the result
//! (`main@sha1:<hash>`). Pure functions over the selector and the remote's advertised refs.
//!
//! A semver range is read in Masterminds' dialect ([`sluice_semver`]), as Flux reads it, for
//! both kinds: the GitRepository source used to read it with Cargo's rules (no `||`, other
//! meanings of `^`, `~` and wildcards) while the automation read Masterminds'. Where the two
//! kinds' selectors differed, Flux's behaviour was kept: a commit keeps the branch it must be
//! on, and that branch names the revision (`main@sha1:<hash>`), as in Flux's
//! `CheckoutCommit`; the automation used to drop it.

use sluice_semver::{SemverRange, parse_tag_version, precedence};

/// Flux's default branch when a ref names nothing.
pub const DEFAULT_BRANCH: &str = "master";

/// Why a ref cannot be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The remote does not advertise the ref.
    #[error("unable to find remote ref '{0}'")]
    RefNotFound(String),
    /// The semver range does not parse.
    #[error("semver range '{range}' is invalid: {message}")]
    InvalidSemver {
        /// The range as written.
        range: String,
        /// The parser's message.
        message: String,
    },
    /// No tag of the remote satisfies the range.
    #[error("no tag matches semver range '{0}'")]
    NoMatchingTag(String),
}

/// The ref to check out: one of the fields of Flux's `GitRepositoryRef`, the one that wins by
/// Flux's precedence (commit, then name, then semver, then tag, then branch). The default is
/// branch [`DEFAULT_BRANCH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefSelector {
    /// A branch, e.g. `main`.
    Branch(String),
    /// A tag, e.g. `v1.2.0`.
    Tag(String),
    /// The highest tag matching a Masterminds semver range, e.g. `>=1.0.0 <2.0.0 || 3.x`.
    Semver(String),
    /// A full ref name, e.g. `refs/pull/420/head`.
    Name(String),
    /// A commit, optionally required to be on `branch`.
    Commit {
        /// The commit hash (hex).
        commit: String,
        /// The branch it must be on.
        branch: Option<String>,
    },
}

impl Default for RefSelector {
    /// Branch [`DEFAULT_BRANCH`], as Flux when no ref is given.
    fn default() -> Self {
        Self::Branch(DEFAULT_BRANCH.to_owned())
    }
}

/// A ref advertised by the remote: its full name and the commit it points to (tags peeled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// e.g. `refs/heads/main`.
    pub name: String,
    /// 40 hex digits.
    pub commit: String,
}

/// What a selector resolved to: the commit and Flux's revision string for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// 40 hex digits.
    pub commit: String,
    /// e.g. `main@sha1:<hash>`, `v1.2.0@sha1:<hash>`, `refs/pull/1/head@sha1:<hash>`, `sha1:<hash>`.
    pub revision: String,
}

impl RefSelector {
    /// The branch checked out, when the selector is a branch.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Self::Branch(branch) => Some(branch),
            _ => None,
        }
    }

    /// What to ask the remote for: a full ref name, or the commit hash of a commit selector;
    /// `None` for a semver range, which [`RefSelector::pinned`] first turns into a tag.
    pub fn remote_source(&self) -> Option<String> {
        match self {
            Self::Commit { commit, .. } => Some(commit.clone()),
            Self::Semver(_) => None,
            _ => Some(self.full_name()),
        }
    }

    /// The fetch refspec that brings the selected ref with its history, e.g.
    /// `+refs/heads/main:refs/heads/main`: all tags for a semver range, the required branch (or
    /// every branch) for a commit.
    pub fn refspec(&self) -> String {
        let full = self.full_name();
        format!("+{full}:{full}")
    }

    /// The full name (or pattern) of the ref that carries the selection.
    fn full_name(&self) -> String {
        match self {
            Self::Branch(branch)
            | Self::Commit {
                branch: Some(branch),
                ..
            } => format!("refs/heads/{branch}"),
            Self::Tag(tag) => format!("refs/tags/{tag}"),
            Self::Semver(_) => "refs/tags/*".into(),
            Self::Name(name) => name.clone(),
            Self::Commit { branch: None, .. } => "refs/heads/*".into(),
        }
    }

    /// Whether a depth-1 fetch of [`RefSelector::refspec`] is enough (everything but a commit,
    /// which may be anywhere in the history).
    pub fn shallow(&self) -> bool {
        !matches!(self, Self::Commit { .. })
    }

    /// The revision as Flux writes it (`Commit.String()`): `<branch|tag|name>@sha1:<commit>`, a
    /// commit's required branch likewise, `sha1:<commit>` for a commit on no branch. A semver
    /// range not yet [pinned](RefSelector::pinned) is written as is.
    pub fn revision(&self, commit: &str) -> String {
        match self {
            Self::Branch(label)
            | Self::Tag(label)
            | Self::Semver(label)
            | Self::Name(label)
            | Self::Commit {
                branch: Some(label),
                ..
            } => format!("{label}@sha1:{commit}"),
            Self::Commit { branch: None, .. } => format!("sha1:{commit}"),
        }
    }

    /// This selector with a semver range replaced by the tag it selects among the `remote`
    /// refs: the highest version (one leading `v` allowed, semver precedence) that satisfies
    /// the Masterminds range, as Flux's `CheckoutSemVer`. Any other selector is returned as is.
    ///
    /// Errors: [`RefError::InvalidSemver`] when the range does not parse,
    /// [`RefError::NoMatchingTag`] when no tag satisfies it.
    pub fn pinned(&self, remote: &[RemoteRef]) -> Result<Self, RefError> {
        let Self::Semver(range) = self else {
            return Ok(self.clone());
        };
        let parsed = SemverRange::parse(range).map_err(|error| RefError::InvalidSemver {
            range: range.clone(),
            message: error.to_string(),
        })?;
        remote
            .iter()
            .filter_map(|reference| reference.name.strip_prefix("refs/tags/"))
            .filter_map(|tag| parse_tag_version(tag).map(|version| (version, tag)))
            .filter(|(version, _)| parsed.matches(version))
            .max_by(|(left, _), (right, _)| precedence(left, right))
            .map(|(_, tag)| Self::Tag(tag.to_owned()))
            .ok_or_else(|| RefError::NoMatchingTag(range.clone()))
    }

    /// The commit and revision the `remote` refs give this selector. For a commit selector this
    /// is the commit itself (whether it exists is only known after the fetch).
    ///
    /// Errors: [`RefError::RefNotFound`] when the remote does not advertise the ref, and those
    /// of [`RefSelector::pinned`].
    pub fn resolve(&self, remote: &[RemoteRef]) -> Result<Resolved, RefError> {
        let selected = self.pinned(remote)?;
        let commit = match &selected {
            Self::Commit { commit, .. } => commit.clone(),
            _ => {
                let name = selected.full_name();
                remote
                    .iter()
                    .find(|reference| reference.name == name)
                    .map(|reference| reference.commit.clone())
                    .ok_or(RefError::RefNotFound(name))?
            }
        };
        Ok(Resolved {
            revision: selected.revision(&commit),
            commit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(refs: &[(&str, &str)]) -> Vec<RemoteRef> {
        refs.iter()
            .map(|(name, commit)| RemoteRef {
                name: name.to_string(),
                commit: commit.to_string(),
            })
            .collect()
    }

    fn repository() -> Vec<RemoteRef> {
        remote(&[
            ("refs/heads/main", "a1"),
            ("refs/heads/feature/x", "b2"),
            ("refs/tags/v1.2.0", "c3"),
            ("refs/tags/v1.10.0", "d4"),
            ("refs/tags/v2.0.0", "e5"),
            ("refs/pull/420/head", "f6"),
        ])
    }

    #[test]
    fn revisions_take_flux_forms() {
        let branch = RefSelector::Branch("feature/x".into());
        assert_eq!(
            branch.resolve(&repository()).unwrap().revision,
            "feature/x@sha1:b2"
        );
        let name = RefSelector::Name("refs/pull/420/head".into());
        assert_eq!(
            name.resolve(&repository()).unwrap().revision,
            "refs/pull/420/head@sha1:f6"
        );
        let commit = RefSelector::Commit {
            commit: "a1".into(),
            branch: None,
        };
        assert_eq!(commit.resolve(&repository()).unwrap().revision, "sha1:a1");
        let on_branch = RefSelector::Commit {
            commit: "a1".into(),
            branch: Some("main".into()),
        };
        assert_eq!(on_branch.revision("a1"), "main@sha1:a1");
        assert_eq!(on_branch.remote_source().as_deref(), Some("a1"));
        assert_eq!(on_branch.refspec(), "+refs/heads/main:refs/heads/main");
    }

    #[test]
    fn revisions_are_written_as_flux_writes_them() {
        let branch = RefSelector::Branch("main".into());
        assert_eq!(branch.revision("8084f1bb"), "main@sha1:8084f1bb");
        assert_eq!(branch.remote_source().as_deref(), Some("refs/heads/main"));
        assert_eq!(branch.branch(), Some("main"));
        assert_eq!(RefSelector::default().branch(), Some(DEFAULT_BRANCH));
    }

    #[test]
    fn semver_picks_the_highest_tag_in_range() {
        let range = RefSelector::Semver(">=1.0.0 <2.0.0".into());
        let resolved = range.resolve(&repository()).unwrap();
        assert_eq!(resolved.revision, "v1.10.0@sha1:d4");
        let none = RefSelector::Semver(">=3.0.0".into()).resolve(&repository());
        assert_eq!(none, Err(RefError::NoMatchingTag(">=3.0.0".into())));
    }

    #[test]
    fn semver_picks_the_highest_matching_tag() {
        let tags = remote(&[
            ("refs/tags/v1.0.0", "1"),
            ("refs/tags/v1.4.2", "2"),
            ("refs/tags/v2.0.0", "3"),
            ("refs/tags/latest", "4"),
            ("refs/tags/v1.5.0-rc.1", "5"),
            ("refs/heads/v1.9.0", "6"),
        ]);
        let pin = |range: &str| RefSelector::Semver(range.into()).pinned(&tags);
        assert_eq!(pin(">=1.0.0 <2.0.0"), Ok(RefSelector::Tag("v1.4.2".into())));
        assert_eq!(
            pin(">=3.0.0"),
            Err(RefError::NoMatchingTag(">=3.0.0".into()))
        );
        assert!(matches!(
            pin("not a range"),
            Err(RefError::InvalidSemver { .. })
        ));
    }

    /// The bug this crate fixed: the GitRepository path ([`RefSelector::resolve`]) read ranges
    /// with Cargo's rules and refused `||`; now it and the automation's path (pin, then fetch
    /// the tag) read the same Masterminds range and select the same tag.
    #[test]
    fn a_masterminds_range_selects_the_same_tag_on_both_paths() {
        let tags = remote(&[
            ("refs/tags/v1.2.0", "c1"),
            ("refs/tags/1.9.0", "c2"),
            ("refs/tags/2.0.0", "c3"),
            ("refs/tags/3.1.0", "c4"),
            ("refs/tags/3.2.0-rc.1", "c5"),
        ]);
        let range = RefSelector::Semver(">=1.0.0 <2.0.0 || 3.x".into());
        let source = range.resolve(&tags).unwrap();
        assert_eq!(source.revision, "3.1.0@sha1:c4");
        let automation = range.pinned(&tags).unwrap();
        assert_eq!(automation, RefSelector::Tag("3.1.0".into()));
        assert_eq!(automation.revision(&source.commit), source.revision);
        let lower = RefSelector::Semver(">=1.0.0 <2.0.0".into());
        assert_eq!(lower.resolve(&tags).unwrap().revision, "1.9.0@sha1:c2");
    }

    #[test]
    fn a_missing_branch_is_named() {
        let missing = RefSelector::Branch("gone".into()).resolve(&repository());
        assert_eq!(
            missing,
            Err(RefError::RefNotFound("refs/heads/gone".into()))
        );
    }
}
