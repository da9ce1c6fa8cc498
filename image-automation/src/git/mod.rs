//! The Git side of an automation run: a work cache of bare shallow clones fetched incrementally
//! with gix, the setters applied to trees read from the object database, commits written with
//! gix (optionally signed with GPG or SSH), pushes with the `git` CLI (gix cannot push yet), and
//! the run that ties them together with fetch-and-retry when the remote moved.

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
pub mod tree_update;
