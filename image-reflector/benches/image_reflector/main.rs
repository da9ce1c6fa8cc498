//! The image-reflector benchmark, each figure against a peer measured in the same run:
//! 1. scanning 10,000 tags from the local Debian registry, as a ratio to `skopeo list-tags`
//!    (goal: at most 1.0);
//! 2. evaluating a semver policy over 100,000 tags (goal: under 50 ms), beside a plain
//!    `semver::VersionReq` maximum over the same tags;
//! 3. the peak resident memory of a running controller holding 1,000 ImageRepositories of
//!    1,000 tags each (goal: under 100 MiB), see [`controller_memory`].
//!
//! Run with `cargo bench -p sluice-image-reflector --bench image_reflector`.

mod controller_memory;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_image_reflector::policy::{Policy, SemverRange, TagFilter, select_latest};
use sluice_image_reflector::registry::retry::RetryPolicy;
use sluice_image_reflector::registry::{Connection, ImageName, RegistryBudget, RegistryClient};
use sluice_servers::oci_layout;
use sluice_servers::registry::{Registry, RegistryAuth};

const RUNS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os(controller_memory::CONTROLLER_ROLE).is_some() {
        return controller_memory::run_controller().await;
    }
    sluice_runtime::logging::install_crypto_provider();
    scan_against_skopeo().await?;
    semver_over_many_tags()?;
    controller_memory::measure().await
}

/// Median of `RUNS` timings of `run`.
async fn median<F, Fut>(mut run: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut timings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        run().await?;
        timings.push(started.elapsed());
    }
    timings.sort();
    Ok(timings[RUNS / 2])
}

async fn scan_against_skopeo() -> anyhow::Result<()> {
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    seed_tags(&registry, "bench/app", 10_000)?;
    let image = ImageName::parse(&format!("{}/bench/app", registry.address))?;
    let client = RegistryClient::new(
        Arc::new(RegistryBudget::new(1000.0)?),
        RetryPolicy::default(),
    );
    let connection = Connection {
        insecure: true,
        timeout: Duration::from_secs(120),
        ..Connection::default()
    };
    let count = client.list_tags(&image, &connection).await?.len();
    anyhow::ensure!(count == 10_000, "the registry listed {count} tags");
    let ours = median(|| async {
        client.list_tags(&image, &connection).await?;
        Ok(())
    })
    .await?;
    let target = format!("docker://{}/bench/app", registry.address);
    let skopeo = median(|| async {
        let output = Command::new("skopeo")
            .args(["list-tags", "--tls-verify=false", &target])
            .output()?;
        anyhow::ensure!(output.status.success(), "skopeo list-tags failed");
        Ok(())
    })
    .await?;
    println!(
        "scan 10,000 tags: sluice {:.1} ms, skopeo list-tags {:.1} ms, ratio {:.2} (goal <= 1.0)",
        millis(ours),
        millis(skopeo),
        ours.as_secs_f64() / skopeo.as_secs_f64()
    );
    Ok(())
}

/// Pushes one image to `repository`, then gives it `count` tags by writing tag links straight
/// into the registry's filesystem storage (pushing 10,000 tags with skopeo would take an hour).
fn seed_tags(registry: &Registry, repository: &str, count: usize) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let layout = work.path().join("layout");
    oci_layout::add_image(&layout, "seed", "2024-01-01T00:00:00Z")?;
    let status = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:seed", layout.display()))
        .arg(format!("docker://{}/{repository}:seed", registry.address))
        .output()?;
    anyhow::ensure!(
        status.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let tags = registry
        .storage_root()
        .join("docker/registry/v2/repositories")
        .join(repository)
        .join("_manifests/tags");
    let link = std::fs::read(tags.join("seed/current/link"))?;
    std::fs::remove_dir_all(tags.join("seed"))?;
    for index in 0..count {
        write_tag(&tags, &bench_tag(index), &link)?;
    }
    Ok(())
}

fn write_tag(tags: &Path, tag: &str, link: &[u8]) -> anyhow::Result<()> {
    let current = tags.join(tag).join("current");
    std::fs::create_dir_all(&current)?;
    std::fs::write(current.join("link"), link)?;
    Ok(())
}

/// A tag mix like real repositories: versions, some `v`-prefixed, pre-releases, and non-semver.
fn bench_tag(index: usize) -> String {
    let (major, minor, patch) = (index / 1000, (index / 10) % 100, index % 10);
    match index % 7 {
        0 => format!("v{major}.{minor}.{patch}"),
        1 => format!("{major}.{minor}.{patch}-rc.{}", index % 5),
        2 => format!("main-{index:08x}"),
        _ => format!("{major}.{minor}.{patch}"),
    }
}

fn semver_over_many_tags() -> anyhow::Result<()> {
    let tags: Vec<String> = (0..100_000).map(bench_tag).collect();
    let range = ">=10.0.0 <90.0.0";
    let policy = Policy::Semver(SemverRange::parse(range)?);
    let filter = TagFilter::new("", "")?;
    let mut chosen = String::new();
    let ours = time_median(|| {
        chosen = select_latest(tags.iter().map(String::as_str), &policy, &filter, None)
            .map(|selection| selection.tag)
            .unwrap_or_default();
    });
    // The semver crate writes the same range with a comma.
    let requirement = semver::VersionReq::parse(">=10.0.0, <90.0.0")?;
    let plain = time_median(|| {
        let _highest = tags
            .iter()
            .filter_map(|tag| semver::Version::parse(tag.trim_start_matches('v')).ok())
            .filter(|version| requirement.matches(version))
            .max();
    });
    println!(
        "semver policy over 100,000 tags: {:.1} ms (goal < 50 ms), plain semver::VersionReq max {:.1} ms, ratio {:.2}; chose {chosen}",
        millis(ours),
        millis(plain),
        ours.as_secs_f64() / plain.as_secs_f64()
    );
    Ok(())
}

fn time_median(mut run: impl FnMut()) -> Duration {
    let mut timings: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    timings.sort();
    timings[RUNS / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
