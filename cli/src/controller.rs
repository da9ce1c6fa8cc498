//! `sluice controller NAME`: runs one of Sluice's controllers with the shared runtime flags.

use sluice_core::runtime::{Runtime, RuntimeOptions, client, logging};

/// Arguments of `sluice controller`.
#[derive(clap::Args)]
pub struct ControllerArgs {
    /// Which controller to run.
    #[arg(value_enum)]
    name: ControllerName,
    #[command(flatten)]
    options: RuntimeOptions,
}

/// The controllers of Sluice.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ControllerName {
    /// GitRepository, Kustomization, Provider, Alert and Pipeline.
    Core,
    /// ImageRepository and ImagePolicy.
    ImageReflector,
    /// ImageUpdateAutomation.
    ImageAutomation,
    /// Canary and MetricTemplate.
    Canary,
}

/// Starts the runtime (logs, client, HTTP server, leader election) and runs the controller
/// until SIGTERM or SIGINT.
pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    logging::init(args.options.log_format, &args.options.log_level);
    logging::install_crypto_provider();
    let client = client::client(args.options.kubeconfig.as_deref()).await?;
    let name = format!("{:?}", args.name).to_lowercase();
    let runtime = Runtime::new(&name, client, args.options);
    match args.name {
        ControllerName::Core => sluice_core::controller::run(runtime).await,
        ControllerName::ImageReflector => sluice_image_reflector::controller::run(runtime).await,
        ControllerName::ImageAutomation => sluice_image_automation::controller::run(runtime).await,
        ControllerName::Canary => sluice_canary::controller::run(runtime).await,
    }
}
