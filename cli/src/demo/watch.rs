//! Reading what the controllers wrote: an object's `status` as JSON, its `Ready` condition, and
//! polling until a reading holds, with a note on the progress log each time it changes.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::bail;
use kube::api::Api;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::progress::{Kind, Progress};

/// How often a reading is taken.
const POLL: Duration = Duration::from_millis(250);

/// The tenant's objects as JSON.
#[derive(Clone)]
pub struct Objects {
    /// The `admin` client.
    pub client: Client,
    /// The namespace read.
    pub namespace: String,
}

impl Objects {
    /// The object `name` of kind `K` as JSON (`Value::Null` when it does not exist).
    ///
    /// Errors: the API failed.
    pub async fn get<K>(&self, name: &str) -> anyhow::Result<Value>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(match api.get_opt(name).await? {
            Some(object) => serde_json::to_value(object)?,
            None => Value::Null,
        })
    }
}

/// Whether `object`'s `Ready` condition is `True` for its current generation (or, for kinds
/// that do not report one, at all).
pub fn is_ready(object: &Value) -> bool {
    let status = &object["status"];
    let current = status["observedGeneration"].as_i64().is_none()
        || status["observedGeneration"] == object["metadata"]["generation"];
    current
        && status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

/// The `Ready` condition's message, or `""`.
pub fn ready_message(object: &Value) -> String {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|condition| condition["type"] == "Ready")
        .and_then(|condition| condition["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// What one reading gives: done with a value, or not yet with what is seen so far.
pub enum Reading<T> {
    /// The awaited state, with the value to return.
    Done(T),
    /// Not yet; the text (when not empty) is noted on the progress log when it changes.
    Seen(String),
}

/// Takes readings every 250 ms until one is [`Reading::Done`], noting each new
/// [`Reading::Seen`] text; returns the value.
///
/// Errors: `timeout` passed (the error says `what` and the last thing seen), or a reading
/// failed.
pub async fn until<T, F, Fut>(
    progress: &Progress,
    what: &str,
    timeout: Duration,
    mut read: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Reading<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match read().await? {
            Reading::Done(value) => return Ok(value),
            Reading::Seen(text) if text != last => {
                if !text.is_empty() {
                    progress.write(Kind::Note, &text);
                }
                last = text;
            }
            Reading::Seen(_) => {}
        }
        if Instant::now() > deadline {
            bail!("{what}: not after {timeout:?}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_means_true_at_the_current_generation() {
        let ready = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "message": "Applied"}]}});
        assert!(is_ready(&ready));
        assert_eq!(ready_message(&ready), "Applied");
        let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(!is_ready(&stale));
        let no_generation =
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&no_generation));
        assert!(!is_ready(&Value::Null));
    }
}
