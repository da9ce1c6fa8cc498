//! Writes the automation's commit with gix: the parent's tree with the changed files' blobs
//! replaced (modes kept), authored and committed by the automation's author, optionally signed
//! (`gpgsig` header over the unsigned commit object, as `git commit -S` does).

use gix::ObjectId;
use gix::objs::WriteTo;
use gix::objs::tree::EntryKind;

use crate::signing::{Signer, SigningError};

/// Why the commit could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Reading the parent or writing an object failed.
    #[error("writing the commit: {0}")]
    Object(String),
    /// The commit could not be signed.
    #[error("signing the commit: {0}")]
    Signing(#[from] SigningError),
}

/// The author (and committer) of the commit, as Flux's `CommitUser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Name; may be empty.
    pub name: String,
    /// Email.
    pub email: String,
}

/// A file's new content, by `/`-separated path from the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// Path from the repository root.
    pub path: String,
    /// The new bytes.
    pub bytes: Vec<u8>,
}

/// What to commit.
#[derive(Debug, Clone, Copy)]
pub struct CommitRequest<'a> {
    /// The parent commit.
    pub parent: ObjectId,
    /// The files to replace (or add, as plain blobs).
    pub files: &'a [FileContent],
    /// Author and committer; the time is now.
    pub author: &'a Author,
    /// The commit message.
    pub message: &'a str,
    /// The signing key, if any.
    pub signer: Option<&'a Signer>,
}

/// Writes the commit of `request` into `repo`'s object database (no reference is moved) and
/// returns its id, or `None` when the files leave the parent's tree unchanged.
///
/// Errors: [`CommitError::Object`] when the parent cannot be read or an object written,
/// [`CommitError::Signing`] when signing fails.
pub fn write_commit(
    repo: &gix::Repository,
    request: CommitRequest<'_>,
) -> Result<Option<ObjectId>, CommitError> {
    let object = |error: gix::Error| CommitError::Object(format!("{error:#}"));
    let parent_tree = repo
        .find_commit(request.parent)
        .and_then(|commit| commit.tree())
        .map_err(object)?;
    let mut editor = repo.edit_tree(parent_tree.id).map_err(object)?;
    for file in request.files {
        let kind = parent_tree
            .lookup_entry_by_path(&file.path)
            .map_err(object)?
            .map_or(EntryKind::Blob, |entry| entry.mode().kind());
        let blob = repo.write_blob(&file.bytes).map_err(object)?;
        editor.upsert(&file.path, kind, blob).map_err(object)?;
    }
    let tree = editor.write().map_err(object)?.detach();
    if tree == parent_tree.id {
        return Ok(None);
    }
    let signature = gix::actor::Signature {
        name: request.author.name.as_str().into(),
        email: request.author.email.as_str().into(),
        time: gix::date::Time::now_local_or_utc(),
    };
    let mut commit = gix::objs::Commit {
        tree,
        parents: [request.parent].into_iter().collect(),
        author: signature.clone(),
        committer: signature,
        encoding: None,
        message: request.message.into(),
        extra_headers: Vec::new(),
    };
    if let Some(signer) = request.signer {
        let mut payload = Vec::new();
        commit
            .write_to(&mut payload)
            .map_err(|error| CommitError::Object(error.to_string()))?;
        let armored = signer.sign(&payload)?;
        commit.extra_headers.push(("gpgsig".into(), armored.into()));
    }
    Ok(Some(repo.write_object(&commit).map_err(object)?.detach()))
}
