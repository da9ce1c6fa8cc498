//! What a Pipeline does next, as a pure function of what it observes: per stage, the image it
//! runs (read from Git at the revision the stage applied), whether its Kustomization is healthy
//! at that revision, its canary's phase, and the pull request that promotes into it.
//!
//! The rule, stage by stage from the first: a stage whose Kustomization failed stops the
//! promotion (and says so on the pull request that brought the change); a healthy stage whose
//! image differs from the next stage's asks for a pull request moving the next stage to its image;
//! an open pull request into a stage with `approval: auto` is merged once the required statuses
//! of its source stage are green, one with `approval: manual` waits for a person.

use super::facts::same_image;
use crate::api::{Approval, PullRequest, PullRequestState, Stage, StageStatus};

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
    /// The pull request that promotes into this stage, open or last merged.
    pub pull_request: Option<PullRequest>,
    /// Whether the statuses this stage requires of the previous stage's commit are all green.
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
    /// Merge pull request `number` into stage `to`.
    Merge {
        /// The stage.
        to: usize,
        /// The pull request.
        number: u64,
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
                Some(pull) => match next.approval {
                    Approval::Manual => format!("manual approval of pull request #{}", pull.number),
                    Approval::Auto if upcoming.required_statuses_green => {
                        plan.actions.push(Action::Merge {
                            to: index + 1,
                            number: pull.number,
                        });
                        format!("pull request #{} is being merged", pull.number)
                    }
                    Approval::Auto => format!("required statuses of pull request #{}", pull.number),
                },
            },
        );
        return plan;
    }
    plan
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

    fn pull(number: u64, state: PullRequestState) -> Option<PullRequest> {
        Some(PullRequest {
            number,
            url: format!("http://forge/pulls/{number}"),
            state,
        })
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
        let mut qa = facts("app:1", Health::Healthy);
        qa.pull_request = pull(7, PullRequestState::Open);
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
            [Action::Merge { to: 1, number: 7 }]
        );

        let mut qa_done = facts("app:2", Health::Healthy);
        qa_done.canary_phase = Some("Succeeded".into());
        let mut prod = facts("app:1", Health::Healthy);
        prod.pull_request = pull(8, PullRequestState::Open);
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
