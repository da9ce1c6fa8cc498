//! The demo's summary: one row per stage of the promotion, written as `summary.json` for
//! machines (the CI test reads it) and printed as a table for people.

use serde::{Deserialize, Serialize};

/// What the demo did and where to look at it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The `admin` kubeconfig of the demo's cluster.
    pub kubeconfig: String,
    /// Gitea's address, e.g. `http://127.0.0.1:34567`.
    pub gitea_url: String,
    /// The tenant repository's web address on Gitea.
    pub repository_url: String,
    /// The image tag the demo pushed and promoted, e.g. `6.5.1`.
    pub tag: String,
    /// One row per stage, in the order they completed.
    pub rows: Vec<Row>,
}

/// One stage of the promotion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The stage, e.g. `scan`, `commit`, `dev`, `qa`, `prod`.
    pub stage: String,
    /// The image this stage ended on, `registry/podinfo:tag`.
    pub image: String,
    /// The Git revision (commit SHA-1) or pull request the stage ended on.
    pub revision: String,
    /// What the stage ended with, e.g. `applied, commit status success`.
    pub outcome: String,
    /// Time the stage took, in seconds.
    pub seconds: f64,
}

/// The summary as an aligned text table: stage, image, revision, outcome, time taken.
pub fn table(summary: &Summary) -> String {
    let header = ["stage", "image", "revision", "outcome", "took"].map(str::to_owned);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(summary.rows.iter().map(|row| {
            [
                row.stage.clone(),
                row.image.clone(),
                row.revision.clone(),
                row.outcome.clone(),
                format!("{:.1} s", row.seconds),
            ]
        }))
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_each_column_under_its_header() {
        let summary = Summary {
            rows: vec![
                Row {
                    stage: "scan".into(),
                    image: "r/podinfo:6.5.1".into(),
                    revision: "-".into(),
                    outcome: "latest".into(),
                    seconds: 1.24,
                },
                Row {
                    stage: "dev".into(),
                    image: "r/podinfo:6.5.1".into(),
                    revision: "0123abcd".into(),
                    outcome: "applied".into(),
                    seconds: 12.0,
                },
            ],
            ..Summary::default()
        };
        assert_eq!(
            table(&summary),
            "stage  image            revision  outcome  took\n\
             scan   r/podinfo:6.5.1  -         latest   1.2 s\n\
             dev    r/podinfo:6.5.1  0123abcd  applied  12.0 s\n"
        );
    }
}
