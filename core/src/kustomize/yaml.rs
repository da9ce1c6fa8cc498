//! Reading YAML streams into JSON values and printing resources as `kustomize build` does.

use serde::Deserialize;
use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

/// Parses every document of a YAML stream into JSON values, as kustomize's kio reader does:
/// empty documents are dropped, integral floats become integers (kustomize round-trips through
/// JSON), non-string keys become strings, tags are ignored. Errors with the parser's message.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let text = octal_file_modes(text);
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let yaml = Yaml::deserialize(document).map_err(|error| error.to_string())?;
        let value = yaml_to_json(yaml);
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// Parses one YAML document (or an empty text) into a JSON value; `Value::Null` when empty.
pub fn parse_document(text: &str) -> Result<Value, String> {
    let mut documents = parse_documents(text)?;
    match documents.len() {
        0 => Ok(Value::Null),
        1 => Ok(documents.remove(0)),
        _ => Err("expected one YAML document, found several".to_string()),
    }
}

/// Rewrites plain YAML 1.1 octal file modes (`defaultMode: 0755`, `mode: 0644`) to decimal, as
/// Go's yaml.v3 reads them (serde_yaml_ng follows YAML 1.2, where they are strings).
fn octal_file_modes(text: &str) -> std::borrow::Cow<'_, str> {
    static MODE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(mode) = MODE.get_or_init(|| {
        regex::Regex::new(r"(?m)^(\s*(?:- )?(?:defaultMode|mode):\s+)(0[0-7]+)[ \t]*$").ok()
    }) else {
        return std::borrow::Cow::Borrowed(text);
    };
    mode.replace_all(text, |captures: &regex::Captures| {
        let decimal = i64::from_str_radix(&captures[2], 8).unwrap_or(0);
        format!("{}{decimal}", &captures[1])
    })
}

fn yaml_to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(flag) => Value::Bool(flag),
        Yaml::Number(number) => number_to_json(&number),
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                object.insert(key_to_string(key), yaml_to_json(value));
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn number_to_json(number: &serde_yaml_ng::Number) -> Value {
    if let Some(integer) = number.as_i64() {
        return Value::Number(integer.into());
    }
    if let Some(integer) = number.as_u64() {
        return Value::Number(integer.into());
    }
    let float = number.as_f64().unwrap_or(0.0);
    if float.fract() == 0.0 && float.abs() < 1e15 {
        return Value::Number((float as i64).into());
    }
    Number::from_f64(float).map_or(Value::Null, Value::Number)
}

fn key_to_string(key: Yaml) -> String {
    match key {
        Yaml::String(text) => text,
        Yaml::Bool(flag) => flag.to_string(),
        Yaml::Number(number) => number.to_string(),
        Yaml::Null => "null".to_string(),
        other => serde_yaml_ng::to_string(&other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
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
