//! Reading YAML streams into JSON values as kustomize's kyaml does (go-yaml v3), and printing
//! resources as `kustomize build` does (see `emit`).
//!
//! The reader is built on saphyr-parser's events rather than a serde deserializer because
//! kustomize's reading differs from serde's in ways builds depend on: a key repeated in a
//! mapping keeps its last value instead of failing, plain scalars resolve by go-yaml's rules
//! (`0755` is octal, `yes` is a string, `2024-01-02` stays text), and `<<` merges.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, StrInput, Tag};
use serde_json::{Map, Number, Value};

use super::resolve::{Flavour, Resolved, resolve};

/// Parses every document of a YAML stream of resources into JSON values, as kustomize's kio
/// reader does: empty documents are dropped, plain scalars resolve as go-yaml v3 resolves them,
/// integral floats become integers (kustomize round-trips through JSON), keys become strings,
/// aliases and `<<` merges are expanded, tags other than the core ones make strings. Errors
/// with the parser's message (with line and column), or go-yaml v3's on a repeated key.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    read_stream(text, RepeatedKeys::Refuse)
}

/// What to do with a key repeated in one mapping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RepeatedKeys {
    /// Fail, as go-yaml v3 does when kustomize reads resources.
    Refuse,
    /// Keep the last value, as `sigs.k8s.io/yaml` does when kustomize reads its own files.
    KeepLast,
}

fn read_stream(text: &str, repeated_keys: RepeatedKeys) -> Result<Vec<Value>, String> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        repeated_keys,
    };
    let mut documents = Vec::new();
    loop {
        match reader.next()? {
            Event::StreamEnd => return Ok(documents),
            Event::DocumentStart(_) => {
                let first = reader.next()?;
                let value = reader.node(first)?;
                if !value.is_null() {
                    documents.push(value);
                }
            }
            _ => {}
        }
    }
}

/// Parses one YAML document (or an empty text) of kustomize's own configuration (a
/// kustomization, field specs) into a JSON value; `Value::Null` when empty. Read as
/// [`parse_documents`] reads, except that a repeated key keeps its last value, as kustomize
/// reads these files.
pub fn parse_document(text: &str) -> Result<Value, String> {
    let mut documents = read_stream(text, RepeatedKeys::KeepLast)?;
    match documents.len() {
        0 => Ok(Value::Null),
        1 => Ok(documents.remove(0)),
        _ => Err("expected one YAML document, found several".to_string()),
    }
}

/// Pulls parser events and builds values, remembering anchored nodes for aliases.
struct Reader<'input> {
    parser: Parser<'input, StrInput<'input>>,
    anchors: HashMap<usize, Value>,
    repeated_keys: RepeatedKeys,
}

impl<'input> Reader<'input> {
    fn next(&mut self) -> Result<Event<'input>, String> {
        Ok(self.next_with_line()?.0)
    }

    /// The next event and the line (1-based) it starts on.
    fn next_with_line(&mut self) -> Result<(Event<'input>, usize), String> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, span.start.line())),
            Some(Err(error)) => Err(error.to_string()),
            None => Ok((Event::StreamEnd, 0)),
        }
    }

    /// Builds the node that starts with `event` (a `DocumentEnd` makes an empty node).
    fn node(&mut self, event: Event<'input>) -> Result<Value, String> {
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_deref()), anchor)
            }
            Event::SequenceStart(anchor, _) => (self.sequence()?, anchor),
            Event::MappingStart(anchor, _) => (self.mapping()?, anchor),
            Event::Alias(anchor) => {
                let value = self.anchors.get(&anchor).cloned();
                return value.ok_or_else(|| format!("unknown anchor {anchor}"));
            }
            _ => return Ok(Value::Null),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    fn sequence(&mut self) -> Result<Value, String> {
        let mut items = Vec::new();
        loop {
            match self.next()? {
                Event::SequenceEnd => return Ok(Value::Array(items)),
                event => items.push(self.node(event)?),
            }
        }
    }

    fn mapping(&mut self) -> Result<Value, String> {
        let mut object = Map::new();
        let mut merged = Map::new();
        let mut key_lines = HashMap::new();
        loop {
            let (key_event, line) = self.next_with_line()?;
            if matches!(key_event, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(&key_event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
            let key = match key_event {
                Event::Scalar(text, _, anchor, _) => {
                    if anchor > 0 {
                        self.anchors.insert(anchor, Value::String(text.to_string()));
                    }
                    text.to_string()
                }
                event => key_text(self.node(event)?),
            };
            let value_event = self.next()?;
            let value = self.node(value_event)?;
            if is_merge {
                merge_into(&mut merged, value);
                continue;
            }
            if let Some(first) = key_lines.insert(key.clone(), line)
                && self.repeated_keys == RepeatedKeys::Refuse
            {
                return Err(format!(
                    "yaml: unmarshal errors:\n  line {line}: mapping key \"{key}\" already defined at line {first}"
                ));
            }
            object.insert(key, value);
        }
        for (key, value) in merged {
            object.entry(key).or_insert(value);
        }
        Ok(Value::Object(object))
    }
}

/// The values a `<<` key merges: one mapping or a sequence of them (earlier ones win).
fn merge_into(merged: &mut Map<String, Value>, value: Value) {
    let sources = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(entries) = source {
            for (key, value) in entries {
                merged.entry(key).or_insert(value);
            }
        }
    }
}

fn key_text(key: Value) -> String {
    match key {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// A scalar's value: quoted, block and explicitly tagged strings stay text; plain scalars
/// resolve as go-yaml v3 resolves them.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let core_suffix = tag
        .filter(|tag| tag.is_yaml_core_schema())
        .map(|tag| tag.suffix.as_str());
    let resolvable = matches!(
        (style, tag, core_suffix),
        (_, Some(_), Some("int" | "float" | "bool" | "null")) | (ScalarStyle::Plain, None, _)
    );
    if !resolvable {
        return Value::String(text.to_string());
    }
    match resolve(text, Flavour::V3) {
        Resolved::Null => Value::Null,
        Resolved::Bool(flag) => Value::Bool(flag),
        Resolved::Int {
            negative,
            magnitude,
        } => integer(negative, magnitude),
        Resolved::Float(float) => float_value(float, text),
        Resolved::Timestamp | Resolved::Base60 | Resolved::Merge | Resolved::Str => {
            Value::String(text.to_string())
        }
    }
}

fn integer(negative: bool, magnitude: u64) -> Value {
    if !negative {
        return Value::Number(magnitude.into());
    }
    let signed = 0i64.wrapping_sub_unsigned(magnitude);
    Value::Number(signed.into())
}

/// A float as kustomize's JSON round trip leaves it: integral values become integers; NaN and
/// infinities, which JSON cannot hold, stay as their text.
fn float_value(float: f64, text: &str) -> Value {
    if float.fract() == 0.0 && float.abs() < 1e15 {
        return Value::Number((float as i64).into());
    }
    Number::from_f64(float).map_or_else(|| Value::String(text.to_string()), Value::Number)
}

/// Prints one JSON value as a YAML document with map keys sorted, as kustomize prints resources.
pub fn to_yaml(value: &Value) -> String {
    super::emit::document(value)
}

/// Prints resources as one YAML stream, documents joined by `---`, as `kustomize build` does.
pub fn to_yaml_stream(values: &[Value]) -> String {
    values.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_kyaml() {
        assert!(
            parse_documents("a: 1\nb: 2\na: 3\n")
                .unwrap_err()
                .contains("line 3: mapping key \"a\" already defined at line 1")
        );
        let value = parse_document(
            "a: 1\na: 2\nbase: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nyes: on\nq: '5'\nt: !!str 7\nd: 2024-01-02\nf: 1.0\nn: ~\n",
        )
        .unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 2, "base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "yes": "on",
                "q": "5", "t": "7", "d": "2024-01-02", "f": 1, "n": null})
        );
    }

    #[test]
    fn parses_streams_and_drops_empty_documents() {
        assert_eq!(
            parse_documents("defaultMode: 0755\nb: '0755'\n").unwrap()[0],
            serde_json::json!({"defaultMode": 493, "b": "0755"})
        );
        let documents =
            parse_documents("a: 1.0\n---\n# only a comment\n---\nb: [x, 0x10]\n").unwrap();
        assert_eq!(
            documents,
            vec![
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": ["x", 16]})
            ]
        );
    }

    #[test]
    fn prints_sorted_keys_and_unindented_sequences() {
        let text = to_yaml(&serde_json::json!({"kind": "A", "apiVersion": "v1", "l": ["x"]}));
        assert_eq!(text, "apiVersion: v1\nkind: A\nl:\n- x\n");
    }

    #[test]
    fn reports_malformed_yaml() {
        assert!(parse_documents("a: [1, 2\n").is_err());
    }
}
