//! Promotion: a Pipeline (`promotion.sluice.dev/v1`) moves an image from stage to stage
//! (dev -> qa -> prod) through pull requests gated on health, canaries and commit statuses.
//!
//! It stands above what it uses: the GitOps controllers (`sluice_gitops`: sources,
//! Kustomizations, forges, notifications), image automation's setters and Git code
//! (`sluice_image_automation`) and the canary's API (`sluice_canary`).
//!
//! - [`api`]: the Pipeline kind.
//! - [`plan`]: what to do next, as a pure function of the stages' facts.
//! - [`facts`]: pure readings of observed objects (stage health, statuses, canary result).
//! - [`observe`]: looks at those objects through the API server and the forge (I/O).
//! - [`reconciler`]: thin: observes, plans, acts.
//!
//! One vocabulary across Sluice's crates: `observe` does I/O, `facts` are plain data.
//! - [`stage_git`]: the Git side (reading a stage's image, pushing a promotion commit) with
//!   image automation's setters and Git code.
//! - [`controller`]: `sluice controller core`'s entry, [`controller::run`].

pub mod api;
pub mod controller;
mod error;
mod evidence;
mod facts;
mod image_cache;
mod observe;
mod plan;
mod reconciler;
mod stage_git;
