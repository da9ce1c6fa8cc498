//! A YAML printer for JSON values that writes what Go's yaml.v3 writes for kustomize: sorted
//! keys, two-space indent, sequences not indented under their key, literal blocks for
//! multi-line strings, and double quotes on every string a YAML 1.1 reader would take for
//! something else (`"on"`, `"yes"`, `"0755"`, `"1.0"`).

use serde_json::Value;

/// Prints `value` as one YAML document (ending in a newline).
pub fn document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, value, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, value, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn sorted_entries(value: &Value) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = value
        .as_object()
        .map(|map| map.iter().collect())
        .unwrap_or_default();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_map(out: &mut String, value: &Value, indent: usize) {
    for (index, (key, child)) in sorted_entries(value).into_iter().enumerate() {
        if index > 0 {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&quote_if_needed(key));
        out.push(':');
        write_child(out, child, indent, indent + 2);
    }
}

/// Writes what follows `key:` or `- `: nested blocks on the next lines, scalars inline.
fn write_child(out: &mut String, child: &Value, indent: usize, nested: usize) {
    match child {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(nested));
            write_map(out, child, nested);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            write_seq(out, child, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, nested));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, value: &Value, indent: usize) {
    for (index, item) in value.as_array().into_iter().flatten().enumerate() {
        if index > 0 {
            out.push_str(&" ".repeat(indent));
        }
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_map(out, item, indent + 2);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push(' ');
                write_seq(out, item, indent + 2);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar_text(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) if is_literal_block(text) => literal_block(text, indent),
        Value::String(text) => quote_if_needed(text),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    }
}

fn is_literal_block(text: &str) -> bool {
    text.contains('\n')
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        && !text.lines().any(|line| line.ends_with(' '))
}

fn literal_block(text: &str, indent: usize) -> String {
    let chomp = if !text.ends_with('\n') {
        "-"
    } else if text.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let indicator = if text.starts_with(' ') { "2" } else { "" };
    let pad = " ".repeat(indent.max(2));
    let body: Vec<String> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect();
    format!("|{indicator}{chomp}\n{}", body.join("\n"))
}

const YAML_11_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", ".inf",
    ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN",
];

fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut chars = body.chars();
    let starts_numeric = matches!(chars.next(), Some('0'..='9' | '.')) && body != ".";
    starts_numeric
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '-'))
        && (body.parse::<f64>().is_ok()
            || body.starts_with("0x")
            || body.starts_with("0o")
            || body.starts_with("0b")
            || body
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == ':' || c == '.'))
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || YAML_11_WORDS.contains(&text)
        || looks_numeric(text)
        || text.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ]) && !(text.starts_with('-')
            && text.len() > 1
            && !text.starts_with("- ")
            && !text.starts_with("--- ")
            && text != "---"
            && !looks_numeric(text)
            && !text.starts_with("-."))
        || text.ends_with(' ')
        || text.ends_with(':')
        || text.contains(": ")
        || text.contains(" #")
        || text.chars().any(|c| c.is_control())
}

fn quote_if_needed(text: &str) -> String {
    if !needs_quotes(text) {
        return text.to_string();
    }
    let mut quoted = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_kustomize() {
        let value = json!({"kind": "ConfigMap", "data": {"a": "on", "b": "0755", "c": "x\ny\n", "d": "plain", "e": ""},
            "list": [{"name": "web", "args": ["--x", "1"]}], "empty": {}});
        let expected = "data:\n  a: \"on\"\n  b: \"0755\"\n  c: |\n    x\n    y\n  d: plain\n  e: \"\"\nempty: {}\nkind: ConfigMap\nlist:\n- args:\n  - --x\n  - \"1\"\n  name: web\n";
        assert_eq!(document(&value), expected);
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let value = json!({"a": ["- x", "a: b", "#c", "yes", "1e3", "-1", "~", "x #y", " lead", "multi\nline"], "b": null, "c": 1.5});
        let text = document(&value);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
