//! Applies the setters to one YAML text: each marked scalar whose policy has a latest image gets
//! the marker's value, spliced into the original bytes; every other byte stays as it was.

use super::document::{DocumentError, MarkedScalar, find_marked_scalars};
use super::images_entry::images_entry_scalars;
use super::marker::{Marker, MarkerError};
use super::object::ObjectIdentifier;
use super::policy::Policies;
use super::quoting::render_scalar;

/// Why a file could not be rewritten; the file must then be left untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The file is not YAML.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// After the edit, the scalar at `line` did not read back as the new value (or the file no
    /// longer parsed); a guard against an edit that would corrupt the file.
    #[error("the edited scalar at line {line} does not read back as '{expected}'")]
    Verification {
        /// Line of the marker.
        line: usize,
        /// The value that was written.
        expected: String,
    },
}

/// Why a marker was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    /// The comment mentions `$imagepolicy` but Flux would not read it as a marker.
    #[error("not a valid marker: {0}")]
    InvalidMarker(MarkerError),
    /// The policy is in another namespace than the automation (Flux only applies its own).
    #[error(
        "policy is in namespace '{policy_namespace}', not in the automation's namespace '{automation_namespace}'"
    )]
    OtherNamespace {
        /// The marker's namespace.
        policy_namespace: String,
        /// The automation's namespace.
        automation_namespace: String,
    },
    /// No policy of that name was given (absent, or not selected by `policySelector`).
    #[error("policy not found or not selected")]
    UnknownPolicy,
    /// The policy has no latest image yet (not ready).
    #[error("policy has no latest image yet")]
    NoLatestImage,
}

/// What happened to one marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerOutcome {
    /// The scalar was rewritten from `old` to `new`.
    Changed {
        /// The value before.
        old: String,
        /// The value written.
        new: String,
    },
    /// The scalar already held the policy's value.
    UpToDate,
    /// The marker was not applied.
    Ignored(IgnoreReason),
}

/// One marker of a file and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerResult {
    /// Line of the marker, from 1.
    pub line: usize,
    /// The setter (`ns:policy[:field]`), or the comment when it is not a valid marker.
    pub setter: String,
    /// The object of the document holding the scalar (empty fields when not a Kubernetes object).
    pub object: ObjectIdentifier,
    /// What was done.
    pub outcome: MarkerOutcome,
}

/// The result of applying the setters to one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRewrite {
    /// The new text (equal to the input when nothing changed).
    pub text: String,
    /// Every marker of the text, in source order.
    pub markers: Vec<MarkerResult>,
}

impl FileRewrite {
    /// Whether at least one scalar changed, i.e. whether the file must be written.
    pub fn changed(&self) -> bool {
        self.markers
            .iter()
            .any(|marker| matches!(marker.outcome, MarkerOutcome::Changed { .. }))
    }
}

/// Applies `policies` to the markers of `text`.
///
/// Returns the new text and the outcome of every marker. Errors with `RewriteError::Document`
/// when `text` is not YAML and with `RewriteError::Verification` when an edited scalar does not
/// read back as the value written; in both cases nothing must be written.
pub fn apply_setters(text: &str, policies: &Policies) -> Result<FileRewrite, RewriteError> {
    let scalars = setter_targets(text, policies)?;
    let markers: Vec<MarkerResult> = scalars
        .iter()
        .map(|scalar| marker_result(scalar, policies))
        .collect();
    let mut rewritten = text.to_owned();
    for (scalar, result) in scalars.iter().zip(&markers).rev() {
        if let MarkerOutcome::Changed { new, .. } = &result.outcome {
            rewritten.replace_range(scalar.bytes.clone(), &replacement(scalar, new));
        }
    }
    verify(&rewritten, policies, &markers)?;
    Ok(FileRewrite {
        text: rewritten,
        markers,
    })
}

/// The scalars the setters may set in `text`: the marked ones and those of the `images:`
/// entries `policies` names ([`Policies::images_entries`]), once each, in source order.
///
/// Errors with `DocumentError::Parse` when `text` is not YAML.
pub fn setter_targets(text: &str, policies: &Policies) -> Result<Vec<MarkedScalar>, DocumentError> {
    let mut scalars = find_marked_scalars(text)?;
    for scalar in images_entry_scalars(text, &policies.images_entries)? {
        if !scalars.iter().any(|marked| marked.bytes == scalar.bytes) {
            scalars.push(scalar);
        }
    }
    scalars.sort_by_key(|scalar| scalar.bytes.start);
    Ok(scalars)
}

fn marker_result(scalar: &MarkedScalar, policies: &Policies) -> MarkerResult {
    let (setter, outcome) = match &scalar.marker {
        Ok(marker) => (marker.to_string(), outcome(marker, &scalar.value, policies)),
        Err(error) => (
            scalar.comment.clone(),
            MarkerOutcome::Ignored(IgnoreReason::InvalidMarker(error.clone())),
        ),
    };
    MarkerResult {
        line: scalar.line,
        setter,
        object: scalar.object.clone(),
        outcome,
    }
}

/// Decides a marker's outcome, as Flux's setters: only a policy with a latest image sets a value,
/// and a value equal to the current one is no change.
fn outcome(marker: &Marker, current: &str, policies: &Policies) -> MarkerOutcome {
    let ignored = |reason| MarkerOutcome::Ignored(reason);
    match policies.latest.get(&marker.policy) {
        Some(Some(latest)) => match marker.value_for(latest) {
            new if new == current => MarkerOutcome::UpToDate,
            new => MarkerOutcome::Changed {
                old: current.to_owned(),
                new,
            },
        },
        Some(None) => ignored(IgnoreReason::NoLatestImage),
        None => match &policies.automation_namespace {
            Some(namespace) if *namespace != marker.policy.namespace => {
                ignored(IgnoreReason::OtherNamespace {
                    policy_namespace: marker.policy.namespace.clone(),
                    automation_namespace: namespace.clone(),
                })
            }
            _ => ignored(IgnoreReason::UnknownPolicy),
        },
    }
}

/// The text replacing the scalar: the new value in the scalar's style; an empty value gets the
/// space that separates it from its `:`.
fn replacement(scalar: &MarkedScalar, new: &str) -> String {
    let rendered = render_scalar(new, scalar.style);
    match scalar.bytes.is_empty() {
        true => format!(" {rendered}"),
        false => rendered,
    }
}

/// Checks that `rewritten` parses, holds the same markers and that each changed scalar reads back
/// as its new value.
fn verify(
    rewritten: &str,
    policies: &Policies,
    markers: &[MarkerResult],
) -> Result<(), RewriteError> {
    let reread = setter_targets(rewritten, policies).unwrap_or_default();
    for (index, marker) in markers.iter().enumerate() {
        if let MarkerOutcome::Changed { new, .. } = &marker.outcome {
            let reads_back = reread.get(index).is_some_and(|scalar| scalar.value == *new);
            if !reads_back || reread.len() != markers.len() {
                return Err(RewriteError::Verification {
                    line: marker.line,
                    expected: new.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::setters::policy::{LatestImage, PolicyKey};

    fn policies(entries: &[(&str, Option<&str>)]) -> Policies {
        Policies {
            automation_namespace: Some("ns".to_owned()),
            latest: entries
                .iter()
                .map(|(key, latest)| {
                    let latest = latest.map(|text| text.parse::<LatestImage>().unwrap());
                    (key.parse::<PolicyKey>().unwrap(), latest)
                })
                .collect(),
            images_entries: Default::default(),
        }
    }

    fn marked(value: &str, setter: &str) -> String {
        format!("image: {value} # {{\"$imagepolicy\": \"{setter}\"}}\n")
    }

    #[test]
    fn only_the_marked_scalar_changes() {
        let text = format!(
            "# keep\r\na:   'x'   # other\r\n\r\n{}z: |\n  block # {{\"$imagepolicy\": \"ns:app\"}}\n",
            marked("'old:1'", "ns:app").replace('\n', "\r\n")
        );
        let rewrite = apply_setters(&text, &policies(&[("ns:app", Some("new:2"))])).unwrap();
        assert_eq!(rewrite.text, text.replace("'old:1'", "'new:2'"));
        assert_eq!(
            rewrite.markers[0].outcome,
            MarkerOutcome::Changed {
                old: "old:1".into(),
                new: "new:2".into()
            }
        );
        assert!(rewrite.changed());
    }

    #[test]
    fn equal_values_are_up_to_date_and_leave_the_text_alone() {
        let text = marked("app:1", "ns:app");
        let rewrite = apply_setters(&text, &policies(&[("ns:app", Some("app:1"))])).unwrap();
        assert_eq!(
            (rewrite.text.as_str(), rewrite.changed()),
            (text.as_str(), false)
        );
        assert_eq!(rewrite.markers[0].outcome, MarkerOutcome::UpToDate);
    }

    #[test]
    fn unapplicable_markers_are_reported_with_their_reason() {
        let text = [
            marked("a", "other:app"),
            marked("b", "ns:missing"),
            marked("c", "ns:pending"),
            marked("d", "ns:app:size"),
        ]
        .into_iter()
        .enumerate()
        .map(|(index, line)| line.replacen("image", &format!("image{index}"), 1))
        .collect::<String>();
        let rewrite = apply_setters(&text, &policies(&[("ns:pending", None)])).unwrap();
        let reasons: Vec<MarkerOutcome> = rewrite
            .markers
            .iter()
            .map(|marker| marker.outcome.clone())
            .collect();
        assert_eq!(
            reasons,
            [
                MarkerOutcome::Ignored(IgnoreReason::OtherNamespace {
                    policy_namespace: "other".into(),
                    automation_namespace: "ns".into()
                }),
                MarkerOutcome::Ignored(IgnoreReason::UnknownPolicy),
                MarkerOutcome::Ignored(IgnoreReason::NoLatestImage),
                MarkerOutcome::Ignored(IgnoreReason::InvalidMarker(MarkerError::InvalidSetter(
                    "ns:app:size".into()
                ))),
            ]
        );
        assert_eq!(rewrite.text, text);
    }

    #[test]
    fn plain_values_that_would_change_type_are_quoted() {
        let text = "tag: 1.9 # {\"$imagepolicy\": \"ns:app:tag\"}\n";
        let rewrite = apply_setters(text, &policies(&[("ns:app", Some("app:1.10"))])).unwrap();
        assert_eq!(
            rewrite.text,
            "tag: \"1.10\" # {\"$imagepolicy\": \"ns:app:tag\"}\n"
        );
    }

    #[test]
    fn empty_values_are_filled() {
        let text = "digest: # {\"$imagepolicy\": \"ns:app:digest\"}\n";
        let rewrite =
            apply_setters(text, &policies(&[("ns:app", Some("app:1@sha256:ab"))])).unwrap();
        assert_eq!(
            rewrite.text,
            "digest: sha256:ab # {\"$imagepolicy\": \"ns:app:digest\"}\n"
        );
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        let text = format!("{}bad: [\n", marked("a", "ns:app"));
        let error = apply_setters(&text, &policies(&[("ns:app", Some("app:1"))])).unwrap_err();
        assert!(matches!(error, RewriteError::Document(_)));
    }

    #[test]
    fn an_images_entry_is_set_like_markers_without_a_comment() {
        let mut policies = policies(&[("kustomize.images:app", Some("reg/app:2.0.0"))]);
        policies.images_entries =
            BTreeMap::from([("app".to_owned(), "kustomize.images:app".parse().unwrap())]);
        let text =
            "images:\n- name: app # the app\n  newTag: '1.0.0'\n- name: other\n  newTag: 1.0.0\n";
        let rewrite = apply_setters(text, &policies).unwrap();
        assert_eq!(
            rewrite.text,
            "images:\n- name: app # the app\n  newTag: '2.0.0'\n- name: other\n  newTag: 1.0.0\n"
        );
        assert!(rewrite.changed());
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;
        use super::policies;

        /// Case count: 64 by default (the whole suite stays fast on two cores),
        /// `PROPTEST_CASES` for longer runs.
        fn config() -> ProptestConfig {
            match std::env::var_os("PROPTEST_CASES") {
                Some(_) => ProptestConfig::default(),
                None => ProptestConfig::with_cases(64),
            }
        }

        /// A scalar as written: plain, quoted (with printable or arbitrary text), empty, or
        /// starting with a YAML indicator.
        fn scalar() -> impl Strategy<Value = String> {
            let text = || prop_oneof![3 => "[^\\x00-\\x1f\\x7f]{0,12}", 1 => any::<String>()];
            prop_oneof![
                3 => "[a-z0-9][a-z0-9./@_-]{0,11}(:[a-z0-9.]{1,8})?",
                2 => text().prop_map(|text| format!(
                    "'{}'",
                    text.replace('\'', "''").replace(['\n', '\r'], " ")
                )),
                2 => text()
                    .prop_map(|text| serde_json::to_string(&text).expect("a string serializes")),
                1 => Just(String::new()),
                1 => "[&*!|>%@`{}\\[\\],?:#-]{1,3}[a-z ]{0,4}",
            ]
        }

        /// A marker comment (valid, for an absent, pending or foreign policy, or malformed), or
        /// none.
        fn marker() -> impl Strategy<Value = String> {
            const SETTERS: &[&str] = &[
                "ns:app",
                "ns:app:tag",
                "ns:app:name",
                "ns:app:digest",
                "ns:pending",
                "other:app",
                "ns:missing",
                "ns:app:size",
            ];
            prop_oneof![
                2 => Just(String::new()),
                4 => proptest::sample::select(SETTERS)
                    .prop_map(|setter| format!(" # {{\"$imagepolicy\": \"{setter}\"}}")),
                1 => Just(" # {\"$imagepolicy\": ns:app}".to_owned()),
                1 => Just(" #{\"$imagepolicy\":\"ns:app:tag\"} trailing".to_owned()),
            ]
        }

        /// One top-level entry: a scalar (`kind` 0), a nested mapping (1), a sequence (2), a
        /// flow sequence (3) or a block scalar (4), of `values` (a scalar and its marker).
        #[derive(Debug, Clone)]
        struct Entry {
            kind: u8,
            values: Vec<(String, String)>,
            indented: bool,
        }

        fn entry() -> impl Strategy<Value = Entry> {
            (
                0..5u8,
                proptest::collection::vec((scalar(), marker()), 1..4),
                any::<bool>(),
            )
                .prop_map(|(kind, values, indented)| Entry {
                    kind,
                    values,
                    indented,
                })
        }

        /// `entry` as the lines of the key `k<index>`.
        fn render(index: usize, entry: &Entry) -> String {
            let pad = if entry.indented { "  " } else { "" };
            let values = &entry.values;
            let (first, first_marker) = &values[0];
            match entry.kind {
                0 => format!("k{index}: {first}{first_marker}\n"),
                1 => values
                    .iter()
                    .enumerate()
                    .fold(format!("k{index}:\n"), |text, (at, (value, marker))| {
                        format!("{text}  s{at}: {value}{marker}\n")
                    }),
                2 => values
                    .iter()
                    .fold(format!("k{index}:\n"), |text, (value, marker)| {
                        format!("{text}{pad}- {value}{marker}\n")
                    }),
                3 => {
                    let items: Vec<&str> = values
                        .iter()
                        .map(|(value, _)| value.as_str())
                        .filter(|value| !value.is_empty())
                        .collect();
                    format!("k{index}: [{}]{first_marker}\n", items.join(", "))
                }
                _ => format!("k{index}: |{first_marker}\n  {first} # not a marker\n"),
            }
        }

        /// A YAML text of such entries in one or more documents, with LF or CRLF line ends.
        fn yaml() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec((entry(), any::<bool>()), 0..8),
                any::<bool>(),
            )
                .prop_map(|(entries, crlf)| {
                    let text: String = entries
                        .into_iter()
                        .enumerate()
                        .map(|(index, (entry, new_document))| {
                            let separator = if new_document && index > 0 {
                                "---\n"
                            } else {
                                ""
                            };
                            format!("{separator}{}", render(index, &entry))
                        })
                        .collect();
                    if crlf {
                        text.replace('\n', "\r\n")
                    } else {
                        text
                    }
                })
        }

        /// Such a text with arbitrary fragments inserted at arbitrary places.
        fn noisy_yaml() -> impl Strategy<Value = String> {
            (
                yaml(),
                proptest::collection::vec((any::<prop::sample::Index>(), any::<String>()), 1..4),
            )
                .prop_map(|(mut text, insertions)| {
                    for (index, fragment) in insertions {
                        let boundaries: Vec<usize> = text
                            .char_indices()
                            .map(|(at, _)| at)
                            .chain([text.len()])
                            .collect();
                        text.insert_str(*index.get(&boundaries), &fragment);
                    }
                    text
                })
        }

        /// A latest image whose tag may hold YAML's special characters (not `:`, `/` or `@`,
        /// which end a tag), with a digest or not.
        fn latest() -> impl Strategy<Value = String> {
            (
                "[a-z0-9.-]{1,10}(:[0-9]{2,5})?(/[a-z0-9_-]{1,8}){0,2}",
                "[A-Za-z0-9_.# '\"*&!{}\\[\\],|>%-]{1,12}",
                proptest::option::of("sha256:[0-9a-f]{8}"),
            )
                .prop_map(|(name, tag, digest)| match digest {
                    Some(digest) => format!("{name}:{tag}@{digest}"),
                    None => format!("{name}:{tag}"),
                })
        }

        /// Applies the setters to `text`: never a panic; an error writes nothing; otherwise the
        /// text is unchanged, or it still parses and only the set scalars differ, each reading
        /// back as its new value.
        fn only_set_scalars_change(text: &str, latest: &str) {
            let policies = policies(&[("ns:app", Some(latest)), ("ns:pending", None)]);
            let Ok(rewrite) = apply_setters(text, &policies) else {
                return;
            };
            if !rewrite.changed() {
                assert_eq!(rewrite.text, text);
                return;
            }
            let before = setter_targets(text, &policies).expect("the input parsed");
            let after = setter_targets(&rewrite.text, &policies).expect("the output parses");
            assert_eq!(before.len(), after.len(), "{text:?} -> {:?}", rewrite.text);
            let (mut from, mut to) = (0, 0);
            for ((old, new), marker) in before.iter().zip(&after).zip(&rewrite.markers) {
                let gap = &text[from..old.bytes.start];
                let new_gap = &rewrite.text[to..new.bytes.start];
                match &marker.outcome {
                    MarkerOutcome::Changed { new: value, .. } => {
                        assert_eq!(&new.value, value);
                        let filled = old.bytes.is_empty() && new_gap == format!("{gap} ");
                        assert!(new_gap == gap || filled, "{gap:?} -> {new_gap:?}");
                    }
                    _ => {
                        assert_eq!(new_gap, gap);
                        assert_eq!(&rewrite.text[new.bytes.clone()], &text[old.bytes.clone()]);
                    }
                }
                (from, to) = (old.bytes.end, new.bytes.end);
            }
            assert_eq!(&rewrite.text[to..], &text[from..]);
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn yaml_with_markers_changes_only_the_marked_scalars(
                text in yaml(),
                latest in latest(),
            ) {
                only_set_scalars_change(&text, &latest);
            }

            #[test]
            fn noisy_yaml_never_panics_nor_corrupts(text in noisy_yaml(), latest in latest()) {
                only_set_scalars_change(&text, &latest);
            }

            #[test]
            fn arbitrary_text_never_panics(text in any::<String>(), latest in latest()) {
                only_set_scalars_change(&text, &latest);
            }
        }
    }
}
