//! Builds of generated small kustomization trees (a base, an overlay, a component, resources,
//! patches, generators, transformers, garbage, aliases, cycles, remote and missing entries):
//! whatever the tree, a build returns (no panic, no hang), and an error names a path in the
//! tree. 64 cases by default; `PROPTEST_CASES` for longer runs.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sluice_kustomize::{BuildOptions, Error, build_with, to_yaml};

fn config() -> ProptestConfig {
    match std::env::var_os("PROPTEST_CASES") {
        Some(_) => ProptestConfig::default(),
        None => ProptestConfig::with_cases(64),
    }
}

/// A few lines of a kustomization file, drawn from the fields Sluice builds.
fn kustomization() -> impl Strategy<Value = String> {
    let resources = prop::sample::subsequence(
        vec![
            "res.yaml",
            "../base",
            "../overlay",
            "missing.yaml",
            "garbage.yaml",
            "https://example.com/remote",
            ".",
        ],
        0..4,
    );
    let fields = prop::sample::subsequence(
        vec![
            "namePrefix: p-\n",
            "nameSuffix: -s\n",
            "namespace: team\n",
            "commonLabels: {app: x}\n",
            "commonAnnotations: {note: y}\n",
            "labels: [{pairs: {tier: web}, includeSelectors: true}]\n",
            "patches: [{path: patch.yaml}]\n",
            "patches: [{path: patch.yaml, target: {kind: ConfigMap}}]\n",
            "patches: [{patch: '[{op: copy, from: /data, path: /data/again}]', target: {kind: ConfigMap}}]\n",
            "patchesStrategicMerge: [patch.yaml]\n",
            "configMapGenerator: [{name: gen, literals: [k=v]}]\n",
            "secretGenerator: [{name: sec, literals: [k=v]}]\n",
            "replicas: [{name: d, count: 3}]\n",
            "images: [{name: nginx, newTag: '1.2'}]\n",
            "components: [../comp]\n",
            "replacements: [{source: {kind: ConfigMap, name: a}, targets: [{select: {kind: Deployment}, fieldPaths: [metadata.annotations.a], options: {create: true}}]}]\n",
            "vars: [{name: V, objref: {kind: ConfigMap, name: a, apiVersion: v1}}]\n",
            "sortOptions: {order: fifo}\n",
        ],
        0..6,
    );
    // Fields that fail any build, rarely, so that most trees get further.
    let poison = prop::option::weighted(
        0.1,
        prop::sample::select(vec!["helmCharts: [{name: x}]\n", "a: &x [*x]\n"]),
    );
    (resources, fields, poison).prop_map(|(resources, fields, poison)| {
        let mut text = format!("resources: [{}]\n", resources.join(", "));
        text.extend(fields);
        text.extend(poison);
        text
    })
}

/// Documents of a resources file: objects, lists, nameless ones, aliases, duplicates.
fn resources() -> impl Strategy<Value = String> {
    let document = prop::sample::select(vec![
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v, ref: $(V)}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1, template: {spec: {containers: [{name: c, image: nginx, envFrom: [{configMapRef: {name: a}}]}]}}}\n",
        "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n",
        "kind: ConfigMap\n",
        "base: &b {apiVersion: v1, kind: ConfigMap}\n<<: *b\nmetadata: {name: m}\n",
        "- 1\n- [2, 3]\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        "",
    ]);
    prop::collection::vec(document, 0..5).prop_map(|documents| documents.join("---\n"))
}

/// A patch file: strategic merge documents or JSON 6902 operations, valid or not.
fn patch() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: patched}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n$patch: delete\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nobody}\n",
        "- {op: add, path: /data/n, value: 1}\n- {op: copy, from: /data, path: /data/c}\n",
        "- {op: remove, path: /nothing}\n",
        "- {op: move, from: /metadata, path: /metadata/inner}\n",
        "- not an operation\n",
    ])
    .prop_map(str::to_string)
}

/// Text that may not be YAML at all.
fn garbage() -> impl Strategy<Value = String> {
    "([-a-z &*:,\\[\\]{}?|>!'\"#\\n]|apiVersion: v1\\n|kind: |- ){0,120}"
}

#[derive(Debug, Clone)]
struct Tree {
    base: String,
    overlay: String,
    component: String,
    resources: String,
    patch: String,
    garbage: String,
    build_overlay: bool,
}

fn tree() -> impl Strategy<Value = Tree> {
    (
        kustomization(),
        kustomization(),
        kustomization(),
        resources(),
        patch(),
        garbage(),
        any::<bool>(),
    )
        .prop_map(
            |(base, overlay, component, resources, patch, garbage, build_overlay)| Tree {
                base,
                overlay,
                component: format!(
                    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n{component}"
                ),
                resources,
                patch,
                garbage,
                build_overlay,
            },
        )
}

fn write(root: &Path, tree: &Tree) {
    for dir in ["base", "overlay", "comp"] {
        std::fs::create_dir_all(root.join(dir)).expect("directory");
        std::fs::write(root.join(dir).join("res.yaml"), &tree.resources).expect("written");
        std::fs::write(root.join(dir).join("patch.yaml"), &tree.patch).expect("written");
        std::fs::write(root.join(dir).join("garbage.yaml"), &tree.garbage).expect("written");
    }
    std::fs::write(root.join("base/kustomization.yaml"), &tree.base).expect("written");
    std::fs::write(root.join("overlay/kustomization.yaml"), &tree.overlay).expect("written");
    std::fs::write(root.join("comp/kustomization.yaml"), &tree.component).expect("written");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_tree_builds_or_fails_naming_a_path(tree in tree()) {
        let root = tempfile::tempdir().expect("temporary directory");
        write(root.path(), &tree);
        let canonical = root.path().canonicalize().expect("canonical root");
        let dir = canonical.join(if tree.build_overlay { "overlay" } else { "base" });
        let options = BuildOptions { deadline: Some(Instant::now() + Duration::from_secs(60)) };
        let (sender, receiver) = std::sync::mpsc::channel();
        let boundary = canonical.clone();
        std::thread::spawn(move || {
            let built: Result<String, Error> =
                build_with(&dir, Some(&boundary), &options).map(|resources| to_yaml(&resources));
            sender.send(built)
        });
        let built = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the build neither returned within 30 s nor panicked");
        if let Err(error) = built {
            let message = error.to_string();
            prop_assert!(
                message.contains(canonical.to_string_lossy().as_ref()),
                "{message}"
            );
        }
    }
}
