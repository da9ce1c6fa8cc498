//! `sluice demo` end to end: the built binary runs the whole demo on real local servers with a
//! state folder of its own; every stage is asserted from the `summary.json` it writes and from
//! what the cluster and Gitea hold, then `sluice demo down` leaves no process behind.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use sluice_gitops::api::Kustomization;

fn sluice(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("demo")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("the sluice binary runs")
}

/// Runs `sluice demo down` when dropped, so that a failed assertion leaves nothing running.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        sluice(self.0, &["down"]);
    }
}

/// The ids of the processes, other than this one, whose command line mentions `text`.
fn processes_mentioning(text: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| String::from_utf8_lossy(&line).contains(text))
        })
        .collect()
}

/// The pull request `#N` of the demo's repository, as Gitea's API gives it.
fn pull_request(gitea: &str, number: &str) -> Value {
    let port: u16 = gitea
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let number = number.trim_start_matches('#');
    let path = format!("/api/v1/repos/sluice/podinfo/pulls/{number}");
    let (status, body) = sluice_servers::ports::http_get(port, &path).expect("Gitea answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("Gitea answers JSON")
}

/// The (context, state) of every commit status Gitea holds for `sha`, newest first.
fn commit_statuses(gitea: &str, sha: &str) -> Vec<(String, String)> {
    let port: u16 = gitea
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let path = format!("/api/v1/repos/sluice/podinfo/commits/{sha}/statuses?limit=50");
    let (status, body) = sluice_servers::ports::http_get(port, &path).expect("Gitea answers");
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<Value> = serde_json::from_str(&body).expect("Gitea answers JSON");
    statuses
        .iter()
        .map(|s| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&s["context"]), text(&s["status"]))
        })
        .collect()
}

/// Waits up to 30 s until a status whose context starts with `prefix` is `success` on `sha`.
fn wait_for_success(gitea: &str, sha: &str, prefix: &str) {
    for _ in 0..60 {
        let statuses = commit_statuses(gitea, sha);
        if statuses
            .iter()
            .any(|(context, state)| context.starts_with(prefix) && state == "success")
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!(
        "no success status {prefix}… on {sha}: {:?}",
        commit_statuses(gitea, sha)
    );
}

fn row<'a>(summary: &'a Value, stage: &str) -> &'a Value {
    summary["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["stage"] == stage))
        .unwrap_or_else(|| panic!("no {stage} row in {summary:#}"))
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = Kubeconfig::read_from(kubeconfig).expect("the demo's kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .expect("the demo's kubeconfig is valid");
    kube::Client::try_from(config).expect("a client")
}

async fn applied_revision(client: &kube::Client, name: &str) -> String {
    let api: Api<Kustomization> = Api::namespaced(client.clone(), "podinfo");
    let kustomization = api.get(name).await.expect("the Kustomization exists");
    kustomization
        .status
        .and_then(|status| status.last_applied_revision)
        .unwrap_or_default()
}

async fn image(client: &kube::Client, deployment: &str) -> String {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "podinfo");
    let deployment = api.get(deployment).await.expect("the Deployment exists");
    let pod = deployment.spec.template.spec.unwrap_or_default();
    pod.containers
        .into_iter()
        .next()
        .and_then(|c| c.image)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_demo_runs_every_stage_and_down_stops_everything() {
    sluice_runtime::logging::install_crypto_provider();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let state = dir.path().join("demo");
    let down = Down(&state);
    let output = sluice(&state, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let supervisor = std::fs::read_to_string(state.join("supervisor.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "sluice demo failed:\n{stdout}\n{}\nsupervisor:\n{supervisor}",
        String::from_utf8_lossy(&output.stderr)
    );

    let summary: Value =
        serde_json::from_slice(&std::fs::read(state.join("summary.json")).unwrap())
            .expect("summary.json is JSON");
    assert_eq!(summary["tag"], "6.5.1");
    let stages: Vec<&str> = summary["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["stage"].as_str())
        .collect();
    assert_eq!(
        stages,
        ["scan", "commit", "dev", "qa PR", "qa", "prod PR"],
        "{summary:#}"
    );
    for stage in &stages {
        let row = row(&summary, stage);
        assert!(
            row["image"].as_str().unwrap().ends_with("/podinfo:6.5.1"),
            "{row}"
        );
        assert!(row["seconds"].as_f64().unwrap() > 0.0, "{row}");
    }
    let commit = row(&summary, "commit")["revision"].as_str().unwrap();
    assert!(
        commit.len() == 8 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    assert_eq!(row(&summary, "dev")["revision"], commit);
    let client = client(Path::new(summary["kubeconfig"].as_str().unwrap())).await;
    assert!(
        image(&client, "podinfo-dev")
            .await
            .ends_with("/podinfo:6.5.1")
    );
    assert!(
        image(&client, "podinfo-qa-primary")
            .await
            .ends_with("/podinfo:6.5.1")
    );
    let qa = row(&summary, "qa")["revision"].as_str().unwrap();
    assert_ne!(qa, commit, "qa runs the merge of the promotion");
    let applied = applied_revision(&client, "podinfo-qa").await;
    assert!(applied.contains(qa), "qa applied {applied}, not {qa}");
    assert!(
        image(&client, "podinfo-prod")
            .await
            .ends_with("/podinfo:6.5.0")
    );
    let gitea = summary["gitea_url"].as_str().unwrap();
    let to_qa = pull_request(gitea, row(&summary, "qa PR")["revision"].as_str().unwrap());
    assert_eq!(
        (to_qa["merged"].as_bool(), to_qa["base"]["ref"].as_str()),
        (Some(true), Some("main"))
    );
    let merge = applied.rsplit(':').next().unwrap_or_default();
    for prefix in [
        "kustomization/podinfo-dev/",
        "kustomization/podinfo-qa/",
        "canary/podinfo-qa/",
    ] {
        wait_for_success(gitea, merge, prefix);
    }
    let to_prod = pull_request(
        gitea,
        row(&summary, "prod PR")["revision"].as_str().unwrap(),
    );
    assert_eq!(
        (to_prod["state"].as_str(), to_prod["merged"].as_bool()),
        (Some("open"), Some(false))
    );
    for text in [
        "stage",
        "scan",
        "commit",
        "dev",
        summary["gitea_url"].as_str().unwrap(),
    ] {
        assert!(stdout.contains(text), "{text} missing from:\n{stdout}");
    }
    let state_text = state.display().to_string();
    assert!(
        !processes_mentioning(&state_text).is_empty(),
        "the demo was left running"
    );

    drop(down);
    assert!(!state.join("pid").exists());
    assert_eq!(processes_mentioning(&state_text), Vec::<String>::new());
}
