//! Resources as the build carries them: the object, plus the history kustomize keeps in its
//! build annotations (previous ids, name prefixes and suffixes, generator options).

use serde_json::{Map, Value};

/// Group, version and kind of a resource (`apps`, `v1`, `Deployment`; core group is "").
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` ("apps/v1" or "v1") and a kind into a [`Gvk`].
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// Whether this gvk is selected by `selector`, whose empty fields match anything (kustomize's
    /// `Gvk.IsSelected`).
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Whether kustomize treats this kind as cluster-scoped (its built-in OpenAPI list: only
    /// Kubernetes' own groups; a custom `Namespace` kind is namespaced).
    pub fn is_cluster_scoped(&self) -> bool {
        let kubernetes_group =
            self.group.is_empty() || self.group.ends_with("k8s.io") || self.group == "policy";
        kubernetes_group && CLUSTER_SCOPED_KINDS.contains(&self.kind.as_str())
    }
}

/// Built-in kinds that are not namespaced, as in kustomize's bundled OpenAPI schema.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "NodeProxyOptions",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// What identifies a resource in a build: gvk, name and namespace ("" when unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The namespace kustomize compares with: "default" when unset on a namespaced kind.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Whether two ids name the same object (kustomize's `ResId.Equals`).
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }

    /// The id as kustomize prints it in errors: `Kind.version.group/name.namespace`.
    pub fn describe(&self) -> String {
        let namespace = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        let group = if self.gvk.group.is_empty() {
            "[noGrp]"
        } else {
            &self.gvk.group
        };
        format!(
            "{}.{}.{}/{}.{}",
            self.gvk.kind, self.gvk.version, group, self.name, namespace
        )
    }
}

/// How a generated ConfigMap or Secret meets one of the same name from a base.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// One resource of a build: the object and the history name references need.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The object as JSON (always an object with `apiVersion`, `kind`, `metadata`).
    pub object: Value,
    /// Ids the resource had before name, namespace or kind changes, oldest first.
    pub previous_ids: Vec<ResId>,
    /// Name prefixes applied, innermost kustomization first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost kustomization first.
    pub suffixes: Vec<String>,
    /// Whether the name gets kustomize's content-hash suffix at the end of the build.
    pub needs_hash: bool,
    /// The generator behavior, for generated ConfigMaps and Secrets.
    pub behavior: Option<Behavior>,
    /// The `vars` that read a field of this resource.
    pub var_names: Vec<String>,
}

impl Resource {
    /// Wraps an object freshly read from a file or generated.
    pub fn new(object: Value) -> Self {
        Self {
            object,
            previous_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: None,
            var_names: Vec::new(),
        }
    }

    /// The resource's `apiVersion`, "" when unset.
    pub fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The resource's kind, "" when unset.
    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The resource's gvk.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    /// `metadata.name`, "" when unset.
    pub fn name(&self) -> &str {
        self.metadata_str("name")
    }

    /// `metadata.namespace`, "" when unset.
    pub fn namespace(&self) -> &str {
        self.metadata_str("namespace")
    }

    fn metadata_str(&self, field: &str) -> &str {
        self.object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The id the resource has now.
    pub fn current_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// The id the resource was first read with.
    pub fn original_id(&self) -> ResId {
        self.previous_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.current_id())
    }

    /// Whether `id` is the current or any earlier id of this resource.
    pub fn matches_any_id(&self, id: &ResId) -> bool {
        self.current_id().same_as(id)
            || self
                .previous_ids
                .iter()
                .any(|previous| previous.same_as(id))
    }

    /// Records the current id as a previous one, before a change of name, namespace or kind.
    pub fn store_previous_id(&mut self) {
        let id = self.current_id();
        self.previous_ids.push(id);
    }

    /// Sets `metadata.<field>` to `value`, creating `metadata` when missing.
    pub fn set_metadata_str(&mut self, field: &str, value: &str) {
        metadata_mut(&mut self.object).insert(field.to_string(), Value::String(value.to_string()));
    }

    /// The string map at `metadata.<field>` (labels or annotations), empty when unset.
    pub fn metadata_map(&self, field: &str) -> Map<String, Value> {
        self.object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// The `metadata` object of `object`, created when missing or not an object.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    let map = ensure_object(object);
    ensure_object(map.entry("metadata").or_insert(Value::Null))
}

/// `value` as a JSON object, replacing it with an empty object when it is anything else.
pub fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object above"),
    }
}
