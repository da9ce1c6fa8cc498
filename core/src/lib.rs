//! Sluice's GitOps engine and the controller runtime every Sluice controller stands on.
//!
//! - [`runtime`]: what all controllers share, written once (conditions, events, backoff, suspend,
//!   requested-at annotation, leader election, metrics and probes, logging), in the shape of
//!   kube-rs' `controller-rs`.
//! - [`api`]: the kinds of the `source`, `kustomize`, `notification` and `promotion` groups.
//! - [`kustomize`]: a kustomize engine that matches `kustomize build` v5, without a global lock.

pub mod api;
pub mod controller;
pub mod controller_flags;
pub mod forge;
pub mod inventory;
pub mod kustomization;
pub mod kustomize;
pub mod notification;
pub mod promotion;
pub mod runtime;
pub mod source;
pub mod substitute;
