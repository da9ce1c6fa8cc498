//! Sluice's GitOps controllers, as Flux's source-, kustomize- and notification-controllers, run
//! by `sluice controller core`:
//!
//! - [`api`]: the kinds of the `source`, `kustomize` and `notification` groups, one file per kind.
//! - [`source`]: GitRepository: fetch, artifacts and their HTTP storage.
//! - [`kustomization`]: Kustomization: build (through `sluice_kustomize`), apply, health, prune.
//! - [`inventory`]: what a Kustomization applied, as Flux's `status.inventory`.
//! - [`notification`]: Provider and Alert, events, commit statuses.
//! - [`forge`]: the Git hosts' REST APIs (GitHub, GitLab, Gitea): statuses and pull requests.
//! - [`controller`]: the process entry, [`controller::run`].

pub mod api;
pub mod controller;
pub mod controller_flags;
pub mod forge;
mod inventory;
pub mod kustomization;
pub mod notification;
pub mod source;
