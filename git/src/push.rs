//! Pushes with the `git` CLI (gix cannot push yet): fast-forward only for the checkout branch, a
//! forced update only for a separate push branch, all refs atomically; a rejection because the
//! remote moved is told apart from other failures so the run can fetch, re-apply and retry.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::command::{CommandError, run};
use crate::deadline::{Deadline, bounded_config};

/// How a push ended when git ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Every ref was updated.
    Pushed,
    /// The remote branch moved since the fetch (non-fast-forward); nothing was updated.
    RemoteMoved,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote refused the credentials or the permission.
    #[error("push refused by the remote (authentication or permission): {0}")]
    AccessDenied(String),
    /// Any other failure (unreachable remote, hook refusal, missing `git`, ...).
    #[error("push failed: {0}")]
    Failed(CommandError),
}

/// One ref update: `commit` to the remote's `destination` (a full ref name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// What to push: a commit SHA or a local ref name.
    pub source: String,
    /// The remote ref, e.g. `refs/heads/main`.
    pub destination: String,
    /// Whether a non-fast-forward update is allowed.
    pub force: bool,
}

/// What to push, where.
#[derive(Debug, Clone, Copy)]
pub struct PushRequest<'a> {
    /// The `.git` folder of the cache repository.
    pub git_dir: &'a Path,
    /// The remote URL.
    pub url: &'a str,
    /// Git configuration (`key=value`) with the credentials, passed through the environment so
    /// no secret appears on a command line.
    pub config: &'a [String],
    /// The refs to update, atomically.
    pub updates: &'a [RefUpdate],
    /// Push options (`--push-option=key=value`).
    pub options: &'a BTreeMap<String, String>,
    /// When the push must be over: `git` (and the `git-remote-http` or `ssh` it started) is
    /// killed then.
    pub deadline: Deadline,
}

/// Runs `git push --atomic --porcelain` for `request`, stopped at `request.deadline`.
///
/// Returns [`PushOutcome::RemoteMoved`] when a ref was rejected as non-fast-forward (the remote
/// moved since the fetch). Errors: [`PushError::AccessDenied`] when the remote refused the
/// credentials, [`PushError::Failed`] otherwise ([`CommandError::TimedOut`] past the deadline).
pub fn push(request: PushRequest<'_>) -> Result<PushOutcome, PushError> {
    let config = bounded_config(request.config, request.url, request.deadline);
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(request.git_dir)
        .args(["push", "--atomic", "--porcelain", "--no-verify"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_COUNT", config.len().to_string());
    for (index, entry) in config.iter().enumerate() {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        command
            .env(format!("GIT_CONFIG_KEY_{index}"), key)
            .env(format!("GIT_CONFIG_VALUE_{index}"), value);
    }
    for (key, value) in request.options {
        command.arg(format!("--push-option={key}={value}"));
    }
    command
        .arg(request.url)
        .args(request.updates.iter().map(refspec));
    match run(command, "git", b"", Some(request.deadline)) {
        Ok(_) => Ok(PushOutcome::Pushed),
        Err(error) => classify(error),
    }
}

fn refspec(update: &RefUpdate) -> String {
    let force = if update.force { "+" } else { "" };
    format!("{force}{}:{}", update.source, update.destination)
}

fn classify(error: CommandError) -> Result<PushOutcome, PushError> {
    let CommandError::Failed { stdout, stderr, .. } = &error else {
        return Err(PushError::Failed(error));
    };
    let moved = [
        "(fetch first)",
        "(non-fast-forward)",
        "(stale info)",
        "(failed to update ref)",
    ];
    // The branch moved while the push was being received (a true race).
    let raced = stderr.contains("cannot lock ref") && stderr.contains("but expected");
    if raced || moved.iter().any(|reason| stdout.contains(reason)) {
        return Ok(PushOutcome::RemoteMoved);
    }
    let denied = [
        "Authentication failed",
        "Permission denied",
        "could not read Username",
        "The requested URL returned error: 401",
        "The requested URL returned error: 403",
        "Host key verification failed",
    ];
    if denied.iter().any(|sign| stderr.contains(sign)) {
        return Err(PushError::AccessDenied(stderr.clone()));
    }
    Err(PushError::Failed(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stdout: &str, stderr: &str) -> CommandError {
        CommandError::Failed {
            program: "git".into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_non_fast_forward_rejection_means_the_remote_moved() {
        let porcelain = "To git://h/r\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert!(matches!(
            classify(failed(porcelain, "error: failed to push some refs")),
            Ok(PushOutcome::RemoteMoved)
        ));
    }

    #[test]
    fn authentication_failures_are_access_denied() {
        let stderr = "fatal: Authentication failed for 'http://127.0.0.1/git/r.git/'";
        assert!(matches!(
            classify(failed("", stderr)),
            Err(PushError::AccessDenied(_))
        ));
        assert!(matches!(
            classify(failed("", "fatal: unable to connect")),
            Err(PushError::Failed(_))
        ));
    }

    #[test]
    fn only_forced_updates_carry_a_plus() {
        let update = RefUpdate {
            source: "abc".into(),
            destination: "refs/heads/auto".into(),
            force: true,
        };
        assert_eq!(refspec(&update), "+abc:refs/heads/auto");
        let fast_forward = RefUpdate {
            force: false,
            ..update
        };
        assert_eq!(refspec(&fast_forward), "abc:refs/heads/auto");
    }

    #[test]
    fn a_push_to_a_server_that_never_answers_is_killed_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _stalling = std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(std::time::Duration::from_secs(60));
            drop(held);
        });
        let repo = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let output = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
                .arg(repo.path())
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        let url = format!("http://127.0.0.1:{port}/fleet.git");
        let started = std::time::Instant::now();
        let pushed = push(PushRequest {
            git_dir: &repo.path().join(".git"),
            url: &url,
            config: &[],
            updates: &[RefUpdate {
                source: "refs/heads/main".into(),
                destination: "refs/heads/main".into(),
                force: false,
            }],
            options: &BTreeMap::new(),
            deadline: Deadline::after(std::time::Duration::from_secs(2)),
        });
        assert!(
            matches!(
                pushed,
                Err(PushError::Failed(CommandError::TimedOut { .. }))
            ),
            "{pushed:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
