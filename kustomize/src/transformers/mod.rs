//! kustomize's built-in transformers, each a function over the build's resources.

pub mod images;
pub mod metadata_maps;
pub mod names;
pub mod namespace;
pub mod replicas;

use serde_json::Value;

use super::error::StepResult;

/// Sets a scalar field to `value` (as string), refusing maps and lists.
pub(crate) fn set_scalar(field: &mut Value, value: &str) -> StepResult<()> {
    match field {
        Value::Object(_) | Value::Array(_) => {
            Err(format!("expected a scalar field, found {field}"))
        }
        _ => {
            *field = Value::String(value.to_string());
            Ok(())
        }
    }
}
