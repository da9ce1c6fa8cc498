//! The promotion the demo shows, step by step, read from what the controllers write: the
//! tenant's first sync, then a new tag of the sample app pushed to the registry, the scan
//! (ImagePolicy), the commit (ImageUpdateAutomation), the dev apply and its commit status on
//! Gitea; the promotion to qa and prod is in [`super::promotion`]. Each step ends with a
//! summary [`Row`].

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;
use sluice_canary::api::Canary;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_gitops::forge::{CommitState, Forge, ForgeKind};
use sluice_image_automation::api::ImageUpdateAutomation;
use sluice_image_reflector::api::ImagePolicy;

use super::progress::Progress;
use super::servers::Servers;
use super::summary::Row;
use super::tenant::REPOSITORY;
use super::watch::{Objects, Reading, is_ready, ready_message, until};

/// The tag every stage runs at first.
pub const FIRST_TAG: &str = "6.5.0";
/// The tag the demo pushes and promotes.
pub const NEW_TAG: &str = "6.5.1";
/// The stages, in promotion order.
pub const STAGES: [&str; 3] = ["dev", "qa", "prod"];
/// How long one step may take.
pub(super) const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The demo's view of the promotion.
pub struct Flow<'a> {
    pub(super) progress: &'a Progress,
    pub(super) servers: &'a Servers,
    pub(super) objects: Objects,
    forge: Forge,
}

impl<'a> Flow<'a> {
    /// A view through `objects` (the tenant namespace) and Gitea's API.
    ///
    /// Errors: the Gitea client cannot be built.
    pub fn new(
        progress: &'a Progress,
        servers: &'a Servers,
        objects: Objects,
    ) -> anyhow::Result<Self> {
        let forge = Forge::new(
            ForgeKind::Gitea,
            &servers.gitea.repo_url(REPOSITORY),
            &servers.gitea.token,
            Duration::from_secs(10),
        )?;
        Ok(Self {
            progress,
            servers,
            objects,
            forge,
        })
    }

    /// Waits until the source is Ready and every stage applied `seed` (the first commit), and
    /// the ImagePolicy picked [`FIRST_TAG`].
    ///
    /// Errors: not within the step timeout, or the API failed.
    pub async fn first_sync(&self, seed: &str) -> anyhow::Result<String> {
        until(
            self.progress,
            "the tenant's first sync",
            STEP_TIMEOUT,
            || async {
                let mut waiting = Vec::new();
                let source = self.objects.get::<GitRepository>(REPOSITORY).await?;
                if !is_ready(&source) {
                    waiting.push(format!(
                        "GitRepository {REPOSITORY} ({})",
                        ready_message(&source)
                    ));
                }
                for stage in STAGES {
                    let name = format!("podinfo-{stage}");
                    let kustomization = self.objects.get::<Kustomization>(&name).await?;
                    if !(is_ready(&kustomization) && applied(&kustomization).contains(seed)) {
                        waiting.push(format!(
                            "Kustomization {name} ({})",
                            ready_message(&kustomization)
                        ));
                    }
                }
                let canary = self.objects.get::<Canary>("podinfo-qa").await?;
                if canary["status"]["phase"] != "Initialized" {
                    let phase = canary["status"]["phase"]
                        .as_str()
                        .unwrap_or("not reconciled");
                    waiting.push(format!("Canary podinfo-qa (phase {phase})"));
                }
                if self.latest_tag().await?.as_deref() != Some(FIRST_TAG) {
                    waiting.push("ImagePolicy podinfo".into());
                }
                Ok(match waiting.is_empty() {
                    true => Reading::Done(()),
                    false => Reading::Seen(format!("waiting for {}", waiting.join(", "))),
                })
            },
        )
        .await?;
        Ok(format!(
            "dev, qa and prod run {FIRST_TAG} at {}",
            short(seed)
        ))
    }

    /// Pushes [`NEW_TAG`] and waits until the ImagePolicy picks it.
    ///
    /// Errors: the push failed, or the policy did not pick it in time.
    pub async fn scan(&self, work: &std::path::Path) -> anyhow::Result<Row> {
        let started = Instant::now();
        self.servers.push_image(work, NEW_TAG)?;
        self.progress.write(
            super::progress::Kind::Note,
            format!("pushed {}:{NEW_TAG}", self.servers.image_name()),
        );
        until(
            self.progress,
            "the ImagePolicy to pick the new tag",
            STEP_TIMEOUT,
            || async {
                Ok(match self.latest_tag().await? {
                    Some(tag) if tag == NEW_TAG => Reading::Done(()),
                    tag => Reading::Seen(format!(
                        "ImagePolicy podinfo latest: {}",
                        tag.unwrap_or_default()
                    )),
                })
            },
        )
        .await?;
        Ok(self.row(
            "scan",
            "-",
            "ImagePolicy podinfo picked it (semver >=6.0.0)",
            started,
        ))
    }

    /// Waits until image automation pushed a commit; returns its row and SHA-1.
    ///
    /// Errors: no push in time.
    pub async fn commit(&self) -> anyhow::Result<(Row, String)> {
        let started = Instant::now();
        let sha = until(
            self.progress,
            "image automation to push",
            STEP_TIMEOUT,
            || async {
                let automation = self.objects.get::<ImageUpdateAutomation>("podinfo").await?;
                Ok(match automation["status"]["lastPushCommit"].as_str() {
                    Some(sha) => Reading::Done(sha.to_owned()),
                    None => Reading::Seen(ready_message(&automation)),
                })
            },
        )
        .await?;
        let row = self.row(
            "commit",
            &short(&sha),
            "image automation pushed it to main (apps/podinfo/dev)",
            started,
        );
        Ok((row, sha))
    }

    /// Waits until the dev Kustomization applied `sha` and Gitea shows its commit status
    /// `success`.
    ///
    /// Errors: not in time.
    pub async fn dev(&self, sha: &str) -> anyhow::Result<Row> {
        let started = Instant::now();
        self.applied("podinfo-dev", sha).await?;
        until(
            self.progress,
            "the dev commit status",
            STEP_TIMEOUT,
            || async {
                let statuses = self
                    .forge
                    .commit_statuses(sha)
                    .await
                    .context("reading commit statuses")?;
                let dev = statuses
                    .iter()
                    .find(|s| s.context.starts_with("kustomization/podinfo-dev/"));
                Ok(match dev {
                    Some(status) if status.state == CommitState::Success => Reading::Done(()),
                    Some(status) => Reading::Seen(format!(
                        "commit status {}: {:?}",
                        status.context, status.state
                    )),
                    None => Reading::Seen(String::new()),
                })
            },
        )
        .await?;
        let image = self.image("podinfo-dev").await?;
        let mut row = self.row(
            "dev",
            &short(sha),
            "applied; commit status success on Gitea",
            started,
        );
        row.image = image;
        Ok(row)
    }

    /// Waits until the Kustomization `name` is Ready at `sha`, noting it.
    pub(super) async fn applied(&self, name: &str, sha: &str) -> anyhow::Result<()> {
        until(
            self.progress,
            &format!("{name} to apply {}", short(sha)),
            STEP_TIMEOUT,
            || async {
                let kustomization = self.objects.get::<Kustomization>(name).await?;
                let revision = applied(&kustomization);
                Ok(match is_ready(&kustomization) && revision.contains(sha) {
                    true => Reading::Done(()),
                    false => Reading::Seen(format!(
                        "Kustomization {name}: {}",
                        ready_message(&kustomization)
                    )),
                })
            },
        )
        .await?;
        self.progress.write(
            super::progress::Kind::Note,
            format!("Kustomization {name} applied main@sha1:{}", short(sha)),
        );
        Ok(())
    }

    /// The image of the Deployment `name`'s first container.
    pub(super) async fn image(&self, name: &str) -> anyhow::Result<String> {
        let deployment = self.objects.get::<Deployment>(name).await?;
        Ok(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    async fn latest_tag(&self) -> anyhow::Result<Option<String>> {
        let policy = self.objects.get::<ImagePolicy>("podinfo").await?;
        Ok(policy["status"]["latestRef"]["tag"]
            .as_str()
            .map(str::to_owned))
    }

    pub(super) fn row(&self, stage: &str, revision: &str, outcome: &str, started: Instant) -> Row {
        Row {
            stage: stage.into(),
            image: format!("{}:{NEW_TAG}", self.servers.image_name()),
            revision: revision.into(),
            outcome: outcome.into(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// A Kustomization's `status.lastAppliedRevision`, or `""`.
pub(super) fn applied(kustomization: &Value) -> &str {
    kustomization["status"]["lastAppliedRevision"]
        .as_str()
        .unwrap_or_default()
}

/// The first 8 hex digits of a SHA-1.
pub fn short(sha: &str) -> String {
    sha.chars().take(8).collect()
}
