//! `sluice canary plan -f CANARY.yaml --outcomes pass,pass,fail,...`: replays a Canary's analysis
//! offline on the controller's own state machine (`sluice_canary::analysis::replay`) and prints one
//! line per tick, `tick=N phase=PHASE weight=W failedChecks=F`, then the final phase.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize as _;
use sluice_canary::analysis::CheckOutcome;
use sluice_canary::analysis::replay::{render, replay};
use sluice_canary::api::Canary;

/// Arguments of `sluice canary plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// YAML file holding the Canary (the first document of kind Canary is used).
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Metric outcome of each analysis tick, in order: pass, fail, nodata (or error).
    #[arg(long, value_delimiter = ',')]
    outcomes: Vec<CheckOutcome>,
}

/// Reads the Canary, replays its analysis from a new revision, and prints the ticks.
/// Errors when the file cannot be read, holds no Canary, or the analysis stalls.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let canary = first_canary(&text)
        .with_context(|| format!("reading a Canary from {}", args.file.display()))?;
    let ticks = replay(&canary, &args.outcomes)?;
    print!("{}", render(&ticks));
    Ok(())
}

/// The first YAML document of `kind: Canary` in `text`.
fn first_canary(text: &str) -> anyhow::Result<Canary> {
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_yaml_ng::Value::deserialize(document)?;
        if value.get("kind").and_then(serde_yaml_ng::Value::as_str) == Some("Canary") {
            return Ok(serde_yaml_ng::from_value(value)?);
        }
    }
    anyhow::bail!("no document of kind Canary")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_canary_among_other_documents() {
        let text = "kind: Deployment\nmetadata: {name: podinfo}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo}\nspec:\n  targetRef: {kind: Deployment, name: podinfo}\n  service: {port: 9898}\n  analysis: {stepWeight: 10}\n";
        let canary = first_canary(text).expect("finds it");
        assert_eq!(
            canary.spec.effective_analysis().and_then(|a| a.step_weight),
            Some(10)
        );
        assert!(first_canary("kind: Deployment\n").is_err());
    }
}
