//! `sluice controller NAME`: runs one of Sluice's controllers with the shared runtime flags and
//! its own.

use sluice_gitops::controller_flags::CoreFlags;
use sluice_image_automation::controller::AutomationFlags;
use sluice_image_reflector::controller::ReflectorArgs;
use sluice_runtime::{Runtime, RuntimeOptions, client, logging};

/// The controllers of Sluice, each with its flags.
#[derive(clap::Subcommand)]
pub enum ControllerCommand {
    /// GitRepository, Kustomization, Provider, Alert and Pipeline.
    Core {
        #[command(flatten)]
        options: RuntimeOptions,
        #[command(flatten)]
        core: CoreFlags,
    },
    /// ImageRepository and ImagePolicy.
    ImageReflector {
        #[command(flatten)]
        options: RuntimeOptions,
        #[command(flatten)]
        reflector: ReflectorArgs,
    },
    /// ImageUpdateAutomation.
    ImageAutomation {
        #[command(flatten)]
        options: RuntimeOptions,
        #[command(flatten)]
        automation: AutomationFlags,
    },
    /// Canary and MetricTemplate.
    Canary {
        #[command(flatten)]
        options: RuntimeOptions,
    },
}

impl ControllerCommand {
    fn options(&self) -> &RuntimeOptions {
        match self {
            ControllerCommand::Core { options, .. }
            | ControllerCommand::ImageReflector { options, .. }
            | ControllerCommand::ImageAutomation { options, .. }
            | ControllerCommand::Canary { options } => options,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ControllerCommand::Core { .. } => "core",
            ControllerCommand::ImageReflector { .. } => "image-reflector",
            ControllerCommand::ImageAutomation { .. } => "image-automation",
            ControllerCommand::Canary { .. } => "canary",
        }
    }
}

/// Starts the runtime (logs, client, HTTP server, leader election) and runs the controller
/// until SIGTERM or SIGINT.
pub async fn run(command: ControllerCommand) -> anyhow::Result<()> {
    let options = command.options().clone();
    logging::init(options.log_format, &options.log_level);
    logging::install_crypto_provider();
    let client = client::client(options.kubeconfig.as_deref()).await?;
    let runtime = Runtime::new(command.name(), client, options);
    match command {
        ControllerCommand::Core { core, .. } => {
            sluice_promotion::controller::run(runtime, core).await
        }
        ControllerCommand::ImageReflector { reflector, .. } => {
            sluice_image_reflector::controller::run(runtime, reflector).await
        }
        ControllerCommand::ImageAutomation { automation, .. } => {
            sluice_image_automation::controller::run(runtime, automation).await
        }
        ControllerCommand::Canary { .. } => {
            sluice_canary::controller::run(runtime, sluice_canary::settings::Settings::from_env())
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use sluice_runtime::references::CrossNamespace;

    use super::*;

    #[derive(Parser)]
    struct Sluice {
        #[command(subcommand)]
        controller: ControllerCommand,
    }

    #[test]
    fn every_controller_takes_the_lockdown_flag() {
        for name in ["core", "image-reflector", "image-automation", "canary"] {
            let locked = Sluice::try_parse_from(["controller", name, "--no-cross-namespace-refs"])
                .expect("the flag parses");
            assert_eq!(
                locked.controller.options().cross_namespace(),
                CrossNamespace::Denied,
                "{name}"
            );
            let open = Sluice::try_parse_from(["controller", name]).expect("no flag parses");
            assert_eq!(
                open.controller.options().cross_namespace(),
                CrossNamespace::Allowed,
                "{name}"
            );
        }
    }
}
