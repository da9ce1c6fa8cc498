//! Garbage collection of the tag store: the entry of an ImageRepository goes when the object
//! does. A metadata watch of the ImageRepositories this process reconciles (the same
//! `--watch-label-selector`) removes the entry of each deleted object, and every full listing
//! (at start-up, and whenever the watch has to list again) removes the entries of objects that
//! are no longer there, so deletions made while the controller was down, or missed, go too.
//!
//! Flux's image-reflector-controller keys its database by image name and never removes
//! entries; Sluice keys entries by object (see [`crate::store`]), so it removes them with the
//! object, without a finalizer that could block a namespace's deletion. The same collection
//! removes the registry webhook paths of deleted objects ([`crate::webhook::Hooks`]).

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::api::ImageRepository;
use crate::store::{Stale, TagStore, object_key};
use crate::webhook::Hooks;

/// What one watch event asks of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    /// The entries to remove.
    pub stale: Stale,
    /// Keep those scanned at or after this time (milliseconds since the Unix epoch): their
    /// object was created after the event's information was gathered.
    pub before_ms: i64,
}

/// Turns the watch events of ImageRepositories into [`Collection`]s: it gathers the keys of a
/// listing between `Init` and `InitDone`.
#[derive(Debug, Default)]
pub struct Collector {
    listing: Option<(HashSet<String>, i64)>,
}

impl Collector {
    /// What to remove after `event`, received at `now_ms` (milliseconds since the Unix epoch):
    /// the deleted object's entry on `Delete`; every entry not listed on `InitDone`, keeping
    /// those scanned since the listing began; nothing otherwise.
    pub fn on_event(
        &mut self,
        event: Event<PartialObjectMeta<ImageRepository>>,
        now_ms: i64,
    ) -> Option<Collection> {
        match event {
            Event::Init => {
                self.listing = Some((HashSet::new(), now_ms));
                None
            }
            Event::InitApply(object) => {
                if let Some((live, _)) = &mut self.listing {
                    live.insert(key_of(&object));
                }
                None
            }
            Event::InitDone => self.listing.take().map(|(live, began)| Collection {
                stale: Stale::AllBut(live),
                before_ms: began,
            }),
            Event::Delete(object) => Some(Collection {
                stale: Stale::Key(key_of(&object)),
                before_ms: now_ms,
            }),
            Event::Apply(_) => None,
        }
    }
}

fn key_of(object: &PartialObjectMeta<ImageRepository>) -> String {
    object_key(&object.namespace().unwrap_or_default(), &object.name_any())
}

/// Watches the ImageRepositories matching `label_selector` through `client` and removes the
/// entries of `store` and the webhook paths of `hooks` whose object is gone, until the watch
/// stream ends (it does not: errors are retried with backoff and logged). Removal failures are
/// logged.
pub async fn run(
    client: Client,
    label_selector: Option<String>,
    store: TagStore,
    hooks: Arc<Hooks>,
) {
    let mut config = watcher::Config::default();
    if let Some(selector) = &label_selector {
        config = config.labels(selector);
    }
    let api: Api<PartialObjectMeta<ImageRepository>> = Api::all(client);
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut collector = Collector::default();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "watching ImageRepositories for the tag store's collection");
                continue;
            }
        };
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let Some(collection) = collector.on_event(event, now_ms) else {
            continue;
        };
        hooks.collect(&collection.stale, collection.before_ms);
        match store
            .remove_stale(collection.stale, collection.before_ms)
            .await
        {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(
                    ?removed,
                    "removed the stored tags of deleted ImageRepositories"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "removing stale tag store entries"),
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::core::{ObjectMeta, PartialObjectMetaExt};

    use super::*;

    fn object(namespace: &str, name: &str) -> PartialObjectMeta<ImageRepository> {
        ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        }
        .into_response_partial()
    }

    #[test]
    fn a_listing_keeps_the_listed_and_what_was_scanned_since_it_began() {
        let mut collector = Collector::default();
        assert_eq!(collector.on_event(Event::Init, 100), None);
        assert_eq!(
            collector.on_event(Event::InitApply(object("a", "one")), 150),
            None
        );
        assert_eq!(
            collector.on_event(Event::InitApply(object("b", "two")), 160),
            None
        );
        let live = HashSet::from(["a/one".to_owned(), "b/two".to_owned()]);
        assert_eq!(
            collector.on_event(Event::InitDone, 200),
            Some(Collection {
                stale: Stale::AllBut(live),
                before_ms: 100,
            })
        );
        assert_eq!(
            collector.on_event(Event::InitDone, 300),
            None,
            "one collection per listing"
        );
    }

    #[test]
    fn a_deletion_removes_that_entry_and_an_update_nothing() {
        let mut collector = Collector::default();
        assert_eq!(
            collector.on_event(Event::Apply(object("a", "one")), 100),
            None
        );
        assert_eq!(
            collector.on_event(Event::Delete(object("a", "one")), 200),
            Some(Collection {
                stale: Stale::Key("a/one".into()),
                before_ms: 200,
            })
        );
    }
}
