//! Post-build variable substitution (`spec.postBuild`), as Flux's kustomize-controller runs it:
//! the bash-like `${var}` expansion of `fluxcd/pkg/envsubst` (a fork of `drone/envsubst`) in
//! strict mode (the `StrictPostBuildSubstitutions` default since Flux v1.9: a variable without a
//! default that is not set is an error), over each built object's YAML.
//!
//! Grammar, as that parser reads it (quirks included, since Flux users' manifests rely on them):
//! - `${var}`; `$var` without braces is left alone. `$${var}` writes `${var}` (outside `${...}`,
//!   `$$` writes `$`).
//! - defaults `${var:=word}`, `${var:-word}`, `${var=word}`, `${var:+word}`, `${var:?word}`: all
//!   give `word` when `var` is unset **or empty** (the fork does not tell them apart); `word`
//!   may hold nested `${...}`. `${var-word}` is not supported and fails ("missing closing brace").
//! - `${#var}` length in bytes, `${var^}`, `${var^^}`, `${var,}`, `${var,,}` case,
//!   `${var:pos}`, `${var:pos:len}` byte substring, `${var/a/b}`, `${var//a/b}`,
//!   `${var/#a/b}`, `${var/%a/b}` replace (`\/` and `\\` escape in the patterns),
//!   `${var#glob}`, `${var##glob}`, `${var%glob}`, `${var%%glob}` trims (`*` also matches `/`;
//!   the suffix forms match the reversed pattern against the reversed value, so bracket classes
//!   do not work there, as in Flux).
//!
//! Variable names must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`; values lose their newlines
//! (Flux strips them when loading variables). Objects labelled or annotated
//! `kustomize.sluice.dev/substitute: disabled` are left alone.
//!
//! Bounded for untrusted templates and variables (see [`limits`](crate::limits)): `${...}`
//! nests at most [`MAX_SUBSTITUTION_DEPTH`](crate::limits::MAX_SUBSTITUTION_DEPTH) deep, the
//! texts one expansion produces add up to at most
//! [`MAX_SUBSTITUTED_BYTES`](crate::limits::MAX_SUBSTITUTED_BYTES), trims run in
//! O(value × pattern) (no backtracking), and the substituted YAML of an object may hold no alias
//! (an object written as YAML has none, so one can only come from a variable's value, where it
//! would copy nodes: a "billion laughs"); all are refused with [`Error::Limit`].
//!
//! Written here rather than taken from crates.io: `envsubst` (coreos) only knows `${VAR}` with no
//! defaults, `subst` uses `${VAR:default}` (not bash's `:=`/`:-`) and neither has strict mode,
//! `$$` escaping or drone's operator set. Substring and length work on bytes as Go does; a cut
//! inside a multi-byte character is written as U+FFFD where Go would write the raw bytes.

mod evaluate;
mod glob;
mod parser;

use std::collections::BTreeMap;

use serde_json::Value;

use evaluate::Evaluator;
use parser::Parser;

use crate::limits::{Budget, MAX_SUBSTITUTED_BYTES};

/// Label or annotation key that turns substitution off for one object (Flux's
/// `kustomize.toolkit.fluxcd.io/substitute`).
pub const SUBSTITUTE_KEY: &str = "kustomize.sluice.dev/substitute";

/// Value of [`SUBSTITUTE_KEY`] that turns substitution off.
pub const DISABLED: &str = "disabled";

/// Why substitution failed; the messages are Flux's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A variable name does not match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidVariableName(String),
    /// `${name}` (or a transformation of it) references a variable that is not set and has no
    /// default.
    #[error("variable not set (strict mode): {0:?}")]
    VariableNotSet(String),
    /// Malformed `${...}` expression.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${name` followed by something that is not an operator nor `}`.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    ParseVariableName,
    /// A function argument could not be read (e.g. unterminated default).
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    /// A default operator could not be read.
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    /// The object could not be written as YAML, or the substituted text is not valid YAML.
    #[error("YAML: {0}")]
    Yaml(String),
    /// The template or its output exceeds one of the [`limits`](crate::limits): `${...}` nested
    /// too deep, output too large, or an alias in the substituted YAML; the message names it.
    #[error("{0}")]
    Limit(String),
}

/// Variables by name.
pub type Variables = BTreeMap<String, String>;

/// Substitutes `vars` into one built object, as kustomize-controller does after `kustomize
/// build`: the object is written as YAML, expanded with [`expand`], and read back, so
/// `replicas: ${REPLICAS}` with `REPLICAS=3` becomes the number 3. Returns the object unchanged
/// when it is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled` or when `vars` is empty.
/// Fails with [`Error::InvalidVariableName`], the errors of [`expand`], [`Error::Limit`] when the
/// substituted YAML holds an alias or nests past [`MAX_DEPTH`](crate::limits::MAX_DEPTH), or
/// [`Error::Yaml`].
pub fn substitute_resource(resource: &Value, vars: &Variables) -> Result<Value, Error> {
    if is_disabled(resource) || vars.is_empty() {
        return Ok(resource.clone());
    }
    let vars = loaded_variables(vars)?;
    let yaml = serde_yaml_ng::to_string(resource).map_err(|e| Error::Yaml(e.to_string()))?;
    let expanded = expand(&yaml, &vars)?;
    crate::yaml::check_limits(&expanded, &Budget::without_aliases())
        .map_err(|message| Error::Limit(format!("substituted YAML: {message}")))?;
    serde_yaml_ng::from_str(&expanded).map_err(|e| Error::Yaml(e.to_string()))
}

/// Substitutes `vars` into the text of one YAML document (as `flux envsubst` does per
/// document), unless the document is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled`, in
/// which case it is returned as is. Text that does not parse as YAML, or whose YAML passes the
/// [`limits`](crate::limits) (aliases, nesting), is substituted. Fails with
/// [`Error::InvalidVariableName`] or the errors of [`expand`].
pub fn substitute_document(document: &str, vars: &Variables) -> Result<String, Error> {
    let bounded = crate::yaml::check_limits(document, &Budget::new(None)).is_ok();
    let parsed: Option<Value> = bounded
        .then(|| serde_yaml_ng::from_str(document).ok())
        .flatten();
    if parsed.is_some_and(|value| is_disabled(&value)) {
        return Ok(document.to_string());
    }
    expand(document, &loaded_variables(vars)?)
}

/// Whether `resource` carries [`SUBSTITUTE_KEY`]`: disabled` as a label or an annotation.
pub fn is_disabled(resource: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|field| resource["metadata"][field][SUBSTITUTE_KEY].as_str() == Some(DISABLED))
}

/// Checks every name of `vars` and returns the variables with newlines removed from the values,
/// as Flux loads them; fails with [`Error::InvalidVariableName`].
fn loaded_variables(vars: &Variables) -> Result<Variables, Error> {
    vars.iter()
        .map(|(name, value)| {
            if is_valid_name(name) {
                Ok((name.clone(), value.replace('\n', "")))
            } else {
                Err(Error::InvalidVariableName(name.clone()))
            }
        })
        .collect()
}

/// `^[_[:alpha:]][_[:alpha:][:digit:]]*$` (ASCII classes, as in Go's regexp).
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Expands every `${...}` of `text` with `vars` in strict mode (see the module doc for the
/// grammar). Fails with [`Error::VariableNotSet`] naming the first unset variable without a
/// default, with one of the syntax errors ([`Error::BadSubstitution`],
/// [`Error::MissingClosingBrace`], ...), or with [`Error::Limit`] past
/// [`MAX_SUBSTITUTION_DEPTH`](crate::limits::MAX_SUBSTITUTION_DEPTH) or
/// [`MAX_SUBSTITUTED_BYTES`].
pub fn expand(text: &str, vars: &Variables) -> Result<String, Error> {
    let nodes = Parser::new(text).parse_all()?;
    let mut out = String::with_capacity(text.len().min(MAX_SUBSTITUTED_BYTES));
    let mut evaluator = Evaluator::new(vars);
    for node in &nodes {
        out.push_str(&evaluator.evaluate(node)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expanded(text: &str, pairs: &[(&str, &str)]) -> String {
        expand(text, &vars(pairs)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn replaces_braced_variables_only() {
        let v = [("cluster", "prod"), ("region", "eu-1")];
        assert_eq!(
            expanded("name: app-${cluster}-${region}", &v),
            "name: app-prod-eu-1"
        );
        assert_eq!(expanded("plain $cluster text", &v), "plain $cluster text");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let v = [("empty", ""), ("set", "x")];
        assert_eq!(expanded("${missing:=a}", &v), "a");
        assert_eq!(expanded("${missing:-b}", &v), "b");
        assert_eq!(expanded("${missing=c}", &v), "c");
        assert_eq!(expanded("${empty:-d}", &v), "d");
        assert_eq!(expanded("${set:=e}", &v), "x");
        assert_eq!(expanded("${missing:=}", &v), "");
    }

    #[test]
    fn defaults_may_nest_variables() {
        let v = [("default_var", "foo1")];
        assert_eq!(
            expanded("foo: ${var=prefix${default_var}-suffix}", &v),
            "foo: prefixfoo1-suffix"
        );
        assert_eq!(expanded("${a:=${b:=deep}}", &[]), "deep");
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        assert_eq!(
            expand("replicas: ${REPLICAS}", &vars(&[])),
            Err(Error::VariableNotSet("REPLICAS".into()))
        );
        for transformed in [
            "${#missing}",
            "${missing^^}",
            "${missing:0:2}",
            "${missing/a/b}",
            "${missing%.*}",
        ] {
            assert_eq!(
                expand(transformed, &vars(&[])),
                Err(Error::VariableNotSet("missing".into())),
                "{transformed}"
            );
        }
    }

    #[test]
    fn an_unset_variable_in_an_unused_default_still_fails() {
        assert_eq!(
            expand("${set:=${missing}}", &vars(&[("set", "x")])),
            Err(Error::VariableNotSet("missing".into()))
        );
    }

    #[test]
    fn double_dollar_escapes() {
        let v = [("var01", "abc")];
        assert_eq!(expanded("$${var01}", &v), "${var01}");
        assert_eq!(expanded("a$$b", &v), "a$b");
        assert_eq!(
            expanded("some text ${var01}$${var$${var01}$var01${var01}", &v),
            "some text abc${var${var01}$var01abc"
        );
        assert_eq!(expanded("$${x:=${var01}}", &v), "${x:=abc}");
    }

    #[test]
    fn syntax_errors_match_drone() {
        let none = vars(&[("a", "1")]);
        assert_eq!(expand("${a", &none), Err(Error::MissingClosingBrace));
        assert_eq!(
            expand("${a-default}", &none),
            Err(Error::MissingClosingBrace)
        );
        assert_eq!(expand("${}", &none), Err(Error::ParseVariableName));
        assert_eq!(expand("${ a}", &none), Err(Error::ParseVariableName));
        assert_eq!(
            expand("${a:=unterminated", &none),
            Err(Error::ParseFuncSubstitution)
        );
        assert_eq!(expand("${a/x}", &none), Err(Error::BadSubstitution));
    }

    #[test]
    fn string_operators_follow_drone() {
        let v = [
            ("s", "abcdEFGH28ij"),
            ("path_name", "/home/bozo/ideas/thoughts.for.today"),
            ("z", "abcABC123ABCabc"),
            ("f", "bash.string.txt"),
            ("p", "/path/to/file"),
        ];
        assert_eq!(expanded("${#s}", &v), "12");
        assert_eq!(
            expanded("${s^}|${s^^}|${s,}|${s,,}", &v),
            "AbcdEFGH28ij|ABCDEFGH28IJ|abcdEFGH28ij|abcdefgh28ij"
        );
        assert_eq!(expanded("${path_name:11}", &v), "ideas/thoughts.for.today");
        assert_eq!(expanded("${path_name:11:5}", &v), "ideas");
        assert_eq!(expanded("${s:-4}", &v), "abcdEFGH28ij");
        assert_eq!(expanded("${s:1:-1}", &v), "bcdEFGH28i");
        assert_eq!(
            expanded("${z/abc/xyz}|${z//abc/xyz}", &v),
            "xyzABC123ABCabc|xyzABC123ABCxyz"
        );
        assert_eq!(
            expanded("${z/#abc/XYZ}|${z/%abc/XYZ}", &v),
            "XYZABC123ABCabc|abcABC123ABCXYZ"
        );
        assert_eq!(
            expanded("${f#*.}|${f##*.}|${f%.*}|${f%%.*}", &v),
            "string.txt|txt|bash.string|bash"
        );
        assert_eq!(expanded("${p#*/}|${p##*/}", &v), "path/to/file|file");
        assert_eq!(expanded(r"${p//\//-}", &v), "-path-to-file");
    }

    #[test]
    fn substring_position_outside_the_value_is_empty() {
        let v = [("s", "abc")];
        assert_eq!(expanded("[${s:5}]", &v), "[]");
        assert_eq!(expanded("[${s:x}]", &v), "[abc]");
    }

    #[test]
    fn glob_classes_and_escapes() {
        let v = [("f", "v1.2.3-rc1")];
        assert_eq!(expanded("${f#[a-z]}", &v), "1.2.3-rc1");
        assert_eq!(expanded("${f%-rc?}", &v), "v1.2.3");
        // Suffix trims reverse the pattern, as drone does, which breaks bracket classes.
        assert_eq!(expanded("${f%-[a-z]*}", &v), "v1.2.3-rc1");
        assert_eq!(expanded("${f#[}", &v), "v1.2.3-rc1");
    }

    #[test]
    fn resource_substitution_restores_yaml_types() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app-${cluster}"},
            "spec": {"replicas": "${replicas}", "paused": "${paused:=false}"}
        });
        let out = substitute_resource(
            &deployment,
            &vars(&[("cluster", "prod"), ("replicas", "3")]),
        )
        .expect("substituted");
        assert_eq!(out["metadata"]["name"], "app-prod");
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["spec"]["paused"], false);
    }

    #[test]
    fn resource_values_lose_newlines() {
        let config = json!({"kind": "ConfigMap", "data": {"key": "${value}"}});
        let out = substitute_resource(&config, &vars(&[("value", "a\nb\n")])).expect("substituted");
        assert_eq!(out["data"]["key"], "ab");
    }

    #[test]
    fn disabled_resources_and_empty_variables_leave_objects_alone() {
        for field in ["labels", "annotations"] {
            let object = json!({
                "kind": "ConfigMap",
                "metadata": {"name": "x", field: {SUBSTITUTE_KEY: DISABLED}},
                "data": {"script": "echo ${HOME}"}
            });
            assert_eq!(
                substitute_resource(&object, &vars(&[("a", "1")])),
                Ok(object.clone())
            );
        }
        let object = json!({"kind": "ConfigMap", "data": {"script": "echo ${HOME}"}});
        assert_eq!(
            substitute_resource(&object, &Variables::new()),
            Ok(object.clone())
        );
        assert_eq!(
            substitute_resource(&object, &vars(&[("a", "1")])),
            Err(Error::VariableNotSet("HOME".into()))
        );
    }

    #[test]
    fn invalid_variable_names_are_rejected() {
        let object = json!({"kind": "ConfigMap"});
        for bad in ["1abc", "a-b", "", "a.b"] {
            assert_eq!(
                substitute_resource(&object, &vars(&[(bad, "x")])),
                Err(Error::InvalidVariableName(bad.into()))
            );
        }
        assert!(substitute_resource(&object, &vars(&[("_ok_1", "x"), ("OK", "y")])).is_ok());
    }

    #[test]
    fn document_substitution_respects_the_disable_annotation() {
        let disabled = format!(
            "kind: ConfigMap\nmetadata:\n  annotations:\n    {SUBSTITUTE_KEY}: disabled\ndata:\n  a: ${{x}}\n"
        );
        assert_eq!(
            substitute_document(&disabled, &vars(&[])),
            Ok(disabled.clone())
        );
        let enabled = "kind: ConfigMap\ndata:\n  a: ${x}\n";
        assert_eq!(
            substitute_document(enabled, &vars(&[("x", "1")])),
            Ok("kind: ConfigMap\ndata:\n  a: 1\n".to_string())
        );
    }

    use crate::limits::{MAX_SUBSTITUTED_BYTES, MAX_SUBSTITUTION_DEPTH};
    use proptest::prelude::*;
    use std::time::Duration;

    /// Runs `work` on a thread and waits at most ten seconds for it.
    fn within_ten_seconds<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(work()));
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("substitution did not return within ten seconds")
    }

    fn is_limit(result: Result<String, Error>) -> bool {
        matches!(result, Err(Error::Limit(_)))
    }

    #[test]
    fn trims_with_many_stars_run_in_linear_time() {
        let value = "a".repeat(10_000);
        let v = vars(&[("V", &value)]);
        let trimmed = within_ten_seconds(move || {
            expand(
                "${V##*a*a*a*a*a*a*a*b}|${V%%*a*a*a*a*a*a*a*b}|${V#*a*a*a*b}|${V##*a*a*a*b}",
                &v,
            )
        });
        assert_eq!(trimmed, Ok(format!("{value}|{value}|{value}|{value}")));
        let v = vars(&[("V", "xaxaxab-rest")]);
        assert_eq!(expand("${V#*a*a*a*b}", &v), Ok("-rest".to_string()));
        assert_eq!(expand("${V%a*}|${V%%a*}", &v), Ok("xaxax|x".to_string()));
    }

    #[test]
    fn nesting_of_defaults_is_capped() {
        let nested = |levels: usize| format!("{}x{}", "${a:=".repeat(levels), "}".repeat(levels));
        assert_eq!(
            expand(&nested(MAX_SUBSTITUTION_DEPTH), &Variables::new()),
            Ok("x".to_string())
        );
        assert!(is_limit(expand(
            &nested(MAX_SUBSTITUTION_DEPTH + 1),
            &Variables::new()
        )));
        // 100,000 levels overflowed the stack (an abort of the whole controller).
        let deep = nested(100_000);
        assert!(is_limit(within_ten_seconds(move || expand(
            &deep,
            &Variables::new()
        ))));
    }

    #[test]
    fn output_is_capped() {
        let big = "a".repeat(MAX_SUBSTITUTED_BYTES / 8);
        let v = vars(&[("X", &big)]);
        assert_eq!(expand("${X//a/b}", &v).map(|out| out.len()), Ok(big.len()));
        assert!(is_limit(expand("${X//a/0123456789}", &v)));
        assert!(is_limit(expand(&"${X}".repeat(9), &v)));
        assert_eq!(
            expand("${X///-}", &vars(&[("X", "ab")])),
            Ok("-a-b-".to_string())
        );
        assert!(is_limit(expand("${X///0123456789}", &v)));
        // Intermediate texts count too: defaults nested around a large value.
        assert!(is_limit(expand(
            "${u:=${u:=${u:=${u:=${u:=${u:=${u:=${u:=${u:=${X}}}}}}}}}}",
            &v
        )));
    }

    #[test]
    fn many_escapes_parse_in_linear_time() {
        let text = "$$".repeat(500_000);
        let out = within_ten_seconds(move || expand(&text, &Variables::new()));
        assert_eq!(out, Ok("$".repeat(500_000)));
    }

    #[test]
    fn aliases_in_substituted_yaml_are_refused() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "${X}"}});
        let bomb = "[&a [x, x, x], *a, *a]";
        let refused = substitute_resource(&object, &vars(&[("X", bomb)]));
        assert!(
            matches!(&refused, Err(Error::Limit(m)) if m.contains("MAX_ALIAS_NODES")),
            "{refused:?}"
        );
        let plain = substitute_resource(&object, &vars(&[("X", "[x, y]")])).expect("substituted");
        assert_eq!(plain["data"]["k"], json!(["x", "y"]));
    }

    fn config() -> ProptestConfig {
        match std::env::var_os("PROPTEST_CASES") {
            Some(_) => ProptestConfig::default(),
            None => ProptestConfig::with_cases(64),
        }
    }

    fn variables() -> impl Strategy<Value = Variables> {
        prop::collection::btree_map("[abX_]", "[-a-z*?/.\\[\\]$]{0,40}", 0..4)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_templates_never_panic_and_terminate(
            template in "([-ab$ {}:=#%/^,*?.\\[\\]\\\\\n]|\\$\\{[abX]|\\}|:=|##|%%|//){0,200}",
            vars in variables(),
        ) {
            let expanded = within_ten_seconds({
                let (template, vars) = (template.clone(), vars.clone());
                move || expand(&template, &vars)
            });
            if let Ok(out) = expanded {
                prop_assert!(out.len() <= MAX_SUBSTITUTED_BYTES);
            }
            let object = json!({"kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"k": template, "n": "${X}"}});
            let _ = within_ten_seconds(move || substitute_resource(&object, &vars));
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>(), vars in variables()) {
            let _ = expand(&text, &vars);
            let _ = substitute_document(&text, &vars);
        }
    }
}
