//! The content-hash suffix kustomize appends to generated ConfigMap and Secret names.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The 10-character hash suffix of a ConfigMap or Secret, as kustomize's `hasher.Hash`: sha256
/// over Go-style compact JSON of kind, name (always "", as kustomize looks up `metadata/name` as
/// one key), data (or "" when absent), binaryData/stringData when maps, and a Secret's type;
/// the first 10 hex digits with `0 1 3 a e` mapped to `g h k m t`.
pub fn content_hash(object: &Value) -> String {
    let mut fields = Map::new();
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    fields.insert("kind".into(), json!(kind));
    fields.insert("name".into(), json!(""));
    fields.insert(
        "data".into(),
        object.get("data").cloned().unwrap_or(json!("")),
    );
    let extra = if kind == "Secret" {
        "stringData"
    } else {
        "binaryData"
    };
    if let Some(map) = object.get(extra).filter(|value| value.is_object()) {
        fields.insert(extra.into(), map.clone());
    }
    if kind == "Secret" {
        fields.insert(
            "type".into(),
            object.get("type").cloned().unwrap_or(json!("")),
        );
    }
    let encoded = go_json(&Value::Object(fields));
    let digest = Sha256::digest(encoded.as_bytes());
    let hex: String = digest
        .iter()
        .take(5)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    hex.chars()
        .map(|digit| match digit {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// Compact JSON with sorted keys and Go's HTML escaping of `<`, `>`, `&`, U+2028 and U+2029.
fn go_json(value: &Value) -> String {
    sorted(value)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kustomizes_hash_of_a_known_config_map() {
        let object = json!({"kind": "ConfigMap", "data": {"fruit": "apple", "veggie": "broccoli"}});
        assert_eq!(content_hash(&object), "877mt5hc89");
    }
}
