//! The real servers the suites stand on, each checked with the real client a user would use:
//! skopeo against the registry, git against git daemon and smart HTTP, Prometheus' HTTP API.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sluice_tests::git_server::GitServers;
use sluice_tests::ports::http_get;
use sluice_tests::prometheus::Prometheus;
use sluice_tests::registry::{Registry, RegistryAuth};
use sluice_tests::{oci_layout, wait_until};

fn run(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the program runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn push(layout: &Path, tag: &str, destination: &str, creds: Option<&str>) -> (bool, String) {
    let source = format!("oci:{}:{tag}", layout.display());
    let mut args = vec![
        "copy",
        "--dest-tls-verify=false",
        source.as_str(),
        destination,
    ];
    if let Some(creds) = creds {
        args.extend(["--dest-creds", creds]);
    }
    run("skopeo", &args, layout)
}

#[test]
fn the_registry_serves_pushed_tags_anonymously_and_with_htpasswd() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let layout = work.path().join("layout");
    for (tag, day) in [("1.0.0", "01"), ("1.1.0", "02")] {
        oci_layout::add_image(&layout, tag, &format!("2024-01-{day}T00:00:00Z"))?;
    }
    let open = Registry::start(RegistryAuth::Anonymous)?;
    for tag in ["1.0.0", "1.1.0"] {
        let (ok, text) = push(
            &layout,
            tag,
            &format!("docker://{}/demo/app:{tag}", open.address),
            None,
        );
        assert!(ok, "{text}");
    }
    let (ok, tags) = run(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/demo/app", open.address),
        ],
        work.path(),
    );
    assert!(
        ok && tags.contains("\"1.0.0\"") && tags.contains("\"1.1.0\""),
        "{tags}"
    );

    let private = Registry::start(RegistryAuth::Htpasswd {
        user: "tenant".into(),
        password: "s3cret".into(),
    })?;
    let destination = format!("docker://{}/private/app:1.0.0", private.address);
    assert!(
        !push(&layout, "1.0.0", &destination, None).0,
        "anonymous push must be refused"
    );
    let (ok, text) = push(&layout, "1.0.0", &destination, Some("tenant:s3cret"));
    assert!(ok, "{text}");
    Ok(())
}

#[test]
fn git_daemon_and_smart_http_take_pushes_and_serve_clones() -> anyhow::Result<()> {
    let servers = GitServers::start("gituser", "gitpass")?;
    servers.create_repo("fleet.git")?;
    let work = tempfile::tempdir()?;
    let (ok, text) = run(
        "git",
        &[
            "clone",
            "--quiet",
            &servers.git_url("fleet.git"),
            "over-git",
        ],
        work.path(),
    );
    assert!(ok, "{text}");
    let checkout = work.path().join("over-git");
    std::fs::write(checkout.join("README.md"), "fleet\n")?;
    let identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"];
    for args in [
        vec!["add", "README.md"],
        [identity.as_slice(), &["commit", "--quiet", "-m", "first"]].concat(),
        vec!["push", "--quiet", "origin", "HEAD:main"],
    ] {
        let (ok, text) = run("git", &args, &checkout);
        assert!(ok, "git {args:?}: {text}");
    }
    let (ok, text) = run(
        "git",
        &[
            "clone",
            "--quiet",
            &servers.http_url_with_credentials("fleet.git"),
            "over-http",
        ],
        work.path(),
    );
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read_to_string(work.path().join("over-http/README.md"))?,
        "fleet\n"
    );
    let (ok, _) = run(
        "git",
        &[
            "-c",
            "credential.helper=",
            "clone",
            "--quiet",
            &servers.http_url("fleet.git"),
            "anonymous",
        ],
        work.path(),
    );
    assert!(!ok, "a clone without credentials must be refused");
    Ok(())
}

#[tokio::test]
async fn prometheus_scrapes_a_target_the_test_serves() -> anyhow::Result<()> {
    let exporter = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = exporter.local_addr()?.to_string();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = exporter.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let body = "# TYPE sluice_test_requests_total counter\nsluice_test_requests_total 42\n";
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    let prometheus = Prometheus::start(&[target])?;
    let port: u16 = prometheus
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .parse()?;
    wait_until(
        "the scraped sample",
        Duration::from_secs(30),
        || async move {
            let answer = http_get(port, "/api/v1/query?query=sluice_test_requests_total");
            Ok(answer.is_some_and(|(status, body)| status == 200 && body.contains("\"42\"")))
        },
    )
    .await?;
    Ok(())
}
