//! The image transformer (kustomize's `ImageTagTransformer` with its legacy container walk).

use regex::Regex;
use serde_json::Value;

use super::super::error::StepResult;
use super::super::fieldspec::{FieldSpec, walk};
use super::super::kustomization::Image;
use super::super::resource::Resource;

/// Rewrites every image reference matching `image.name` in every `containers` and
/// `initContainers` list (except in CRDs) and in the fields of `specs`: new name, new tag,
/// digest or tag suffix, as kustomize does. Never fails on values it cannot read.
pub fn set_images(
    resources: &mut [Resource],
    image: &Image,
    specs: &[FieldSpec],
) -> StepResult<()> {
    let Ok(matcher) = image_matcher(&image.name) else {
        return Ok(());
    };
    let mut update = |field: &mut Value| -> StepResult<()> {
        if let Some(current) = field.as_str().filter(|current| matcher.is_match(current)) {
            *field = Value::String(updated_image(current, image));
        }
        Ok(())
    };
    for resource in resources.iter_mut() {
        if resource.kind() != "CustomResourceDefinition" {
            update_containers(&mut resource.object, &mut update)?;
        }
        let gvk = resource.gvk();
        for spec in specs.iter().filter(|spec| spec.selects(&gvk)) {
            walk(&mut resource.object, &spec.segments(), false, &mut update)?;
        }
    }
    Ok(())
}

fn image_matcher(name: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(
        "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$"
    ))
}

fn update_containers(
    value: &mut Value,
    update: &mut dyn FnMut(&mut Value) -> StepResult<()>,
) -> StepResult<()> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                update_containers(child, update)?;
                if key == "containers" || key == "initContainers" {
                    for container in child.as_array_mut().into_iter().flatten() {
                        if let Some(image) = container.get_mut("image") {
                            update(image)?;
                        }
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| update_containers(item, update)),
        _ => Ok(()),
    }
}

/// Splits an image reference into name, tag and digest (kustomize's `image.Split`).
pub fn split_image(reference: &str) -> (String, String, String) {
    let slash = reference.find('/').filter(|index| *index > 0).unwrap_or(0);
    let search = &reference[slash..];
    let at = search.find('@').map(|index| index + slash);
    let colon = search.find(':').map(|index| index + slash);
    match (colon, at) {
        (None, None) => (reference.to_string(), String::new(), String::new()),
        (colon, Some(at)) if colon.is_none_or(|colon| at < colon) => (
            reference[..at].to_string(),
            String::new(),
            reference[at + 1..].to_string(),
        ),
        (Some(colon), Some(at)) => (
            reference[..colon].to_string(),
            reference[colon + 1..at].to_string(),
            reference[at + 1..].to_string(),
        ),
        (Some(colon), None) => (
            reference[..colon].to_string(),
            reference[colon + 1..].to_string(),
            String::new(),
        ),
        (None, Some(_)) => (reference.to_string(), String::new(), String::new()),
    }
}

fn updated_image(current: &str, image: &Image) -> String {
    let (mut name, mut tag, mut digest) = split_image(current);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() && !image.digest.is_empty() {
        tag = image.new_tag.clone();
        digest = image.digest.clone();
    } else if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        digest.clear();
    } else if !image.digest.is_empty() {
        tag.clear();
        digest = image.digest.clone();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_registry_ports_tags_and_digests() {
        assert_eq!(
            split_image("localhost:5000/app:1.0"),
            ("localhost:5000/app".into(), "1.0".into(), String::new())
        );
        assert_eq!(
            split_image("nginx@sha256:abc"),
            ("nginx".into(), String::new(), "sha256:abc".into())
        );
        assert_eq!(
            split_image("nginx"),
            ("nginx".into(), String::new(), String::new())
        );
    }

    #[test]
    fn rewrites_matching_images_only() {
        let image = Image {
            name: "nginx".into(),
            new_tag: "1.2".into(),
            ..Image::default()
        };
        assert_eq!(updated_image("nginx:1.0", &image), "nginx:1.2");
        assert!(!image_matcher("nginx").unwrap().is_match("nginx-other:1"));
    }
}
