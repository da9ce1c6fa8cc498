//! Builds of hostile kustomizations (a tenant's repository is untrusted input): each is refused
//! with a clean error naming the file, quickly, instead of taking the controller's memory, stack
//! or thread. Every build runs on a thread that the test waits for ten seconds at most.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_kustomize::limits::{MAX_DEPTH, MAX_FILE_BYTES};
use sluice_kustomize::{BuildOptions, Error, build, build_with};

/// Writes `files` (path, content) under a new temporary directory.
fn tree(files: &[(&str, String)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temporary directory");
    for (path, content) in files {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("directories");
        std::fs::write(path, content).expect("file written");
    }
    root
}

/// Builds `dir` with `options` on a thread; fails the test when it takes ten seconds.
fn build_within_ten_seconds(dir: &Path, options: BuildOptions) -> Result<usize, Error> {
    let dir: PathBuf = dir.to_path_buf();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(build_with(&dir, None, &options).map(|r| r.len())));
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("the build did not return within ten seconds")
}

fn failure(dir: &Path) -> (Error, String) {
    let error = build_within_ten_seconds(dir, BuildOptions::default()).expect_err("refused");
    let message = error.to_string();
    (error, message)
}

/// The attack that grew the core controller past 13 GiB: eight levels of ten aliases each.
fn billion_laughs() -> String {
    let mut text = format!("a: &a [{}]\n", ["x"; 10].join(", "));
    for (previous, name) in ('a'..='h').zip('b'..='i') {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
    }
    text
}

#[test]
fn a_billion_laughs_under_a_kustomization_is_refused_quickly() {
    for (kustomization, file) in [
        ("resources: [bomb.yaml]\n", "bomb.yaml"),
        (
            "resources: [cm.yaml]\npatches: [{path: bomb.yaml}]\n",
            "bomb.yaml",
        ),
    ] {
        let root = tree(&[
            ("kustomization.yaml", kustomization.to_string()),
            ("bomb.yaml", billion_laughs()),
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".into(),
            ),
        ]);
        let (error, message) = failure(root.path());
        assert!(
            matches!(&error, Error::Malformed { path, .. } if path.ends_with(file)),
            "{message}"
        );
        assert!(message.contains("MAX_ALIAS_NODES"), "{message}");
    }
    // As the kustomization file itself.
    let root = tree(&[("kustomization.yaml", billion_laughs())]);
    let (_, message) = failure(root.path());
    assert!(message.contains("kustomization.yaml") && message.contains("MAX_ALIAS_NODES"));
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = format!("{}x\n", "- ".repeat(100_000));
    let root = tree(&[
        ("kustomization.yaml", "resources: [deep.yaml]\n".into()),
        ("deep.yaml", deep),
    ]);
    let (_, message) = failure(root.path());
    assert!(
        message.contains("deep.yaml") && message.contains("MAX_DEPTH"),
        "{message}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_unread() {
    let root = tree(&[("kustomization.yaml", "resources: [big.yaml]\n".into())]);
    let big = std::fs::File::create(root.path().join("big.yaml")).expect("created");
    big.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
    let (error, message) = failure(root.path());
    assert!(
        matches!(&error, Error::Limit { path, .. } if path.ends_with("big.yaml")),
        "{message}"
    );
    assert!(message.contains("MAX_FILE_BYTES"), "{message}");
}

#[cfg(unix)]
#[test]
fn a_file_that_is_not_regular_is_refused() {
    let root = tree(&[("kustomization.yaml", "resources: [socket.yaml]\n".into())]);
    let _listener = std::os::unix::net::UnixListener::bind(root.path().join("socket.yaml"))
        .expect("socket bound");
    let (error, message) = failure(root.path());
    assert!(matches!(error, Error::Limit { .. }), "{message}");
    assert!(message.contains("not a regular file"), "{message}");
}

fn config_maps(count: usize) -> String {
    (0..count)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
        .collect()
}

#[test]
fn an_expired_deadline_stops_before_the_first_file() {
    let root = tree(&[
        ("kustomization.yaml", "resources: [cms.yaml]\n".into()),
        ("cms.yaml", config_maps(2)),
    ]);
    assert_eq!(
        build(root.path(), None).expect("builds"),
        build_with(
            root.path(),
            None,
            &BuildOptions {
                deadline: Some(Instant::now() + Duration::from_secs(3600))
            }
        )
        .expect("builds")
    );
    let stopped = build_within_ten_seconds(
        root.path(),
        BuildOptions {
            deadline: Some(Instant::now()),
        },
    );
    assert!(
        matches!(&stopped, Err(Error::Deadline { path }) if path.starts_with(root.path().canonicalize().expect("canonical"))),
        "{stopped:?}"
    );
}

#[test]
fn a_deadline_stops_a_long_build_promptly() {
    // 10,000 resources with a prefix: about 45 s in a debug build (the name references are
    // quadratic); the deadline, checked before each resource's references, stops it.
    let root = tree(&[
        (
            "kustomization.yaml",
            "resources: [cms.yaml]\nnamePrefix: p-\n".into(),
        ),
        ("cms.yaml", config_maps(10_000)),
    ]);
    let started = Instant::now();
    let stopped = build_within_ten_seconds(
        root.path(),
        BuildOptions {
            deadline: Some(started + Duration::from_millis(1_500)),
        },
    );
    assert!(
        matches!(stopped, Err(Error::Deadline { .. })),
        "{stopped:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_json_patch_copying_a_resource_into_itself_is_stopped() {
    let operations: String = (0..40)
        .map(|i| format!("- {{op: copy, from: /data, path: /data/x{i}}}\n"))
        .collect();
    let root = tree(&[
        (
            "kustomization.yaml",
            "resources: [cm.yaml]\npatches: [{path: grow.yaml, target: {kind: ConfigMap}}]\n"
                .into(),
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n".into(),
        ),
        ("grow.yaml", operations),
    ]);
    let (error, message) = failure(root.path());
    assert!(matches!(error, Error::Build { .. }), "{message}");
    assert!(message.contains("MAX_COPIED_NODES"), "{message}");
}

#[test]
fn json_patches_cannot_nest_past_the_limit() {
    let chain = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH - 3),
        "]".repeat(MAX_DEPTH - 3)
    );
    let operations: String = (0..4)
        .map(|i| {
            let path = "/data/x".to_string() + &"/0".repeat(i * (MAX_DEPTH - 5));
            format!("- {{op: add, path: {path}, value: {chain}}}\n")
        })
        .collect();
    let root = tree(&[
        (
            "kustomization.yaml",
            "resources: [cm.yaml]\npatches: [{path: deepen.yaml, target: {kind: ConfigMap}}]\n"
                .into(),
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n".into(),
        ),
        ("deepen.yaml", operations),
    ]);
    let (_, message) = failure(root.path());
    // The file itself is within the limit; the second operation would pass it.
    assert!(
        message.contains("operation '/1'") && message.contains("MAX_DEPTH"),
        "{message}"
    );
}

#[test]
fn replacements_chained_through_each_other_are_stopped() {
    let replacements: String = (0..40)
        .map(|i| {
            let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
            format!(
                "- source: {{kind: ConfigMap, name: {from}, fieldPath: data}}\n  targets:\n  - select: {{kind: ConfigMap, name: {to}}}\n    fieldPaths: [data.x{i}]\n    options: {{create: true}}\n"
            )
        })
        .collect();
    let root = tree(&[
        (
            "kustomization.yaml",
            "resources: [cms.yaml]\nreplacements: [{path: grow.yaml}]\n".into(),
        ),
        (
            "cms.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: v}\n".into(),
        ),
        ("grow.yaml", replacements),
    ]);
    let (_, message) = failure(root.path());
    assert!(message.contains("MAX_COPIED_NODES"), "{message}");
}
