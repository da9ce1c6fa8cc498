//! The adversarial suite: a tenant is an attacker. Each test plays one attack on the real local
//! control plane (real RBAC, the controllers with deploy/'s flags where the attack needs them,
//! the real registry, Git servers and Gitea), asserts that it fails safely (refused with a
//! reason, nothing of another tenant read or shown, nothing corrupted, the controller still
//! serving), and that the legitimate use next to it still works.
//!
//! One module per surface; `docs/security.md` lists every attack and what stops it.

mod endpoints;
mod lockdown;
mod promotion;
mod registry;
mod sources;
