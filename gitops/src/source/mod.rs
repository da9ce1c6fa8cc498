//! The GitRepository source: fetch a ref with gix (shallow, skipped when the remote head has
//! not moved), pack the tree into a reproducible tarball, store it, serve it over HTTP and
//! garbage-collect old ones, as Flux's source-controller does.
//!
//! - [`reference`]: which ref to fetch and Flux's revision strings (pure).
//! - [`credentials`]: a Secret's keys read into Git credentials (pure).
//! - [`git`]: the gix fetch.
//! - [`ignore_rules`]: `.sourceignore`, `spec.ignore` and the default exclusions (pure).
//! - [`archive`]: the reproducible `tar.gz` (pure).
//! - [`storage`]: artifact files, garbage collection and the HTTP route serving them.
//! - [`reconciler`]: the GitRepository reconciler.

pub mod archive;
pub mod credentials;
pub mod git;
pub mod ignore_rules;
pub mod reconciler;
pub mod reference;
pub mod storage;
