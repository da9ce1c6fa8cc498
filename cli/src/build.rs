//! `sluice build DIR`: print the kustomize build of a directory, as `kustomize build DIR` does,
//! with Sluice's own engine (`sluice_kustomize`).

use std::io::Write;
use std::path::PathBuf;

/// Arguments of `sluice build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The kustomization directory to build.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Builds `args.dir` and prints the resources on standard output. Errors with the engine's
/// message (which names the file at fault) when the kustomization cannot be built.
pub fn run(args: BuildArgs) -> anyhow::Result<()> {
    let output = sluice_kustomize::build_yaml(&args.dir, None)?;
    std::io::stdout().write_all(output.as_bytes())?;
    Ok(())
}
