//! The image-automation suite: the Git side against real servers on 127.0.0.1 (file://,
//! `git daemon`, nginx + `git-http-backend` with basic or bearer auth, OpenSSH), and the
//! controller on the real local control plane, each test with its own namespace, repository and
//! work cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::json;
use sluice_git::{Author, GitAuth, RefSelector, Signer};
use sluice_gitops::api::git_repository::GitRepository;
use sluice_image_automation::api::ImageUpdateAutomation;
use sluice_image_automation::api::image_update_automation::{GitRepositoryRef, PushSpec};
use sluice_image_automation::controller::run_automations;
use sluice_image_automation::git::automation_run::{
    MessageSpec, RunError, RunRequest, run_automation,
};
use sluice_image_automation::git::push_target::{PushTarget, push_target};
use sluice_image_automation::reconcile::AutomationState;
use sluice_image_automation::setters::policy::{Policies, PolicyKey};
use sluice_image_reflector::api::image_policy::ImagePolicy;
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_tests::git_server::GitServers;
use sluice_tests::gitea::Gitea;
use sluice_tests::objects::create_from_json as create;
use sluice_tests::sshd::Sshd;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);
const USER: &str = "gituser";
const PASSWORD: &str = "gitpass";
const TEMPLATE: &str =
    "Automated update\n{{ range .Changed.Changes }}- {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app # keep\n\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"NS:app\"}\n";

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Tenant",
            "-c",
            "user.email=tenant@example.com",
        ])
        .args(args)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Pushes `files` as one commit to branch `main` of the bare repository `bare`.
fn seed(bare: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    git(work.path(), &["init", "-q", "-b", "main"])?;
    for (path, text) in files {
        let path = work.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(work.path()))?;
        std::fs::write(path, text)?;
    }
    git(work.path(), &["add", "-A"])?;
    git(work.path(), &["commit", "-q", "-m", "seed"])?;
    git(
        work.path(),
        &["push", "-q", &bare.display().to_string(), "main"],
    )?;
    Ok(())
}

fn deployment(namespace: &str) -> String {
    DEPLOYMENT.replace("NS", namespace)
}

fn policies(namespace: &str, latest: &str) -> anyhow::Result<Policies> {
    let key: PolicyKey = format!("{namespace}:app").parse()?;
    Ok(Policies {
        automation_namespace: Some(namespace.into()),
        latest: [(key, Some(latest.parse()?))].into(),
        images_entries: Default::default(),
    })
}

fn request(work: &Path, url: &str, auth: GitAuth) -> anyhow::Result<RunRequest> {
    Ok(RunRequest {
        work_dir: work.join("cache"),
        url: url.into(),
        timeout: Duration::from_secs(60),
        auth,
        checkout: RefSelector::Branch("main".into()),
        push: PushTarget {
            branch: "main".into(),
            separate_branch: false,
            refspec: None,
            options: BTreeMap::new(),
        },
        update_path: None,
        policies: policies("apps", "ghcr.io/org/app:1.2.0")?,
        author: Author {
            name: "Sluice".into(),
            email: "sluice@example.com".into(),
        },
        message: MessageSpec {
            automation_namespace: "apps".into(),
            automation_name: "app".into(),
            template: Some(TEMPLATE.into()),
            values: BTreeMap::new(),
        },
        signer: None,
    })
}

fn show(bare: &Path, what: &str) -> anyhow::Result<String> {
    git(bare, &["show", "-s", "--format=%B", what])
}

fn file_at(bare: &Path, branch: &str, path: &str) -> anyhow::Result<String> {
    git(bare, &["show", &format!("{branch}:{path}")])
}

/// One run over `url`: one commit with the templated message and exactly the marked scalar
/// changed; a second run makes no commit.
fn assert_update_and_no_op(bare: &Path, mut request: RunRequest) -> anyhow::Result<()> {
    seed(bare, &[("deploy/app.yaml", deployment("apps"))])?;
    let seeded = git(bare, &["rev-parse", "main"])?;
    let outcome = run_automation(&request)?;
    let pushed = outcome.pushed.expect("a commit was pushed");
    assert_eq!(git(bare, &["rev-parse", "main"])?, pushed.commit);
    assert_eq!(git(bare, &["rev-parse", "main~1"])?, seeded);
    assert_eq!(
        show(bare, "main")?,
        "Automated update\n- ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0"
    );
    assert_eq!(
        file_at(bare, "main", "deploy/app.yaml")? + "\n",
        deployment("apps").replace("app:1.0.0", "app:1.2.0")
    );
    assert_eq!(
        git(bare, &["show", "-s", "--format=%an <%ae>", "main"])?,
        "Sluice <sluice@example.com>"
    );
    request.message.template = Some("{{ .Broken".into());
    let again = run_automation(&request)?;
    assert!(again.pushed.is_none(), "no change, no commit");
    assert_eq!(git(bare, &["rev-parse", "main"])?, pushed.commit);
    Ok(())
}

#[test]
fn file_transport_updates_and_then_makes_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("file.git")?;
    let work = tempfile::tempdir()?;
    let request = request(
        work.path(),
        &servers.file_url("file.git"),
        GitAuth::Anonymous,
    )?;
    assert_update_and_no_op(&bare, request)
}

#[test]
fn git_daemon_transport_updates_and_then_makes_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("daemon.git")?;
    let work = tempfile::tempdir()?;
    let request = request(
        work.path(),
        &servers.git_url("daemon.git"),
        GitAuth::Anonymous,
    )?;
    assert_update_and_no_op(&bare, request)
}

#[test]
fn http_basic_auth_transport_updates_and_then_makes_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("http.git")?;
    let work = tempfile::tempdir()?;
    let auth = GitAuth::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let request = request(work.path(), &servers.http_url("http.git"), auth)?;
    assert_update_and_no_op(&bare, request)
}

fn ssh_auth(sshd: &Sshd) -> anyhow::Result<GitAuth> {
    Ok(GitAuth::Ssh {
        identity: sshd.client_identity()?,
        known_hosts: sshd.known_hosts()?.into_bytes(),
        password: None,
    })
}

#[test]
fn ssh_transport_updates_and_then_makes_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let sshd = Sshd::start()?;
    let bare = servers.create_repo("ssh.git")?;
    let work = tempfile::tempdir()?;
    let request = request(work.path(), &sshd.url(&bare), ssh_auth(&sshd)?)?;
    assert_update_and_no_op(&bare, request)
}

/// Runs one update and returns the bare repository and the pushed commit.
fn run_once(
    servers: &GitServers,
    name: &str,
    work: &Path,
    adjust: impl FnOnce(&mut RunRequest),
) -> anyhow::Result<(PathBuf, Result<String, RunError>)> {
    let bare = servers.create_repo(name)?;
    seed(&bare, &[("deploy/app.yaml", deployment("apps"))])?;
    let mut request = request(work, &servers.file_url(name), GitAuth::Anonymous)?;
    adjust(&mut request);
    let result = run_automation(&request).map(|outcome| {
        outcome
            .pushed
            .map(|pushed| pushed.commit)
            .unwrap_or_default()
    });
    Ok((bare, result))
}

fn gpg_key(home: &Path) -> anyhow::Result<(String, String)> {
    let gpg = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    gpg(&[
        "--quick-gen-key",
        "Sluice <sluice@example.com>",
        "ed25519",
        "sign",
        "never",
    ])?;
    let secret = gpg(&["--armor", "--export-secret-keys", "sluice@example.com"])?;
    let public = gpg(&["--armor", "--export", "sluice@example.com"])?;
    Ok((secret, public))
}

#[test]
fn gpg_signed_commits_verify() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let work = tempfile::tempdir()?;
    let keys = tempfile::Builder::new().prefix("gpg").tempdir_in("/tmp")?;
    let (secret, public) = gpg_key(keys.path())?;
    let (bare, result) = run_once(&servers, "gpg.git", work.path(), |request| {
        request.signer = Some(Signer::Gpg {
            armored_key: secret,
            passphrase: None,
        });
    })?;
    let commit = result?;
    let verifier = tempfile::Builder::new().prefix("gpgv").tempdir_in("/tmp")?;
    let import = Command::new("gpg")
        .arg("--homedir")
        .arg(verifier.path())
        .args(["--batch", "--import"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .map(|mut stdin| stdin.write_all(public.as_bytes()));
            child.wait()
        })?;
    assert!(import.success());
    let verified = Command::new("git")
        .arg("-C")
        .arg(&bare)
        .env("GNUPGHOME", verifier.path())
        .args(["verify-commit", &commit])
        .output()?;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stderr).contains("Good signature"));
    Ok(())
}

#[test]
fn ssh_signed_commits_verify() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let work = tempfile::tempdir()?;
    let key = work.path().join("signing");
    sluice_tests::sshd::generate_key(&key)?;
    let identity = std::fs::read(&key)?;
    let (bare, result) = run_once(&servers, "sshsign.git", work.path(), |request| {
        request.signer = Some(Signer::Ssh {
            identity,
            password: None,
        });
    })?;
    let commit = result?;
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    let allowed = work.path().join("allowed_signers");
    std::fs::write(&allowed, format!("sluice@example.com {public}"))?;
    let verified = git(
        &bare,
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            &commit,
        ],
    );
    assert!(verified.is_ok(), "{verified:?}");
    Ok(())
}

#[test]
fn a_concurrent_push_is_survived_without_force() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("race.git")?;
    seed(
        &bare,
        &[
            ("deploy/app.yaml", deployment("apps")),
            ("README", "v1\n".into()),
        ],
    )?;
    // While our first push is received, someone else's commit lands on main.
    let other = tempfile::tempdir()?;
    git(
        other.path(),
        &["clone", "-q", &bare.display().to_string(), "."],
    )?;
    std::fs::write(other.path().join("README"), "v2\n")?;
    git(other.path(), &["commit", "-q", "-am", "someone else"])?;
    let theirs = git(other.path(), &["rev-parse", "HEAD"])?;
    git(
        other.path(),
        &[
            "push",
            "-q",
            &bare.display().to_string(),
            "HEAD:refs/heads/staging",
        ],
    )?;
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ ! -e raced ]; then touch raced; env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main {theirs}; fi\n"
        ),
    )?;
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let work = tempfile::tempdir()?;
    let request = request(
        work.path(),
        &servers.file_url("race.git"),
        GitAuth::Anonymous,
    )?;
    let outcome = run_automation(&request)?;
    assert_eq!(outcome.attempts, 2);
    let pushed = outcome.pushed.expect("pushed on the second attempt");
    assert_eq!(git(&bare, &["rev-parse", "main"])?, pushed.commit);
    assert_eq!(git(&bare, &["rev-parse", "main~1"])?, theirs);
    assert_eq!(file_at(&bare, "main", "README")?, "v2");
    assert!(file_at(&bare, "main", "deploy/app.yaml")?.contains("app:1.2.0"));
    Ok(())
}

#[test]
fn bad_input_never_reaches_the_repository() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let work = tempfile::tempdir()?;
    let (bare, result) = run_once(
        &servers,
        "template.git",
        &work.path().join("t"),
        |request| {
            request.message.template = Some("{{ .Updated }}".into());
        },
    )?;
    assert!(
        matches!(result, Err(RunError::CommitMessage(_))),
        "{result:?}"
    );
    assert_eq!(show(&bare, "main")?, "seed");

    let broken = tempfile::tempdir()?;
    let bare = servers.create_repo("broken.git")?;
    seed(
        &bare,
        &[
            ("a.yaml", deployment("apps")),
            ("b.yaml", format!("{}bad: [\n", deployment("apps"))),
        ],
    )?;
    let broken_request = request(
        broken.path(),
        &servers.file_url("broken.git"),
        GitAuth::Anonymous,
    )?;
    let result = run_automation(&broken_request);
    assert!(
        matches!(&result, Err(RunError::UnreadableFiles(files)) if files[0].0 == "b.yaml"),
        "{result:?}"
    );
    assert_eq!(show(&bare, "main")?, "seed");

    let denied = tempfile::tempdir()?;
    let bare = servers.create_repo("denied.git")?;
    seed(&bare, &[("a.yaml", deployment("apps"))])?;
    let wrong = GitAuth::Basic {
        username: USER.into(),
        password: "wrong".into(),
    };
    let result = run_automation(&request(
        denied.path(),
        &servers.http_url("denied.git"),
        wrong,
    )?);
    assert!(matches!(result, Err(RunError::Fetch(_))), "{result:?}");
    assert_eq!(show(&bare, "main")?, "seed");
    Ok(())
}

#[test]
fn http_bearer_token_transport_updates_and_then_makes_no_commit() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("bearer.git")?;
    let url = servers.bearer_url("bearer.git");
    let work = tempfile::tempdir()?;
    let token = GitAuth::Bearer {
        token: servers.bearer_token().into(),
    };
    assert_update_and_no_op(&bare, request(work.path(), &url, token)?)?;
    let pushed = git(&bare, &["rev-parse", "main"])?;
    let wrong = GitAuth::Bearer {
        token: "not-the-token".into(),
    };
    let mut refused = request(&work.path().join("wrong"), &url, wrong)?;
    refused.policies = policies("apps", "ghcr.io/org/app:1.3.0")?;
    let result = run_automation(&refused);
    assert!(matches!(result, Err(RunError::Fetch(_))), "{result:?}");
    assert_eq!(git(&bare, &["rev-parse", "main"])?, pushed);
    Ok(())
}

/// Seeds `main` with three tagged commits (`v1.0.0` lightweight, `v1.1.0` annotated, `v2.0.0`)
/// and one untagged commit on top; returns the commit of each tag.
fn seed_tagged_history(bare: &Path) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let work = tempfile::tempdir()?;
    let dir = work.path();
    git(dir, &["init", "-q", "-b", "main"])?;
    std::fs::create_dir_all(dir.join("deploy"))?;
    std::fs::write(dir.join("deploy/app.yaml"), deployment("apps"))?;
    let mut commits = BTreeMap::new();
    for (tag, annotated) in [("v1.0.0", false), ("v1.1.0", true), ("v2.0.0", false)] {
        std::fs::write(dir.join("VERSION"), format!("{tag}\n"))?;
        git(dir, &["add", "-A"])?;
        git(dir, &["commit", "-q", "-m", tag])?;
        let tag_args: &[&str] = if annotated {
            &["tag", "-a", "-m", "release", tag]
        } else {
            &["tag", tag]
        };
        git(dir, tag_args)?;
        commits.insert(tag, git(dir, &["rev-parse", "HEAD"])?);
    }
    std::fs::write(dir.join("VERSION"), "next\n")?;
    git(dir, &["commit", "-q", "-am", "next"])?;
    let remote = bare.display().to_string();
    git(dir, &["push", "-q", "--tags", &remote, "main"])?;
    Ok(commits)
}

/// A run checking out `reference` and pushing to branch `auto`, as Flux's `git.checkout.ref`
/// with `git.push.branch`.
fn checkout_request(
    work: &Path,
    url: &str,
    reference: GitRepositoryRef,
) -> anyhow::Result<RunRequest> {
    let mut request = request(work, url, GitAuth::Anonymous)?;
    request.checkout = RefSelector::from(&reference);
    let push = PushSpec {
        branch: Some("auto".into()),
        ..PushSpec::default()
    };
    request.push = push_target(&request.checkout, Some(&push))?;
    Ok(request)
}

#[test]
fn tag_semver_and_commit_checkouts_push_to_the_push_branch() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("refs.git")?;
    let commits = seed_tagged_history(&bare)?;
    let main = git(&bare, &["rev-parse", "main"])?;
    let url = servers.git_url("refs.git");
    let cases = [
        (
            GitRepositoryRef {
                tag: Some("v1.0.0".into()),
                ..Default::default()
            },
            "v1.0.0",
            format!("v1.0.0@sha1:{}", commits["v1.0.0"]),
        ),
        (
            GitRepositoryRef {
                semver: Some(">=1.0.0 <2.0.0".into()),
                ..Default::default()
            },
            "v1.1.0",
            format!("v1.1.0@sha1:{}", commits["v1.1.0"]),
        ),
        (
            GitRepositoryRef {
                commit: Some(commits["v2.0.0"].clone()),
                ..Default::default()
            },
            "v2.0.0",
            format!("sha1:{}", commits["v2.0.0"]),
        ),
    ];
    for (reference, base_tag, revision) in cases {
        let work = tempfile::tempdir()?;
        let outcome = run_automation(&checkout_request(work.path(), &url, reference)?)?;
        assert_eq!(outcome.checkout_revision, revision);
        let pushed = outcome.pushed.expect("a commit was pushed");
        assert_eq!(pushed.branch, "auto");
        assert_eq!(git(&bare, &["rev-parse", "auto"])?, pushed.commit);
        assert_eq!(git(&bare, &["rev-parse", "auto~1"])?, commits[base_tag]);
        assert_eq!(file_at(&bare, "auto", "VERSION")?, base_tag);
        assert!(file_at(&bare, "auto", "deploy/app.yaml")?.contains("app:1.2.0 #"));
        assert_eq!(
            git(&bare, &["rev-parse", "main"])?,
            main,
            "main is untouched"
        );
    }
    Ok(())
}

#[test]
fn a_semver_range_no_tag_satisfies_is_an_error() -> anyhow::Result<()> {
    let servers = GitServers::start(USER, PASSWORD)?;
    let bare = servers.create_repo("norange.git")?;
    seed_tagged_history(&bare)?;
    let work = tempfile::tempdir()?;
    let reference = GitRepositoryRef {
        semver: Some(">=3.0.0".into()),
        ..Default::default()
    };
    let request = checkout_request(work.path(), &servers.git_url("norange.git"), reference)?;
    let result = run_automation(&request);
    assert!(
        matches!(result, Err(RunError::CheckoutRef(_))),
        "{result:?}"
    );
    let branches = git(&bare, &["branch", "--list", "auto"])?;
    assert!(branches.is_empty(), "nothing was pushed: {branches}");
    Ok(())
}

// ---- controller on the real control plane ----

async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in [
        ImageUpdateAutomation::crd(),
        GitRepository::crd(),
        ImagePolicy::crd(),
    ] {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("sluice-tests").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        wait_until(&format!("CRD {name}"), TIMEOUT, || async {
            let crd = api.get(&name).await.map_err(start_error)?;
            Ok(crd
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await?;
    }
    Ok(())
}

fn start_error(error: kube::Error) -> HarnessError {
    HarnessError::Start {
        what: "API call".into(),
        why: error.to_string(),
    }
}

/// Starts the controller for the objects labelled `suite=<label>`, with its own work cache.
fn start_controller(
    client: &Client,
    label: &str,
    cache: &Path,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let options = RuntimeOptions {
        kubeconfig: None,
        concurrent: 2,
        watch_label_selector: Some(format!("suite={label}")),
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: "127.0.0.1:0".parse()?,
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    };
    let runtime = Runtime::new("image-automation", client.clone(), options);
    let state = AutomationState {
        work_cache: cache.to_owned(),
        // The suite's repositories are local folders (`GitServers::file_url`).
        allow_file_sources: true,
    };
    Ok(tokio::spawn(async move {
        run_automations(&runtime, state).await
    }))
}

/// A namespace with the GitRepository `repo` (HTTP basic auth), the ImagePolicy `app` whose
/// `status.latestRef` is `latest`, and the automation `app` labelled `suite=<namespace>`.
async fn tenant(
    client: &Client,
    namespace: &str,
    url: &str,
    latest_tag: &str,
    git: serde_json::Value,
) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    create::<Secret>(
        client,
        namespace,
        json!({
            "metadata": {"name": "git-auth"},
            "stringData": {"username": USER, "password": PASSWORD},
        }),
    )
    .await?;
    create::<GitRepository>(client, namespace, json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": url, "interval": "1m", "secretRef": {"name": "git-auth"}, "ref": {"branch": "main"}},
    }))
    .await?;
    create::<ImagePolicy>(client, namespace, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
        "metadata": {"name": "app"},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    }))
    .await?;
    set_latest(client, namespace, latest_tag).await?;
    create::<ImageUpdateAutomation>(client, namespace, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "app", "labels": {"suite": namespace}},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "2s", "git": git},
    }))
    .await?;
    Ok(())
}

async fn set_latest(client: &Client, namespace: &str, tag: &str) -> anyhow::Result<()> {
    let status = json!({"status": {"latestRef": {"name": "ghcr.io/org/app", "tag": tag}}});
    Api::<ImagePolicy>::namespaced(client.clone(), namespace)
        .patch_status("app", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn automation(
    client: &Client,
    namespace: &str,
) -> Result<ImageUpdateAutomation, HarnessError> {
    Api::<ImageUpdateAutomation>::namespaced(client.clone(), namespace)
        .get("app")
        .await
        .map_err(start_error)
}

fn commit_spec(template: &str) -> serde_json::Value {
    json!({"author": {"name": "Sluice", "email": "sluice@example.com"}, "messageTemplate": template})
}

#[tokio::test]
async fn controller_commits_a_new_tag_once_then_nothing() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds(&client).await?;
    let servers = GitServers::start(USER, PASSWORD)?;
    let namespace = "iua-main";
    let bare = servers.create_repo("main.git")?;
    seed(&bare, &[("deploy/app.yaml", deployment(namespace))])?;
    let cache = tempfile::tempdir()?;
    let controller = start_controller(&client, namespace, cache.path())?;
    tenant(
        &client,
        namespace,
        &servers.http_url("main.git"),
        "1.0.0",
        json!({"commit": commit_spec(TEMPLATE)}),
    )
    .await?;
    wait_until("the first run", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.observed_source_revision.is_some())
    })
    .await?;
    assert_eq!(show(&bare, "main")?, "seed", "1.0.0 is current: no commit");
    set_latest(&client, namespace, "1.3.0").await?;
    wait_until("the push", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.last_push_commit.is_some())
    })
    .await?;
    let status = automation(&client, namespace)
        .await?
        .status
        .unwrap_or_default();
    let pushed = status.last_push_commit.clone().unwrap_or_default();
    assert_eq!(git(&bare, &["rev-parse", "main"])?, pushed);
    assert_eq!(
        show(&bare, "main")?,
        "Automated update\n- ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.3.0"
    );
    let markers = status.markers.clone().unwrap_or_default();
    assert_eq!(markers.applied.len(), 1);
    assert_eq!(markers.applied[0].file, "deploy/app.yaml");
    assert_eq!(
        status.observed_policies.unwrap_or_default()["app"].tag,
        "1.3.0"
    );
    let first_run = status.last_automation_run_time.clone();
    wait_until("a later run", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.last_automation_run_time != first_run)
    })
    .await?;
    assert_eq!(
        git(&bare, &["rev-parse", "main"])?,
        pushed,
        "a no-op run makes no commit"
    );
    assert_eq!(git(&bare, &["rev-list", "--count", "main"])?, "2");
    controller.abort();
    Ok(())
}

#[tokio::test]
async fn controller_pushes_to_another_branch_and_reports_bad_templates() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds(&client).await?;
    let servers = GitServers::start(USER, PASSWORD)?;
    let namespace = "iua-branch";
    let bare = servers.create_repo("branch.git")?;
    seed(&bare, &[("deploy/app.yaml", deployment(namespace))])?;
    let seeded = git(&bare, &["rev-parse", "main"])?;
    let cache = tempfile::tempdir()?;
    let controller = start_controller(&client, namespace, cache.path())?;
    let git_spec = json!({"commit": commit_spec("{{ .Updated }}"), "push": {"branch": "auto"}});
    tenant(
        &client,
        namespace,
        &servers.http_url("branch.git"),
        "2.0.0",
        git_spec,
    )
    .await?;
    wait_until("Stalled RemovedTemplateField", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.reconcile.conditions.iter().any(|c| {
            c.type_ == "Stalled" && c.status == "True" && c.reason == "RemovedTemplateField"
        }))
    })
    .await?;
    assert!(git(&bare, &["rev-parse", "--verify", "-q", "auto"]).is_err());
    let fixed =
        json!({"spec": {"git": {"commit": commit_spec(TEMPLATE), "push": {"branch": "auto"}}}});
    Api::<ImageUpdateAutomation>::namespaced(client.clone(), namespace)
        .patch("app", &PatchParams::default(), &Patch::Merge(&fixed))
        .await?;
    wait_until("the push to auto", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.last_push_commit.is_some())
    })
    .await?;
    assert_eq!(
        git(&bare, &["rev-parse", "main"])?,
        seeded,
        "main is untouched"
    );
    assert_eq!(git(&bare, &["rev-parse", "auto~1"])?, seeded);
    assert!(file_at(&bare, "auto", "deploy/app.yaml")?.contains("app:2.0.0"));
    controller.abort();
    Ok(())
}

/// Pushes `files` as the first commit of `main` to the Gitea repository `repo`.
fn seed_gitea(gitea: &Gitea, repo: &str, files: &[(&str, String)]) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    git(work.path(), &["init", "-q", "-b", "main", "."])?;
    for (path, content) in files {
        let file = work.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(work.path()))?;
        std::fs::write(file, content)?;
    }
    git(work.path(), &["add", "."])?;
    git(work.path(), &["commit", "-q", "-m", "seed"])?;
    git(
        work.path(),
        &[
            "push",
            "-q",
            &gitea.clone_url_with_credentials(repo),
            "main",
        ],
    )?;
    Ok(())
}

/// The open pull requests of `USER/repo` on `gitea`, as (number, head, base, title); none while
/// Gitea still counts the repository as empty (it learns of pushes asynchronously).
async fn open_pull_requests(
    gitea: &Gitea,
    repo: &str,
) -> anyhow::Result<Vec<(u64, String, String, String)>> {
    let url = format!(
        "{}/api/v1/repos/{}/{repo}/pulls?state=open",
        gitea.url,
        sluice_tests::gitea::USER
    );
    let response = reqwest::Client::new()
        .get(url)
        .header("Authorization", format!("token {}", gitea.token))
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    let answer = response.text().await?;
    let pulls: Vec<serde_json::Value> =
        serde_json::from_str(&answer).map_err(|error| anyhow::anyhow!("{error}: {answer}"))?;
    Ok(pulls
        .iter()
        .map(|pull| {
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
            (
                pull["number"].as_u64().unwrap_or_default(),
                text(&pull["head"]["ref"]),
                text(&pull["base"]["ref"]),
                text(&pull["title"]),
            )
        })
        .collect())
}

#[tokio::test]
async fn controller_opens_then_updates_one_pull_request_on_gitea() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let gitea = Gitea::start()?;
    gitea.create_repo("podinfo").await?;
    let namespace = "iua-pull";
    seed_gitea(
        &gitea,
        "podinfo",
        &[("deploy/app.yaml", deployment(namespace))],
    )?;
    gitea.wait_for_branch("podinfo", "main").await?;
    let cache = tempfile::tempdir()?;
    let controller = start_controller(&client, namespace, cache.path())?;

    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let (user, password) = (sluice_tests::gitea::USER, sluice_tests::gitea::PASSWORD);
    let credentials = json!({"username": user, "password": password, "token": gitea.token});
    create::<Secret>(
        &client,
        namespace,
        json!({"metadata": {"name": "gitea"}, "stringData": credentials}),
    )
    .await?;
    let clone_url = format!("{}/{user}/podinfo.git", gitea.url);
    create::<GitRepository>(&client, namespace, json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": clone_url, "interval": "1m", "secretRef": {"name": "gitea"}, "ref": {"branch": "main"}},
    }))
    .await?;
    create::<sluice_gitops::api::provider::Provider>(&client, namespace, json!({
        "apiVersion": "notification.sluice.dev/v1", "kind": "Provider",
        "metadata": {"name": "gitea"},
        "spec": {"type": "gitea", "address": gitea.repo_url("podinfo"), "secretRef": {"name": "gitea"}},
    }))
    .await?;
    create::<ImagePolicy>(&client, namespace, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
        "metadata": {"name": "app"},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    }))
    .await?;
    set_latest(&client, namespace, "2.0.0").await?;
    let push = json!({"branch": "auto", "pullRequest": {"providerRef": {"name": "gitea"}}});
    create::<ImageUpdateAutomation>(
        &client,
        namespace,
        json!({
            "apiVersion": "image.sluice.dev/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "app", "labels": {"suite": namespace}},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "2s",
                     "git": {"commit": commit_spec(TEMPLATE), "push": push}},
        }),
    )
    .await?;

    wait_until("one pull request from auto into main", TIMEOUT, || async {
        let pulls = open_pull_requests(&gitea, "podinfo")
            .await
            .map_err(|error| HarnessError::Start {
                what: "pulls".into(),
                why: error.to_string(),
            })?;
        Ok(pulls.len() == 1)
    })
    .await?;
    let first = open_pull_requests(&gitea, "podinfo").await?;
    assert_eq!((first[0].1.as_str(), first[0].2.as_str()), ("auto", "main"));
    assert_eq!(
        first[0].3, "Automated update",
        "the title is the message's first line"
    );
    let first_push = automation(&client, namespace)
        .await?
        .status
        .unwrap_or_default()
        .last_push_commit;

    set_latest(&client, namespace, "2.1.0").await?;
    wait_until("a second push to auto", TIMEOUT, || async {
        let status = automation(&client, namespace)
            .await?
            .status
            .unwrap_or_default();
        Ok(status.last_push_commit.is_some() && status.last_push_commit != first_push)
    })
    .await?;
    let after = open_pull_requests(&gitea, "podinfo").await?;
    assert_eq!(after.len(), 1, "still one pull request per automation");
    assert_eq!(after[0].0, first[0].0, "the same pull request, updated");
    controller.abort();
    Ok(())
}
