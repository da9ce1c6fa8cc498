//! The policies a setter marker can point at: their `NS:NAME` key and latest image, as Flux's
//! ImagePolicy `status.latestRef` (name, tag, optional digest).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Why a policy key or an image reference could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The key is not `NAMESPACE:NAME` with both parts non-empty.
    #[error("policy '{0}' is not NAMESPACE:NAME")]
    InvalidPolicyKey(String),
    /// The reference is not `NAME:TAG[@DIGEST]` with every part non-empty.
    #[error("image '{0}' is not NAME:TAG or NAME:TAG@DIGEST")]
    InvalidImageRef(String),
}

/// An ImagePolicy's identity as markers write it: `namespace:name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    /// Namespace of the ImagePolicy.
    pub namespace: String,
    /// Name of the ImagePolicy.
    pub name: String,
}

impl FromStr for PolicyKey {
    type Err = PolicyError;

    /// Reads `NAMESPACE:NAME`; errors with `InvalidPolicyKey` on any other shape.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split(':').collect::<Vec<_>>().as_slice() {
            [namespace, name] if !namespace.is_empty() && !name.is_empty() => Ok(Self {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            }),
            _ => Err(PolicyError::InvalidPolicyKey(text.to_owned())),
        }
    }
}

impl fmt::Display for PolicyKey {
    /// Writes `namespace:name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// A policy's latest image, as Flux's `ImageRef`: the name is the ImageRepository's
/// `spec.image` verbatim, the digest is present only with digest reflection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestImage {
    /// Image name, e.g. `registry.localhost:5000/sample-web`.
    pub name: String,
    /// Tag, e.g. `0.1.0`.
    pub tag: String,
    /// Digest, e.g. `sha256:6745…`.
    pub digest: Option<String>,
}

impl FromStr for LatestImage {
    type Err = PolicyError;

    /// Reads `NAME:TAG[@DIGEST]`; the tag starts after the last `:` that follows the last `/`,
    /// so a registry port stays in the name (Flux's fix for IAC#858). Errors with
    /// `InvalidImageRef` when the name, the tag or a given digest is empty.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || PolicyError::InvalidImageRef(text.to_owned());
        let (reference, digest) = match text.split_once('@') {
            Some((reference, digest)) if !digest.is_empty() => (reference, Some(digest.to_owned())),
            Some(_) => return Err(invalid()),
            None => (text, None),
        };
        let path_start = reference.rfind('/').map_or(0, |slash| slash + 1);
        let colon = reference[path_start..].rfind(':').ok_or_else(invalid)? + path_start;
        let (name, tag) = (&reference[..colon], &reference[colon + 1..]);
        if name.is_empty() || tag.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
            digest,
        })
    }
}

impl fmt::Display for LatestImage {
    /// Writes `name:tag` or `name:tag@digest`, as Flux's `ImageRef.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        match &self.digest {
            Some(digest) => write!(f, "@{digest}"),
            None => Ok(()),
        }
    }
}

/// The policies an update may apply: each selected policy of the automation's namespace with its
/// latest image (`None` while the policy has none yet, i.e. is not ready).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    /// Namespace of the automation, when known: markers naming another namespace are reported
    /// as such (Flux only sees policies of the automation's namespace).
    pub automation_namespace: Option<String>,
    /// Policy → latest image.
    pub latest: BTreeMap<PolicyKey, Option<LatestImage>>,
    /// Kustomize `images:` entries, by entry `name`, whose `newName`, `newTag` and `digest` act
    /// as the `:name`, `:tag` and `:digest` markers of a policy without any marker comment
    /// (Sluice's Pipeline `image.kustomizeImage`; Flux has no such target). Usually empty.
    pub images_entries: BTreeMap<String, PolicyKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text: &str) -> LatestImage {
        text.parse().unwrap()
    }

    #[test]
    fn registry_port_stays_in_the_name() {
        let parsed = image("registry.localhost:5000/sample-web:0.1.0");
        assert_eq!(parsed.name, "registry.localhost:5000/sample-web");
        assert_eq!(parsed.tag, "0.1.0");
        assert_eq!(parsed.digest, None);
    }

    #[test]
    fn digest_follows_the_at_sign_and_round_trips() {
        let text = "localhost:5000/org/app:v1@sha256:6745aaad";
        let parsed = image(text);
        assert_eq!(
            (parsed.name.as_str(), parsed.tag.as_str()),
            ("localhost:5000/org/app", "v1")
        );
        assert_eq!(parsed.digest.as_deref(), Some("sha256:6745aaad"));
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn references_without_tag_or_with_empty_parts_are_refused() {
        for text in ["nginx", "registry:5000/app", ":v1", "app:", "app:v1@"] {
            assert_eq!(
                text.parse::<LatestImage>(),
                Err(PolicyError::InvalidImageRef(text.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn policy_keys_need_exactly_namespace_and_name() {
        let key: PolicyKey = "flux-system:app".parse().unwrap();
        assert_eq!(
            (key.namespace.as_str(), key.name.as_str()),
            ("flux-system", "app")
        );
        assert_eq!(key.to_string(), "flux-system:app");
        for text in ["app", "ns:", ":app", "ns:app:tag"] {
            assert!(text.parse::<PolicyKey>().is_err(), "{text}");
        }
    }
}
