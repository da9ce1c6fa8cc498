//! The parts of a Canary the state machine reads each tick, with Flagger's defaults applied.

use crate::api::canary::{Canary, CanaryAnalysis};

use super::check::CheckPolicy;

/// A Canary seen by the state machine.
pub(crate) struct Context<'a> {
    /// `<canary>.<namespace>`, as Flagger's events name the Canary.
    pub canary: String,
    /// `<target>.<namespace>`.
    pub target: String,
    /// `<target>-primary.<namespace>`.
    pub primary: String,
    /// The analysis in force, if any.
    pub analysis: Option<&'a CanaryAnalysis>,
    /// How outcomes count.
    pub policy: CheckPolicy,
    /// `analysis.iterations`, 0 when absent.
    pub iterations: u32,
    /// `skipAnalysis`, or no analysis.
    pub skip_analysis: bool,
    /// `suspend`.
    pub suspended: bool,
}

impl<'a> Context<'a> {
    /// Reads the Canary's names and analysis settings.
    pub fn of(canary: &'a Canary) -> Self {
        let namespace = canary.metadata.namespace.as_deref().unwrap_or("default");
        let name = canary.metadata.name.as_deref().unwrap_or_default();
        let target = &canary.spec.target_ref.name;
        let analysis = canary.spec.effective_analysis();
        Self {
            canary: format!("{name}.{namespace}"),
            target: format!("{target}.{namespace}"),
            primary: format!("{target}-primary.{namespace}"),
            analysis,
            policy: CheckPolicy::of(analysis),
            iterations: analysis.and_then(|a| a.iterations).unwrap_or(0),
            skip_analysis: canary.spec.skips_analysis(),
            suspended: canary.spec.suspend == Some(true),
        }
    }

    /// The name of the metric at `index` in `analysis.metrics`, or `#index` past its end.
    pub fn metric_name(&self, index: usize) -> String {
        self.analysis
            .and_then(|a| a.metrics.get(index))
            .map_or_else(|| format!("#{index}"), |metric| metric.name.clone())
    }
}
