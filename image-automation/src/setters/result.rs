//! The changes of an update as Flux's `update.Result` exposes them to commit message templates:
//! per file, per object, the list of `(OldValue, NewValue, Setter)` changes.

use std::collections::BTreeMap;

use super::object::ObjectIdentifier;
use super::rewrite::MarkerOutcome;
use super::tree::TreeUpdate;

/// One changed value, as Flux's `update.Change`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// The value before.
    pub old_value: String,
    /// The value written.
    pub new_value: String,
    /// The marker's setter, e.g. `flux-system:app:tag`.
    pub setter: String,
}

/// Changes grouped by the object holding them, as Flux's `ObjectChanges`.
pub type ObjectChanges = BTreeMap<ObjectIdentifier, Vec<Change>>;

/// Every change of an update, as Flux's `update.Result`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateResult {
    /// File path (relative to the update path, `/`-separated) → its changes; only changed files.
    pub file_changes: BTreeMap<String, ObjectChanges>,
}

impl UpdateResult {
    /// Collects the changes of a directory update, in file then source order. Unlike Flux, a
    /// change in a document that is not a mapping (a top-level sequence) is kept, under an empty
    /// object identifier.
    pub fn from_tree(update: &TreeUpdate) -> Self {
        let file_changes = update
            .changed_files()
            .map(|(path, rewrite)| {
                let mut objects = ObjectChanges::new();
                for marker in &rewrite.markers {
                    if let MarkerOutcome::Changed { old, new } = &marker.outcome {
                        objects
                            .entry(marker.object.clone())
                            .or_default()
                            .push(Change {
                                old_value: old.clone(),
                                new_value: new.clone(),
                                setter: marker.setter.clone(),
                            });
                    }
                }
                (path.to_string_lossy().replace('\\', "/"), objects)
            })
            .collect();
        Self { file_changes }
    }

    /// Whether nothing changed (Flux then makes no commit).
    pub fn is_empty(&self) -> bool {
        self.file_changes.is_empty()
    }

    /// Every change once, identical changes across files collapsed, as Flux's `Result.Changes()`.
    pub fn changes(&self) -> Vec<Change> {
        let mut seen = std::collections::BTreeSet::new();
        self.all_changes()
            .filter(|change| seen.insert((*change).clone()))
            .cloned()
            .collect()
    }

    /// Changes per object, merged across files (one object in two files keeps both files'
    /// changes), as Flux's `Result.Objects()` since 1.2.0.
    pub fn objects(&self) -> ObjectChanges {
        let mut merged = ObjectChanges::new();
        for (object, changes) in self.file_changes.values().flatten() {
            merged
                .entry(object.clone())
                .or_default()
                .extend(changes.iter().cloned());
        }
        merged
    }

    fn all_changes(&self) -> impl Iterator<Item = &Change> {
        self.file_changes
            .values()
            .flat_map(|objects| objects.values().flatten())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::setters::policy::Policies;
    use crate::setters::rewrite::apply_setters;

    fn update(files: &[(&str, &str)]) -> TreeUpdate {
        let policies = Policies {
            automation_namespace: None,
            latest: [("ns:app".parse().unwrap(), Some("app:2".parse().unwrap()))].into(),
            images_entries: Default::default(),
        };
        let files = files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), apply_setters(text, &policies).unwrap()))
            .collect();
        TreeUpdate {
            files,
            problems: BTreeMap::new(),
        }
    }

    const DEPLOYMENT: &str = "kind: Deployment\nmetadata:\n  name: web\nspec:\n  image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n";

    #[test]
    fn groups_changes_by_file_and_object_and_skips_unchanged_files() {
        let result = UpdateResult::from_tree(&update(&[
            ("a/deploy.yaml", DEPLOYMENT),
            ("same.yaml", "x: app:2 # {\"$imagepolicy\": \"ns:app\"}\n"),
        ]));
        let files: Vec<&str> = result.file_changes.keys().map(String::as_str).collect();
        assert_eq!(files, ["a/deploy.yaml"]);
        let objects = &result.file_changes["a/deploy.yaml"];
        let (object, changes) = objects.iter().next().unwrap();
        assert_eq!(
            (object.kind.as_str(), object.name.as_str()),
            ("Deployment", "web")
        );
        assert_eq!(
            changes,
            &[Change {
                old_value: "app:1".into(),
                new_value: "app:2".into(),
                setter: "ns:app".into()
            }]
        );
    }

    #[test]
    fn changes_collapse_duplicates_and_objects_merge_across_files() {
        let result = UpdateResult::from_tree(&update(&[
            ("one.yaml", DEPLOYMENT),
            ("two.yaml", DEPLOYMENT),
        ]));
        assert_eq!(result.changes().len(), 1);
        let objects = result.objects();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects.values().next().unwrap().len(), 2);
        assert!(!result.is_empty());
        assert!(UpdateResult::from_tree(&TreeUpdate::default()).is_empty());
    }
}
