//! `sluice demo`: the whole promotion on real local servers in one command, and `sluice demo
//! down`. The servers are started by the test harness crate `sluice-tests`, a normal dependency
//! of this binary for that reason: it is the one place that knows how to build and start the
//! real local control plane, registry, Prometheus and Gitea.

mod controllers;
mod down;
mod flow;
mod front;
mod progress;
mod promotion;
mod servers;
mod state;
mod summary;
mod supervise;
mod tenant;
mod watch;

use std::path::PathBuf;

use state::StateDir;

/// Arguments of `sluice demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The folder of the demo's state: pid, kubeconfig, progress log, summary.json, logs.
    /// Default: `$SLUICE_CACHE/demo`, else `~/.cache/sluice/demo`.
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    action: Option<DemoAction>,
}

#[derive(clap::Subcommand)]
enum DemoAction {
    /// Stop the demo and everything it runs.
    Down,
    /// The detached process holding the demo's servers (started by `sluice demo`).
    #[command(hide = true)]
    Supervise,
}

/// Runs the demo (no action), stops it (`down`) or supervises it (`supervise`).
///
/// Errors: as [`front::up`], [`down::down`] and [`supervise::run`].
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let state = StateDir::new(args.state_dir.unwrap_or_else(StateDir::default_root));
    match args.action {
        None => tokio::task::spawn_blocking(move || front::up(&state)).await?,
        Some(DemoAction::Down) => down::down(&state),
        Some(DemoAction::Supervise) => supervise::run(state).await,
    }
}
