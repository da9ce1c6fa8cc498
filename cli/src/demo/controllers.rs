//! The four controllers as local processes of this `sluice` binary. Pods on kwok nodes do not
//! really run, so the demo installs `deploy/overlays/dev` (its Deployments become Available on
//! kwok) and runs, beside the cluster, each Deployment's own container args and env, with the
//! addresses made local, under a kubeconfig holding a token of the controller's own
//! ServiceAccount (TokenRequest API): each runs with exactly deploy/'s RBAC and flags
//! (the multi-tenant lockdown included).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use kube::Client;
use serde_json::Value;
use sluice_servers::cluster::service_account_token;
use sluice_servers::process::{ManagedProcess, spawn};

use crate::install::NAMESPACE;

/// How long a controller's token lives, in seconds (the demo is left running for inspection).
const TOKEN_SECONDS: i64 = 7 * 24 * 3600;

/// A flag of a Deployment's args replaced (or added) for the local process.
pub type Override = (&'static str, String);

/// The args of the local process for the Deployment's first container: its `args` with each
/// `--flag=value` (or bare `--flag`) named in `overrides` replaced by the override's value,
/// and the overrides missing from the args appended, in order.
pub fn local_args(container: &Value, overrides: &[Override]) -> Vec<String> {
    let flag_of = |arg: &str| arg.split('=').next().unwrap_or(arg).to_owned();
    let mut args: Vec<String> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|arg| {
            let flag = flag_of(arg);
            match overrides
                .iter()
                .find(|(name, _)| flag == format!("--{name}"))
            {
                Some((name, value)) => format!("--{name}={value}"),
                None => arg.to_owned(),
            }
        })
        .collect();
    for (name, value) in overrides {
        let flag = format!("--{name}");
        if !args.iter().any(|arg| flag_of(arg) == flag) {
            args.push(format!("{flag}={value}"));
        }
    }
    args
}

/// The environment of the local process for the Deployment's first container: literal values
/// as they are; `fieldRef` values as the downward API would give them to a pod named `pod` in
/// `namespace` (`metadata.namespace`, `metadata.name`); others are dropped.
pub fn local_env(container: &Value, namespace: &str, pod: &str) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry["name"].as_str()?.to_owned();
            if let Some(value) = entry["value"].as_str() {
                return Some((name, value.to_owned()));
            }
            match entry["valueFrom"]["fieldRef"]["fieldPath"].as_str()? {
                "metadata.namespace" => Some((name, namespace.to_owned())),
                "metadata.name" => Some((name, pod.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// A kubeconfig for `server` (verified with the CA file `ca`) authenticating with `token`.
pub fn token_kubeconfig(server: &str, ca: &Path, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: {user}\ncurrent-context: local\n",
        ca = ca.display()
    )
}

/// Where a controller process reaches the cluster and keeps its files.
pub struct Target<'a> {
    /// The `admin` client, to request tokens with.
    pub client: &'a Client,
    /// The API server's URL.
    pub server: &'a str,
    /// The cluster CA certificate file.
    pub ca: &'a Path,
    /// The folder for kubeconfigs, storage and logs.
    pub dir: &'a Path,
}

/// Starts the controller of the built Deployment `deployment` as a local process and waits
/// until its `/readyz` answers 200; returns the process and its HTTP address.
///
/// Errors: no token, no free port, the process did not start or was not ready within 60 s.
pub async fn start(
    target: &Target<'_>,
    deployment: &Value,
) -> anyhow::Result<(ManagedProcess, String)> {
    let name = deployment["metadata"]["name"]
        .as_str()
        .context("a Deployment without a name")?;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let token = service_account_token(target.client, NAMESPACE, name, TOKEN_SECONDS).await?;
    let kubeconfig = target.dir.join(format!("{name}.kubeconfig"));
    std::fs::write(
        &kubeconfig,
        token_kubeconfig(target.server, target.ca, name, &token),
    )
    .with_context(|| format!("writing {}", kubeconfig.display()))?;
    let port = sluice_servers::ports::free_port()?;
    let address = format!("127.0.0.1:{port}");
    let storage = target.dir.join(format!("{name}-data"));
    std::fs::create_dir_all(&storage).context("creating controller storage")?;
    let mut overrides: Vec<Override> = vec![
        ("kubeconfig", kubeconfig.display().to_string()),
        ("metrics-addr", address.clone()),
    ];
    if container["args"][1] == "core" || container["args"][1] == "image-reflector" {
        overrides.push(("storage-path", storage.display().to_string()));
    }
    if container["args"][1] == "core" {
        let internal = format!("127.0.0.1:{}", sluice_servers::ports::free_port()?);
        overrides.push(("storage-addr", internal.clone()));
        overrides.push(("storage-adv-addr", internal));
    }
    let mut command = Command::new(std::env::current_exe().context("finding the sluice binary")?);
    command
        .args(local_args(container, &overrides))
        .envs(local_env(container, NAMESPACE, &format!("{name}-local")));
    let log = target.dir.join(format!("{name}.log"));
    let mut process = spawn(name, command, &log)?;
    sluice_servers::ports::wait_for(
        &mut process,
        &format!("{name} /readyz"),
        Duration::from_secs(60),
        || {
            sluice_servers::ports::http_get(port, "/readyz")
                .is_some_and(|(status, _)| status == 200)
        },
    )?;
    Ok((process, address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_replace_their_flags_keep_the_others_and_add_the_missing_ones() {
        let container = json!({"args": ["controller", "core", "--leader-elect", "--metrics-addr=0.0.0.0:8080", "--no-cross-namespace-refs", "--storage-path=/data"]});
        let args = local_args(
            &container,
            &[
                ("metrics-addr", "127.0.0.1:5000".into()),
                ("storage-path", "/tmp/core".into()),
                ("kubeconfig", "/tmp/k".into()),
            ],
        );
        assert_eq!(
            args,
            [
                "controller",
                "core",
                "--leader-elect",
                "--metrics-addr=127.0.0.1:5000",
                "--no-cross-namespace-refs",
                "--storage-path=/tmp/core",
                "--kubeconfig=/tmp/k"
            ]
        );
    }

    #[test]
    fn the_env_keeps_literals_and_resolves_the_downward_api() {
        let container = json!({"env": [
            {"name": "RUNTIME_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SLUICE_CANARY_MIN_INTERVAL", "value": "1s"},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ]});
        assert_eq!(
            local_env(&container, "sluice-system", "sluice-canary-local"),
            [
                ("RUNTIME_NAMESPACE".to_owned(), "sluice-system".to_owned()),
                ("POD_NAME".to_owned(), "sluice-canary-local".to_owned()),
                ("SLUICE_CANARY_MIN_INTERVAL".to_owned(), "1s".to_owned()),
            ]
        );
    }
}
