//! Golden test of the setters over a directory: `testdata/setters/original` updated in place must
//! equal `testdata/setters/expected` byte for byte, file for file (reference section 2.3 cases:
//! CronJob with an unchanged second container, kustomization `images:` name/tag/digest markers and
//! a marker beside a `patch: |` block, extensionless `Kustomization`, other-namespace marker,
//! unmarked file, plus multi-document files, Helm values, quoting styles, anchors, a top-level
//! sequence, a file that does not parse, hidden directories and markers that must be ignored).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sluice_image_automation::setters::policy::{LatestImage, Policies, PolicyKey};
use sluice_image_automation::setters::result::{Change, UpdateResult};
use sluice_image_automation::setters::rewrite::{IgnoreReason, MarkerOutcome};
use sluice_image_automation::setters::tree::{
    FileProblem, TreeUpdate, update_tree, write_tree_update,
};

const DIGEST: &str = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be";

fn testdata(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/setters")
        .join(kind)
}

fn policies() -> Policies {
    let entries = [
        (
            "automation-ns:policy",
            Some("index.repo.fake/updated:v1.0.1".to_owned()),
        ),
        ("automation-ns:unchanged", Some("image:v1.0.0".to_owned())),
        (
            "automation-ns:policy-with-digest",
            Some(format!("image:v1.0.0@{DIGEST}")),
        ),
        (
            "automation-ns:numeric",
            Some("ghcr.io/org/app:1.10@sha256:abc".to_owned()),
        ),
        ("automation-ns:pending", None),
    ];
    let latest = entries
        .into_iter()
        .map(|(key, latest)| {
            (
                key.parse::<PolicyKey>().unwrap(),
                latest.map(|text| text.parse::<LatestImage>().unwrap()),
            )
        })
        .collect();
    Policies {
        automation_namespace: Some("automation-ns".to_owned()),
        latest,
        images_entries: Default::default(),
    }
}

/// Every file under `root` (hidden ones included) → its bytes.
fn read_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            (
                entry.path().strip_prefix(root).unwrap().to_owned(),
                fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in read_tree(from) {
        let path = to.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
}

fn run() -> (tempfile::TempDir, TreeUpdate, Vec<PathBuf>) {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&testdata("original"), work.path());
    let update = update_tree(work.path(), &policies()).unwrap();
    let written = write_tree_update(work.path(), &update).unwrap();
    (work, update, written)
}

#[test]
fn updated_tree_equals_expected_byte_for_byte() {
    let (work, _, written) = run();
    let actual = read_tree(work.path());
    let expected = read_tree(&testdata("expected"));
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &expected {
        assert!(
            actual[path] == *bytes,
            "{} differs:\n{}",
            path.display(),
            String::from_utf8_lossy(&actual[path])
        );
    }
    let written: Vec<&str> = written.iter().map(|path| path.to_str().unwrap()).collect();
    assert_eq!(
        written,
        [
            "Kustomization",
            "deploy/config",
            "helm/values.yaml",
            "kustomization.yml",
            "marked.yaml",
            "multidoc.yaml",
            "patches/deployment-patch.yaml",
            "sequence-root.yaml"
        ]
    );
}

#[test]
fn unparseable_files_are_reported_and_non_yaml_files_skipped() {
    let (_, update, _) = run();
    let problems: Vec<&Path> = update.problems.keys().map(PathBuf::as_path).collect();
    assert_eq!(problems, [Path::new("broken.yaml")]);
    assert!(matches!(
        update.problems[Path::new("broken.yaml")],
        FileProblem::Rewrite(_)
    ));
    assert!(!update.files.contains_key(Path::new("deploy/run")));
}

#[test]
fn ignored_markers_carry_their_reason_and_line() {
    let (_, update, _) = run();
    let outcomes = |path: &str| -> Vec<(usize, MarkerOutcome)> {
        update.files[Path::new(path)]
            .markers
            .iter()
            .map(|marker| (marker.line, marker.outcome.clone()))
            .collect()
    };
    let ignored = outcomes("ignored.yaml");
    assert_eq!(
        ignored.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [8, 10, 12, 14]
    );
    assert!(matches!(
        ignored[0].1,
        MarkerOutcome::Ignored(IgnoreReason::InvalidMarker(_))
    ));
    assert_eq!(
        ignored[1].1,
        MarkerOutcome::Ignored(IgnoreReason::NoLatestImage)
    );
    assert_eq!(
        ignored[2].1,
        MarkerOutcome::Ignored(IgnoreReason::UnknownPolicy)
    );
    assert!(matches!(
        ignored[3].1,
        MarkerOutcome::Ignored(IgnoreReason::InvalidMarker(_))
    ));
    let other_namespace = IgnoreReason::OtherNamespace {
        policy_namespace: "other-namespace".to_owned(),
        automation_namespace: "automation-ns".to_owned(),
    };
    assert_eq!(
        outcomes("otherns.yaml"),
        [(10, MarkerOutcome::Ignored(other_namespace))]
    );
    assert_eq!(outcomes("marked.yaml")[1], (19, MarkerOutcome::UpToDate));
    assert!(!update.files.contains_key(Path::new("unmarked.yaml")));
}

#[test]
fn result_has_fluxs_shape() {
    let (_, update, _) = run();
    let result = UpdateResult::from_tree(&update);
    let change = |old: &str, new: &str, setter: &str| Change {
        old_value: old.to_owned(),
        new_value: new.to_owned(),
        setter: setter.to_owned(),
    };
    let kustomization = &result.file_changes["kustomization.yml"];
    let (object, changes) = kustomization.iter().next().unwrap();
    assert_eq!(kustomization.len(), 1);
    assert_eq!(
        (
            object.api_version.as_str(),
            object.kind.as_str(),
            object.name.as_str()
        ),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization", "")
    );
    assert_eq!(
        changes,
        &[
            change(
                "replaced",
                "index.repo.fake/updated",
                "automation-ns:policy:name"
            ),
            change("v1", "v1.0.1", "automation-ns:policy:tag"),
            change(
                "sha256:1234567890abcdef",
                DIGEST,
                "automation-ns:policy-with-digest:digest"
            ),
            change(
                "image",
                &format!("image:v1.0.0@{DIGEST}"),
                "automation-ns:policy-with-digest"
            ),
        ]
    );
    let marked = &result.file_changes["marked.yaml"];
    let (object, changes) = marked.iter().next().unwrap();
    assert_eq!(
        (
            object.kind.as_str(),
            object.namespace.as_str(),
            object.name.as_str()
        ),
        ("CronJob", "bar", "foo")
    );
    assert_eq!(
        changes,
        &[change(
            "image:v1.0.0",
            "index.repo.fake/updated:v1.0.1",
            "automation-ns:policy"
        )]
    );
    let multidoc: Vec<String> = result.file_changes["multidoc.yaml"]
        .keys()
        .map(ToString::to_string)
        .collect();
    assert_eq!(multidoc, ["Deployment/apps/second", "StatefulSet/third"]);
    let patch_and_marked = result
        .objects()
        .keys()
        .filter(|object| object.name == "web")
        .count();
    assert_eq!(
        patch_and_marked, 1,
        "the patch's Deployment apps/web appears once in Objects"
    );
}
