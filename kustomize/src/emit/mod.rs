//! A YAML printer that writes, byte for byte, what `kustomize build` writes for a resource.
//!
//! kustomize prints each resource by turning it into JSON and that into YAML with go-yaml v2
//! (`sigs.k8s.io/yaml.JSONToYAML`): keys in go-yaml's natural order, two-space indent,
//! sequences not indented under their key, literal blocks for multi-line strings, YAML 1.1
//! quoting (`"on"`, `"0755"`, `"2024-01-02"`), single quotes where the characters forbid a bare
//! string, and long scalars folded at column 80. No Rust YAML crate reproduces these choices
//! (serde_yaml_ng, saphyr and yaml-rust2 follow YAML 1.2 and never fold), and byte-identical
//! output is what lets `sluice build` stand in for `kustomize build` in diffs and hashes, so the
//! emitter is ours: a port of the parts of libyaml's emitter (go-yaml v2's `emitterc.go`) that
//! block-style output uses. Not ported: flow collections other than `{}` and `[]`, keys longer
//! than 128 bytes (go-yaml writes them as `? key` complex keys), anchors and tags.

mod chars;
mod key_order;
mod number;
mod style;
mod writer;

use serde_json::Value;

use style::Style;
use writer::{BEST_INDENT, Writer};

/// Prints `value` as one YAML document (ending in a newline), as go-yaml v2 marshals it.
pub fn document(value: &Value) -> String {
    let mut writer = Writer::new();
    write_node(&mut writer, value, None, Context::Root);
    writer.write_indent(0);
    writer.out
}

/// Where a node sits: sequences directly under a mapping key are not indented.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    MappingValue,
    SequenceItem,
}

/// Writes one node; `parent_indent` is libyaml's current indentation (None at the root).
fn write_node(writer: &mut Writer, value: &Value, parent_indent: Option<usize>, context: Context) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let indent = parent_indent.map_or(0, |indent| indent + BEST_INDENT);
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| key_order::compare_keys(a.0, b.0));
            for (key, child) in entries {
                writer.write_indent(indent);
                write_string(writer, key, indent + BEST_INDENT, true);
                writer.write_indicator(":", false, false, false);
                write_node(writer, child, Some(indent), Context::MappingValue);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let indentless = context == Context::MappingValue && !writer.indention;
            let indent = match parent_indent {
                None => 0,
                Some(indent) if indentless => indent,
                Some(indent) => indent + BEST_INDENT,
            };
            for item in items {
                writer.write_indent(indent);
                writer.write_indicator("-", true, false, true);
                write_node(writer, item, Some(indent), Context::SequenceItem);
            }
        }
        Value::Object(_) => write_empty(writer, "{", "}"),
        Value::Array(_) => write_empty(writer, "[", "]"),
        Value::String(text) => {
            let indent = parent_indent.map_or(BEST_INDENT, |indent| indent + BEST_INDENT);
            write_string(writer, text, indent, false);
        }
        Value::Null => writer.write_plain("null", 0, false),
        Value::Bool(flag) => writer.write_plain(&flag.to_string(), 0, false),
        Value::Number(number) => writer.write_plain(&number::number_text(number), 0, false),
    }
}

fn write_empty(writer: &mut Writer, open: &str, close: &str) {
    writer.write_indicator(open, true, true, false);
    writer.write_indicator(close, false, false, false);
}

/// Writes a string in go-yaml's style for it; `indent` is where continuation lines start.
fn write_string(writer: &mut Writer, text: &str, indent: usize, simple_key: bool) {
    let allow_breaks = !simple_key;
    match style::choose(text, simple_key) {
        Style::Plain => writer.write_plain(text, indent, allow_breaks),
        Style::SingleQuoted => writer.write_single_quoted(text, indent, allow_breaks),
        Style::DoubleQuoted => writer.write_double_quoted(text, indent, allow_breaks),
        Style::Literal => writer.write_literal(text, indent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_kustomize() {
        let value = json!({"kind": "ConfigMap", "data": {"a": "on", "b": "0755", "c": "x\ny\n", "d": "plain", "e": ""},
            "list": [{"name": "web", "args": ["--x", "1"]}, [["x"]], {}], "empty": {}});
        let expected = "data:\n  a: \"on\"\n  b: \"0755\"\n  c: |\n    x\n    y\n  d: plain\n  e: \"\"\nempty: {}\nkind: ConfigMap\nlist:\n- args:\n  - --x\n  - \"1\"\n  name: web\n- - - x\n- {}\n";
        assert_eq!(document(&value), expected);
    }

    #[test]
    fn folds_long_scalars_at_column_80() {
        let words = |count: usize| vec!["word"; count].join(" ");
        let value = json!({"spec": {"plain": words(20), "quoted": format!("a: {}", words(20)), "list": [words(20)]}});
        let expected = format!(
            "spec:\n  list:\n  - {}\n    {}\n  plain: {}\n    {}\n  quoted: 'a: {}\n    {}'\n",
            words(16),
            words(4),
            words(15),
            words(5),
            words(14),
            words(6)
        );
        assert_eq!(document(&value), expected);
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let value = json!({"a": ["- x", "a: b", "#c", "yes", "1e3", "-1", "~", "x #y", " lead", "multi\nline", "tab\t", "\u{1F600}", "it's"], "b": null, "c": 1.5, "n": "key"});
        let text = document(&value);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
