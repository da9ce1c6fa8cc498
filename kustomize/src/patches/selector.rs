//! Patch and replacement targets: kustomize's `Selector` matched against resources.

use regex::Regex;
use serde_json::Value;

use super::super::error::StepResult;
use super::super::kustomization::Selector;
use super::super::resource::Resource;

/// Indexes of the resources `selector` selects, as kustomize's `resWrangler.Select`: group,
/// version, kind, name and namespace are anchored regular expressions (name and namespace
/// match the original or the current value), label and annotation selectors use Kubernetes'
/// selector syntax. Errors on an invalid expression.
pub fn select(resources: &[Resource], selector: &Selector) -> StepResult<Vec<usize>> {
    let group = anchored(&selector.group)?;
    let version = anchored(&selector.version)?;
    let kind = anchored(&selector.kind)?;
    let name = anchored(&selector.name)?;
    let namespace = anchored(&selector.namespace)?;
    let labels = parse_label_selector(&selector.label_selector)?;
    let annotations = parse_label_selector(&selector.annotation_selector)?;
    let mut selected = Vec::new();
    for (index, resource) in resources.iter().enumerate() {
        let (original, current) = (resource.original_id(), resource.current_id());
        let matches = |regex: &Option<Regex>, values: [&str; 2]| {
            regex
                .as_ref()
                .is_none_or(|regex| values.iter().any(|value| regex.is_match(value)))
        };
        let gvk = resource.gvk();
        if matches(
            &namespace,
            [
                original.effective_namespace(),
                current.effective_namespace(),
            ],
        ) && matches(&name, [&original.name, &current.name])
            && matches(&group, [&gvk.group, &gvk.group])
            && matches(&version, [&gvk.version, &gvk.version])
            && matches(&kind, [&gvk.kind, &gvk.kind])
            && requirements_match(&labels, &resource.metadata_map("labels"))
            && requirements_match(&annotations, &resource.metadata_map("annotations"))
        {
            selected.push(index);
        }
    }
    Ok(selected)
}

fn anchored(pattern: &str) -> StepResult<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|error| error.to_string())
}

/// One requirement of a Kubernetes label selector.
#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Errors on an empty key.
fn parse_label_selector(text: &str) -> StepResult<Vec<Requirement>> {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for character in text.chars() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(character);
    }
    terms.push(current);
    terms
        .iter()
        .map(|term| term.trim())
        .filter(|term| !term.is_empty())
        .map(parse_requirement)
        .collect()
}

fn parse_requirement(term: &str) -> StepResult<Requirement> {
    let set = |rest: &str| -> Vec<String> {
        rest.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().to_string())
            .collect()
    };
    if let Some((key, rest)) = term.split_once(" notin ") {
        return Ok(Requirement::NotIn(key.trim().to_string(), set(rest)));
    }
    if let Some((key, rest)) = term.split_once(" in ") {
        return Ok(Requirement::In(key.trim().to_string(), set(rest)));
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().to_string()));
    }
    if term.contains(char::is_whitespace) {
        return Err(format!("invalid label selector term '{term}'"));
    }
    Ok(Requirement::Exists(term.to_string()))
}

fn requirements_match(
    requirements: &[Requirement],
    labels: &serde_json::Map<String, Value>,
) -> bool {
    let get = |key: &str| {
        labels
            .get(key)
            .map(super::super::kustomization::scalar_string)
    };
    requirements.iter().all(|requirement| match requirement {
        Requirement::Equals(key, value) => get(key).as_deref() == Some(value),
        Requirement::NotEquals(key, value) => get(key).as_deref() != Some(value),
        Requirement::In(key, values) => get(key).is_some_and(|label| values.contains(&label)),
        Requirement::NotIn(key, values) => get(key).is_none_or(|label| !values.contains(&label)),
        Requirement::Exists(key) => get(key).is_some(),
        Requirement::NotExists(key) => get(key).is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str, app: &str) -> Resource {
        Resource::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": app}}}),
        )
    }

    #[test]
    fn selects_by_regex_name_and_labels() {
        let resources = [
            deployment("source-controller", "a"),
            deployment("helm-controller", "b"),
            deployment("other", "a"),
        ];
        let by_name = Selector {
            kind: "Deployment".into(),
            name: "(source-controller|helm-controller)".into(),
            ..Selector::default()
        };
        assert_eq!(select(&resources, &by_name).unwrap(), vec![0, 1]);
        let by_label = Selector {
            label_selector: "app in (a),app!=b".into(),
            ..Selector::default()
        };
        assert_eq!(select(&resources, &by_label).unwrap(), vec![0, 2]);
    }
}
