//! `sluice`: every Sluice controller and every user command is a subcommand of this one binary,
//! as with the `flux` CLI. Errors print one line on standard error and exit with status 1.

mod build;
mod canary_plan;
mod controller;
mod crds;
mod demo;
mod image_policy;
mod image_update;
mod install;
mod reconcile;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The command line, parsed by clap.
#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "GitOps controllers for the path of an image from registry to production"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one of Sluice's controllers against the cluster of --kubeconfig (or in-cluster config).
    #[command(subcommand)]
    Controller(controller::ControllerCommand),
    /// Write the CustomResourceDefinitions generated from the Rust types, one file per kind.
    Crds(crds::CrdsArgs),
    /// Ask the controller to reconcile an object now, by setting reconcile.sluice.dev/requestedAt.
    Reconcile(reconcile::ReconcileArgs),
    /// Image scanning, policies and setters, offline on the controllers' own code.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Canary analysis, offline on the controller's own state machine.
    #[command(subcommand)]
    Canary(CanaryCommand),
    /// Print the kustomize build of a directory, as `kustomize build DIR` does.
    Build(build::BuildArgs),
    /// Install Sluice from deploy/ (CRDs, RBAC, controllers) and wait until it is Available.
    Install(install::InstallArgs),
    /// Run the whole promotion on local servers and leave it running; `sluice demo down` stops it.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Image policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List the tags of an image in its registry, one per line.
    Scan(image_policy::ScanArgs),
    /// Apply Flux setter markers to the YAML files of a directory and print the changed files.
    Update(image_update::UpdateArgs),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Read tags (one per line) on standard input and print the one the policy picks.
    Eval(image_policy::EvalArgs),
}

#[derive(Subcommand)]
enum CanaryCommand {
    /// Replay a Canary's analysis offline, one metric outcome per tick.
    Plan(canary_plan::PlanArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Controller(command) => controller::run(command).await,
        Command::Crds(args) => crds::run(args),
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Image(ImageCommand::Policy(PolicyCommand::Eval(args))) => image_policy::eval(args),
        Command::Image(ImageCommand::Scan(args)) => image_policy::scan(args).await,
        Command::Image(ImageCommand::Update(args)) => image_update::run(args),
        Command::Canary(CanaryCommand::Plan(args)) => canary_plan::run(args),
        Command::Build(args) => build::run(args),
        Command::Install(args) => install::run(args).await,
        Command::Demo(args) => demo::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
