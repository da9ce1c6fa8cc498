//! The kustomize engine benchmark, against the real `kustomize build` (v5.8) in the same run:
//! 1. building each overlay of a large tree (a base of 200 Deployments and Services with
//!    ConfigMap and Secret generators, three overlays with name prefixes, namespaces, labels,
//!    strategic-merge and JSON patches, images, replicas and their own generators): the median
//!    of our build as a ratio to the median of `kustomize build` of the same overlay (goal: at
//!    most 0.2, five times faster). `kustomize build` is timed as a process, as users run it;
//!    our build is timed in-process, as the controllers run it, printing included.
//! 2. 1,000 builds run in parallel on all cores, cycling through the three overlays of a
//!    Flux-sized tree (the same shape with 10 Deployments): the wall time. (1,000 builds of the
//!    200-Deployment tree would take minutes on a shared 2-core machine.)
//!
//! The tree is generated into a temporary directory and removed at the end. The oracle is
//! `$SLUICE_CACHE/bin/kustomize` (`SLUICE_CACHE` defaults to `<workspace>/.cache`; build it with
//! `tests/go/build.sh kustomize`); without it, only our figures are printed.
//! Run with `cargo bench -p sluice-core --bench kustomize_build`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_kustomize::build_yaml;

const DEPLOYMENTS: usize = 200;
const PARALLEL_TREE_DEPLOYMENTS: usize = 10;
const OVERLAYS: [&str; 3] = ["dev", "staging", "production"];
const RUNS: usize = 7;
const PARALLEL_BUILDS: usize = 1_000;

fn main() -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("sluice-kustomize-bench-{}", std::process::id()));
    let result = run(&root);
    std::fs::remove_dir_all(&root)?;
    result
}

fn run(root: &Path) -> anyhow::Result<()> {
    let (large, small) = (root.join("large"), root.join("small"));
    write_tree(&large, DEPLOYMENTS)?;
    write_tree(&small, PARALLEL_TREE_DEPLOYMENTS)?;
    compare_with_kustomize(&large)?;
    parallel_builds(&small)
}

fn compare_with_kustomize(root: &Path) -> anyhow::Result<()> {
    let oracle = kustomize_binary();
    println!(
        "kustomize build benchmark: {DEPLOYMENTS} Deployments and Services, generators and patches, {} overlays",
        OVERLAYS.len()
    );
    for overlay in OVERLAYS {
        let dir = root.join("overlays").join(overlay);
        let ours = median(|| {
            build_yaml(&dir, None)
                .map(drop)
                .map_err(anyhow::Error::from)
        })?;
        let printed = build_yaml(&dir, None)?;
        let Some(oracle) = &oracle else {
            println!(
                "  {overlay}: sluice {ours:.2?} ({} bytes); kustomize oracle missing",
                printed.len()
            );
            continue;
        };
        let theirs = median(|| kustomize_build(oracle, &dir).map(drop))?;
        let identical = kustomize_build(oracle, &dir)? == printed;
        println!(
            "  {overlay}: sluice {ours:.2?}, kustomize {theirs:.2?}: ratio {:.3} ({:.1}x faster; goal: ratio <= 0.2), output byte-identical: {identical}",
            ours.as_secs_f64() / theirs.as_secs_f64(),
            theirs.as_secs_f64() / ours.as_secs_f64(),
        );
    }
    Ok(())
}

/// Runs `PARALLEL_BUILDS` builds, cycling through the overlays, on one thread per core.
fn parallel_builds(root: &Path) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let dirs: Vec<PathBuf> = OVERLAYS
        .iter()
        .map(|overlay| root.join("overlays").join(overlay))
        .collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let failures = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = 0;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= PARALLEL_BUILDS {
                            return failures;
                        }
                        if build_yaml(&dirs[index % dirs.len()], None).is_err() {
                            failures += 1;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(PARALLEL_BUILDS))
            .sum::<usize>()
    });
    let elapsed = started.elapsed();
    anyhow::ensure!(failures == 0, "{failures} parallel builds failed");
    println!(
        "  {PARALLEL_BUILDS} builds of {PARALLEL_TREE_DEPLOYMENTS}-Deployment overlays in parallel on {threads} threads: {elapsed:.2?} ({:.2?} per build, {:.0} builds/s)",
        elapsed / PARALLEL_BUILDS as u32,
        PARALLEL_BUILDS as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// The median of `RUNS` timings of `step`.
fn median(mut step: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let mut timings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        step()?;
        timings.push(started.elapsed());
    }
    timings.sort();
    Ok(timings[RUNS / 2])
}

fn kustomize_binary() -> Option<PathBuf> {
    let cache = std::env::var_os("SLUICE_CACHE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache"),
        PathBuf::from,
    );
    Some(cache.join("bin").join("kustomize")).filter(|binary| binary.is_file())
}

fn kustomize_build(binary: &Path, dir: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary).arg("build").arg(dir).output()?;
    anyhow::ensure!(
        output.status.success(),
        "kustomize build {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Writes a base of `deployments` apps and the overlays under `root`.
fn write_tree(root: &Path, deployments: usize) -> anyhow::Result<()> {
    let base = root.join("base");
    let mut kustomization = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nlabels:\n- pairs:\n    app.kubernetes.io/part-of: fleet\n  includeSelectors: true\nresources:\n",
    );
    for index in 0..deployments {
        writeln!(kustomization, "- app-{index}.yaml")?;
        write(&base.join(format!("app-{index}.yaml")), &app(index))?;
    }
    kustomization.push_str("configMapGenerator:\n");
    for index in 0..deployments {
        write!(
            kustomization,
            "- name: app-{index}-config\n  literals:\n  - LOG_LEVEL=info\n  - GREETING=hello from app {index}, a long greeting that goes beyond eighty columns when printed\n"
        )?;
    }
    kustomization.push_str(
        "secretGenerator:\n- name: shared-credentials\n  literals:\n  - username=admin\n  - password=s3cr3t\n",
    );
    write(&base.join("kustomization.yaml"), &kustomization)?;
    for (position, overlay) in OVERLAYS.iter().enumerate() {
        write_overlay(
            &root.join("overlays").join(overlay),
            overlay,
            position + 1,
            deployments,
        )?;
    }
    Ok(())
}

fn app(index: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{index}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-{index}
  template:
    metadata:
      labels:
        app: app-{index}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/app-{index}:1.0.0
        args: [\"--port=8080\", \"--metrics\"]
        envFrom:
        - configMapRef:
            name: app-{index}-config
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: shared-credentials
              key: password
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
---
apiVersion: v1
kind: Service
metadata:
  name: app-{index}
spec:
  selector:
    app: app-{index}
  ports:
  - name: http
    port: 80
    targetPort: http
"
    )
}

fn write_overlay(
    dir: &Path,
    overlay: &str,
    replicas: usize,
    deployments: usize,
) -> anyhow::Result<()> {
    let mut kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {overlay}
namePrefix: {overlay}-
commonAnnotations:
  example.com/environment: {overlay}
labels:
- pairs:
    environment: {overlay}
resources:
- ../../base
images:
"
    );
    for index in (0..deployments).step_by(4) {
        writeln!(
            kustomization,
            "- name: ghcr.io/example/app-{index}\n  newTag: 1.{replicas}.0"
        )?;
    }
    kustomization.push_str("replicas:\n");
    for index in (0..deployments).step_by(10) {
        writeln!(kustomization, "- name: app-{index}\n  count: {replicas}")?;
    }
    write!(
        kustomization,
        "configMapGenerator:
- name: app-0-config
  behavior: merge
  literals:
  - LOG_LEVEL=debug
- name: {overlay}-settings
  literals:
  - REGION=eu-west-{replicas}
patches:
- path: resources.yaml
  target:
    kind: Deployment
- target:
    kind: Deployment
    name: app-1.*
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value:
        name: OVERLAY
        value: {overlay}
"
    )?;
    write(&dir.join("kustomization.yaml"), &kustomization)?;
    write(
        &dir.join("resources.yaml"),
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: any
spec:
  template:
    spec:
      containers:
      - name: app
        resources:
          limits:
            memory: 128Mi
",
    )
}
