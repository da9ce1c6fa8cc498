//! A real Gitea forge on 127.0.0.1 (built from its Go module by `tests/go/build.sh gitea`), with
//! SQLite storage, an admin user and an API token: pull requests, merges and commit statuses
//! through Gitea's own REST API, as Sluice's promotion and image automation use them.
//! Built without bindata, it serves its API fully but its web pages without their JS and CSS.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::HarnessError;
use crate::binaries::go_tool;
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, spawn};

/// The admin user every [`Gitea`] has.
pub const USER: &str = "sluice";
/// Its password.
pub const PASSWORD: &str = "sluice-pass-1";

/// A running Gitea; stopped and its data deleted on drop.
pub struct Gitea {
    /// `http://127.0.0.1:<port>`, what a Provider's address starts with.
    pub url: String,
    /// An API token of [`USER`] with every scope.
    pub token: String,
    _process: ManagedProcess,
    _dir: tempfile::TempDir,
}

impl Gitea {
    /// Starts Gitea, creates the admin user and its token, and waits until the API answers.
    ///
    /// Errors: Gitea cannot be built or does not start within 60 s.
    pub fn start() -> Result<Gitea, HarnessError> {
        let binary = go_tool("gitea", "gitea")?;
        let static_root = std::fs::read_to_string(binary.with_file_name("gitea-static-root"))
            .map_err(|source| HarnessError::Io {
                what: "reading gitea-static-root".into(),
                source,
            })?;
        let dir = tempfile::Builder::new()
            .prefix("sluice-gitea-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                what: "creating the Gitea folder".into(),
                source,
            })?;
        let port = free_port()?;
        let config = dir.path().join("app.ini");
        std::fs::write(&config, app_ini(dir.path(), port, static_root.trim())).map_err(
            |source| HarnessError::Io {
                what: "writing app.ini".into(),
                source,
            },
        )?;
        let admin = |args: &[&str]| gitea_command(&binary, &config, dir.path(), args);
        admin(&["migrate"])?;
        admin(&[
            "admin",
            "user",
            "create",
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--email",
            "sluice@example.com",
            "--admin",
            "--must-change-password=false",
        ])?;
        let token = admin(&[
            "admin",
            "user",
            "generate-access-token",
            "--username",
            USER,
            "--token-name",
            "sluice",
            "--scopes",
            "all",
            "--raw",
        ])?;
        let mut command = Command::new(&binary);
        command
            .arg("--config")
            .arg(&config)
            .arg("--work-path")
            .arg(dir.path())
            .arg("web");
        let mut process = spawn("gitea", command, &dir.path().join("gitea.log"))?;
        wait_for(
            &mut process,
            "Gitea /api/v1/version",
            Duration::from_secs(60),
            || http_get(port, "/api/v1/version").is_some_and(|(status, _)| status == 200),
        )?;
        Ok(Gitea {
            url: format!("http://127.0.0.1:{port}"),
            // The token's line; Gitea may log warnings around it (a slow start, under load).
            token: token
                .lines()
                .map(str::trim)
                .rfind(|line| line.len() == 40 && line.chars().all(|c| c.is_ascii_hexdigit()))
                .unwrap_or_default()
                .to_owned(),
            _process: process,
            _dir: dir,
        })
    }

    /// The clone URL of `USER/repo` with the admin's credentials in it.
    pub fn clone_url_with_credentials(&self, repo: &str) -> String {
        let host = self.url.trim_start_matches("http://");
        format!("http://{USER}:{PASSWORD}@{host}/{USER}/{repo}.git")
    }

    /// The repository's web address, `<url>/USER/repo` (what a Provider's `address` names).
    pub fn repo_url(&self, repo: &str) -> String {
        format!("{}/{USER}/{repo}", self.url)
    }

    /// Creates the empty repository `USER/repo` with default branch `main`.
    ///
    /// Errors: the API refused.
    pub async fn create_repo(&self, repo: &str) -> Result<(), HarnessError> {
        sluice_runtime::logging::install_crypto_provider();
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/user/repos", self.url))
            .header("Authorization", format!("token {}", self.token))
            .json(&serde_json::json!({"name": repo, "default_branch": "main", "auto_init": false}))
            .send()
            .await
            .map_err(|error| HarnessError::Start {
                what: "a Gitea repository".into(),
                why: error.to_string(),
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            let why = format!(
                "{}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            Err(HarnessError::Start {
                what: "a Gitea repository".into(),
                why,
            })
        }
    }
}

/// Another user of a [`Gitea`], made by [`Gitea::create_user`].
pub struct GiteaUser {
    /// The user's name.
    pub name: String,
    /// An API token of the user with every scope.
    pub token: String,
    host: String,
}

impl GiteaUser {
    /// The clone URL of `owner/repo` with this user's credentials in it.
    pub fn clone_url_with_credentials(&self, owner: &str, repo: &str) -> String {
        format!(
            "http://{}:{PASSWORD}@{}/{owner}/{repo}.git",
            self.name, self.host
        )
    }
}

impl Gitea {
    /// Calls Gitea's API at `path` (under `/api/v1/`, e.g. `repos/sluice/fleet/pulls`) with
    /// `body` as JSON, as `token`'s user ([`Gitea::token`] for the admin), and returns the
    /// answer's JSON (`null` for an empty answer, or on 404: Gitea learns of pushes
    /// asynchronously).
    ///
    /// Errors: Gitea is unreachable or answered another error status.
    pub async fn api_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, HarnessError> {
        sluice_runtime::logging::install_crypto_provider();
        let failed = |why: String| HarnessError::Start {
            what: format!("Gitea {method} {path}"),
            why,
        };
        let mut request = reqwest::Client::new()
            .request(method.clone(), format!("{}/api/v1/{path}", self.url))
            .header("Authorization", format!("token {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| failed(error.to_string()))?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(serde_json::Value::Null);
        }
        if !status.is_success() {
            return Err(failed(format!("{status}: {text}")));
        }
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(|error| failed(format!("{error}: {text}")))
    }

    /// [`Gitea::api_as`] as the admin [`USER`].
    ///
    /// Errors: as [`Gitea::api_as`].
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, HarnessError> {
        self.api_as(&self.token, method, path, body).await
    }

    /// Creates the user `name` (password [`PASSWORD`], not an admin) and an API token of it.
    ///
    /// Errors: the API refused.
    pub async fn create_user(&self, name: &str) -> Result<GiteaUser, HarnessError> {
        let user = serde_json::json!({
            "username": name, "password": PASSWORD, "email": format!("{name}@example.com"),
            "must_change_password": false,
        });
        self.api(reqwest::Method::POST, "admin/users", Some(&user))
            .await?;
        let failed = |why: String| HarnessError::Start {
            what: format!("a token of Gitea user {name}"),
            why,
        };
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/users/{name}/tokens", self.url))
            .basic_auth(name, Some(PASSWORD))
            .json(&serde_json::json!({"name": "test", "scopes": ["all"]}))
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let status = response.status();
        let answer: serde_json::Value = response
            .json()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let token = answer["sha1"]
            .as_str()
            .filter(|_| status.is_success())
            .ok_or_else(|| failed(format!("{status}: {answer}")))?;
        Ok(GiteaUser {
            name: name.to_owned(),
            token: token.to_owned(),
            host: self.url.trim_start_matches("http://").to_owned(),
        })
    }
}

impl Gitea {
    /// Pushes `files` (path, content) as the first commit, `seed`, of `main` of `USER/repo`,
    /// with the git CLI.
    ///
    /// Errors: a file cannot be written, or git failed.
    pub fn seed(&self, repo: &str, files: &[(String, String)]) -> Result<(), HarnessError> {
        let work = tempfile::tempdir().map_err(|source| HarnessError::Io {
            what: "a seed working copy".into(),
            source,
        })?;
        for (path, content) in files {
            let file = work.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap_or(work.path()))
                .and_then(|()| std::fs::write(&file, content))
                .map_err(|source| HarnessError::Io {
                    what: format!("writing {path}"),
                    source,
                })?;
        }
        let remote = self.clone_url_with_credentials(repo);
        for args in [
            &["init", "-q", "-b", "main", "."][..],
            &["add", "."],
            &["commit", "-q", "-m", "seed"],
            &["push", "-q", &remote, "main"],
        ] {
            let output = Command::new("git")
                .args([
                    "-c",
                    "user.name=sluice",
                    "-c",
                    "user.email=sluice@sluice.dev",
                ])
                .args(args)
                .current_dir(work.path())
                .output()
                .map_err(|source| HarnessError::Io {
                    what: "running git".into(),
                    source,
                })?;
            if !output.status.success() {
                return Err(HarnessError::Start {
                    what: format!("git {}", args[0]),
                    why: String::from_utf8_lossy(&output.stderr).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Waits up to 30 s until Gitea knows `branch` of `USER/repo`: it learns of pushes
    /// asynchronously, and until then answers 404 for the repository's commits and pulls.
    ///
    /// Errors: the branch did not appear in time.
    pub async fn wait_for_branch(&self, repo: &str, branch: &str) -> Result<(), HarnessError> {
        let url = format!(
            "{}/api/v1/repos/{USER}/{repo}/branches/{}",
            self.url,
            branch.replace('/', "%2F")
        );
        let client = reqwest::Client::new();
        crate::wait_until(
            &format!("Gitea to know branch {branch}"),
            Duration::from_secs(30),
            || async {
                let answer = client
                    .get(&url)
                    .header("Authorization", format!("token {}", self.token))
                    .send()
                    .await;
                Ok(answer.is_ok_and(|response| response.status().is_success()))
            },
        )
        .await
    }
}

fn gitea_command(
    binary: &Path,
    config: &Path,
    work: &Path,
    args: &[&str],
) -> Result<String, HarnessError> {
    let output = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--work-path")
        .arg(work)
        .args(args)
        .output()
        .map_err(|source| HarnessError::Io {
            what: format!("running gitea {}", args[0]),
            source,
        })?;
    if !output.status.success() {
        let why = format!(
            "gitea {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(HarnessError::Start {
            what: "gitea".into(),
            why,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn app_ini(dir: &Path, port: u16, static_root: &str) -> String {
    let dir = dir.display();
    format!(
        r#"APP_NAME = Sluice test forge
RUN_MODE = prod
WORK_PATH = {dir}
; The harness runs as root on CI machines; Gitea refuses that unless told.
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[database]
DB_TYPE = sqlite3
PATH = {dir}/data/gitea.db

[repository]
ROOT = {dir}/repos

[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
ROOT_URL = http://127.0.0.1:{port}/
DISABLE_SSH = true
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = {static_root}
APP_DATA_PATH = {dir}/data

[security]
INSTALL_LOCK = true
SECRET_KEY = sluice-test-secret-key

[service]
DISABLE_REGISTRATION = true

[oauth2]
ENABLED = false

[log]
MODE = console
LEVEL = Warn

[actions]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = *

[migrations]
ALLOW_LOCALNETWORKS = true
"#
    )
}
