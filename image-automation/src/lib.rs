//! Sluice's image-automation: rewrites the image fields marked with Flux's setter comments in a
//! tenant's Git repository, commits and pushes (ImageUpdateAutomation), as Flux's
//! image-automation-controller does; [`promotion`] lends the same setters and Git code to core's
//! Pipeline.

pub mod api;
pub mod commit_message;
pub mod controller;
pub mod git;
pub mod promotion;
pub mod reconcile;
pub mod setters;
