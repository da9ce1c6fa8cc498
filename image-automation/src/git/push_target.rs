//! Where an automation pushes, as Flux's `configurePush`: `git.push.branch` when set, else the
//! checkout branch; plus the optional extra refspec and push options.

use std::collections::BTreeMap;

use sluice_git::{DEFAULT_BRANCH, RefSelector};

use crate::api::image_update_automation::PushSpec;

/// Why no push target can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushTargetError {
    /// No push branch and the checkout is not a branch (Flux's message).
    #[error(
        "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref"
    )]
    CannotInferBranch,
}

/// The refs a run pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The branch receiving the commit.
    pub branch: String,
    /// Whether `branch` differs from the checkout branch: the commit then goes on top of the
    /// checkout and replaces the branch (Flux's `GitForcePushBranch`), and a pull request may be
    /// opened from it. The checkout branch itself is never force-pushed.
    pub separate_branch: bool,
    /// An extra refspec pushed too (e.g. `refs/heads/auto:refs/for/main`).
    pub refspec: Option<String>,
    /// Push options (`key=value`), e.g. GitLab's `merge_request.create`.
    pub options: BTreeMap<String, String>,
}

/// The push target of a checkout and an optional `git.push`.
///
/// Errors: [`PushTargetError::CannotInferBranch`] when `push.branch` is absent and the checkout
/// is not a branch.
pub fn push_target(
    checkout: &RefSelector,
    push: Option<&PushSpec>,
) -> Result<PushTarget, PushTargetError> {
    let push = push.cloned().unwrap_or_default();
    let checkout_branch = checkout.branch();
    let branch = match (
        push.branch.filter(|branch| !branch.is_empty()),
        checkout_branch,
    ) {
        (Some(branch), _) => branch,
        (None, Some(branch)) => branch.to_owned(),
        (None, None) => return Err(PushTargetError::CannotInferBranch),
    };
    Ok(PushTarget {
        separate_branch: checkout_branch.unwrap_or(DEFAULT_BRANCH) != branch,
        branch,
        refspec: push.refspec.filter(|refspec| !refspec.is_empty()),
        options: push.options.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_branch_defaults_to_the_checkout_branch() {
        let checkout = RefSelector::Branch("main".into());
        let target = push_target(&checkout, None).unwrap();
        assert_eq!(
            (target.branch.as_str(), target.separate_branch),
            ("main", false)
        );
        let other = PushSpec {
            branch: Some("auto".into()),
            ..Default::default()
        };
        let target = push_target(&checkout, Some(&other)).unwrap();
        assert_eq!(
            (target.branch.as_str(), target.separate_branch),
            ("auto", true)
        );
    }

    #[test]
    fn a_tag_checkout_needs_a_push_branch() {
        let checkout = RefSelector::Tag("v1".into());
        assert_eq!(
            push_target(&checkout, None),
            Err(PushTargetError::CannotInferBranch)
        );
    }
}
