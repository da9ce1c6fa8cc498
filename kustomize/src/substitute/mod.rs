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
//! Written here rather than taken from crates.io: `envsubst` (coreos) only knows `${VAR}` with no
//! defaults, `subst` uses `${VAR:default}` (not bash's `:=`/`:-`) and neither has strict mode,
//! `$$` escaping or drone's operator set. Substring and length work on bytes as Go does; a cut
//! inside a multi-byte character is written as U+FFFD where Go would write the raw bytes.

mod evaluate;
mod glob;
mod parser;

use std::collections::BTreeMap;

use serde_json::Value;

use evaluate::evaluate;
use parser::Parser;

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
}

/// Variables by name.
pub type Variables = BTreeMap<String, String>;

/// Substitutes `vars` into one built object, as kustomize-controller does after `kustomize
/// build`: the object is written as YAML, expanded with [`expand`], and read back, so
/// `replicas: ${REPLICAS}` with `REPLICAS=3` becomes the number 3. Returns the object unchanged
/// when it is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled` or when `vars` is empty.
/// Fails with [`Error::InvalidVariableName`], the errors of [`expand`], or [`Error::Yaml`].
pub fn substitute_resource(resource: &Value, vars: &Variables) -> Result<Value, Error> {
    if is_disabled(resource) || vars.is_empty() {
        return Ok(resource.clone());
    }
    let vars = loaded_variables(vars)?;
    let yaml = serde_yaml_ng::to_string(resource).map_err(|e| Error::Yaml(e.to_string()))?;
    let expanded = expand(&yaml, &vars)?;
    serde_yaml_ng::from_str(&expanded).map_err(|e| Error::Yaml(e.to_string()))
}

/// Substitutes `vars` into the text of one YAML document (as `flux envsubst` does per
/// document), unless the document is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled`, in
/// which case it is returned as is. Text that does not parse as YAML is substituted. Fails with
/// [`Error::InvalidVariableName`] or the errors of [`expand`].
pub fn substitute_document(document: &str, vars: &Variables) -> Result<String, Error> {
    let parsed: Result<Value, _> = serde_yaml_ng::from_str(document);
    if parsed.is_ok_and(|value| is_disabled(&value)) {
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
/// default, or with one of the syntax errors ([`Error::BadSubstitution`],
/// [`Error::MissingClosingBrace`], ...).
pub fn expand(text: &str, vars: &Variables) -> Result<String, Error> {
    let nodes = Parser::new(text).parse_all()?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        out.push_str(&evaluate(node, vars)?);
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
}
