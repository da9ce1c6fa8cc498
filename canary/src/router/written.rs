//! The weights a router wrote that its watch cache may not show yet: a tick that reads a route
//! object still at the `resourceVersion` it had before the write gets the written weights, so a
//! lagging cache never makes the analysis step twice.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Weights;

/// Written weights by route object (`namespace/name`), with the version the write replaced.
#[derive(Default)]
pub struct Written(Mutex<HashMap<String, (String, Weights)>>);

impl Written {
    /// Records that `weights` were written over the object `key` at `replaced_version`.
    pub fn record(&self, key: String, replaced_version: String, weights: Weights) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key, (replaced_version, weights));
    }

    /// The written weights when the cached object `key` is still at the replaced version.
    pub fn if_stale(&self, key: &str, cached_version: Option<&str>) -> Option<Weights> {
        let written = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        written
            .get(key)
            .filter(|(replaced, _)| Some(replaced.as_str()) == cached_version)
            .map(|(_, weights)| *weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::split;

    #[test]
    fn written_weights_win_only_over_the_replaced_version() {
        let written = Written::default();
        written.record("test/podinfo".into(), "41".into(), split(10));
        assert_eq!(
            written.if_stale("test/podinfo", Some("41")),
            Some(split(10))
        );
        assert_eq!(written.if_stale("test/podinfo", Some("42")), None);
        assert_eq!(written.if_stale("test/other", Some("41")), None);
    }
}
