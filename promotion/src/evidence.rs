//! What a promotion says: the commit message, the pull request's title and its body listing the
//! evidence that the source stage is good on the image (revision, Kustomization health, commit
//! statuses, canary result), and the comment left when a stage fails. The reconciler passes
//! each text through the redactor of the Secrets it read (`sluice_runtime::redact`) before it
//! leaves for Git or the forge; a condition message quoted here (a stage's failure) is redacted
//! by the controller that wrote it.

use sluice_gitops::forge::CommitStatus;

/// The evidence gathered from the stage a promotion comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// `namespace/name` of the Pipeline.
    pub pipeline: String,
    /// The stage promoted from.
    pub from_stage: String,
    /// The stage promoted to.
    pub to_stage: String,
    /// The image, `NAME:TAG[@DIGEST]` (or a tag).
    pub image: String,
    /// The revision the source stage applied, `main@sha1:<hash>`.
    pub revision: String,
    /// The source stage's Kustomization name.
    pub kustomization: String,
    /// The commit statuses of that revision.
    pub statuses: Vec<CommitStatus>,
    /// The source stage's Canary and its phase, when it has one.
    pub canary: Option<(String, String)>,
}

impl Evidence {
    /// The pull request's title, e.g. `Promote qa to ghcr.io/org/app:1.2.3`.
    pub fn title(&self) -> String {
        format!("Promote {} to {}", self.to_stage, self.image)
    }

    /// The commit message: the title, a blank line, and where the image comes from.
    pub fn commit_message(&self) -> String {
        format!(
            "{}\n\nPipeline {}: {} is healthy on {} at {}.\n",
            self.title(),
            self.pipeline,
            self.from_stage,
            self.image,
            self.revision
        )
    }

    /// The pull request's body (Markdown).
    pub fn body(&self) -> String {
        let mut lines = vec![
            format!(
                "Pipeline `{}` promotes `{}` from **{}** to **{}**.",
                self.pipeline, self.image, self.from_stage, self.to_stage
            ),
            String::new(),
            format!("Evidence from **{}**:", self.from_stage),
            format!("- revision: `{}`", self.revision),
            format!(
                "- Kustomization `{}`: Ready at that revision",
                self.kustomization
            ),
        ];
        lines.extend(self.statuses.iter().map(|status| {
            let state = format!("{:?}", status.state).to_lowercase();
            format!("- commit status `{}`: {state}", status.context)
        }));
        if let Some((canary, phase)) = &self.canary {
            lines.push(format!("- Canary `{canary}`: {phase}"));
        }
        lines.join("\n")
    }
}

/// The comment left on pull request that brought a change when stage `stage` then failed.
pub fn failure_comment(pipeline: &str, stage: &str, message: &str) -> String {
    format!(
        "Pipeline `{pipeline}`: stage **{stage}** failed after this change, so the promotion \
         stops here.\n\n> {message}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_gitops::forge::CommitState;

    #[test]
    fn the_body_lists_the_evidence() {
        let evidence = Evidence {
            pipeline: "apps/podinfo".into(),
            from_stage: "qa".into(),
            to_stage: "prod".into(),
            image: "registry/podinfo:6.5.1".into(),
            revision: "main@sha1:abc".into(),
            kustomization: "podinfo-qa".into(),
            statuses: vec![CommitStatus {
                context: "kustomization/podinfo-qa/1a2b3c4d".into(),
                state: CommitState::Success,
                description: String::new(),
                target_url: None,
            }],
            canary: Some(("podinfo".into(), "Succeeded".into())),
        };
        assert_eq!(evidence.title(), "Promote prod to registry/podinfo:6.5.1");
        let body = evidence.body();
        assert!(body.contains("- revision: `main@sha1:abc`"), "{body}");
        assert!(
            body.contains("- commit status `kustomization/podinfo-qa/1a2b3c4d`: success"),
            "{body}"
        );
        assert!(body.contains("- Canary `podinfo`: Succeeded"), "{body}");
        assert!(
            evidence
                .commit_message()
                .starts_with("Promote prod to registry/podinfo:6.5.1\n\n")
        );
    }
}
