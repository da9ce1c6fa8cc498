//! Promotion: a Pipeline moves an image from stage to stage (dev -> qa -> prod) through pull
//! requests gated on health, canaries and commit statuses. [`plan`] decides, as a pure function;
//! [`facts`] observes, [`reconciler`] acts, [`stage_git`] is the Git side it is given.

pub mod error;
pub mod evidence;
pub mod facts;
pub mod image_cache;
pub mod observe;
pub mod plan;
pub mod reconciler;
pub mod stage_git;
