//! Which Git ref a GitRepository asks for, the refspec that fetches it, the commit the remote
//! advertises for it, and Flux's revision string for the result (`main@sha1:<hash>`).
//! Pure functions over the spec and the remote's advertised refs.

use crate::api::git_repository::GitRepositoryRef;

/// Errors of ref selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The remote does not advertise the ref.
    #[error("unable to find remote ref '{0}'")]
    RefNotFound(String),
    /// `spec.ref.semver` is not a valid range.
    #[error("semver range '{range}' is invalid: {message}")]
    InvalidSemver {
        /// The range as written.
        range: String,
        /// The parser's message.
        message: String,
    },
    /// No tag matches `spec.ref.semver`.
    #[error("no tag matches semver range '{0}'")]
    NoMatchingTag(String),
}

/// The ref to check out, by Flux's precedence: commit > name > semver > tag > branch; branch
/// `master` when nothing is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefSelector {
    /// A branch, e.g. `main`.
    Branch(String),
    /// A tag, e.g. `v1.2.0`.
    Tag(String),
    /// The highest tag matching a semver range (Masterminds syntax, e.g. `>=1.0.0 <2.0.0`).
    Semver(String),
    /// A full ref name, e.g. `refs/pull/420/head`.
    Name(String),
    /// A commit, optionally required to be on `branch`.
    Commit {
        /// The commit hash.
        commit: String,
        /// The branch it must be on.
        branch: Option<String>,
    },
}

/// A ref advertised by the remote: its full name and the commit it points to (tags peeled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// e.g. `refs/heads/main`.
    pub name: String,
    /// 40 hex digits.
    pub commit: String,
}

/// What was resolved: the commit and Flux's revision string for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// 40 hex digits.
    pub commit: String,
    /// e.g. `main@sha1:<hash>`, `v1.2.0@sha1:<hash>`, `refs/pull/1/head@sha1:<hash>`, `sha1:<hash>`.
    pub revision: String,
}

impl RefSelector {
    /// The selector for `spec.ref` (see [`RefSelector`] for the precedence).
    pub fn from_spec(reference: Option<&GitRepositoryRef>) -> Self {
        let reference = reference.cloned().unwrap_or_default();
        if let Some(commit) = reference.commit {
            return RefSelector::Commit {
                commit,
                branch: reference.branch,
            };
        }
        if let Some(name) = reference.name {
            return RefSelector::Name(name);
        }
        if let Some(range) = reference.semver {
            return RefSelector::Semver(range);
        }
        if let Some(tag) = reference.tag {
            return RefSelector::Tag(tag);
        }
        RefSelector::Branch(reference.branch.unwrap_or_else(|| "master".into()))
    }

    /// The fetch refspec that brings the selected ref, e.g. `+refs/heads/main:refs/heads/main`.
    pub fn refspec(&self) -> String {
        let full = match self {
            RefSelector::Branch(branch) => format!("refs/heads/{branch}"),
            RefSelector::Tag(tag) => format!("refs/tags/{tag}"),
            RefSelector::Semver(_) => "refs/tags/*".into(),
            RefSelector::Name(name) => name.clone(),
            RefSelector::Commit {
                branch: Some(branch),
                ..
            } => format!("refs/heads/{branch}"),
            RefSelector::Commit { branch: None, .. } => "refs/heads/*".into(),
        };
        format!("+{full}:{full}")
    }

    /// Whether a depth-1 fetch is enough (everything but a commit, which may be anywhere in
    /// the history).
    pub fn shallow(&self) -> bool {
        !matches!(self, RefSelector::Commit { .. })
    }

    /// The commit and revision the remote advertises for this selector. For a commit selector
    /// this is the commit itself (whether it exists is only known after the fetch).
    ///
    /// Errors: [`Error::RefNotFound`], [`Error::InvalidSemver`], [`Error::NoMatchingTag`].
    pub fn resolve(&self, remote: &[RemoteRef]) -> Result<Resolved, Error> {
        let find = |name: &str| {
            remote
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| Error::RefNotFound(name.to_string()))
        };
        let (name, commit, absolute) = match self {
            RefSelector::Branch(branch) => {
                let found = find(&format!("refs/heads/{branch}"))?;
                (Some(found.name.clone()), found.commit.clone(), false)
            }
            RefSelector::Tag(tag) => {
                let found = find(&format!("refs/tags/{tag}"))?;
                (Some(found.name.clone()), found.commit.clone(), false)
            }
            RefSelector::Semver(range) => {
                let found = highest_matching_tag(range, remote)?;
                (Some(found.name.clone()), found.commit.clone(), false)
            }
            RefSelector::Name(name) => {
                let found = find(name)?;
                (Some(found.name.clone()), found.commit.clone(), true)
            }
            RefSelector::Commit { commit, branch } => (
                branch.as_ref().map(|b| format!("refs/heads/{b}")),
                commit.clone(),
                false,
            ),
        };
        Ok(Resolved {
            revision: revision(name.as_deref(), &commit, absolute),
            commit,
        })
    }
}

/// Flux's revision string (`Commit.String()`): `<short ref>@sha1:<hash>` where the short ref is
/// the ref name without its first two segments (`refs/heads/main` -> `main`), the full name
/// when `absolute`, and `sha1:<hash>` without a ref.
pub fn revision(ref_name: Option<&str>, commit: &str, absolute: bool) -> String {
    match ref_name {
        None => format!("sha1:{commit}"),
        Some(name) if absolute => format!("{name}@sha1:{commit}"),
        Some(name) => {
            let short = name.splitn(3, '/').nth(2).unwrap_or(name);
            format!("{short}@sha1:{commit}")
        }
    }
}

/// The hash part of a revision (`main@sha1:abc` -> `abc`, also Flux's older `main/abc`).
pub fn revision_hash(revision: &str) -> &str {
    let tail = revision.rsplit('@').next().unwrap_or(revision);
    let tail = tail.rsplit('/').next().unwrap_or(tail);
    tail.rsplit(':').next().unwrap_or(tail)
}

/// The tag with the highest version in `range` (Masterminds syntax: comparators separated by
/// spaces or commas; a leading `v` on tags is ignored).
fn highest_matching_tag<'a>(range: &str, remote: &'a [RemoteRef]) -> Result<&'a RemoteRef, Error> {
    let normalized = range
        .split([' ', ','])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let requirement =
        semver::VersionReq::parse(&normalized).map_err(|error| Error::InvalidSemver {
            range: range.to_string(),
            message: error.to_string(),
        })?;
    remote
        .iter()
        .filter_map(|r| {
            let tag = r.name.strip_prefix("refs/tags/")?;
            let version = semver::Version::parse(tag.trim_start_matches('v')).ok()?;
            requirement.matches(&version).then_some((version, r))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
        .ok_or_else(|| Error::NoMatchingTag(range.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Vec<RemoteRef> {
        [
            ("refs/heads/main", "a1"),
            ("refs/heads/feature/x", "b2"),
            ("refs/tags/v1.2.0", "c3"),
            ("refs/tags/v1.10.0", "d4"),
            ("refs/tags/v2.0.0", "e5"),
            ("refs/pull/420/head", "f6"),
        ]
        .iter()
        .map(|(name, commit)| RemoteRef {
            name: name.to_string(),
            commit: commit.to_string(),
        })
        .collect()
    }

    #[test]
    fn precedence_is_commit_name_semver_tag_branch() {
        let all = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            semver: Some(">=1".into()),
            name: Some("refs/x".into()),
            commit: Some("abc".into()),
        };
        assert!(matches!(
            RefSelector::from_spec(Some(&all)),
            RefSelector::Commit { .. }
        ));
        let no_commit = GitRepositoryRef {
            commit: None,
            ..all.clone()
        };
        assert_eq!(
            RefSelector::from_spec(Some(&no_commit)),
            RefSelector::Name("refs/x".into())
        );
        assert_eq!(
            RefSelector::from_spec(None),
            RefSelector::Branch("master".into())
        );
    }

    #[test]
    fn revisions_take_flux_forms() {
        let branch = RefSelector::Branch("feature/x".into());
        assert_eq!(
            branch.resolve(&remote()).unwrap().revision,
            "feature/x@sha1:b2"
        );
        let name = RefSelector::Name("refs/pull/420/head".into());
        assert_eq!(
            name.resolve(&remote()).unwrap().revision,
            "refs/pull/420/head@sha1:f6"
        );
        let commit = RefSelector::Commit {
            commit: "a1".into(),
            branch: None,
        };
        assert_eq!(commit.resolve(&remote()).unwrap().revision, "sha1:a1");
        assert_eq!(revision_hash("main@sha1:a1"), "a1");
        assert_eq!(revision_hash("main/a1"), "a1");
    }

    #[test]
    fn semver_picks_the_highest_tag_in_range() {
        let range = RefSelector::Semver(">=1.0.0 <2.0.0".into());
        let resolved = range.resolve(&remote()).unwrap();
        assert_eq!(resolved.revision, "v1.10.0@sha1:d4");
        let none = RefSelector::Semver(">=3.0.0".into()).resolve(&remote());
        assert_eq!(none, Err(Error::NoMatchingTag(">=3.0.0".into())));
    }

    #[test]
    fn a_missing_branch_is_named() {
        let missing = RefSelector::Branch("gone".into()).resolve(&remote());
        assert_eq!(missing, Err(Error::RefNotFound("refs/heads/gone".into())));
    }
}
