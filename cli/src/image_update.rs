//! `sluice image update --path DIR --set NS:NAME=IMAGE:TAG[@DIGEST] ...`: applies Flux's setter
//! markers to the YAML files under DIR in place, on the controller's own setters code, and prints
//! the changed files (relative to DIR), one per line.
//!
//! Files holding a marker that do not parse are left untouched and reported on standard error,
//! as are markers not applied (unknown policy, invalid marker); neither fails the command, as
//! Flux skips such files and markers. The command fails (status 1) when a `--set` is invalid or
//! repeats a policy, when DIR cannot be listed, or when a changed file cannot be written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use sluice_image_automation::setters::policy::{LatestImage, Policies, PolicyKey};
use sluice_image_automation::setters::rewrite::MarkerOutcome;
use sluice_image_automation::setters::tree::{TreeUpdate, update_tree, write_tree_update};

/// Arguments of `sluice image update`.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Directory whose YAML files are updated in place.
    #[arg(long)]
    pub path: PathBuf,
    /// The latest image of a policy, e.g. `flux-system:app=ghcr.io/org/app:1.2.3`; repeatable.
    #[arg(long = "set", value_name = "NS:NAME=IMAGE:TAG[@DIGEST]", value_parser = parse_set)]
    pub sets: Vec<(PolicyKey, LatestImage)>,
}

/// Updates the files under `args.path` and prints the changed ones.
///
/// Errors on a repeated policy, an unlistable directory or an unwritable file.
pub fn run(args: UpdateArgs) -> anyhow::Result<()> {
    let policies = policies_from(args.sets)?;
    let update = update_tree(&args.path, &policies)?;
    report_skipped(&update);
    let written = write_tree_update(&args.path, &update)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Reads one `--set` value `NS:NAME=IMAGE:TAG[@DIGEST]` into the policy and its latest image.
///
/// Errors (as text for clap) when `=` is missing, the policy is not `NS:NAME`, or the image is
/// not `NAME:TAG[@DIGEST]` (a registry port stays in the name).
pub fn parse_set(text: &str) -> Result<(PolicyKey, LatestImage), String> {
    let (policy, image) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NS:NAME=IMAGE:TAG[@DIGEST]"))?;
    let policy = policy
        .parse::<PolicyKey>()
        .map_err(|error| error.to_string())?;
    let image = image
        .parse::<LatestImage>()
        .map_err(|error| error.to_string())?;
    Ok((policy, image))
}

/// The policies of the `--set` values (no automation namespace: any namespace is accepted).
///
/// Errors when a policy is given twice.
pub fn policies_from(sets: Vec<(PolicyKey, LatestImage)>) -> anyhow::Result<Policies> {
    let mut latest = BTreeMap::new();
    for (policy, image) in sets {
        if latest.contains_key(&policy) {
            bail!("policy {policy} is set more than once");
        }
        latest.insert(policy, Some(image));
    }
    Ok(Policies {
        automation_namespace: None,
        latest,
        images_entries: Default::default(),
    })
}

/// Prints on standard error the files left untouched and the markers not applied.
fn report_skipped(update: &TreeUpdate) {
    for (path, problem) in &update.problems {
        eprintln!("warning: {} left untouched: {problem}", path.display());
    }
    for (path, rewrite) in &update.files {
        for marker in &rewrite.markers {
            if let MarkerOutcome::Ignored(reason) = &marker.outcome {
                eprintln!(
                    "warning: {}:{}: marker {} ignored: {reason}",
                    path.display(),
                    marker.line,
                    marker.setter
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policy_and_image_with_port_and_digest() {
        let (policy, image) =
            parse_set("flux-system:app=registry:5000/org/app:1.2.3@sha256:ab").unwrap();
        assert_eq!(policy.to_string(), "flux-system:app");
        assert_eq!(
            (image.name.as_str(), image.tag.as_str()),
            ("registry:5000/org/app", "1.2.3")
        );
        assert_eq!(image.digest.as_deref(), Some("sha256:ab"));
    }

    #[test]
    fn refuses_malformed_values() {
        for text in [
            "flux-system:app",
            "app=img:1",
            "ns:app=img",
            "ns:app=img:1@",
        ] {
            assert!(parse_set(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_policy_set_twice_is_an_error() {
        let sets = vec![
            parse_set("ns:a=img:1").unwrap(),
            parse_set("ns:b=img:2").unwrap(),
        ];
        let policies = policies_from(sets).unwrap();
        assert_eq!(policies.latest.len(), 2);
        assert_eq!(policies.automation_namespace, None);
        let twice = vec![
            parse_set("ns:a=img:1").unwrap(),
            parse_set("ns:a=img:2").unwrap(),
        ];
        assert!(policies_from(twice).is_err());
    }
}
