//! Sluice's forge client against a real Gitea: commit statuses, one pull request per head
//! branch (opened, then updated), comments, merges, and the errors a bad token or an
//! unreachable forge give.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sluice_gitops::forge::{
    CommitState, CommitStatus, Forge, ForgeError, ForgeKind, PullRequestContent,
};
use sluice_tests::gitea::Gitea;

const TIMEOUT: Duration = Duration::from_secs(10);

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Pushes `main` with one commit and `promote/qa` with one more; returns main's sha.
fn seed(gitea: &Gitea, repo: &str, work: &Path) -> String {
    git(work, &["init", "--quiet", "-b", "main", "."]);
    std::fs::write(work.join("app.yaml"), "image: app:1.0.0\n").unwrap();
    git(work, &["add", "."]);
    git(work, &["commit", "--quiet", "-m", "app 1.0.0"]);
    let main = git(work, &["rev-parse", "HEAD"]);
    git(work, &["checkout", "--quiet", "-b", "promote/qa"]);
    std::fs::write(work.join("app.yaml"), "image: app:1.1.0\n").unwrap();
    git(work, &["commit", "--quiet", "-am", "app 1.1.0"]);
    let url = gitea.clone_url_with_credentials(repo);
    git(work, &["push", "--quiet", &url, "main", "promote/qa"]);
    main
}

fn status(context: &str, state: CommitState, description: &str) -> CommitStatus {
    CommitStatus {
        context: context.into(),
        state,
        description: description.into(),
        target_url: None,
    }
}

/// Merges pull request `number` at `head`, again while Gitea answers 405 (it has not checked
/// yet that the pull request merges; a refused merge has it check again), for up to 10 s.
async fn merge_once_checked(forge: &Forge, number: u64, head: &str) -> Result<(), ForgeError> {
    let mut merged = forge.merge_pull_request(number, head).await;
    for _ in 0..50 {
        if !matches!(merged, Err(ForgeError::Api { status: 405, .. })) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        merged = forge.merge_pull_request(number, head).await;
    }
    merged
}

#[tokio::test]
async fn statuses_and_one_pull_request_per_branch_on_a_real_gitea() -> anyhow::Result<()> {
    let gitea = Gitea::start()?;
    gitea.create_repo("fleet").await?;
    let work = tempfile::tempdir()?;
    let main = seed(&gitea, "fleet", work.path());
    gitea.wait_for_branch("fleet", "main").await?;
    gitea.wait_for_branch("fleet", "promote/qa").await?;
    let forge = Forge::new(
        ForgeKind::Gitea,
        &gitea.repo_url("fleet"),
        &gitea.token,
        TIMEOUT,
    )?;

    let context = "kustomization/apps-dev";
    forge
        .set_commit_status(&main, &status(context, CommitState::Pending, "applying"))
        .await?;
    forge
        .set_commit_status(
            &main,
            &status(context, CommitState::Success, "applied and healthy"),
        )
        .await?;
    forge
        .set_commit_status(
            &main,
            &status("canary/podinfo", CommitState::Failure, "rolled back"),
        )
        .await?;
    let mut statuses = forge.commit_statuses(&main).await?;
    statuses.sort_by(|a, b| a.context.cmp(&b.context));
    assert_eq!(
        statuses
            .iter()
            .map(|s| (s.context.as_str(), s.state))
            .collect::<Vec<_>>(),
        [
            ("canary/podinfo", CommitState::Failure),
            (context, CommitState::Success)
        ]
    );

    let mut content = PullRequestContent {
        head: "promote/qa".into(),
        base: "main".into(),
        title: "Promote app 1.1.0 to qa".into(),
        body: "dev is healthy".into(),
    };
    let opened = forge.upsert_pull_request(&content).await?;
    assert!(opened.open && !opened.merged);
    assert!(opened.same_repository, "{opened:?}");
    assert_eq!(opened.head_sha.len(), 40, "{opened:?}");
    content.title = "Promote app 1.1.0 to qa (updated)".into();
    let updated = forge.upsert_pull_request(&content).await?;
    assert_eq!(
        updated.number, opened.number,
        "one pull request per head branch"
    );
    assert_eq!(updated.title, content.title);

    forge.comment(opened.number, "dev stays healthy").await?;
    // A merge at a commit that is not the head is refused; at the head, it merges.
    let stale = merge_once_checked(&forge, opened.number, &main).await;
    assert!(
        matches!(&stale, Err(ForgeError::Api { status: 409, message, .. })
            if message.contains("head out of date")),
        "merged at a commit that is not its head: {stale:?}"
    );
    merge_once_checked(&forge, opened.number, &opened.head_sha).await?;
    let merged = forge.pull_request(opened.number).await?;
    assert!(merged.merged && !merged.open, "{merged:?}");
    Ok(())
}

#[tokio::test]
async fn a_bad_token_and_an_unreachable_forge_are_told_apart() -> anyhow::Result<()> {
    let gitea = Gitea::start()?;
    gitea.create_repo("fleet").await?;
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let wrong = Forge::new(
        ForgeKind::Gitea,
        &gitea.repo_url("fleet"),
        "not-a-token",
        TIMEOUT,
    )?;
    let refused = wrong
        .set_commit_status(sha, &status("x", CommitState::Pending, "x"))
        .await;
    assert!(
        matches!(&refused, Err(ForgeError::Unauthorized { .. })),
        "{refused:?}"
    );
    assert!(!refused.unwrap_err().is_transient());

    let port = sluice_tests::ports::free_port()?;
    let gone = Forge::new(
        ForgeKind::Gitea,
        &format!("http://127.0.0.1:{port}/a/b"),
        "t",
        TIMEOUT,
    )?;
    let unreachable = gone.commit_statuses(sha).await;
    assert!(
        matches!(&unreachable, Err(ForgeError::Unreachable { .. })),
        "{unreachable:?}"
    );
    assert!(unreachable.unwrap_err().is_transient());
    Ok(())
}
