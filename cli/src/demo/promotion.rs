//! The promotion part of the demo's flow, read from the Pipeline's status, the qa Canary, its
//! HTTPRoute and Prometheus: the pull request to qa (merged by Sluice once dev is green), the qa
//! canary walking its weights on the request success rate, and the pull request to prod left
//! open for a person.

use std::time::Instant;

use kube::api::{Api, DynamicObject};
use serde_json::Value;
use sluice_canary::api::Canary;
use sluice_canary::caches::http_route_resource;
use sluice_gitops::api::Kustomization;
use sluice_promotion::api::Pipeline;

use super::flow::{Flow, NEW_TAG, STEP_TIMEOUT, applied, short};
use super::summary::Row;
use super::watch::{Reading, until};

/// The Prometheus query of the canary's request success rate (the demo's exporter serves it).
pub const SUCCESS_RATE_QUERY: &str = r#"max(podinfo_request_success_rate{target="podinfo-qa"})"#;

impl Flow<'_> {
    /// Waits until the Pipeline opened a pull request moving qa to the new tag, then until it
    /// merged it.
    ///
    /// Errors: not in time, or the API failed.
    pub async fn qa_pull_request(&self) -> anyhow::Result<Row> {
        let started = Instant::now();
        let (number, url) = self.pull_request("qa", &["open", "merged"]).await?;
        self.progress.write(
            super::progress::Kind::Note,
            format!("pull request #{number} to qa: {url}"),
        );
        self.pull_request("qa", &["merged"]).await?;
        Ok(self.row(
            "qa PR",
            &format!("#{number}"),
            "opened and merged by Sluice once dev was green",
            started,
        ))
    }

    /// Waits until qa applied the merge and its canary promoted the new tag, noting each weight
    /// and the metric's value.
    ///
    /// Errors: not in time, the canary failed, or the API failed.
    pub async fn qa_canary(&self) -> anyhow::Result<Row> {
        let started = Instant::now();
        until(
            self.progress,
            "the qa canary to succeed",
            STEP_TIMEOUT,
            || async {
                let canary = self.objects.get::<Canary>("podinfo-qa").await?;
                let phase = canary["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let primary = self.image("podinfo-qa-primary").await?;
                if phase == "Failed" {
                    anyhow::bail!(
                        "the qa canary failed: {}",
                        super::watch::ready_message(&canary)
                    );
                }
                if phase == "Succeeded" && primary.ends_with(&format!(":{NEW_TAG}")) {
                    return Ok(Reading::Done(()));
                }
                let weights = self.route_weights().await?;
                let rate = self.success_rate();
                Ok(Reading::Seen(format!(
                    "canary {phase}: {weights}, request-success-rate {rate}"
                )))
            },
        )
        .await?;
        let kustomization = self.objects.get::<Kustomization>("podinfo-qa").await?;
        let revision = applied(&kustomization)
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut row = self.row(
            "qa",
            &short(&revision),
            "canary Succeeded: promoted to podinfo-qa-primary",
            started,
        );
        row.image = self.image("podinfo-qa-primary").await?;
        Ok(row)
    }

    /// Waits until the Pipeline opened the pull request to prod, which it leaves open.
    ///
    /// Errors: not in time, or the API failed.
    pub async fn prod_pull_request(&self) -> anyhow::Result<Row> {
        let started = Instant::now();
        let (number, url) = self.pull_request("prod", &["open"]).await?;
        self.progress.write(
            super::progress::Kind::Note,
            format!("pull request #{number} to prod: {url}"),
        );
        let outcome = "left open: prod's approval is manual";
        Ok(self.row("prod PR", &format!("#{number}"), outcome, started))
    }

    /// Waits until the Pipeline's `stage` has a pull request in one of `states`; returns its
    /// number and address.
    async fn pull_request(
        &self,
        stage_name: &str,
        states: &[&str],
    ) -> anyhow::Result<(u64, String)> {
        until(
            self.progress,
            &format!("a pull request to {stage_name}"),
            STEP_TIMEOUT,
            || async {
                let pipeline = self.objects.get::<Pipeline>("podinfo").await?;
                let entry = stage(&pipeline, stage_name);
                let request = &entry["pullRequest"];
                let state = request["state"].as_str().unwrap_or_default();
                Ok(
                    match (request["number"].as_u64(), states.contains(&state)) {
                        (Some(number), true) => Reading::Done((
                            number,
                            request["url"].as_str().unwrap_or_default().to_owned(),
                        )),
                        _ => Reading::Seen(
                            entry["waitingFor"]
                                .as_str()
                                .map(|why| format!("Pipeline: {stage_name} waits for {why}"))
                                .unwrap_or_default(),
                        ),
                    },
                )
            },
        )
        .await
    }

    /// The weights of the qa HTTPRoute's backends, e.g. `podinfo-qa-primary 75% / podinfo-qa-canary 25%`.
    async fn route_weights(&self) -> anyhow::Result<String> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.objects.client.clone(),
            &self.objects.namespace,
            &http_route_resource(),
        );
        let Some(route) = api.get_opt("podinfo-qa").await? else {
            return Ok("no route yet".into());
        };
        Ok(weights(&route.data))
    }

    /// The success rate Prometheus has for the canary, or `?` when it has none.
    fn success_rate(&self) -> String {
        let port = self
            .servers
            .prometheus
            .url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or(0);
        let path = format!("/api/v1/query?query={}", encode(SUCCESS_RATE_QUERY));
        sluice_servers::ports::http_get(port, &path)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|answer| {
                answer["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "?".into())
    }
}

/// The status entry of `name` in a Pipeline's JSON (`Null` when absent).
fn stage<'a>(pipeline: &'a Value, name: &str) -> &'a Value {
    pipeline["status"]["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|stage| stage["name"] == name))
        .unwrap_or(&Value::Null)
}

/// The backends of an HTTPRoute's first rule with their weights, `name weight% / ...`.
pub fn weights(route: &Value) -> String {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|backend| {
            format!(
                "{} {}%",
                backend["name"].as_str().unwrap_or("?"),
                backend["weight"].as_u64().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `text` percent-encoded for a URL query (every byte but unreserved characters).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn weights_name_each_backend_of_the_first_rule() {
        let route = json!({"spec": {"rules": [{"backendRefs": [
            {"name": "podinfo-qa-primary", "weight": 75},
            {"name": "podinfo-qa-canary", "weight": 25}
        ]}]}});
        assert_eq!(
            weights(&route),
            "podinfo-qa-primary 75% / podinfo-qa-canary 25%"
        );
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(encode(r#"max(a{b="c"})"#), "max%28a%7Bb%3D%22c%22%7D%29");
    }
}
