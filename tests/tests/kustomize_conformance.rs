//! Kustomize conformance: Sluice's engine (`sluice_kustomize`) against the real
//! `kustomize build` (v5.8) on the same directories, compared as YAML values document by document.
//!
//! Cases (all in this repository: a user's clone runs the same cases): the Flux-shaped overlays
//! of `tests/kustomize/cases/`, and the cases extracted
//! from kustomize's own `api/krusty` tests (`tests/kustomize/krusty/`, made by
//! `tests/kustomize/extract_krusty.py`). A case passes when both succeed with equal documents or
//! both fail. Cases we do not pass yet are listed, with the reason, in
//! `tests/kustomize/known-failures.txt`; the test fails on any other failure and on any listed
//! case that now passes, so the list stays honest. Every case whose documents are equal must
//! also print the same bytes as kustomize, except those listed in
//! `tests/kustomize/known-byte-differences.txt` (kept honest the same way).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The oracle binary: `$SLUICE_CACHE/bin/kustomize` (SLUICE_CACHE defaults to `<root>/.cache`).
fn kustomize_binary() -> PathBuf {
    let cache = std::env::var_os("SLUICE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache"));
    let binary = cache.join("bin").join("kustomize");
    assert!(
        binary.is_file(),
        "the kustomize oracle is missing at {}; build it with:\n  cd tests/go/kustomize && GOMODCACHE=$SLUICE_CACHE/go/mod \
         GOCACHE=$SLUICE_CACHE/go/build GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o $SLUICE_CACHE/bin/ \
         sigs.k8s.io/kustomize/kustomize/v5",
        binary.display()
    );
    binary
}

/// A case: its id (for the known-failures list) and the directory to build.
struct Case {
    id: String,
    dir: PathBuf,
}

fn kustomization_dirs(root: &Path, prefix: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        children.sort();
        if children.iter().any(|path| {
            path.file_name()
                .is_some_and(|name| name == "kustomization.yaml" || name == "kustomization.yml")
        }) {
            let relative = dir
                .strip_prefix(root)
                .unwrap_or(&dir)
                .to_string_lossy()
                .to_string();
            cases.push(Case {
                id: format!("{prefix}/{relative}"),
                dir: dir.clone(),
            });
        }
        stack.extend(children.into_iter().filter(|path| path.is_dir()));
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    cases
}

#[derive(Deserialize)]
struct KrustyCase {
    root: String,
}

fn krusty_cases(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return cases;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(text) = std::fs::read_to_string(entry.path().join("case.json")) else {
            continue;
        };
        let case: KrustyCase = serde_json::from_str(&text).expect("case.json is valid");
        let name = entry.file_name().to_string_lossy().to_string();
        cases.push(Case {
            id: format!("krusty/{name}"),
            dir: entry
                .path()
                .join("files")
                .join(case.root.trim_start_matches('/')),
        });
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    cases
}

fn parse_stream(text: &str) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| error.to_string())?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// What one side of a case produced: the printed stream and its documents, or an error message.
type Outcome = Result<Printed, String>;

struct Printed {
    text: String,
    documents: Vec<Value>,
}

fn printed(text: String) -> Outcome {
    let documents = parse_stream(&text)?;
    Ok(Printed { text, documents })
}

fn oracle(binary: &Path, dir: &Path) -> Outcome {
    let output = Command::new(binary)
        .arg("build")
        .arg(dir)
        .output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    printed(String::from_utf8_lossy(&output.stdout).to_string())
}

fn sluice(dir: &Path) -> Outcome {
    printed(sluice_kustomize::build_yaml(dir, None).map_err(|error| error.to_string())?)
}

/// Why a case fails, or None when it passes.
fn compare(expected: &Outcome, actual: &Outcome) -> Option<String> {
    let documents = |outcome: &'_ Outcome| -> Result<Vec<Value>, String> {
        outcome
            .as_ref()
            .map(|printed| printed.documents.clone())
            .map_err(Clone::clone)
    };
    match (&documents(expected), &documents(actual)) {
        (Ok(expected), Ok(actual)) if expected == actual => None,
        (Ok(expected), Ok(actual)) if expected.len() != actual.len() => Some(format!(
            "{} documents expected, {} built",
            expected.len(),
            actual.len()
        )),
        (Ok(expected), Ok(actual)) => {
            let index = expected
                .iter()
                .zip(actual)
                .position(|(e, a)| e != a)
                .unwrap_or(0);
            Some(format!(
                "document {index} differs: expected {} got {}",
                expected[index], actual[index]
            ))
        }
        (Err(_), Err(_)) => None,
        (Ok(_), Err(error)) => Some(format!("kustomize builds it, Sluice fails: {error}")),
        (Err(error), Ok(_)) => Some(format!(
            "kustomize fails ({}), Sluice builds it",
            error.lines().next().unwrap_or("")
        )),
    }
}

/// Where the printed bytes differ when the documents are equal (line number and both lines), or
/// None when they are identical.
fn compare_bytes(expected: &Outcome, actual: &Outcome) -> Option<String> {
    let (Ok(expected), Ok(actual)) = (expected, actual) else {
        return None;
    };
    if expected.text == actual.text {
        return None;
    }
    let mut expected_lines = expected.text.lines();
    let mut actual_lines = actual.text.lines();
    for line in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => break,
            (e, a) if e == a => continue,
            (e, a) => return Some(format!("line {line}: expected {e:?} got {a:?}")),
        }
    }
    Some("trailing line breaks differ".to_string())
}

/// Asserts that `failures` are exactly the cases of `known` that exist in `cases`.
fn assert_matches_known(
    what: &str,
    file: &str,
    cases: &[Case],
    failures: &BTreeMap<String, String>,
    known: &BTreeMap<String, String>,
) {
    let unexpected: Vec<String> = failures
        .iter()
        .filter(|(id, _)| !known.contains_key(*id))
        .map(|(id, reason)| format!("{id}: {reason}"))
        .collect();
    let fixed: Vec<&String> = known
        .keys()
        .filter(|id| !failures.contains_key(*id) && cases.iter().any(|c| &c.id == *id))
        .collect();
    let stale: Vec<&String> = known
        .keys()
        .filter(|id| !cases.iter().any(|c| &c.id == *id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "cases {what} that are not in {file}:\n{}",
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "cases in {file} that now pass (remove them): {fixed:?}"
    );
    assert!(
        stale.is_empty(),
        "cases in {file} that do not exist: {stale:?}"
    );
}

fn known_failures(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once(char::is_whitespace) {
            Some((id, reason)) => (
                id.to_string(),
                reason.trim().trim_start_matches('#').trim().to_string(),
            ),
            None => (line.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn sluice_builds_what_kustomize_builds() {
    let root = workspace_root();
    let binary = kustomize_binary();
    let data = root.join("tests").join("kustomize");
    let mut cases = kustomization_dirs(&data.join("cases"), "cases");
    assert!(
        !cases.is_empty(),
        "no case found under tests/kustomize/cases"
    );
    cases.extend(krusty_cases(&data.join("krusty")));
    let known = known_failures(&data.join("known-failures.txt"));
    let known_bytes = known_failures(&data.join("known-byte-differences.txt"));

    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut byte_differences: BTreeMap<String, String> = BTreeMap::new();
    let mut passes_by_group: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for case in &cases {
        let (expected, actual) = (oracle(&binary, &case.dir), sluice(&case.dir));
        let group = case.id.split('/').next().unwrap_or("");
        let counts = passes_by_group.entry(group).or_default();
        counts.2 += 1;
        if let Some(reason) = compare(&expected, &actual) {
            failures.insert(case.id.clone(), reason);
            continue;
        }
        counts.0 += 1;
        match compare_bytes(&expected, &actual) {
            None => counts.1 += 1,
            Some(reason) => {
                byte_differences.insert(case.id.clone(), reason);
            }
        }
    }
    for (group, (passed, identical, total)) in &passes_by_group {
        println!(
            "kustomize conformance {group}: {passed}/{total} pass ({:.1}%), {identical} byte-identical",
            100.0 * *passed as f64 / *total as f64
        );
    }
    assert_matches_known("failing", "known-failures.txt", &cases, &failures, &known);
    assert_matches_known(
        "printing other bytes than kustomize",
        "known-byte-differences.txt",
        &cases,
        &byte_differences,
        &known_bytes,
    );
}

/// The broken kustomizations of `tests/kustomize/cases/errors/`: kustomize fails on each, and
/// Sluice fails with one message naming the file at fault and the problem.
#[test]
fn broken_kustomizations_fail_naming_the_file_and_problem() {
    let binary = kustomize_binary();
    let errors = workspace_root().join("tests/kustomize/cases/errors");
    let expectations = [
        ("missing-resource", &["missing-resource/nothere.yaml"][..]),
        ("base-cycle/a", &["base-cycle/a", "cycle"][..]),
        ("malformed-yaml", &["malformed-yaml/cm.yaml", "line 5"][..]),
        (
            "patch-matches-nothing",
            &[
                "patch-matches-nothing/kustomization.yaml",
                "no resource matches strategic merge patch",
            ][..],
        ),
    ];
    for (case, words) in expectations {
        let dir = errors.join(case);
        assert!(oracle(&binary, &dir).is_err(), "kustomize builds {case}");
        let message = sluice(&dir)
            .err()
            .unwrap_or_else(|| panic!("Sluice builds {case}"));
        assert_eq!(message.lines().count(), 1, "{case}: {message}");
        for word in words {
            assert!(message.contains(word), "{case}: {message:?} lacks {word:?}");
        }
    }
}
