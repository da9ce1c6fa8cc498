//! The limits that keep a build of untrusted files (a tenant's Git repository) from taking the
//! controller's memory, stack or thread: every figure is here, with the reason it was chosen.
//!
//! A tenant controls every byte a build reads, so each amplification it could use is capped:
//! - file size ([`MAX_FILE_BYTES`]): checked before a file is read;
//! - YAML alias expansion ([`MAX_ALIAS_NODES`]): a "billion laughs" (eight levels of ten
//!   aliases each, 400 bytes) expands to 10⁹ nodes, 13 GiB and more, when aliases are copied
//!   out; the reader counts the nodes each alias copies and stops at the limit;
//! - nesting ([`MAX_DEPTH`]): the reader, the printer and the patches recurse once per level, so
//!   a file of 5,000 `- ` (10 KB) overflowed the stack and aborted the process; JSON patch
//!   operations and replacements are refused when what they insert would nest deeper;
//! - copies made by the build itself ([`MAX_COPIED_NODES`]): JSON patch `copy` operations and
//!   replacements can copy a resource into itself, doubling it at each step (40 operations:
//!   2⁴⁰ nodes);
//! - time: [`BuildOptions::deadline`](crate::BuildOptions::deadline), checked before every file
//!   load and every build step, so an expired build stops and frees its thread;
//! - postBuild substitution: nesting of `${...}` ([`MAX_SUBSTITUTION_DEPTH`]), the size of its
//!   output ([`MAX_SUBSTITUTED_BYTES`]), and aliases in its output (refused: see
//!   [`substitute`](crate::substitute)).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;

use super::error::Error;

/// The largest file a build reads, in bytes (10 MiB). Kustomize files and manifests in real
/// repositories are KiB, and the API server refuses an object over 1.5 MiB (etcd's request
/// limit), so a larger file cannot be a working manifest; a larger file is refused with
/// [`Error::Limit`] before it is read.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// The most nodes (scalars, sequences, mappings) that YAML aliases may copy in one build,
/// counted over every file it reads (100,000). Anchors in manifests share a few blocks of
/// defaults (tens to thousands of nodes); go-yaml v3, which Kubernetes and kustomize read YAML
/// with, caps aliasing by ratio (99% of the nodes up to 400,000 decoded nodes, falling to 10% at
/// 4,000,000). A fixed budget per build is stricter than a ratio per document: it also bounds a
/// repository of many small bombs. 100,000 copied nodes cost about 10 MB.
pub const MAX_ALIAS_NODES: u64 = 100_000;

/// The most nodes that JSON patch `copy` operations and replacements may copy in one build
/// (1,000,000: a replacement of one scalar into 10,000 resources at 100 places each; about
/// 100 MB at worst). Without it a few operations copying a resource into itself double it each
/// time.
pub const MAX_COPIED_NODES: u64 = 1_000_000;

/// The deepest a YAML document may nest, in levels (256; the document's top node is level 1),
/// aliases included. The deepest real manifests (CRD validation schemas) nest under 100
/// levels; saphyr-parser already refuses flow collections (`[`, `{`) nested past 255. Deeper
/// input would overflow the stack of the recursive reader, printer and patches.
pub const MAX_DEPTH: usize = 256;

/// The deepest `${...}` may nest inside a default of postBuild substitution (64; real
/// templates nest two or three levels: `${a:=${b}}`). The parser and the evaluator recurse
/// once per level.
pub const MAX_SUBSTITUTION_DEPTH: usize = 64;

/// The largest text postBuild substitution may produce for one object or document, in bytes
/// (10 MiB, as [`MAX_FILE_BYTES`]: the API server refuses objects over 1.5 MiB). A reference
/// copies its variable's value, so without a cap `${X}` repeated over a large object, or
/// `${X//a/...}`, multiplies sizes.
pub const MAX_SUBSTITUTED_BYTES: usize = 10 * 1024 * 1024;

/// Checks YAML text from an untrusted source against [`MAX_DEPTH`] and [`MAX_ALIAS_NODES`]
/// without building it, for callers that then read it with another parser: serde_yaml_ng's own
/// alias limit (a hundred alias jumps per event) stops exponential growth, not one anchor of N
/// nodes aliased N times (N² nodes: 10¹⁰ from a 500 KB file). Takes the text; errors with a
/// message naming the limit, or saphyr-parser's message (line and column) when the text does
/// not parse: callers should then treat it as they treat malformed YAML.
pub fn check_yaml(text: &str) -> Result<(), String> {
    super::yaml::check_limits(text, &Budget::new(None))
}

/// What one build may still spend: its deadline and what remains of [`MAX_ALIAS_NODES`]. Shared
/// by every loader of the build.
#[derive(Debug)]
pub(crate) struct Budget {
    deadline: Option<Instant>,
    alias_nodes_left: AtomicU64,
    copied_nodes_left: AtomicU64,
}

impl Budget {
    /// A full budget ending at `deadline` (none: no time limit).
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        Self {
            deadline,
            alias_nodes_left: AtomicU64::new(MAX_ALIAS_NODES),
            copied_nodes_left: AtomicU64::new(MAX_COPIED_NODES),
        }
    }

    /// A budget that refuses any alias (for text in which no alias can be legitimate).
    pub(crate) fn without_aliases() -> Self {
        Self {
            deadline: None,
            alias_nodes_left: AtomicU64::new(0),
            copied_nodes_left: AtomicU64::new(MAX_COPIED_NODES),
        }
    }

    /// Errors with [`Error::Deadline`] naming `path` (the file or kustomization about to be
    /// worked on) once the deadline has passed.
    pub(crate) fn check(&self, path: &Path) -> Result<(), Error> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(Error::Deadline {
                path: path.to_path_buf(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the deadline has passed: for steps that report errors as messages, which then
    /// stop early; the caller reports [`Error::Deadline`] through [`Budget::check`].
    pub(crate) fn expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Takes `nodes` (copied by one alias) from the build's allowance. Errors with a message
    /// naming [`MAX_ALIAS_NODES`] when the allowance does not cover them.
    pub(crate) fn spend_alias_nodes(&self, nodes: u64) -> Result<(), String> {
        spend(&self.alias_nodes_left, nodes).map_err(|()| {
            format!(
                "YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (a \"billion laughs\"?); refused by sluice_kustomize::limits::MAX_ALIAS_NODES"
            )
        })
    }

    /// Checks that `value`, put `depth` levels below the top of a resource (the number of
    /// segments of its path) by a JSON patch operation or a replacement, keeps the resource
    /// within [`MAX_DEPTH`], and when `copied` (a `copy` operation, a replacement) takes its
    /// nodes from [`MAX_COPIED_NODES`]. Errors with a message naming the limit.
    pub(crate) fn charge_insertion(
        &self,
        value: &Value,
        depth: usize,
        copied: bool,
    ) -> Result<(), String> {
        let (nodes, height) = measure(value);
        if depth.saturating_add(height) > MAX_DEPTH {
            return Err(format!(
                "the result would nest deeper than {MAX_DEPTH} levels; refused by sluice_kustomize::limits::MAX_DEPTH"
            ));
        }
        if !copied {
            return Ok(());
        }
        spend(&self.copied_nodes_left, nodes).map_err(|()| {
            format!(
                "copies (JSON patch copy operations, replacements) add up to more than {MAX_COPIED_NODES} nodes; refused by sluice_kustomize::limits::MAX_COPIED_NODES"
            )
        })
    }
}

/// Takes `nodes` from `left`, or leaves it as it is and errors when fewer remain.
fn spend(left: &AtomicU64, nodes: u64) -> Result<(), ()> {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(nodes)
    })
    .map(drop)
    .map_err(drop)
}

/// The nodes `value` holds (itself included) and the levels it spans (1 for a scalar). Recurses
/// once per level: values in a build nest at most [`MAX_DEPTH`] levels.
fn measure(value: &Value) -> (u64, usize) {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    };
    children
        .map(measure)
        .fold((1, 1), |(nodes, height), (n, h)| {
            (nodes.saturating_add(n), height.max(h + 1))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_alias_allowance_runs_out() {
        let budget = Budget::new(None);
        assert!(budget.spend_alias_nodes(MAX_ALIAS_NODES - 1).is_ok());
        assert!(budget.spend_alias_nodes(1).is_ok());
        let refused = budget.spend_alias_nodes(1).unwrap_err();
        assert!(refused.contains("MAX_ALIAS_NODES"), "{refused}");
        assert!(Budget::without_aliases().spend_alias_nodes(1).is_err());
    }

    #[test]
    fn check_yaml_refuses_quadratic_and_exponential_aliasing() {
        assert!(check_yaml("a: &a {x: 1}\nb: *a\nc: [*a, *a]\n").is_ok());
        let wide = format!(
            "a: &a [{}]\nb: [{}]\n",
            ["x"; 1_000].join(","),
            ["*a"; 1_000].join(",")
        );
        let refused = check_yaml(&wide).unwrap_err();
        assert!(refused.contains("MAX_ALIAS_NODES"), "{refused}");
        let deep = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        assert!(check_yaml(&deep).unwrap_err().contains("MAX_DEPTH"));
        assert!(check_yaml(&format!("{}x\n", "- ".repeat(MAX_DEPTH - 1))).is_ok());
        assert!(check_yaml("a: [1, 2\n").is_err());
    }

    #[test]
    fn insertions_are_charged_for_depth_and_copies() {
        let budget = Budget::new(None);
        let value = serde_json::json!({"a": [1, 2, {"b": 3}]});
        // 6 nodes, 4 levels.
        assert!(budget.charge_insertion(&value, MAX_DEPTH - 4, true).is_ok());
        let deep = budget.charge_insertion(&value, MAX_DEPTH - 3, false);
        assert!(deep.unwrap_err().contains("MAX_DEPTH"));
        for _ in 1..MAX_COPIED_NODES / 6 {
            assert!(budget.charge_insertion(&value, 1, true).is_ok());
        }
        let copies = budget.charge_insertion(&value, 1, true).unwrap_err();
        assert!(copies.contains("MAX_COPIED_NODES"), "{copies}");
        assert!(budget.charge_insertion(&value, 1, false).is_ok());
    }

    #[test]
    fn the_deadline_names_the_path() {
        let path = Path::new("dir/kustomization.yaml");
        assert!(Budget::new(None).check(path).is_ok());
        let later = Budget::new(Some(Instant::now() + Duration::from_secs(3600)));
        assert!(later.check(path).is_ok());
        let past = Budget::new(Some(Instant::now()));
        assert!(past.expired() && !later.expired());
        assert!(matches!(past.check(path), Err(Error::Deadline { path: p }) if p == path));
    }
}
