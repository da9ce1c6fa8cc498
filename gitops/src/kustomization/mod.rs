//! The Kustomization reconciler, as Flux's kustomize-controller: fetch the source artifact,
//! build it with Sluice's kustomize engine plus the Kustomization's own fields and postBuild
//! substitution, and only when the whole build succeeded apply it by server-side apply (field
//! manager `sluice`) in stages, prune what left the inventory, and assess health by kstatus
//! rules; with soft multi-tenancy (impersonation, no cross-namespace references).
//!
//! Pure decisions: [`overlay`] (Flux fields into `kustomization.yaml`), [`stages`], [`health`]
//! (kstatus), [`depends_on`], [`tenancy`] (reference checks). Cluster work: [`artifact`],
//! [`build`], [`apply`], [`prune`], [`deletion`] (garbage collection through the finalizer),
//! [`health_wait`], [`clients`], [`source_watch`], [`reconciler`].

pub mod apply;
pub mod artifact;
pub mod build;
pub mod clients;
pub mod deletion;
pub mod depends_on;
pub mod error;
pub mod health;
pub mod health_wait;
pub mod overlay;
pub mod prune;
pub mod reconciler;
pub mod source_watch;
pub mod stages;
pub mod tenancy;

/// Label naming the Kustomization that applied an object (Flux's
/// `kustomize.toolkit.fluxcd.io/name`).
pub const OWNER_NAME_LABEL: &str = "kustomize.sluice.dev/name";
/// Label naming the namespace of the Kustomization that applied an object.
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.sluice.dev/namespace";
/// Annotation (or label) that keeps an object from being pruned when set to `disabled`.
pub const PRUNE_ANNOTATION: &str = "kustomize.sluice.dev/prune";
/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "sluice";
