//! Sluice's image-automation: rewrites the image fields marked with Flux's setter comments in a
//! tenant's Git repository, commits and pushes (ImageUpdateAutomation), as Flux's
//! image-automation-controller does; `sluice_promotion` uses the same setters and Git code for the
//! Pipeline.

pub mod api;
mod commit_message;
pub mod controller;
pub mod git;
pub mod reconcile;
pub mod setters;
