//! One automation run on Git, blocking: fetch the checkout (and the separate push branch) into
//! the work cache (a bare repository), apply the setters to the checkout's tree read from the
//! object database (no work tree is written), and when something changed, write one commit with
//! the templated message and push it. When the push is rejected because the remote moved,
//! everything is fetched and re-applied, up to [`MAX_ATTEMPTS`] times. Nothing is pushed when a
//! marked file cannot be read or parsed, or the message cannot be rendered, so the tenant's
//! repository never receives a partial commit.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use gix::ObjectId;
use sluice_git::{
    AuthError, Author, CommitError, CommitRequest, Deadline, FetchError, FileContent, GitAuth,
    PushError, PushOutcome, PushRequest, RefError, RefSelector, RefUpdate, Signer, Want,
    bounded_config, fetch_wants, list_tags, open_repository, push, write_commit,
};

use super::push_target::PushTarget;
use super::tree_update::{TreeReadError, update_git_tree};
use crate::commit_message::{CommitMessageError, TemplateData, render_commit_message};
use crate::setters::policy::Policies;
use crate::setters::result::UpdateResult;
use crate::setters::tree::TreeUpdate;

/// How many times a run fetches, re-applies and pushes while the remote keeps moving.
pub const MAX_ATTEMPTS: usize = 3;

const CHECKOUT_REF: &str = "refs/sluice/checkout";
const PUSH_BRANCH_REF: &str = "refs/sluice/push-branch";
const URL_RECORD: &str = "sluice-url";

/// Why a run failed; nothing was pushed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The credentials cannot be used.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The work cache folder could not be prepared.
    #[error("preparing the work cache {path}: {source}")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Fetching failed (unreachable, refused credentials, ...).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The checkout reference cannot be resolved.
    #[error(transparent)]
    CheckoutRef(#[from] RefError),
    /// The remote has no such reference.
    #[error("the remote has no {0}")]
    CheckoutNotFound(String),
    /// `update.path` leaves the repository.
    #[error("update path '{0}' is not a relative path inside the repository")]
    InvalidUpdatePath(String),
    /// The update folder could not be read from the checkout's tree.
    #[error(transparent)]
    Update(#[from] TreeReadError),
    /// Files holding markers could not be read or parsed; nothing was committed.
    #[error("cannot update {}", describe_problems(.0))]
    UnreadableFiles(Vec<(String, String)>),
    /// The commit message template failed.
    #[error(transparent)]
    CommitMessage(#[from] CommitMessageError),
    /// The commit could not be written or signed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The push failed.
    #[error(transparent)]
    Push(#[from] PushError),
    /// The push was rejected [`MAX_ATTEMPTS`] times because the remote kept moving.
    #[error("the remote branch moved during each of {0} attempts to push")]
    RemoteKeptMoving(usize),
}

fn describe_problems(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(file, problem)| format!("{file}: {problem}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The commit message inputs.
#[derive(Debug, Clone, Default)]
pub struct MessageSpec {
    /// Namespace of the automation.
    pub automation_namespace: String,
    /// Name of the automation.
    pub automation_name: String,
    /// `messageTemplate`, the default message when `None`.
    pub template: Option<String>,
    /// `messageTemplateValues`.
    pub values: BTreeMap<String, String>,
}

/// Everything a run needs, as plain values.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// This automation's folder in the work cache (created when absent).
    pub work_dir: PathBuf,
    /// The remote URL.
    pub url: String,
    /// How long the whole run may take, every fetch and push included (the GitRepository's
    /// `spec.timeout`, as Flux's automation takes it): past it the transfer is stopped and the
    /// `git` CLI killed.
    pub timeout: Duration,
    /// Its credentials.
    pub auth: GitAuth,
    /// What to check out.
    pub checkout: RefSelector,
    /// Where to push.
    pub push: PushTarget,
    /// `update.path`, from the repository root; the root when `None`.
    pub update_path: Option<String>,
    /// The policies the markers may name.
    pub policies: Policies,
    /// Author and committer.
    pub author: Author,
    /// The commit message.
    pub message: MessageSpec,
    /// The signing key.
    pub signer: Option<Signer>,
}

/// A commit that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedCommit {
    /// Its SHA-1, hex.
    pub commit: String,
    /// The branch it was pushed to.
    pub branch: String,
    /// Its message.
    pub message: String,
}

/// What a successful run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The checkout as Flux's `observedSourceRevision`, e.g. `main@sha1:…`.
    pub checkout_revision: String,
    /// The setters' outcome on the last attempt (every marker and its fate).
    pub update: TreeUpdate,
    /// The pushed commit; `None` when nothing changed.
    pub pushed: Option<PushedCommit>,
    /// When pushing to a separate branch: the commit that branch was at when fetched (SHA-1,
    /// hex), `None` when it did not exist. Nothing is pushed when its tree is the one the run
    /// would write, so then it is the commit holding the run's change.
    pub push_branch_head: Option<String>,
    /// How many fetch-apply-push attempts were made.
    pub attempts: usize,
}

/// Runs `request` (blocking: call it from a blocking thread), stopping every Git operation at
/// `request.timeout` from now.
///
/// Errors: see [`RunError`] (a fetch or push past the deadline: [`FetchError::TimedOut`],
/// [`PushError::Failed`] with the timeout); on any error nothing was pushed.
pub fn run_automation(request: &RunRequest) -> Result<RunOutcome, RunError> {
    let deadline = Deadline::after(request.timeout);
    let keys = tempfile::Builder::new()
        .prefix("sluice-git-keys-")
        .tempdir()
        .map_err(|source| RunError::Cache {
            path: std::env::temp_dir(),
            source,
        })?;
    let config = request.auth.git_config(keys.path())?;
    prepare_work_dir(&request.work_dir, &request.url)?;
    let repo = open_repository(
        &request.work_dir,
        &bounded_config(&config, &request.url, deadline),
    )?;
    let checkout = match &request.checkout {
        RefSelector::Semver(_) => {
            request
                .checkout
                .pinned(&list_tags(&repo, &request.url, deadline)?)?
        }
        other => other.clone(),
    };
    let git = Git {
        repo: &repo,
        config: &config,
        deadline,
    };
    for attempt in 1..=MAX_ATTEMPTS {
        if let Some(outcome) = attempt_once(request, &git, &checkout, attempt)? {
            return Ok(outcome);
        }
        tracing::info!(url = %request.url, attempt, "the remote moved during the push; fetching again");
    }
    Err(RunError::RemoteKeptMoving(MAX_ATTEMPTS))
}

/// Empties `dir` when it caches another URL than `url`, then records `url` there.
fn prepare_work_dir(dir: &Path, url: &str) -> Result<(), RunError> {
    let cache = |source| RunError::Cache {
        path: dir.to_owned(),
        source,
    };
    let record = dir.join(URL_RECORD);
    let cached = std::fs::read_to_string(&record).ok();
    if cached.as_deref() != Some(url) {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(cache)?;
        }
        std::fs::create_dir_all(dir).map_err(cache)?;
    }
    Ok(())
}

fn record_url(repo: &gix::Repository, url: &str) -> Result<(), RunError> {
    let record = repo.git_dir().join(URL_RECORD);
    std::fs::write(&record, url).map_err(|source| RunError::Cache {
        path: record,
        source,
    })
}

/// The cache repository of a run, the credentials' Git configuration (for the push) and the
/// run's deadline.
struct Git<'a> {
    repo: &'a gix::Repository,
    config: &'a [String],
    deadline: Deadline,
}

/// One fetch-apply-push; `None` when the remote moved during the push.
fn attempt_once(
    request: &RunRequest,
    git: &Git<'_>,
    checkout: &RefSelector,
    attempt: usize,
) -> Result<Option<RunOutcome>, RunError> {
    let repo = git.repo;
    let source = checkout
        .remote_source()
        .ok_or_else(|| RunError::CheckoutNotFound(format!("{checkout:?}")))?;
    let mut wants = vec![Want {
        source: source.clone(),
        target: CHECKOUT_REF.into(),
    }];
    if request.push.separate_branch {
        wants.push(Want {
            source: format!("refs/heads/{}", request.push.branch),
            target: PUSH_BRANCH_REF.into(),
        });
    }
    let fetched = fetch_wants(repo, &request.url, &wants, git.deadline)?;
    record_url(repo, &request.url)?;
    let base = fetched[0].ok_or(RunError::CheckoutNotFound(source))?;
    let update_path = relative_update_path(request.update_path.as_deref())?;
    let update = update_git_tree(repo, tree_of(repo, base)?, &update_path, &request.policies)?;
    if !update.problems.is_empty() {
        return Err(RunError::UnreadableFiles(
            update
                .problems
                .iter()
                .map(|(path, problem)| (path.display().to_string(), problem.to_string()))
                .collect(),
        ));
    }
    let remote_push_branch = fetched.get(1).copied().flatten();
    let mut outcome = RunOutcome {
        checkout_revision: checkout.revision(&base.to_hex().to_string()),
        pushed: None,
        push_branch_head: remote_push_branch.map(|commit| commit.to_hex().to_string()),
        update,
        attempts: attempt,
    };
    let changes = UpdateResult::from_tree(&outcome.update);
    if changes.is_empty() {
        return Ok(Some(outcome));
    }
    let message = render_commit_message(
        request.message.template.as_deref(),
        &TemplateData {
            automation_namespace: &request.message.automation_namespace,
            automation_name: &request.message.automation_name,
            changed: &changes,
            values: &request.message.values,
        },
    )?;
    let files = changed_files(&outcome.update, request.update_path.as_deref());
    let Some(commit) = write_commit(
        repo,
        CommitRequest {
            parent: base,
            files: &files,
            author: &request.author,
            message: &message,
            signer: request.signer.as_ref(),
        },
    )?
    else {
        return Ok(Some(outcome));
    };
    if let Some(existing) = remote_push_branch
        && tree_of(repo, existing)? == tree_of(repo, commit)?
    {
        return Ok(Some(outcome));
    }
    match push_commit(request, git, commit)? {
        PushOutcome::RemoteMoved => Ok(None),
        PushOutcome::Pushed => {
            outcome.pushed = Some(PushedCommit {
                commit: commit.to_hex().to_string(),
                branch: request.push.branch.clone(),
                message,
            });
            Ok(Some(outcome))
        }
    }
}

fn push_commit(
    request: &RunRequest,
    git: &Git<'_>,
    commit: ObjectId,
) -> Result<PushOutcome, RunError> {
    let repo = git.repo;
    let local_branch = format!("refs/heads/{}", request.push.branch);
    repo.reference(
        local_branch.as_str(),
        commit,
        gix::refs::transaction::PreviousValue::Any,
        "sluice: automation commit",
    )
    .map_err(|error| CommitError::Object(format!("{error:#}")))?;
    let mut updates = vec![RefUpdate {
        source: local_branch.clone(),
        destination: local_branch,
        force: request.push.separate_branch,
    }];
    if let Some(refspec) = &request.push.refspec {
        let (source, destination) = refspec.split_once(':').unwrap_or((refspec, refspec));
        updates.push(RefUpdate {
            source: source.trim_start_matches('+').to_owned(),
            destination: destination.to_owned(),
            force: refspec.starts_with('+'),
        });
    }
    Ok(push(PushRequest {
        git_dir: repo.git_dir(),
        url: &request.url,
        config: git.config,
        updates: &updates,
        options: &request.push.options,
        deadline: git.deadline,
    })?)
}

fn tree_of(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, RunError> {
    repo.find_commit(commit)
        .and_then(|commit| commit.tree_id())
        .map(|id| id.detach())
        .map_err(|error| {
            RunError::Fetch(FetchError::NotACommit {
                reference: commit.to_string(),
                message: format!("{error:#}"),
            })
        })
}

/// `update.path` as a relative path that cannot leave the repository (Flux joins it securely).
fn relative_update_path(path: Option<&str>) -> Result<PathBuf, RunError> {
    let path = Path::new(path.unwrap_or(""));
    let inside = path
        .components()
        .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(path.to_owned())
    } else {
        Err(RunError::InvalidUpdatePath(path.display().to_string()))
    }
}

/// The changed files of `update`, by path from the repository root.
fn changed_files(update: &TreeUpdate, update_path: Option<&str>) -> Vec<FileContent> {
    let prefix = Path::new(update_path.unwrap_or(""));
    update
        .changed_files()
        .map(|(relative, rewrite)| FileContent {
            path: normalized(&prefix.join(relative)),
            bytes: rewrite.text.clone().into_bytes(),
        })
        .collect()
}

fn normalized(path: &Path) -> String {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_paths_stay_inside_the_repository() {
        assert_eq!(
            relative_update_path(Some("./clusters/prod")).unwrap(),
            PathBuf::from("./clusters/prod")
        );
        assert_eq!(relative_update_path(None).unwrap(), PathBuf::new());
        for escaping in ["../other", "/etc", "a/../../b"] {
            assert!(
                matches!(
                    relative_update_path(Some(escaping)),
                    Err(RunError::InvalidUpdatePath(_))
                ),
                "{escaping}"
            );
        }
    }

    #[test]
    fn changed_files_are_named_from_the_repository_root() {
        assert_eq!(
            normalized(&Path::new("./clusters").join("app/deploy.yaml")),
            "clusters/app/deploy.yaml"
        );
    }
}
