//! The reconcilers of ImageRepository and ImagePolicy, thin over the pure decisions: they read
//! the spec, Secrets and stored tags, call [`crate::scan`] and [`crate::policy`], and return
//! the status for the runtime to write.

pub mod connection;
pub mod image_policy;
pub mod image_repository;
pub mod request;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::registry::RegistryClient;
use crate::store::TagStore;
use crate::webhook::Hooks;

/// What both reconcilers share in one process.
pub struct Shared {
    /// The tags of every ImageRepository's last scan.
    pub store: TagStore,
    /// The registry client, with the per-host request budget.
    pub registry: RegistryClient,
    /// Bounds the scans in flight across all ImageRepositories.
    pub scans: Arc<Semaphore>,
    /// The registry webhook paths, registered by the ImageRepository reconciler.
    pub hooks: Arc<Hooks>,
}
