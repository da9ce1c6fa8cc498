//! Attacks on this surface (filled in by the change that hardens it).
