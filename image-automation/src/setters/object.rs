//! The Kubernetes object a marked scalar belongs to, as Flux's `ObjectIdentifier`
//! (kyaml `ResourceIdentifier`): read from the top-level fields of the YAML document.

use std::fmt;

use saphyr::{MarkedYaml, YamlData};

/// The text of a scalar node loaded without early parsing (`YamlData::Representation`), or of a
/// resolved string; `None` for collections and other values.
pub fn scalar_text<'a>(node: &'a MarkedYaml<'a>) -> Option<&'a str> {
    match &node.data {
        YamlData::Representation(text, _, _) => Some(text),
        data => data.as_str(),
    }
}

/// `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of a document; each empty when
/// the document lacks it (a kustomization has no name, a Helm values file has none of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectIdentifier {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

impl ObjectIdentifier {
    /// Reads the identifier of a loaded document; all fields empty when its root is not a mapping
    /// or a field is absent or not a string.
    pub fn of_document(document: &MarkedYaml<'_>) -> Self {
        let metadata = field(document, "metadata");
        let text = |node: Option<&MarkedYaml<'_>>| {
            node.and_then(scalar_text).unwrap_or_default().to_owned()
        };
        Self {
            api_version: text(field(document, "apiVersion")),
            kind: text(field(document, "kind")),
            name: text(metadata.and_then(|metadata| field(metadata, "name"))),
            namespace: text(metadata.and_then(|metadata| field(metadata, "namespace"))),
        }
    }
}

impl fmt::Display for ObjectIdentifier {
    /// Writes the non-empty parts of `Kind/namespace/name`, e.g. `CronJob/bar/foo` or
    /// `Kustomization` (the key of `.Changed.Objects` in commit message templates).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [&self.kind, &self.namespace, &self.name]
            .into_iter()
            .map(String::as_str)
            .filter(|part| !part.is_empty())
            .collect();
        f.write_str(&parts.join("/"))
    }
}

/// The value of `key` in `node` when `node` is a mapping holding it.
pub fn field<'a, 'input>(
    node: &'a MarkedYaml<'input>,
    key: &str,
) -> Option<&'a MarkedYaml<'input>> {
    match &node.data {
        YamlData::Mapping(mapping) => mapping
            .iter()
            .find(|(candidate, _)| scalar_text(candidate) == Some(key))
            .map(|(_, value)| value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use saphyr::LoadableYamlNode;

    use super::*;

    fn identify(text: &str) -> ObjectIdentifier {
        ObjectIdentifier::of_document(&MarkedYaml::load_from_str(text).unwrap()[0])
    }

    #[test]
    fn reads_the_kubernetes_identity_of_a_document() {
        let id = identify(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: foo\n  namespace: bar\n",
        );
        assert_eq!(
            id,
            ObjectIdentifier {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: "foo".into(),
                namespace: "bar".into()
            }
        );
        assert_eq!(id.to_string(), "CronJob/bar/foo");
    }

    #[test]
    fn documents_without_identity_give_empty_fields() {
        let kustomization =
            identify("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
        assert_eq!(kustomization.to_string(), "Kustomization");
        assert_eq!(identify("- a\n- b\n"), ObjectIdentifier::default());
        assert_eq!(identify("image:\n  tag: 1\n"), ObjectIdentifier::default());
    }
}
