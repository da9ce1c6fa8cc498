//! Promotion: a Pipeline moves an image from stage to stage (dev -> qa -> prod) through pull
//! requests gated on health, canaries and commit statuses. [`plan`] decides; the reconciler
//! (to come) observes and acts.

pub mod plan;
