//! What a Pipeline does next, as a pure function of what it observes: per stage, the image it
//! runs (read from Git at the revision the stage applied), whether its Kustomization is healthy
//! at that revision, its canary's phase, and the pull request that promotes into it.
//!
//! The rule, stage by stage from the first: a stage whose Kustomization failed stops the
//! promotion (and says so on the pull request that brought the change); a healthy stage whose
//! image differs from the next stage's asks for a pull request moving the next stage to its image;
//! an open pull request into a stage with `approval: auto` is merged once the required statuses
//! of the commit Sluice pushed are green, one with `approval: manual` waits for a person. A pull
//! request whose head is not the commit Sluice pushed (someone pushed to its branch) is never
//! merged: Sluice's commit is pushed again.
//!
//! Before anything is looked at, each stage's image location is checked ([`image_location`]): a
//! path that leaves the repository is refused.

use std::path::{Component, Path};

use super::error::PipelineError;
use super::facts::same_image;
use super::stage_git::ImageLocation;
use crate::api::{Approval, ImageTarget, PullRequest, PullRequestState, Stage, StageStatus};

/// What the Pipeline saw of one stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageFacts {
    /// The image the stage's files name in Git (e.g. `ghcr.io/org/app:1.2.0`), if found.
    pub image: Option<String>,
    /// The revision the stage's Kustomization last applied (`main@sha1:<hash>`).
    pub applied_revision: Option<String>,
    /// The Kustomization's health at that revision.
    pub health: Health,
    /// The phase of the stage's Canary, when the stage names one.
    pub canary_phase: Option<String>,
    /// The pull request that promotes into this stage, open or last merged, with the commit
    /// Sluice pushed for it.
    pub pull_request: Option<PullRequest>,
    /// The commit the forge says that pull request's head is at (SHA-1, hex).
    pub pull_request_head: Option<String>,
    /// Whether the statuses this stage requires are all green: its `requiredStatuses` on the
    /// commit Sluice pushed, or, with none, the previous stage's Kustomization statuses on the
    /// revision it applied.
    pub required_statuses_green: bool,
}

/// A Kustomization's health.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Not applied yet, or still progressing.
    #[default]
    Progressing,
    /// Ready at its applied revision.
    Healthy,
    /// Failed, with the Ready condition's message.
    Failed(String),
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open (or update) the pull request that sets stage `to`'s image to `image`, with evidence
    /// from stage `from`.
    OpenPullRequest {
        /// The stage whose success is promoted.
        from: usize,
        /// The stage to move.
        to: usize,
        /// The image to move it to.
        image: String,
    },
    /// Push Sluice's commit again to the branch of pull request `number` into stage `to`, whose
    /// head is not the commit Sluice pushed (`found` instead), and do not merge it.
    RestorePullRequest {
        /// The stage whose success is promoted.
        from: usize,
        /// The stage to move.
        to: usize,
        /// The image to move it to.
        image: String,
        /// The pull request.
        number: u64,
        /// The commit its head is at, as the forge said.
        found: Option<String>,
    },
    /// Merge pull request `number` into stage `to`, only while its head is `head`.
    Merge {
        /// The stage.
        to: usize,
        /// The pull request.
        number: u64,
        /// The commit Sluice pushed, which the forge must find at the head.
        head: String,
    },
    /// Tell pull request `number` that stage `stage` failed with it, and stop.
    ReportFailure {
        /// The failing stage.
        stage: usize,
        /// The pull request that brought the change.
        number: u64,
        /// Why the stage failed.
        message: String,
    },
}

/// The plan: the status of every stage and what to do now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One status per stage, in order.
    pub stages: Vec<StageStatus>,
    /// What to do, in order.
    pub actions: Vec<Action>,
}

/// Plans the next step of a pipeline of `stages` given `facts` (one per stage, same order).
pub fn plan(stages: &[Stage], facts: &[StageFacts]) -> Plan {
    let mut plan = Plan {
        stages: stages
            .iter()
            .zip(facts)
            .map(|(stage, fact)| StageStatus {
                name: stage.name.clone(),
                image: fact.image.clone(),
                revision: fact.applied_revision.clone(),
                pull_request: fact.pull_request.clone(),
                ..StageStatus::default()
            })
            .collect(),
        actions: Vec::new(),
    };
    for index in 0..stages.len().min(facts.len()) {
        let wait = match stage_ready(&stages[index], &facts[index]) {
            StageReady::Yes => None,
            StageReady::Failed(message) => {
                if let Some(pull) = facts[index]
                    .pull_request
                    .as_ref()
                    .filter(|pull| pull.state == PullRequestState::Merged)
                {
                    plan.actions.push(Action::ReportFailure {
                        stage: index,
                        number: pull.number,
                        message: message.clone(),
                    });
                }
                plan.stages[index].waiting_for = Some(format!("stage failed: {message}"));
                return plan;
            }
            StageReady::No(why) => Some(why),
        };
        if let Some(why) = wait {
            plan.stages[index].waiting_for = Some(why);
            return plan;
        }
        let Some(next) = stages.get(index + 1) else {
            break;
        };
        let (current, upcoming) = (&facts[index], &facts[index + 1]);
        let Some(image) = current.image.clone() else {
            plan.stages[index].waiting_for = Some("its image is not found in Git".into());
            return plan;
        };
        if upcoming
            .image
            .as_deref()
            .is_some_and(|next| same_image(next, &image))
        {
            continue;
        }
        plan.stages[index + 1].waiting_for = Some(
            match upcoming
                .pull_request
                .as_ref()
                .filter(|pull| pull.state == PullRequestState::Open)
            {
                None => {
                    plan.actions.push(Action::OpenPullRequest {
                        from: index,
                        to: index + 1,
                        image: image.clone(),
                    });
                    format!("a pull request to {image} is being opened")
                }
                Some(pull) => match pinned_head(pull, upcoming.pull_request_head.as_deref()) {
                    Err(found) => {
                        plan.actions.push(Action::RestorePullRequest {
                            from: index,
                            to: index + 1,
                            image: image.clone(),
                            number: pull.number,
                            found: found.map(str::to_owned),
                        });
                        format!(
                            "pull request #{} to hold the commit Sluice pushed (its head is {}): \
                             it is not merged, Sluice's commit is pushed again",
                            pull.number,
                            found.unwrap_or("unknown")
                        )
                    }
                    Ok(_) if next.approval == Approval::Manual => {
                        format!("manual approval of pull request #{}", pull.number)
                    }
                    Ok(head) if upcoming.required_statuses_green => {
                        plan.actions.push(Action::Merge {
                            to: index + 1,
                            number: pull.number,
                            head: head.to_owned(),
                        });
                        format!("pull request #{} is being merged", pull.number)
                    }
                    Ok(_) => format!("required statuses of pull request #{}", pull.number),
                },
            },
        );
        return plan;
    }
    plan
}

/// The commit `pull` may be merged at: the one Sluice pushed, when the forge says its head is
/// there (`head`); otherwise `Err` with the head found.
fn pinned_head<'a>(
    pull: &'a PullRequest,
    head: Option<&'a str>,
) -> Result<&'a str, Option<&'a str>> {
    match pull.pushed_commit.as_deref() {
        Some(pushed) if head == Some(pushed) => Ok(pushed),
        _ => Err(head),
    }
}

/// Where `stage` writes its image, checked without looking at anything: its `image` names
/// exactly one target, and the stage's `path` (or the kustomization file) is a relative path
/// inside the repository, since a Pipeline's stages are the tenant's to write.
///
/// Errors: [`PipelineError::InvalidStage`] saying which.
pub fn image_location(stage: &Stage) -> Result<ImageLocation, PipelineError> {
    let invalid = |message: String| PipelineError::InvalidStage {
        stage: stage.name.clone(),
        message,
    };
    let inside = |field: &str, path: &str| {
        let confined = Path::new(path)
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
        if confined {
            Ok(())
        } else {
            Err(invalid(format!(
                "{field} '{path}' is not a relative path inside the repository"
            )))
        }
    };
    if let Some(path) = &stage.path {
        inside("path", path)?;
    }
    let target = stage
        .image
        .target()
        .map_err(|error| invalid(error.to_string()))?;
    Ok(match target {
        ImageTarget::Policy(policy) => ImageLocation::Markers {
            path: stage.path.clone(),
            policy: policy.to_owned(),
        },
        ImageTarget::KustomizeImage(entry) => {
            inside("image.kustomizeImage.path", &entry.path)?;
            ImageLocation::ImagesEntry {
                file: entry.path.clone(),
                name: entry.name.clone(),
            }
        }
    })
}

enum StageReady {
    Yes,
    No(String),
    Failed(String),
}

fn stage_ready(stage: &Stage, facts: &StageFacts) -> StageReady {
    match &facts.health {
        Health::Failed(message) => return StageReady::Failed(message.clone()),
        Health::Progressing => {
            return StageReady::No(format!(
                "Kustomization {} to be ready",
                stage.kustomization_ref.name
            ));
        }
        Health::Healthy => {}
    }
    match (&stage.canary_ref, facts.canary_phase.as_deref()) {
        (None, _) | (Some(_), Some("Succeeded")) => StageReady::Yes,
        (Some(_), Some("Failed")) => {
            StageReady::Failed("its canary failed and was rolled back".into())
        }
        (Some(canary), phase) => StageReady::No(format!(
            "Canary {} to succeed (phase {})",
            canary.name,
            phase.unwrap_or("unknown")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StageImage;
    use sluice_gitops::api::references::LocalObjectReference;

    fn stage(name: &str, approval: Approval, canary: bool) -> Stage {
        Stage {
            name: name.into(),
            kustomization_ref: LocalObjectReference {
                name: format!("apps-{name}"),
            },
            canary_ref: canary.then(|| LocalObjectReference {
                name: "podinfo".into(),
            }),
            image: StageImage {
                policy: Some(format!("{name}:podinfo")),
                kustomize_image: None,
            },
            branch: None,
            path: Some(format!("apps/{name}")),
            approval,
            required_statuses: Vec::new(),
        }
    }

    fn stages() -> Vec<Stage> {
        vec![
            stage("dev", Approval::Auto, false),
            stage("qa", Approval::Auto, true),
            stage("prod", Approval::Manual, false),
        ]
    }

    fn facts(image: &str, health: Health) -> StageFacts {
        StageFacts {
            image: Some(image.into()),
            applied_revision: Some("main@sha1:abc".into()),
            health,
            ..StageFacts::default()
        }
    }

    const PUSHED: &str = "5eed000000000000000000000000000000000001";

    fn pull(number: u64, state: PullRequestState) -> Option<PullRequest> {
        Some(PullRequest {
            number,
            url: format!("http://forge/pulls/{number}"),
            state,
            pushed_commit: Some(PUSHED.into()),
        })
    }

    /// `facts` with pull request `number` open at the commit Sluice pushed.
    fn with_open_pull(mut facts: StageFacts, number: u64) -> StageFacts {
        facts.pull_request = pull(number, PullRequestState::Open);
        facts.pull_request_head = Some(PUSHED.into());
        facts
    }

    #[test]
    fn a_healthy_dev_on_a_new_image_opens_a_pull_request_to_qa() {
        let observed = [
            facts("app:2", Health::Healthy),
            facts("app:1", Health::Healthy),
            facts("app:1", Health::Healthy),
        ];
        let plan = plan(&stages(), &observed);
        assert_eq!(
            plan.actions,
            [Action::OpenPullRequest {
                from: 0,
                to: 1,
                image: "app:2".into()
            }]
        );
        assert!(
            plan.stages[1]
                .waiting_for
                .as_deref()
                .unwrap()
                .contains("being opened")
        );
    }

    #[test]
    fn a_failing_dev_stops_everything() {
        let observed = [
            facts(
                "app:2",
                Health::Failed("Deployment podinfo not ready".into()),
            ),
            facts("app:1", Health::Healthy),
            facts("app:1", Health::Healthy),
        ];
        let plan = plan(&stages(), &observed);
        assert!(plan.actions.is_empty());
        assert!(
            plan.stages[0]
                .waiting_for
                .as_deref()
                .unwrap()
                .contains("stage failed")
        );
    }

    #[test]
    fn auto_stages_merge_when_statuses_are_green_and_manual_ones_wait() {
        let mut qa = with_open_pull(facts("app:1", Health::Healthy), 7);
        let observed = [
            facts("app:2", Health::Healthy),
            qa.clone(),
            facts("app:1", Health::Healthy),
        ];
        assert!(
            plan(&stages(), &observed).actions.is_empty(),
            "statuses not green yet"
        );
        qa.required_statuses_green = true;
        let observed = [
            facts("app:2", Health::Healthy),
            qa,
            facts("app:1", Health::Healthy),
        ];
        assert_eq!(
            plan(&stages(), &observed).actions,
            [Action::Merge {
                to: 1,
                number: 7,
                head: PUSHED.into()
            }]
        );

        let mut qa_done = facts("app:2", Health::Healthy);
        qa_done.canary_phase = Some("Succeeded".into());
        let mut prod = with_open_pull(facts("app:1", Health::Healthy), 8);
        prod.required_statuses_green = true;
        let plan = plan(&stages(), &[facts("app:2", Health::Healthy), qa_done, prod]);
        assert!(plan.actions.is_empty());
        assert_eq!(
            plan.stages[2].waiting_for.as_deref(),
            Some("manual approval of pull request #8")
        );
    }

    #[test]
    fn a_stage_waits_for_its_canary_and_a_failed_canary_is_reported_on_the_pull_request() {
        let mut qa = facts("app:2", Health::Healthy);
        qa.canary_phase = Some("Progressing".into());
        let plan_waiting = plan(
            &stages(),
            &[
                facts("app:2", Health::Healthy),
                qa.clone(),
                facts("app:1", Health::Healthy),
            ],
        );
        assert!(plan_waiting.actions.is_empty());
        assert!(
            plan_waiting.stages[1]
                .waiting_for
                .as_deref()
                .unwrap()
                .contains("Canary podinfo")
        );
        qa.canary_phase = Some("Failed".into());
        qa.pull_request = pull(7, PullRequestState::Merged);
        let failed = plan(
            &stages(),
            &[
                facts("app:2", Health::Healthy),
                qa,
                facts("app:1", Health::Healthy),
            ],
        );
        assert!(matches!(
            &failed.actions[..],
            [Action::ReportFailure {
                stage: 1,
                number: 7,
                ..
            }]
        ));
    }

    #[test]
    fn a_pull_request_whose_head_is_not_the_pushed_commit_is_pushed_again_not_merged() {
        for approval in [Approval::Auto, Approval::Manual] {
            let mut stages = stages();
            stages[1].approval = approval;
            let mut qa = with_open_pull(facts("app:1", Health::Healthy), 7);
            qa.required_statuses_green = true;
            qa.pull_request_head = Some("a77ac4e5".into());
            let moved = plan(
                &stages,
                &[
                    facts("app:2", Health::Healthy),
                    qa.clone(),
                    facts("app:1", Health::Healthy),
                ],
            );
            assert_eq!(
                moved.actions,
                [Action::RestorePullRequest {
                    from: 0,
                    to: 1,
                    image: "app:2".into(),
                    number: 7,
                    found: Some("a77ac4e5".into())
                }],
                "{approval:?}"
            );
            let why = moved.stages[1].waiting_for.as_deref().unwrap_or_default();
            assert!(
                why.contains("a77ac4e5") && why.contains("not merged"),
                "{why}"
            );

            // A pull request Sluice does not know the commit of is not merged either.
            qa.pull_request = qa.pull_request.map(|pull| PullRequest {
                pushed_commit: None,
                ..pull
            });
            qa.pull_request_head = Some(PUSHED.into());
            let unknown = plan(
                &stages,
                &[
                    facts("app:2", Health::Healthy),
                    qa,
                    facts("app:1", Health::Healthy),
                ],
            );
            assert!(
                matches!(
                    &unknown.actions[..],
                    [Action::RestorePullRequest { number: 7, .. }]
                ),
                "{:?}",
                unknown.actions
            );
        }
    }

    #[test]
    fn stage_paths_outside_the_repository_are_refused() {
        let mut escaping = stage("qa", Approval::Auto, false);
        for path in ["../other-tenant", "/etc", "apps/../../x", "./a/../../b"] {
            escaping.path = Some(path.into());
            let error = image_location(&escaping).expect_err(path);
            assert!(
                matches!(&error, PipelineError::InvalidStage { stage, message }
                    if stage == "qa" && message.contains(path)),
                "{error}"
            );
        }
        let mut entry = stage("prod", Approval::Manual, false);
        entry.path = None;
        entry.image = StageImage {
            policy: None,
            kustomize_image: Some(crate::api::KustomizeImageRef {
                path: "../other/kustomization.yaml".into(),
                name: "app".into(),
            }),
        };
        assert!(matches!(
            image_location(&entry),
            Err(PipelineError::InvalidStage { .. })
        ));
        escaping.path = Some("./apps/qa".into());
        assert_eq!(
            image_location(&escaping).expect("inside"),
            ImageLocation::Markers {
                path: Some("./apps/qa".into()),
                policy: "qa:podinfo".into()
            }
        );
    }

    #[test]
    fn nothing_to_do_when_every_stage_runs_the_same_healthy_image() {
        let mut qa = facts("app:2", Health::Healthy);
        qa.canary_phase = Some("Succeeded".into());
        let plan = plan(
            &stages(),
            &[
                facts("app:2", Health::Healthy),
                qa,
                facts("app:2", Health::Healthy),
            ],
        );
        assert!(plan.actions.is_empty());
        assert!(plan.stages.iter().all(|stage| stage.waiting_for.is_none()));
    }
}
