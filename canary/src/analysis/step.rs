//! How the canary weight moves: the deployment strategy, `maxWeight`, the next step of
//! `stepWeight`/`stepWeights`, and `stepWeightPromotion` (Flagger's `maxWeight`, `nextStepWeight`,
//! `runCanary` and `runPromotionTrafficShift`, docs/canary.md §2.6 and §2.8). Weights are percentages
//! of the traffic, 0–100.

use crate::api::canary::CanaryAnalysis;

/// All the traffic, in percent.
pub const TOTAL_WEIGHT: u32 = 100;

/// How the analysis shifts traffic, derived from the fields as Flagger's `DeploymentStrategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Progressive weight increase (`stepWeight` or `stepWeights`).
    Canary,
    /// `iterations` checks on test traffic, then all traffic to the canary, then promotion.
    BlueGreen,
    /// `iterations` checks with the `match`ed traffic on the canary, then promotion.
    AbTesting,
}

impl Strategy {
    /// A/B testing when `match` is non-empty and `iterations > 0`; Blue/Green when `iterations > 0`;
    /// canary otherwise (including no analysis).
    pub fn of(analysis: Option<&CanaryAnalysis>) -> Self {
        let iterations = analysis.and_then(|a| a.iterations).unwrap_or(0);
        let has_match = analysis.is_some_and(|a| !a.match_requests.is_empty());
        match (iterations > 0, has_match) {
            (true, true) => Self::AbTesting,
            (true, false) => Self::BlueGreen,
            (false, _) => Self::Canary,
        }
    }
}

/// The canary weight at which promotion starts: with `stepWeights`, `min(100, last step)`; else
/// `maxWeight` if above 0; else 100.
pub fn max_weight(analysis: Option<&CanaryAnalysis>) -> u32 {
    let Some(analysis) = analysis else {
        return TOTAL_WEIGHT;
    };
    match analysis.step_weights.last() {
        Some(last) => (*last).min(TOTAL_WEIGHT),
        None => analysis
            .max_weight
            .filter(|w| *w > 0)
            .unwrap_or(TOTAL_WEIGHT),
    }
}

/// The increment from canary weight `weight` (Flagger's `nextStepWeight`): `stepWeight` when it is
/// set or when `stepWeights` is empty (0 when neither is set); else the distance to the next entry
/// of `stepWeights` (1 at weight 100, the whole rest when `weight` is not an entry).
pub fn next_step_weight(analysis: Option<&CanaryAnalysis>, weight: u32) -> u32 {
    let Some(analysis) = analysis else { return 0 };
    if analysis.step_weight.is_some() || analysis.step_weights.is_empty() {
        return analysis.step_weight.unwrap_or(0);
    }
    let rest = TOTAL_WEIGHT.saturating_sub(weight);
    if weight == TOTAL_WEIGHT {
        return 1;
    }
    if weight == 0 {
        return rest.min(analysis.step_weights[0]);
    }
    let position = analysis
        .step_weights
        .iter()
        .position(|step| *step == weight);
    match position.and_then(|i| analysis.step_weights.get(i + 1)) {
        Some(next) => rest.min(next.saturating_sub(weight)),
        None => rest,
    }
}

/// The canary weight after one increase from `weight` by `step`, capped at 100. There is no cap at
/// `maxWeight`: Flagger overshoots it (20, 40, 60 for `stepWeight: 20, maxWeight: 50`).
pub fn increased_weight(weight: u32, step: u32) -> u32 {
    weight.saturating_add(step).min(TOTAL_WEIGHT)
}

/// The canary weight after one `stepWeightPromotion` step during Promoting, floored at 0.
pub fn promotion_weight(weight: u32, step_weight_promotion: u32) -> u32 {
    weight.saturating_sub(step_weight_promotion)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(step_weight: u32, max_weight: Option<u32>) -> CanaryAnalysis {
        CanaryAnalysis {
            step_weight: Some(step_weight),
            max_weight,
            ..Default::default()
        }
    }

    fn stepped(step_weights: &[u32]) -> CanaryAnalysis {
        CanaryAnalysis {
            step_weights: step_weights.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn strategy_follows_iterations_and_match() {
        let blue_green = CanaryAnalysis {
            iterations: Some(3),
            ..Default::default()
        };
        let mut ab = blue_green.clone();
        ab.match_requests.push(Default::default());
        let canary_with_match = CanaryAnalysis {
            match_requests: ab.match_requests.clone(),
            ..Default::default()
        };
        assert_eq!(Strategy::of(Some(&blue_green)), Strategy::BlueGreen);
        assert_eq!(Strategy::of(Some(&ab)), Strategy::AbTesting);
        assert_eq!(Strategy::of(Some(&canary_with_match)), Strategy::Canary);
        assert_eq!(
            Strategy::of(Some(&CanaryAnalysis::default())),
            Strategy::Canary
        );
        assert_eq!(Strategy::of(None), Strategy::Canary);
    }

    #[test]
    fn max_weight_defaults_and_step_weights_override() {
        assert_eq!(max_weight(None), 100);
        assert_eq!(max_weight(Some(&linear(10, None))), 100);
        assert_eq!(max_weight(Some(&linear(10, Some(0)))), 100);
        assert_eq!(max_weight(Some(&linear(10, Some(50)))), 50);
        assert_eq!(max_weight(Some(&stepped(&[1, 2, 10, 80]))), 80);
        assert_eq!(max_weight(Some(&stepped(&[50, 150]))), 100);
    }

    #[test]
    fn linear_steps_overshoot_max_weight() {
        let analysis = linear(20, Some(50));
        let mut weight = 0;
        let mut seen = Vec::new();
        while weight < max_weight(Some(&analysis)) {
            weight = increased_weight(weight, next_step_weight(Some(&analysis), weight));
            seen.push(weight);
        }
        assert_eq!(seen, [20, 40, 60]);
    }

    #[test]
    fn step_weights_walk_the_list() {
        let analysis = stepped(&[1, 2, 10, 80]);
        let mut weight = 0;
        let mut seen = Vec::new();
        while weight < max_weight(Some(&analysis)) {
            weight = increased_weight(weight, next_step_weight(Some(&analysis), weight));
            seen.push(weight);
        }
        assert_eq!(seen, [1, 2, 10, 80]);
    }

    #[test]
    fn step_weights_edge_cases() {
        let analysis = stepped(&[10, 40]);
        assert_eq!(next_step_weight(Some(&analysis), 100), 1);
        assert_eq!(
            next_step_weight(Some(&analysis), 25),
            75,
            "off-list weight jumps to 100"
        );
        assert_eq!(
            next_step_weight(Some(&analysis), 40),
            60,
            "last entry jumps to 100"
        );
        assert_eq!(next_step_weight(Some(&stepped(&[150])), 0), 100);
    }

    #[test]
    fn step_weight_wins_over_step_weights() {
        let analysis = CanaryAnalysis {
            step_weight: Some(5),
            step_weights: vec![30, 60],
            ..Default::default()
        };
        assert_eq!(next_step_weight(Some(&analysis), 0), 5);
        assert_eq!(max_weight(Some(&analysis)), 60);
    }

    #[test]
    fn no_step_configured_means_no_increase() {
        assert_eq!(next_step_weight(Some(&CanaryAnalysis::default()), 0), 0);
        assert_eq!(next_step_weight(None, 0), 0);
    }

    #[test]
    fn weights_stay_within_bounds() {
        assert_eq!(increased_weight(90, 20), 100);
        assert_eq!(promotion_weight(30, 20), 10);
        assert_eq!(promotion_weight(10, 20), 0);
    }
}
