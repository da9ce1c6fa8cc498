//! Kustomize `images:` entries as setter targets: in a kustomization, the `newName`, `newTag`
//! and `digest` of the entry with a given `name` are treated as if marked `:name`, `:tag` and
//! `:digest` with a policy, so that a Pipeline stage can name its image by the entry
//! (`image.kustomizeImage`) and the setters' byte-preserving splice and read-back verification
//! apply to it unchanged.

use std::collections::BTreeMap;

use saphyr::{MarkedYaml, YamlData};

use super::document::{DocumentError, MarkedScalar, load_documents};
use super::marker::{Marker, SetterField};
use super::object::{ObjectIdentifier, field, scalar_text};
use super::policy::PolicyKey;
use super::scalar_extent::scalar_extent;
use super::source_text::{CharOffsets, line_of};

/// The fields of an `images:` entry and the setter field each stands for.
const ENTRY_FIELDS: [(&str, SetterField); 3] = [
    ("newName", SetterField::Name),
    ("newTag", SetterField::Tag),
    ("digest", SetterField::Digest),
];

/// The scalars of the `images:` entries of `text` named in `entries` (entry name -> policy),
/// as marked scalars of that policy, in source order. Entries or fields that are absent, and
/// block scalars, yield nothing. Errors with `DocumentError::Parse` when `text` is not YAML.
pub fn images_entry_scalars(
    text: &str,
    entries: &BTreeMap<String, PolicyKey>,
) -> Result<Vec<MarkedScalar>, DocumentError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let offsets = CharOffsets::new(text);
    let mut found = Vec::new();
    for document in load_documents(text)? {
        let object = ObjectIdentifier::of_document(&document);
        let Some(YamlData::Sequence(items)) = field(&document, "images").map(|node| &node.data)
        else {
            continue;
        };
        for item in items {
            let Some(policy) = field(item, "name")
                .and_then(scalar_text)
                .and_then(|name| entries.get(name))
            else {
                continue;
            };
            for (key, setter_field) in ENTRY_FIELDS {
                let marker = Marker {
                    policy: policy.clone(),
                    field: setter_field,
                };
                let scalar = field(item, key).and_then(|node| scalar(text, &offsets, node));
                found.extend(scalar.map(|(bytes, style, value)| MarkedScalar {
                    marker: Ok(marker),
                    comment: String::new(),
                    line: line_of(text, bytes.end),
                    bytes,
                    style,
                    value,
                    object: object.clone(),
                }));
            }
        }
    }
    found.sort_by_key(|scalar| scalar.bytes.start);
    Ok(found)
}

/// A non-empty flow scalar's byte range, style and value.
fn scalar(
    text: &str,
    offsets: &CharOffsets,
    node: &MarkedYaml<'_>,
) -> Option<(std::ops::Range<usize>, saphyr::ScalarStyle, String)> {
    let YamlData::Representation(value, style, _) = &node.data else {
        return None;
    };
    let start = offsets.byte(node.span.start.index());
    let end = offsets.byte(node.span.end.index());
    let bytes = scalar_extent(text, start, end, *style).filter(|range| !range.is_empty())?;
    Some((bytes, *style, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> BTreeMap<String, PolicyKey> {
        BTreeMap::from([(
            "podinfo".to_owned(),
            "kustomize.images:podinfo".parse().unwrap(),
        )])
    }

    #[test]
    fn the_named_entry_gives_its_name_tag_and_digest() {
        let text = "resources:\n- ../base\nimages:\n- name: other\n  newTag: \"9\"\n- name: podinfo\n  newName: reg/podinfo\n  newTag: '6.5.0' # a comment\n";
        let found = images_entry_scalars(text, &entries()).unwrap();
        let seen: Vec<(&str, SetterField, &str)> = found
            .iter()
            .map(|s| {
                (
                    &text[s.bytes.clone()],
                    s.marker.as_ref().unwrap().field,
                    s.value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("reg/podinfo", SetterField::Name, "reg/podinfo"),
                ("'6.5.0'", SetterField::Tag, "6.5.0"),
            ]
        );
        assert_eq!(found[1].line, 8);
    }

    #[test]
    fn files_without_the_entry_or_entries_give_nothing() {
        assert!(
            images_entry_scalars("images: []\n", &entries())
                .unwrap()
                .is_empty()
        );
        assert!(
            images_entry_scalars("a: [", &BTreeMap::new())
                .unwrap()
                .is_empty()
        );
        assert!(images_entry_scalars("a: [", &entries()).is_err());
    }
}
