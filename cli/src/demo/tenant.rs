//! The tenant: the example repository `examples/podinfo-tenant` (a sample app with a base and
//! dev, qa and prod overlays carrying setter markers) pushed to Gitea, and its `platform/`
//! folder (the tenant namespace and ServiceAccount, sources, one Kustomization per stage, image
//! scanning and automation, commit statuses, the qa Canary, the Pipeline) built, filled in with
//! the demo's addresses by postBuild substitution, and applied as a platform team would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use kube::Client;
use serde_json::Value;
use sluice_servers::gitea::{Gitea, PASSWORD, USER};

/// The tenant's namespace, where all its Sluice objects live.
pub const NAMESPACE: &str = "podinfo";
/// The repository's name on Gitea.
pub const REPOSITORY: &str = "podinfo";
/// The folder of the example in the checkout.
pub const EXAMPLE: &str = "examples/podinfo-tenant";

/// The example's folder in this checkout.
pub fn example_dir() -> PathBuf {
    sluice_servers::binaries::workspace_root().join(EXAMPLE)
}

/// `text` with each `${NAME}` of `vars` replaced by its value; other text is left as it is
/// (the overlays' `$imagepolicy` markers included).
pub fn render(text: &str, vars: &BTreeMap<String, String>) -> String {
    vars.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    })
}

/// Creates the repository on Gitea and pushes the example's `apps/` folder to `main` (files
/// rendered with `vars`, see [`render`]) from a working copy in `work`; returns the commit's
/// SHA-1 once Gitea knows the branch.
///
/// Errors: a file cannot be read or written, git failed, or Gitea refused.
pub async fn seed_repository(
    gitea: &Gitea,
    work: &Path,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    gitea.create_repo(REPOSITORY).await?;
    copy_rendered(&example_dir().join("apps"), &work.join("apps"), vars)?;
    git(work, &["init", "-q", "-b", "main"])?;
    git(work, &["add", "."])?;
    git(
        work,
        &["commit", "-q", "-m", "podinfo: dev, qa and prod at 6.5.0"],
    )?;
    git(
        work,
        &[
            "push",
            "-q",
            &gitea.clone_url_with_credentials(REPOSITORY),
            "main",
        ],
    )?;
    gitea.wait_for_branch(REPOSITORY, "main").await?;
    git(work, &["rev-parse", "HEAD"])
}

/// Builds `platform/`, substitutes `vars` (Flux postBuild syntax) and applies it as `client`.
///
/// Errors: the build, a substitution or an apply failed.
pub async fn apply_platform(
    client: &Client,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<usize> {
    let dir = example_dir().join("platform").canonicalize()?;
    let objects: Vec<Value> = sluice_kustomize::build(&dir, Some(&dir))
        .context("building the platform folder")?
        .iter()
        .map(|object| sluice_kustomize::substitute::substitute_resource(object, vars))
        .collect::<Result<_, _>>()
        .context("substituting the platform folder")?;
    crate::install::apply(client, objects, NAMESPACE, Duration::from_secs(60)).await
}

/// The substitution variables of the demo's servers.
pub fn variables(gitea: &Gitea, registry: &str, prometheus: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("GITEA_URL".to_owned(), gitea.url.clone()),
        ("GITEA_USER".to_owned(), USER.to_owned()),
        ("GITEA_PASSWORD".to_owned(), PASSWORD.to_owned()),
        ("GITEA_TOKEN".to_owned(), gitea.token.clone()),
        ("REGISTRY".to_owned(), registry.to_owned()),
        ("PROMETHEUS_URL".to_owned(), prometheus.to_owned()),
    ])
}

fn copy_rendered(from: &Path, to: &Path, vars: &BTreeMap<String, String>) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().context("a file without a name")?);
        if path.is_dir() {
            copy_rendered(&path, &target, vars)?;
        } else {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            std::fs::write(&target, render(&text, vars))
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(sluice_servers::binaries::system_program("git", "git")?)
        .args([
            "-c",
            "user.name=Sluice demo",
            "-c",
            "user.email=demo@sluice.dev",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git")?;
    ensure!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_the_variables_and_leaves_setter_markers_alone() {
        let vars = BTreeMap::from([("REGISTRY".to_owned(), "127.0.0.1:5000".to_owned())]);
        let overlay =
            std::fs::read_to_string(example_dir().join("apps/podinfo/dev/kustomization.yaml"))
                .unwrap();
        let rendered = render(&overlay, &vars);
        assert!(rendered.contains("newName: 127.0.0.1:5000/podinfo\n"));
        assert!(rendered.contains(r#"newTag: 6.5.0 # {"$imagepolicy": "podinfo:podinfo:tag"}"#));
    }

    #[test]
    fn the_platform_folder_builds_with_every_variable_filled() {
        let dir = example_dir().join("platform");
        let vars: BTreeMap<String, String> = [
            "GITEA_URL",
            "GITEA_USER",
            "GITEA_PASSWORD",
            "GITEA_TOKEN",
            "REGISTRY",
            "PROMETHEUS_URL",
        ]
        .into_iter()
        .map(|name| (name.to_owned(), format!("value-of-{name}")))
        .collect();
        let objects = sluice_kustomize::build(&dir, Some(&dir)).unwrap();
        let text = objects
            .iter()
            .map(|object| {
                sluice_kustomize::substitute::substitute_resource(object, &vars)
                    .unwrap()
                    .to_string()
            })
            .collect::<String>();
        assert!(!text.contains("${"), "{text}");
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        for kind in [
            "Namespace",
            "GitRepository",
            "Kustomization",
            "ImagePolicy",
            "ImageUpdateAutomation",
            "Provider",
            "Alert",
            "Canary",
            "Pipeline",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
    }
}
