//! A GitRepository's `spec.ref` (and an ImageUpdateAutomation's `git.checkout.ref`, the same
//! API type) as the Git layer's [`RefSelector`]: the set field that wins by Flux's precedence
//! (commit, then name, then semver, then tag, then branch; an empty string counts as unset),
//! branch `master` when none is set, as Flux's `checkoutStrategyForOptions`.

use sluice_git::RefSelector;

use crate::api::git_repository::GitRepositoryRef;

impl From<&GitRepositoryRef> for RefSelector {
    /// The selector for `reference` (see the module doc); a commit keeps the branch it must be
    /// on.
    fn from(reference: &GitRepositoryRef) -> Self {
        let set = |field: &Option<String>| field.clone().filter(|value| !value.is_empty());
        if let Some(commit) = set(&reference.commit) {
            return RefSelector::Commit {
                commit,
                branch: set(&reference.branch),
            };
        }
        set(&reference.name)
            .map(RefSelector::Name)
            .or_else(|| set(&reference.semver).map(RefSelector::Semver))
            .or_else(|| set(&reference.tag).map(RefSelector::Tag))
            .or_else(|| set(&reference.branch).map(RefSelector::Branch))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use sluice_git::RemoteRef;

    use super::*;

    #[test]
    fn precedence_is_commit_name_semver_tag_branch() {
        let all = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            semver: Some(">=1".into()),
            name: Some("refs/x".into()),
            commit: Some("abc".into()),
        };
        assert_eq!(
            RefSelector::from(&all),
            RefSelector::Commit {
                commit: "abc".into(),
                branch: Some("main".into())
            }
        );
        let no_commit = GitRepositoryRef {
            commit: None,
            ..all.clone()
        };
        assert_eq!(
            RefSelector::from(&no_commit),
            RefSelector::Name("refs/x".into())
        );
        let tag_and_branch = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(
            RefSelector::from(&tag_and_branch),
            RefSelector::Tag("v1".into())
        );
    }

    #[test]
    fn the_default_is_master_and_empty_fields_are_unset() {
        assert_eq!(
            RefSelector::from(&GitRepositoryRef::default()),
            RefSelector::Branch("master".into())
        );
        let empty_commit = GitRepositoryRef {
            commit: Some(String::new()),
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(
            RefSelector::from(&empty_commit),
            RefSelector::Tag("v1".into())
        );
    }

    /// `spec.ref.semver` is Masterminds' dialect, as in Flux: `||` used to be refused (the
    /// range was read with Cargo's rules).
    #[test]
    fn an_or_range_selects_a_tag_for_a_git_repository() {
        let reference = GitRepositoryRef {
            semver: Some(">=1.0.0 <2.0.0 || 3.x".into()),
            ..Default::default()
        };
        let remote: Vec<RemoteRef> = ["v1.2.0", "1.9.0", "2.0.0", "3.1.0", "3.2.0-rc.1"]
            .iter()
            .enumerate()
            .map(|(index, tag)| RemoteRef {
                name: format!("refs/tags/{tag}"),
                commit: format!("c{index}"),
            })
            .collect();
        let resolved = RefSelector::from(&reference).resolve(&remote).unwrap();
        assert_eq!(resolved.revision, "3.1.0@sha1:c3");
    }
}
