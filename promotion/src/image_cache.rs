//! The stage images a Pipeline last read, per Pipeline, keyed by the source artifact and the
//! stages' image locations: a Pipeline polls every 5 s while it waits, and the images only change
//! with a new artifact or a changed spec, so the artifact is unpacked and read once per revision.

use std::collections::HashMap;
use std::sync::Mutex;

use super::stage_git::ImageLocation;

/// What the images were read from: the artifact's revision and digest, and the locations in
/// stage order.
pub type ImagesKey = (String, Option<String>, Vec<ImageLocation>);

/// One image per stage, `None` where nothing names one.
pub type StageImages = Vec<Option<String>>;

/// The last images read by each Pipeline (`namespace/name` -> the key and its images).
#[derive(Default)]
pub struct StageImageCache(Mutex<HashMap<String, (ImagesKey, StageImages)>>);

impl StageImageCache {
    /// The images `pipeline` read for `key`, when it was the last key it read.
    pub fn read(&self, pipeline: &str, key: &ImagesKey) -> Option<StageImages> {
        let entries = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(pipeline)
            .filter(|(cached, _)| cached == key)
            .map(|(_, images)| images.clone())
    }

    /// Records `images` as read by `pipeline` for `key`, replacing what it read before.
    pub fn remember(&self, pipeline: String, key: ImagesKey, images: StageImages) {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(pipeline, (key, images));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(revision: &str) -> ImagesKey {
        let location = ImageLocation::Markers {
            path: Some("dev".into()),
            policy: "apps:app".into(),
        };
        (revision.into(), None, vec![location])
    }

    #[test]
    fn images_are_served_only_for_the_last_key_of_their_pipeline() {
        let cache = StageImageCache::default();
        let images = vec![Some("app:1".to_owned())];
        assert_eq!(cache.read("apps/p", &key("main@sha1:a")), None);
        cache.remember("apps/p".into(), key("main@sha1:a"), images.clone());
        assert_eq!(
            cache.read("apps/p", &key("main@sha1:a")),
            Some(images.clone())
        );
        assert_eq!(cache.read("apps/p", &key("main@sha1:b")), None);
        assert_eq!(cache.read("apps/q", &key("main@sha1:a")), None);
        cache.remember("apps/p".into(), key("main@sha1:b"), images);
        assert_eq!(cache.read("apps/p", &key("main@sha1:a")), None);
    }
}
