//! Setter markers: the line comment `# {"$imagepolicy": "NS:NAME[:tag|:name|:digest]"}` that
//! names the policy whose latest image a scalar must hold (reference section 2.1).

use std::collections::BTreeMap;
use std::fmt;

use super::policy::{LatestImage, PolicyKey};

/// The JSON key that makes a comment a setter marker, quotes included, as Flux screens files.
pub const MARKER_TOKEN: &str = "\"$imagepolicy\"";

/// Why a comment that mentions `$imagepolicy` is not a marker Flux would apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    /// The comment is not exactly one JSON object of strings (Flux's `json.Unmarshal` into
    /// `map[string]string` fails on trailing text or on a non-string value).
    #[error("comment is not a JSON object of strings: {0}")]
    NotJsonObject(String),
    /// The object has no `$imagepolicy` key (the token is elsewhere in the comment).
    #[error("comment has no \"$imagepolicy\" key")]
    MissingKey,
    /// The setter is not `NS:NAME`, `NS:NAME:tag`, `NS:NAME:name` or `NS:NAME:digest`.
    #[error("setter '{0}' is not NAMESPACE:NAME[:tag|:name|:digest]")]
    InvalidSetter(String),
}

/// Which part of the latest image a marker writes (Flux registers one setter per part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetterField {
    /// The whole reference, `name:tag` or `name:tag@digest`.
    Image,
    /// The image name.
    Name,
    /// The tag.
    Tag,
    /// The digest (empty when the policy reflects none, as Flux's setter).
    Digest,
}

/// A parsed marker: the policy and the part of its latest image to write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    /// The policy named by the marker.
    pub policy: PolicyKey,
    /// The part of the latest image written into the scalar.
    pub field: SetterField,
}

impl Marker {
    /// The value this marker writes for `latest`, as Flux's setters (reference section 2.1 table).
    pub fn value_for(&self, latest: &LatestImage) -> String {
        match self.field {
            SetterField::Image => latest.to_string(),
            SetterField::Name => latest.name.clone(),
            SetterField::Tag => latest.tag.clone(),
            SetterField::Digest => latest.digest.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Marker {
    /// Writes the setter as the marker spells it, e.g. `flux-system:app:tag` (Flux's
    /// `Change.Setter`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match self.field {
            SetterField::Image => "",
            SetterField::Name => ":name",
            SetterField::Tag => ":tag",
            SetterField::Digest => ":digest",
        };
        write!(f, "{}{suffix}", self.policy)
    }
}

/// Reads a line comment (its text from the first `#`, included) as a marker.
///
/// Returns `None` when the comment does not contain the `"$imagepolicy"` token (an ordinary
/// comment), `Some(Ok(marker))` for a marker, and `Some(Err(_))` for a comment that mentions the
/// token but that Flux would silently not apply: the text after the leading `#`s must be exactly
/// one JSON object of strings (surrounding whitespace allowed) holding `$imagepolicy`.
pub fn parse_marker_comment(comment: &str) -> Option<Result<Marker, MarkerError>> {
    comment
        .contains(MARKER_TOKEN)
        .then(|| parse_marker_json(comment.trim_start_matches('#')))
}

fn parse_marker_json(json: &str) -> Result<Marker, MarkerError> {
    let object: BTreeMap<String, String> = serde_json::from_str(json)
        .map_err(|error| MarkerError::NotJsonObject(error.to_string()))?;
    let setter = object.get("$imagepolicy").ok_or(MarkerError::MissingKey)?;
    parse_setter(setter)
}

fn parse_setter(setter: &str) -> Result<Marker, MarkerError> {
    let invalid = || MarkerError::InvalidSetter(setter.to_owned());
    let parts: Vec<&str> = setter.split(':').collect();
    let (key, field) = match parts.as_slice() {
        [namespace, name] => ([*namespace, *name], SetterField::Image),
        [namespace, name, "name"] => ([*namespace, *name], SetterField::Name),
        [namespace, name, "tag"] => ([*namespace, *name], SetterField::Tag),
        [namespace, name, "digest"] => ([*namespace, *name], SetterField::Digest),
        _ => return Err(invalid()),
    };
    let policy = key.join(":").parse().map_err(|_| invalid())?;
    Ok(Marker { policy, field })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(comment: &str) -> Marker {
        parse_marker_comment(comment).unwrap().unwrap()
    }

    fn latest() -> LatestImage {
        "ghcr.io/org/app:1.2.3@sha256:abc".parse().unwrap()
    }

    #[test]
    fn each_suffix_selects_its_part_of_the_latest_image() {
        let cases = [
            ("automation-ns:policy", "ghcr.io/org/app:1.2.3@sha256:abc"),
            ("automation-ns:policy:name", "ghcr.io/org/app"),
            ("automation-ns:policy:tag", "1.2.3"),
            ("automation-ns:policy:digest", "sha256:abc"),
        ];
        for (setter, value) in cases {
            let parsed = marker(&format!(r#"# {{"$imagepolicy": "{setter}"}}"#));
            assert_eq!(parsed.policy.to_string(), "automation-ns:policy");
            assert_eq!(parsed.to_string(), setter);
            assert_eq!(parsed.value_for(&latest()), value);
        }
    }

    #[test]
    fn digest_setter_writes_empty_without_reflection() {
        let undigested = LatestImage {
            digest: None,
            ..latest()
        };
        assert_eq!(
            marker(r#"#{"$imagepolicy":"ns:p:digest"}"#).value_for(&undigested),
            ""
        );
        assert_eq!(
            marker(r#"#{"$imagepolicy":"ns:p"}"#).value_for(&undigested),
            "ghcr.io/org/app:1.2.3"
        );
    }

    #[test]
    fn extra_string_keys_and_repeated_hashes_are_tolerated() {
        let parsed = marker(r#"## { "other": "x", "$imagepolicy" : "ns:p:tag" } "#);
        assert_eq!(parsed.to_string(), "ns:p:tag");
    }

    #[test]
    fn ordinary_comments_are_not_markers() {
        assert_eq!(
            parse_marker_comment("# uses the same image. but should be left alone"),
            None
        );
        assert_eq!(
            parse_marker_comment("# {\"$imagepolicy_x\": \"ns:p\"}"),
            None
        );
    }

    #[test]
    fn comments_flux_would_not_apply_are_reported() {
        let trailing = parse_marker_comment(r#"# {"$imagepolicy": "ns:p"} keep this"#).unwrap();
        assert!(matches!(trailing, Err(MarkerError::NotJsonObject(_))));
        let number = parse_marker_comment(r#"# {"$imagepolicy": "ns:p", "n": 1}"#).unwrap();
        assert!(matches!(number, Err(MarkerError::NotJsonObject(_))));
        for setter in ["p", "ns:p:version", ":p", "ns:p:tag:x"] {
            let comment = format!(r#"# {{"$imagepolicy": "{setter}"}}"#);
            assert_eq!(
                parse_marker_comment(&comment),
                Some(Err(MarkerError::InvalidSetter(setter.to_owned()))),
                "{setter}"
            );
        }
    }
}
