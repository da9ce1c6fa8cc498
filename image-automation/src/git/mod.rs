//! The image-automation side of Git, on top of the shared Git layer `sluice_git` (credentials,
//! ref selection, gix fetches and commits, `git` CLI pushes): where a run pushes
//! ([`push_target`]), the setters applied to trees read from the object database
//! ([`tree_update`]), and the run that ties them together with fetch-and-retry when the remote
//! moved ([`automation_run`]).

pub mod automation_run;
pub mod push_target;
pub mod tree_update;
