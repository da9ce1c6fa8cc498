//! The GitRepository source: fetch a ref (skipped when the remote head has not moved), pack the
//! tree into a reproducible tarball, store it, serve it over HTTP and garbage-collect old ones,
//! as Flux's source-controller does. The Git side (credentials, ref selection, the gix fetch) is
//! `sluice_git`'s, shared with the image automation.
//!
//! - [`reference`]: `spec.ref` as the Git layer's ref selector (pure).
//! - [`ignore_rules`]: `.sourceignore`, `spec.ignore` and the default exclusions (pure).
//! - [`policy`]: which URLs, how long, how much (pure).
//! - [`archive`]: the reproducible `tar.gz` (pure).
//! - [`storage`]: artifact files, garbage collection and the HTTP route serving them.
//! - [`reconciler`]: the GitRepository reconciler.

pub mod archive;
pub mod ignore_rules;
pub mod policy;
pub mod reconciler;
pub mod reference;
pub mod storage;
