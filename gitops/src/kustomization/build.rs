//! Building a Kustomization from an unpacked artifact: `spec.path` resolved inside the artifact,
//! the Flux fields written into its `kustomization.yaml` ([`overlay`](super::overlay)), Sluice's
//! kustomize engine confined to the artifact root, then per object: apiVersion, kind and name
//! required, postBuild substitution ([`sluice_kustomize::substitute`]), `commonMetadata` and the owner
//! labels stamped. Any failure fails the whole build, so nothing is applied.
//!
//! The artifact is a tenant's: the build stops at the reconcile's deadline (checked by the
//! engine before every file and step, and here before every object), and YAML read here with
//! serde_yaml_ng is first checked against the engine's [`limits`](sluice_kustomize::limits).

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use super::error::Error;
use super::overlay;
use super::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use crate::api::kustomization::KustomizationSpec;
use sluice_kustomize::substitute::{self, Variables};
use sluice_kustomize::{BuildOptions, KUSTOMIZATION_FILES, limits};

/// What the engine's messages for input past its [`limits`] say (`... refused by
/// sluice_kustomize::limits::MAX_DEPTH`), as opposed to YAML that does not parse.
const LIMIT_REFUSAL: &str = "refused by sluice_kustomize::limits::";

/// Who applies the objects: stamped as the owner labels.
pub struct Owner<'a> {
    /// The Kustomization's name.
    pub name: &'a str,
    /// The Kustomization's namespace.
    pub namespace: &'a str,
}

/// Builds the artifact unpacked at `root` for `spec`, substituting `variables` when `spec` has
/// a `postBuild`, and stops once `deadline` (the reconcile's: `spec.timeout` from its start)
/// has passed, so the blocking thread it runs on is freed. Returns the objects in kustomize's
/// output order.
///
/// Errors: [`Error::BuildFailed`] naming the path, the kustomize error (a build past `deadline`
/// ends with "build deadline exceeded"), the object without apiVersion/kind/name, or the
/// substitution error.
pub fn build(
    root: &Path,
    spec: &KustomizationSpec,
    variables: &Variables,
    owner: &Owner<'_>,
    deadline: Instant,
) -> Result<Vec<Value>, Error> {
    let dir = resolve_path(root, spec.path.as_deref().unwrap_or("./"))?;
    write_kustomization(&dir, spec)?;
    let options = BuildOptions {
        deadline: Some(deadline),
    };
    let objects = sluice_kustomize::build_with(&dir, Some(root), &options)
        .map_err(|e| Error::BuildFailed(e.to_string()))?;
    objects
        .into_iter()
        .map(|object| {
            if Instant::now() >= deadline {
                return Err(Error::BuildFailed(format!(
                    "{}: build deadline exceeded",
                    dir.display()
                )));
            }
            finish_object(object, spec, variables, owner)
        })
        .collect()
}

/// `path` joined under `root`, refusing any `..` that climbs out of it.
fn resolve_path(root: &Path, path: &str) -> Result<PathBuf, Error> {
    let mut resolved = root.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::ParentDir if resolved != root => {
                resolved.pop();
            }
            Component::ParentDir => {
                return Err(Error::BuildFailed(format!(
                    "path '{path}' leaves the artifact"
                )));
            }
            _ => {}
        }
    }
    if !resolved.is_dir() {
        return Err(Error::BuildFailed(format!(
            "kustomization path not found: '{path}'"
        )));
    }
    Ok(resolved)
}

fn write_kustomization(dir: &Path, spec: &KustomizationSpec) -> Result<(), Error> {
    let failed = |e: &dyn std::fmt::Display| Error::BuildFailed(format!("{}: {e}", dir.display()));
    let existing = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file());
    let base = match &existing {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| failed(&e))?;
            std::fs::remove_file(file).map_err(|e| failed(&e))?;
            limits::check_yaml(&text).map_err(|e| failed(&e))?;
            serde_yaml_ng::from_str(&text).map_err(|e| failed(&e))?
        }
        None => overlay::generated(manifests(dir, dir).map_err(|e| failed(&e))?),
    };
    let merged = overlay::with_flux_fields(base, spec);
    let text = serde_yaml_ng::to_string(&merged).map_err(|e| failed(&e))?;
    std::fs::write(dir.join("kustomization.yaml"), text).map_err(|e| failed(&e))
}

/// The Kubernetes manifests under `dir` (relative to `base`), sorted; a sub-folder with a
/// kustomization file is listed as one entry.
fn manifests(dir: &Path, base: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let relative = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .display()
            .to_string();
        if path.is_dir() {
            if KUSTOMIZATION_FILES
                .iter()
                .any(|name| path.join(name).is_file())
            {
                found.push(relative);
            } else {
                found.extend(manifests(&path, base)?);
            }
        } else if is_manifest(&path) {
            found.push(relative);
        }
    }
    Ok(found)
}

/// Whether `path` is listed in a generated `kustomization.yaml`: a `.yaml`/`.yml`/`.json` file
/// whose documents all carry `apiVersion` and `kind`, or one past the engine's [`limits`]
/// (larger than [`limits::MAX_FILE_BYTES`], or YAML past its alias or nesting limits), so that
/// the build refuses it naming the file instead of leaving it out unseen. Other files (notes,
/// Helm templates that are not YAML) are left out, as Flux's generator leaves them.
fn is_manifest(path: &Path) -> bool {
    let yaml = path
        .extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml" || ext == "json");
    if !yaml {
        return false;
    }
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if metadata.len() > limits::MAX_FILE_BYTES {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    if let Err(message) = limits::check_yaml(&text) {
        return message.contains(LIMIT_REFUSAL);
    }
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|doc| serde::Deserialize::deserialize(doc).ok())
        .filter(|doc: &Value| !doc.is_null())
        .collect();
    !documents.is_empty()
        && documents
            .iter()
            .all(|d| d.get("apiVersion").is_some() && d.get("kind").is_some())
}

fn finish_object(
    object: Value,
    spec: &KustomizationSpec,
    variables: &Variables,
    owner: &Owner<'_>,
) -> Result<Value, Error> {
    let described = |o: &Value| {
        format!(
            "{}/{}",
            o["kind"].as_str().unwrap_or("?"),
            o["metadata"]["name"].as_str().unwrap_or("?")
        )
    };
    for field in ["/apiVersion", "/kind", "/metadata/name"] {
        if object
            .pointer(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(Error::BuildFailed(format!(
                "object {} has no {}",
                described(&object),
                &field[1..]
            )));
        }
    }
    let mut object = if spec.post_build.is_some() {
        substitute::substitute_resource(&object, variables).map_err(|e| {
            Error::BuildFailed(format!(
                "post build substitutions of {}: {e}",
                described(&object)
            ))
        })?
    } else {
        object
    };
    if let Some(common) = &spec.common_metadata {
        stamp(&mut object, "labels", common.labels.iter());
        stamp(&mut object, "annotations", common.annotations.iter());
    }
    let owner_labels = [
        (OWNER_NAME_LABEL.to_string(), owner.name.to_string()),
        (
            OWNER_NAMESPACE_LABEL.to_string(),
            owner.namespace.to_string(),
        ),
    ];
    stamp(
        &mut object,
        "labels",
        owner_labels.iter().map(|(k, v)| (k, v)),
    );
    Ok(object)
}

fn stamp<'a>(
    object: &mut Value,
    field: &str,
    pairs: impl Iterator<Item = (&'a String, &'a String)>,
) {
    let metadata = &mut object["metadata"];
    if !metadata[field].is_object() {
        metadata[field] = json!({});
    }
    for (key, value) in pairs {
        metadata[field][key] = json!(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: Value) -> KustomizationSpec {
        let mut base = json!({"interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "r"}});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    const OWNER: Owner<'static> = Owner {
        name: "apps",
        namespace: "flux",
    };

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(3600)
    }

    #[test]
    fn an_expired_deadline_stops_the_build() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )
        .unwrap();
        let stopped = build(
            root.path(),
            &spec(json!({})),
            &Variables::new(),
            &OWNER,
            Instant::now(),
        );
        assert!(
            matches!(stopped, Err(Error::BuildFailed(m)) if m.contains("build deadline exceeded"))
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_before_serde_yaml_ng_reads_it() {
        let root = tempfile::tempdir().unwrap();
        let bomb = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; 2_000].join(","),
            vec!["*a"; 2_000].join(",")
        );
        std::fs::write(root.path().join("kustomization.yaml"), &bomb).unwrap();
        let refused = build(
            root.path(),
            &spec(json!({})),
            &Variables::new(),
            &OWNER,
            later(),
        );
        assert!(matches!(refused, Err(Error::BuildFailed(m)) if m.contains("MAX_ALIAS_NODES")));
        std::fs::remove_file(root.path().join("kustomization.yaml")).unwrap_or(());
        std::fs::write(
            root.path().join("bomb.yaml"),
            format!("apiVersion: v1\nkind: List\n{bomb}"),
        )
        .unwrap();
        let named = build(
            root.path(),
            &spec(json!({})),
            &Variables::new(),
            &OWNER,
            later(),
        );
        assert!(
            matches!(&named, Err(Error::BuildFailed(m)) if m.contains("bomb.yaml") && m.contains("MAX_ALIAS_NODES")),
            "{named:?}"
        );
    }

    #[test]
    fn files_past_the_engines_limits_fail_the_build_naming_them() {
        let root = tempfile::tempdir().unwrap();
        let build_afresh = || {
            // A build writes its kustomization.yaml; a generated one is made anew each time.
            std::fs::remove_file(root.path().join("kustomization.yaml")).unwrap_or(());
            build(
                root.path(),
                &spec(json!({})),
                &Variables::new(),
                &OWNER,
                later(),
            )
        };
        std::fs::write(root.path().join("notes.yaml"), "{ not: [yaml\n").unwrap();
        std::fs::write(
            root.path().join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )
        .unwrap();
        let fine = build_afresh();
        assert!(
            matches!(&fine, Ok(objects) if objects.len() == 1),
            "{fine:?}"
        );
        let deep = format!("{}x\n", "- ".repeat(limits::MAX_DEPTH + 1));
        std::fs::write(root.path().join("deep.yaml"), deep).unwrap();
        let refused = build_afresh();
        assert!(
            matches!(&refused, Err(Error::BuildFailed(m)) if m.contains("deep.yaml") && m.contains("MAX_DEPTH")),
            "{refused:?}"
        );
        std::fs::remove_file(root.path().join("deep.yaml")).unwrap();
        let large = vec![b'#'; limits::MAX_FILE_BYTES as usize + 1];
        std::fs::write(root.path().join("large.yaml"), large).unwrap();
        let refused = build_afresh();
        assert!(
            matches!(&refused, Err(Error::BuildFailed(m)) if m.contains("large.yaml") && m.contains("MAX_FILE_BYTES")),
            "{refused:?}"
        );
    }

    #[test]
    fn plain_manifests_get_a_generated_kustomization_and_owner_labels() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("app")).unwrap();
        std::fs::write(root.path().join("app/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  size: ${SIZE:=small}\n").unwrap();
        std::fs::write(root.path().join("app/notes.yaml"), "just: notes\n").unwrap();
        let spec = spec(
            json!({"path": "./app", "targetNamespace": "apps", "postBuild": {"substitute": {}},
            "commonMetadata": {"labels": {"team": "a"}}}),
        );
        let variables: Variables = [("OTHER".to_string(), "x".to_string())].into();
        let objects = build(root.path(), &spec, &variables, &OWNER, later()).unwrap();
        assert_eq!(objects.len(), 1);
        let object = &objects[0];
        assert_eq!(object["metadata"]["namespace"], "apps");
        assert_eq!(object["data"]["size"], "small");
        assert_eq!(object["metadata"]["labels"]["team"], "a");
        assert_eq!(object["metadata"]["labels"][OWNER_NAME_LABEL], "apps");
        assert_eq!(object["metadata"]["labels"][OWNER_NAMESPACE_LABEL], "flux");
    }

    #[test]
    fn a_broken_build_or_an_escaping_path_fails() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("kustomization.yaml"),
            "resources: [missing.yaml]\n",
        )
        .unwrap();
        let broken = build(
            root.path(),
            &spec(json!({})),
            &Variables::new(),
            &OWNER,
            later(),
        );
        assert!(matches!(broken, Err(Error::BuildFailed(m)) if m.contains("missing.yaml")));
        let escaping = build(
            root.path(),
            &spec(json!({"path": "../../etc"})),
            &Variables::new(),
            &OWNER,
            later(),
        );
        assert!(
            matches!(escaping, Err(Error::BuildFailed(m)) if m.contains("leaves the artifact"))
        );
    }

    #[test]
    fn strict_substitution_fails_on_unset_variables() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: ${UNSET}\n",
        )
        .unwrap();
        let failed = build(
            root.path(),
            &spec(json!({"postBuild": {"substitute": {"X": "1"}}})),
            &[("X".to_string(), "1".to_string())].into(),
            &OWNER,
            later(),
        );
        assert!(matches!(failed, Err(Error::BuildFailed(m)) if m.contains("UNSET")));
    }
}
