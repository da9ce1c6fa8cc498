//! Benchmark of an automation run on a repository of 10,000 YAML files (1 % of them marked),
//! served by `git daemon` on 127.0.0.1: a cold run (shallow clone + setters + commit + push) as
//! a ratio to the same steps done with the git CLI and sed in the same run (goal <= 1.0; Sluice
//! reads the blobs from the object database, the peer from the checkout sed needs), and
//! incremental runs on the warm work cache (goal < 1 s): a new tag, then nothing to do.
//!
//! Run with `cargo bench -p sluice-image-automation --bench git_automation`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_git::{Author, GitAuth, RefSelector};
use sluice_image_automation::git::automation_run::{MessageSpec, RunRequest, run_automation};
use sluice_image_automation::git::push_target::PushTarget;
use sluice_image_automation::setters::policy::Policies;
use sluice_servers::git_server::GitServers;

const FILES: usize = 10_000;
const MARKED_EVERY: usize = 100;
const ROUNDS: usize = 3;

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .output()?;
    anyhow::ensure!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Ok(())
}

fn manifest(index: usize) -> String {
    let marker = if index.is_multiple_of(MARKED_EVERY) {
        " # {\"$imagepolicy\": \"apps:app\"}"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{index}\n  namespace: apps\n\
         spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app\n\
         \x20         image: ghcr.io/org/app:1.0.0{marker}\n          ports:\n            - containerPort: 8080\n"
    )
}

/// Seeds `bare` with the 10,000 files in one commit.
fn seed(bare: &Path) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    git(work.path(), &["init", "-q", "-b", "main"])?;
    for index in 0..FILES {
        let dir = work.path().join(format!("apps/team-{}", index / 100));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("app-{index}.yaml")), manifest(index))?;
    }
    git(work.path(), &["add", "-A"])?;
    git(work.path(), &["commit", "-q", "-m", "seed"])?;
    git(
        work.path(),
        &["push", "-q", &bare.display().to_string(), "main"],
    )?;
    Ok(())
}

/// The peer: shallow clone, sed over the marked files, commit, push, with the git CLI.
fn git_cli_and_sed(url: &str) -> anyhow::Result<Duration> {
    let work = tempfile::tempdir()?;
    let started = Instant::now();
    git(
        work.path(),
        &["clone", "-q", "--depth", "1", "-b", "main", url, "checkout"],
    )?;
    let checkout = work.path().join("checkout");
    let sed = Command::new("sh")
        .arg("-c")
        .arg("grep -rl --include='*.yaml' '\\$imagepolicy' . | xargs sed -i 's/app:1.0.0 # {\"\\$imagepolicy\"/app:1.2.0 # {\"$imagepolicy\"/'")
        .current_dir(&checkout)
        .status()?;
    anyhow::ensure!(sed.success(), "sed failed");
    git(&checkout, &["commit", "-q", "-am", "Update app to 1.2.0"])?;
    git(&checkout, &["push", "-q", "origin", "main"])?;
    Ok(started.elapsed())
}

fn request(work_dir: &Path, url: &str, tag: &str) -> anyhow::Result<RunRequest> {
    Ok(RunRequest {
        work_dir: work_dir.to_owned(),
        url: url.to_owned(),
        timeout: Duration::from_secs(60),
        auth: GitAuth::Anonymous,
        checkout: RefSelector::Branch("main".into()),
        push: PushTarget {
            branch: "main".into(),
            separate_branch: false,
            refspec: None,
            options: BTreeMap::new(),
        },
        update_path: None,
        policies: Policies {
            automation_namespace: Some("apps".into()),
            latest: [(
                "apps:app".parse()?,
                Some(format!("ghcr.io/org/app:{tag}").parse()?),
            )]
            .into(),
            images_entries: Default::default(),
        },
        author: Author {
            name: "Sluice".into(),
            email: "sluice@example.com".into(),
        },
        message: MessageSpec {
            automation_namespace: "apps".into(),
            automation_name: "app".into(),
            template: Some(
                "Update app to {{ range .Changed.Changes }}{{ .NewValue }}{{ end }}".into(),
            ),
            values: BTreeMap::new(),
        },
        signer: None,
    })
}

/// Times one run and checks it pushed a commit changing `changed` files (none when 0).
fn timed(request: &RunRequest, changed: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let outcome = run_automation(request)?;
    let elapsed = started.elapsed();
    anyhow::ensure!(outcome.attempts == 1, "unexpected retry");
    let pushed = match outcome.pushed {
        Some(_) => outcome.update.changed_files().count(),
        None => 0,
    };
    anyhow::ensure!(
        pushed == changed,
        "{pushed} files changed, {changed} expected"
    );
    Ok(elapsed)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let servers = GitServers::start("bench", "bench")?;
    let (mut peer, mut cold, mut new_tag, mut no_op) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let peer_repo = format!("peer-{round}.git");
        let ours_repo = format!("ours-{round}.git");
        seed(&servers.create_repo(&peer_repo)?)?;
        seed(&servers.create_repo(&ours_repo)?)?;
        peer.push(git_cli_and_sed(&servers.git_url(&peer_repo))?);
        let cache = tempfile::tempdir()?;
        let url = servers.git_url(&ours_repo);
        let marked = FILES / MARKED_EVERY;
        cold.push(timed(&request(cache.path(), &url, "1.2.0")?, marked)?);
        new_tag.push(timed(&request(cache.path(), &url, "1.3.0")?, marked)?);
        no_op.push(timed(&request(cache.path(), &url, "1.3.0")?, 0)?);
    }
    let (peer, cold) = (median(peer), median(cold));
    println!(
        "repository: {FILES} YAML files, {} marked, git daemon on 127.0.0.1, median of {ROUNDS}",
        FILES / MARKED_EVERY
    );
    println!("git CLI + sed (clone --depth 1, sed, commit, push): {peer:?}");
    println!("sluice cold run (gix clone, setters, gix commit, push): {cold:?}");
    println!(
        "ratio sluice / git+sed: {:.2} (goal <= 1.0)",
        cold.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "sluice warm cache, new tag (fetch, update, commit, push): {:?} (goal < 1 s)",
        median(new_tag)
    );
    println!("sluice warm cache, nothing to do: {:?}", median(no_op));
    Ok(())
}
