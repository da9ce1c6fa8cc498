//! The Git side of an automation run: a work cache of shallow clones fetched incrementally with
//! gix, commits written with gix (optionally signed with GPG or SSH), pushes with the `git` CLI
//! (gix cannot push yet), and the run that ties them together with fetch-and-retry when the
//! remote moved.

pub mod auth;
pub mod automation_run;
pub mod checkout_ref;
pub mod command;
pub mod commit;
pub mod fetch;
pub mod push;
pub mod push_target;
pub mod signing;
pub mod ssh_key;
pub mod worktree;
