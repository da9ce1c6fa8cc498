//! Real Git servers on 127.0.0.1 over one folder of bare repositories: `git daemon` (git://,
//! push enabled) and smart HTTP (nginx + fcgiwrap + `git-http-backend`, basic auth under
//! `/git/`, `Authorization: Bearer` under `/bearer/`), as Sluice's sources and image automations
//! reach tenant repositories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::HarnessError;
use crate::binaries::system_program;
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, spawn};

/// Running Git servers over the bare repositories in [`GitServers::repos`]; stopped and the
/// repositories deleted on drop.
pub struct GitServers {
    git_port: u16,
    http_port: u16,
    user: String,
    password: String,
    token: String,
    _processes: Vec<ManagedProcess>,
    dir: tempfile::TempDir,
}

impl GitServers {
    /// Starts `git daemon` and nginx with `git-http-backend` (basic auth for `user`/`password`,
    /// and a random bearer token, [`GitServers::bearer_token`]).
    ///
    /// Errors: git, nginx, fcgiwrap or htpasswd is not installed, or a server did not start.
    pub fn start(user: &str, password: &str) -> Result<GitServers, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-git-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                what: "creating the Git folder".into(),
                source,
            })?;
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos).map_err(io("creating the repositories folder"))?;
        let (git_port, daemon) = start_daemon(&repos, dir.path())?;
        let token = bearer_token(dir.path());
        let credentials = [user, password, token.as_str()];
        let (http_port, mut web) = start_http(&repos, dir.path(), credentials)?;
        let mut processes = vec![daemon];
        processes.append(&mut web);
        Ok(GitServers {
            git_port,
            http_port,
            user: user.to_owned(),
            password: password.to_owned(),
            token,
            _processes: processes,
            dir,
        })
    }

    /// The folder of bare repositories.
    pub fn repos(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// Creates the empty bare repository `name` (e.g. `fleet.git`) with default branch `main`,
    /// accepting pushes over HTTP.
    ///
    /// Errors: git failed.
    pub fn create_repo(&self, name: &str) -> Result<PathBuf, HarnessError> {
        let path = self.repos().join(name);
        run_git(&["init", "--quiet", "--bare", "-b", "main"], &path)?;
        run_git(
            &[
                "-C",
                &path.display().to_string(),
                "config",
                "http.receivepack",
                "true",
            ],
            self.dir.path(),
        )?;
        Ok(path)
    }

    /// `git://127.0.0.1:<port>/<name>`.
    pub fn git_url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.git_port)
    }

    /// `http://127.0.0.1:<port>/git/<name>` (basic auth required).
    pub fn http_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/git/{name}", self.http_port)
    }

    /// [`GitServers::http_url`] with the credentials in it.
    pub fn http_url_with_credentials(&self, name: &str) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}/git/{name}",
            self.user, self.password, self.http_port
        )
    }

    /// `http://127.0.0.1:<port>/bearer/<name>`: the repository behind
    /// `Authorization: Bearer <`[`GitServers::bearer_token`]`>` (401 otherwise).
    pub fn bearer_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/bearer/{name}", self.http_port)
    }

    /// The token [`GitServers::bearer_url`] accepts (random per server).
    pub fn bearer_token(&self) -> &str {
        &self.token
    }

    /// `file://<repos>/<name>`.
    pub fn file_url(&self, name: &str) -> String {
        format!("file://{}", self.repos().join(name).display())
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io {
        what: what.into(),
        source,
    }
}

fn run_git(args: &[&str], target: &Path) -> Result<(), HarnessError> {
    let git = system_program("git", "git")?;
    let mut command = Command::new(git);
    command.args(args);
    if args.first() == Some(&"init") {
        command.arg(target);
    }
    let output = command.output().map_err(io("running git"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Start {
            what: "git".into(),
            why: String::from_utf8_lossy(&output.stderr).into(),
        })
    }
}

fn start_daemon(repos: &Path, dir: &Path) -> Result<(u16, ManagedProcess), HarnessError> {
    let port = free_port()?;
    let mut command = Command::new(system_program("git", "git")?);
    command
        .arg("daemon")
        .arg("--reuseaddr")
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", repos.display()))
        .arg("--export-all")
        .arg("--enable=receive-pack")
        .arg(repos);
    let mut process = spawn("git-daemon", command, &dir.join("git-daemon.log"))?;
    wait_for(&mut process, "git daemon", Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    Ok((port, process))
}

/// A token from the random name of the servers' folder.
fn bearer_token(dir: &Path) -> String {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    format!("token-{}", name.trim_start_matches("sluice-git-"))
}

/// Starts fcgiwrap and nginx; `credentials` are the basic-auth user and password and the
/// bearer token.
fn start_http(
    repos: &Path,
    dir: &Path,
    [user, password, token]: [&str; 3],
) -> Result<(u16, Vec<ManagedProcess>), HarnessError> {
    let nginx = system_program("nginx", "nginx-light")?;
    let fcgiwrap = system_program("fcgiwrap", "fcgiwrap")?;
    let htpasswd = system_program("htpasswd", "apache2-utils")?;
    let web = dir.join("nginx");
    std::fs::create_dir_all(&web).map_err(io("creating the nginx folder"))?;
    let status = Command::new(htpasswd)
        .arg("-bc")
        .arg(web.join("htpasswd"))
        .args([user, password])
        .output()
        .map_err(io("running htpasswd"))?;
    if !status.status.success() {
        return Err(HarnessError::Start {
            what: "htpasswd".into(),
            why: String::from_utf8_lossy(&status.stderr).into(),
        });
    }
    let socket = web.join("fcgiwrap.sock");
    let mut wrapper = Command::new(fcgiwrap);
    wrapper.arg("-s").arg(format!("unix:{}", socket.display()));
    let mut fcgi = spawn("fcgiwrap", wrapper, &dir.join("fcgiwrap.log"))?;
    wait_for(
        &mut fcgi,
        "fcgiwrap socket",
        Duration::from_secs(15),
        || socket.exists(),
    )?;
    let port = free_port()?;
    let config = nginx_config(&web, repos, &socket, port, token)?;
    let config_path = web.join("nginx.conf");
    std::fs::write(&config_path, config).map_err(io("writing nginx.conf"))?;
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(&web)
        .arg("-e")
        .arg(web.join("error.log"))
        .arg("-c")
        .arg(&config_path);
    let mut server = spawn("nginx", command, &dir.join("nginx.log"))?;
    wait_for(&mut server, "nginx", Duration::from_secs(15), || {
        http_get(port, "/").is_some()
    })?;
    Ok((port, vec![fcgi, server]))
}

fn nginx_config(
    web: &Path,
    repos: &Path,
    socket: &Path,
    port: u16,
    token: &str,
) -> Result<String, HarnessError> {
    let exec_path = Command::new(system_program("git", "git")?)
        .arg("--exec-path")
        .output()
        .map_err(io("running git --exec-path"))?;
    let backend = format!(
        "{}/git-http-backend",
        String::from_utf8_lossy(&exec_path.stdout).trim()
    );
    // As root, workers would switch to `nobody` and could not reach fcgiwrap's socket.
    let user = if crate::process::is_root() {
        "user root;"
    } else {
        ""
    };
    let web = web.display();
    let git_http_backend = format!(
        r#"client_max_body_size 0;
      fastcgi_buffering off;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param GIT_PROJECT_ROOT {repos};
      fastcgi_param PATH_INFO $1;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_pass unix:{socket};"#,
        repos = repos.display(),
        socket = socket.display(),
    );
    Ok(format!(
        r#"{user}
worker_processes 1;
daemon off;
pid {web}/nginx.pid;
error_log {web}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {web}/access.log;
  client_body_temp_path {web}/body;
  fastcgi_temp_path {web}/fastcgi;
  proxy_temp_path {web}/proxy;
  uwsgi_temp_path {web}/uwsgi;
  scgi_temp_path {web}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location ~ ^/git(/.*) {{
      auth_basic "git";
      auth_basic_user_file {web}/htpasswd;
      {git_http_backend}
    }}
    location ~ ^/bearer(/.*) {{
      if ($http_authorization != "Bearer {token}") {{
        add_header WWW-Authenticate 'Bearer realm="git"' always;
        return 401;
      }}
      {git_http_backend}
    }}
  }}
}}
"#
    ))
}
