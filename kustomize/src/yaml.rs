//! Reading YAML streams into JSON values as kustomize's kyaml does (go-yaml v3), and printing
//! resources as `kustomize build` does (see `emit`).
//!
//! The reader is built on saphyr-parser's events rather than a serde deserializer because
//! kustomize's reading differs from serde's in ways builds depend on: a key repeated in a
//! mapping keeps its last value instead of failing, plain scalars resolve by go-yaml's rules
//! (`0755` is octal, `yes` is a string, `2024-01-02` stays text), and `<<` merges.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, StrInput, Tag};
use serde_json::{Map, Number, Value};

use super::limits::{Budget, MAX_DEPTH};
use super::resolve::{Flavour, Resolved, resolve};

/// Parses every document of a YAML stream of resources into JSON values, as kustomize's kio
/// reader does: empty documents are dropped, plain scalars resolve as go-yaml v3 resolves them,
/// integral floats become integers (kustomize round-trips through JSON), keys become strings,
/// aliases and `<<` merges are expanded, tags other than the core ones make strings. Errors
/// with the parser's message (with line and column), go-yaml v3's on a repeated key, or the
/// limit exceeded: nesting past [`MAX_DEPTH`], aliases copying more nodes than `budget` has
/// left (see [`limits`](super::limits)).
pub fn parse_documents(text: &str, budget: &Budget) -> Result<Vec<Value>, String> {
    read_stream(text, RepeatedKeys::Refuse, budget)
}

/// What to do with a key repeated in one mapping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RepeatedKeys {
    /// Fail, as go-yaml v3 does when kustomize reads resources.
    Refuse,
    /// Keep the last value, as `sigs.k8s.io/yaml` does when kustomize reads its own files.
    KeepLast,
}

fn read_stream(
    text: &str,
    repeated_keys: RepeatedKeys,
    budget: &Budget,
) -> Result<Vec<Value>, String> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        limits: Limits::new(budget),
        repeated_keys,
    };
    let mut documents = Vec::new();
    loop {
        match reader.next()? {
            Event::StreamEnd => return Ok(documents),
            Event::DocumentStart(_) => {
                let first = reader.next()?;
                let (value, _) = reader.node(first, 1)?;
                if !value.is_null() {
                    documents.push(value);
                }
            }
            _ => {}
        }
    }
}

/// Parses one YAML document (or an empty text) of kustomize's own configuration (a
/// kustomization, field specs) into a JSON value; `Value::Null` when empty. Read as
/// [`parse_documents`] reads (limits included), except that a repeated key keeps its last
/// value, as kustomize reads these files.
pub fn parse_document(text: &str, budget: &Budget) -> Result<Value, String> {
    let mut documents = read_stream(text, RepeatedKeys::KeepLast, budget)?;
    match documents.len() {
        0 => Ok(Value::Null),
        1 => Ok(documents.remove(0)),
        _ => Err("expected one YAML document, found several".to_string()),
    }
}

/// Checks a YAML stream against the limits without building it: nesting past [`MAX_DEPTH`]
/// and aliases copying more nodes than `budget` has left are refused, as
/// [`parse_documents`] refuses them; so is text saphyr-parser cannot parse. For text that
/// another parser then reads (serde_yaml_ng, whose own alias limit only stops exponential
/// growth, not an anchor of N nodes aliased N times).
pub fn check_limits(text: &str, budget: &Budget) -> Result<(), String> {
    let mut parser = Parser::new_from_str(text);
    let mut limits = Limits::new(budget);
    // The collections open around the next event: their size so far and their anchor.
    let mut open: Vec<(Size, usize)> = Vec::new();
    while let Some(next) = parser.next_event() {
        let (event, _) = next.map_err(|error| error.to_string())?;
        let depth = open.len() + 1;
        let finished = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                check_depth(depth)?;
                open.push((Size::SINGLE, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => open.pop(),
            Event::Scalar(_, _, anchor, _) => {
                check_depth(depth)?;
                Some((Size::SINGLE, anchor))
            }
            Event::Alias(anchor) => Some((limits.alias(anchor, depth)?, 0)),
            _ => None,
        };
        if let Some((size, anchor)) = finished {
            limits.anchor(anchor, size);
            if let Some((parent, _)) = open.last_mut() {
                parent.add_child(size);
            }
        }
    }
    Ok(())
}

/// How big a node is: the nodes it holds (itself included) and how many levels it spans (1
/// for a scalar or an empty collection).
#[derive(Clone, Copy, Debug)]
struct Size {
    nodes: u64,
    height: usize,
}

impl Size {
    /// A scalar, or a collection before its items.
    const SINGLE: Self = Self {
        nodes: 1,
        height: 1,
    };

    /// Counts `child` as an item of this collection.
    fn add_child(&mut self, child: Size) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.height = self.height.max(child.height + 1);
    }
}

/// Refuses a node at `depth` (the document's top node is at 1) past [`MAX_DEPTH`].
fn check_depth(depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "YAML nests deeper than {MAX_DEPTH} levels; refused by sluice_kustomize::limits::MAX_DEPTH"
        ));
    }
    Ok(())
}

/// The limits over one YAML stream: the size of each anchored node, so that an alias is
/// charged (to the build's [`Budget`]) the nodes it copies and the levels it adds.
struct Limits<'b> {
    budget: &'b Budget,
    anchors: HashMap<usize, Size>,
}

impl<'b> Limits<'b> {
    fn new(budget: &'b Budget) -> Self {
        Self {
            budget,
            anchors: HashMap::new(),
        }
    }

    /// Remembers the size of the node anchored as `anchor` (0: no anchor).
    fn anchor(&mut self, anchor: usize, size: Size) {
        if anchor > 0 {
            self.anchors.insert(anchor, size);
        }
    }

    /// Charges an alias of `anchor` placed at `depth`: its nodes to the budget, its levels to
    /// [`MAX_DEPTH`]. Returns the size of the copy.
    fn alias(&self, anchor: usize, depth: usize) -> Result<Size, String> {
        let size = *self
            .anchors
            .get(&anchor)
            .ok_or_else(|| format!("unknown anchor {anchor}"))?;
        check_depth(depth + size.height - 1)?;
        self.budget.spend_alias_nodes(size.nodes)?;
        Ok(size)
    }
}

/// Pulls parser events and builds values, remembering anchored nodes for aliases.
struct Reader<'input, 'b> {
    parser: Parser<'input, StrInput<'input>>,
    anchors: HashMap<usize, Value>,
    limits: Limits<'b>,
    repeated_keys: RepeatedKeys,
}

impl<'input> Reader<'input, '_> {
    fn next(&mut self) -> Result<Event<'input>, String> {
        Ok(self.next_with_line()?.0)
    }

    /// The next event and the line (1-based) it starts on.
    fn next_with_line(&mut self) -> Result<(Event<'input>, usize), String> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, span.start.line())),
            Some(Err(error)) => Err(error.to_string()),
            None => Ok((Event::StreamEnd, 0)),
        }
    }

    /// Builds the node that starts with `event` at `depth` (a `DocumentEnd` makes an empty
    /// node), and returns its size.
    fn node(&mut self, event: Event<'input>, depth: usize) -> Result<(Value, Size), String> {
        check_depth(depth)?;
        let (value, size, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_deref()), Size::SINGLE, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let (value, size) = self.sequence(depth)?;
                (value, size, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let (value, size) = self.mapping(depth)?;
                (value, size, anchor)
            }
            Event::Alias(anchor) => {
                let size = self.limits.alias(anchor, depth)?;
                let value = self.anchors.get(&anchor).cloned().unwrap_or_default();
                return Ok((value, size));
            }
            _ => return Ok((Value::Null, Size::SINGLE)),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
            self.limits.anchor(anchor, size);
        }
        Ok((value, size))
    }

    fn sequence(&mut self, depth: usize) -> Result<(Value, Size), String> {
        let mut items = Vec::new();
        let mut size = Size::SINGLE;
        loop {
            match self.next()? {
                Event::SequenceEnd => return Ok((Value::Array(items), size)),
                event => {
                    let (item, item_size) = self.node(event, depth + 1)?;
                    size.add_child(item_size);
                    items.push(item);
                }
            }
        }
    }

    fn mapping(&mut self, depth: usize) -> Result<(Value, Size), String> {
        let mut object = Map::new();
        let mut merged = Map::new();
        let mut key_lines = HashMap::new();
        let mut size = Size::SINGLE;
        loop {
            let (key_event, line) = self.next_with_line()?;
            if matches!(key_event, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(&key_event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
            let key = match key_event {
                Event::Scalar(text, _, anchor, _) => {
                    check_depth(depth + 1)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, Value::String(text.to_string()));
                        self.limits.anchor(anchor, Size::SINGLE);
                    }
                    size.add_child(Size::SINGLE);
                    text.to_string()
                }
                event => {
                    let (key, key_size) = self.node(event, depth + 1)?;
                    size.add_child(key_size);
                    key_text(key)
                }
            };
            let value_event = self.next()?;
            let (value, value_size) = self.node(value_event, depth + 1)?;
            size.add_child(value_size);
            if is_merge {
                merge_into(&mut merged, value);
                continue;
            }
            if let Some(first) = key_lines.insert(key.clone(), line)
                && self.repeated_keys == RepeatedKeys::Refuse
            {
                return Err(format!(
                    "yaml: unmarshal errors:\n  line {line}: mapping key \"{key}\" already defined at line {first}"
                ));
            }
            object.insert(key, value);
        }
        for (key, value) in merged {
            object.entry(key).or_insert(value);
        }
        Ok((Value::Object(object), size))
    }
}

/// The values a `<<` key merges: one mapping or a sequence of them (earlier ones win).
fn merge_into(merged: &mut Map<String, Value>, value: Value) {
    let sources = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(entries) = source {
            for (key, value) in entries {
                merged.entry(key).or_insert(value);
            }
        }
    }
}

fn key_text(key: Value) -> String {
    match key {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// A scalar's value: quoted, block and explicitly tagged strings stay text; plain scalars
/// resolve as go-yaml v3 resolves them.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let core_suffix = tag
        .filter(|tag| tag.is_yaml_core_schema())
        .map(|tag| tag.suffix.as_str());
    let resolvable = matches!(
        (style, tag, core_suffix),
        (_, Some(_), Some("int" | "float" | "bool" | "null")) | (ScalarStyle::Plain, None, _)
    );
    if !resolvable {
        return Value::String(text.to_string());
    }
    match resolve(text, Flavour::V3) {
        Resolved::Null => Value::Null,
        Resolved::Bool(flag) => Value::Bool(flag),
        Resolved::Int {
            negative,
            magnitude,
        } => integer(negative, magnitude),
        Resolved::Float(float) => float_value(float, text),
        Resolved::Timestamp | Resolved::Base60 | Resolved::Merge | Resolved::Str => {
            Value::String(text.to_string())
        }
    }
}

fn integer(negative: bool, magnitude: u64) -> Value {
    if !negative {
        return Value::Number(magnitude.into());
    }
    let signed = 0i64.wrapping_sub_unsigned(magnitude);
    Value::Number(signed.into())
}

/// A float as kustomize's JSON round trip leaves it: integral values become integers; NaN and
/// infinities, which JSON cannot hold, stay as their text.
fn float_value(float: f64, text: &str) -> Value {
    if float.fract() == 0.0 && float.abs() < 1e15 {
        return Value::Number((float as i64).into());
    }
    Number::from_f64(float).map_or_else(|| Value::String(text.to_string()), Value::Number)
}

/// Prints one JSON value as a YAML document with map keys sorted, as kustomize prints resources.
pub fn to_yaml(value: &Value) -> String {
    super::emit::document(value)
}

/// Prints resources as one YAML stream, documents joined by `---`, as `kustomize build` does.
pub fn to_yaml_stream(values: &[Value]) -> String {
    values.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(text: &str) -> Result<Vec<Value>, String> {
        parse_documents(text, &Budget::new(None))
    }

    fn document(text: &str) -> Result<Value, String> {
        parse_document(text, &Budget::new(None))
    }

    #[test]
    fn reads_like_kyaml() {
        assert!(
            documents("a: 1\nb: 2\na: 3\n")
                .unwrap_err()
                .contains("line 3: mapping key \"a\" already defined at line 1")
        );
        let value = document(
            "a: 1\na: 2\nbase: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nyes: on\nq: '5'\nt: !!str 7\nd: 2024-01-02\nf: 1.0\nn: ~\n",
        )
        .unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 2, "base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "yes": "on",
                "q": "5", "t": "7", "d": "2024-01-02", "f": 1, "n": null})
        );
    }

    #[test]
    fn parses_streams_and_drops_empty_documents() {
        assert_eq!(
            documents("defaultMode: 0755\nb: '0755'\n").unwrap()[0],
            serde_json::json!({"defaultMode": 493, "b": "0755"})
        );
        let documents = documents("a: 1.0\n---\n# only a comment\n---\nb: [x, 0x10]\n").unwrap();
        assert_eq!(
            documents,
            vec![
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": ["x", 16]})
            ]
        );
    }

    #[test]
    fn prints_sorted_keys_and_unindented_sequences() {
        let text = to_yaml(&serde_json::json!({"kind": "A", "apiVersion": "v1", "l": ["x"]}));
        assert_eq!(text, "apiVersion: v1\nkind: A\nl:\n- x\n");
    }

    #[test]
    fn reports_malformed_yaml() {
        assert!(documents("a: [1, 2\n").is_err());
    }

    use crate::limits::MAX_ALIAS_NODES;
    use proptest::prelude::*;
    use std::time::Duration;

    /// The attack: a 9-line "billion laughs", eight levels of ten aliases each (10⁹ scalars once
    /// expanded). Before the limits this reader copied every alias and grew past 13 GiB.
    fn billion_laughs() -> String {
        let mut text = format!("a: &a [{}]\n", ["x"; 10].join(", "));
        for (previous, name) in ('a'..='h').zip('b'..='i') {
            let aliases = vec![format!("*{previous}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        }
        text
    }

    /// Runs `read` on a thread and waits at most ten seconds for it: an unbounded reader fails
    /// the test instead of taking the machine.
    fn within_ten_seconds<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(read()));
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the reader did not return within ten seconds")
    }

    #[test]
    fn a_billion_laughs_is_refused_quickly() {
        let bomb = billion_laughs();
        assert!(bomb.len() < 450, "{} bytes", bomb.len());
        let refused = within_ten_seconds(move || documents(&bomb)).unwrap_err();
        assert!(refused.contains("MAX_ALIAS_NODES"), "{refused}");
        // The same aliases within the allowance still expand.
        let small = documents("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n").unwrap();
        assert_eq!(small[0]["c"][1][1], serde_json::json!(["x", "x"]));
    }

    #[test]
    fn the_alias_allowance_is_per_build_not_per_file() {
        let budget = Budget::new(None);
        let text = format!(
            "a: &a [{}]\nb: [{}]\n",
            ["x"; 99].join(","),
            ["*a"; 600].join(",")
        );
        // 600 aliases of 100 nodes: 60,000 nodes, within the allowance once, not twice.
        assert!(parse_documents(&text, &budget).is_ok());
        assert!(
            parse_documents(&text, &budget)
                .unwrap_err()
                .contains("MAX_ALIAS_NODES")
        );
    }

    #[test]
    fn nesting_is_capped_for_blocks_flows_and_aliases() {
        let at_limit = format!("{}x\n", "- ".repeat(MAX_DEPTH - 1));
        assert!(documents(&at_limit).is_ok());
        let too_deep = format!("{}x\n", "- ".repeat(200_000));
        let refused = within_ten_seconds(move || documents(&too_deep)).unwrap_err();
        assert!(refused.contains("MAX_DEPTH"), "{refused}");
        // Each anchor nests the previous one 100 levels deeper: small, few nodes, deep.
        let mut chain = String::new();
        for level in 0..4 {
            let inner = if level == 0 {
                "x".to_string()
            } else {
                format!("*a{}", level - 1)
            };
            chain.push_str(&format!(
                "k{level}: &a{level} {}{inner}{}\n",
                "[".repeat(100),
                "]".repeat(100)
            ));
        }
        let refused = documents(&chain).unwrap_err();
        assert!(refused.contains("MAX_DEPTH"), "{refused}");
    }

    fn depth_and_nodes(value: &Value) -> (usize, u64) {
        let children: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) => map.values().collect(),
            _ => Vec::new(),
        };
        children
            .into_iter()
            .map(depth_and_nodes)
            .fold((1, 1), |(depth, nodes), (d, n)| {
                (depth.max(d + 1), nodes + n)
            })
    }

    /// Case count: 64 by default (the whole suite stays fast on two cores), `PROPTEST_CASES`
    /// for longer runs.
    fn config() -> ProptestConfig {
        match std::env::var_os("PROPTEST_CASES") {
            Some(_) => ProptestConfig::default(),
            None => ProptestConfig::with_cases(64),
        }
    }

    /// A stream of anchored flow sequences, each holding scalars and aliases of earlier ones,
    /// with the nodes its aliases copy (saturating): the reader's oracle.
    fn aliased_stream() -> impl Strategy<Value = (String, u64)> {
        prop::collection::vec(prop::collection::vec(any::<Option<u8>>(), 0..12), 1..10).prop_map(
            |lines| {
                let mut text = String::new();
                let mut sizes: Vec<u64> = Vec::new();
                let mut copied = 0u64;
                for (index, items) in lines.iter().enumerate() {
                    let mut size = 1u64;
                    let mut written = Vec::new();
                    for item in items {
                        match item {
                            Some(pick) if index > 0 => {
                                let target = usize::from(*pick) % index;
                                size = size.saturating_add(sizes[target]);
                                copied = copied.saturating_add(sizes[target]);
                                written.push(format!("*a{target}"));
                            }
                            _ => {
                                size += 1;
                                written.push("x".to_string());
                            }
                        }
                    }
                    sizes.push(size);
                    text.push_str(&format!("k{index}: &a{index} [{}]\n", written.join(", ")));
                }
                (text, copied)
            },
        )
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_bytes_never_panic_nor_pass_the_limits(
            bytes in prop::collection::vec(any::<u8>(), 0..512)
        ) {
            let text = String::from_utf8_lossy(&bytes);
            let read = documents(&text);
            if let Ok(values) = &read {
                prop_assert!(check_limits(&text, &Budget::new(None)).is_ok());
                for value in values {
                    let (depth, nodes) = depth_and_nodes(value);
                    prop_assert!(depth <= MAX_DEPTH);
                    prop_assert!(nodes <= 2 * (text.len() as u64 + 1) + MAX_ALIAS_NODES);
                }
            }
        }

        #[test]
        fn yaml_like_text_never_panics_nor_passes_the_limits(
            text in "([-a-c &*:,\\[\\]{}?|>!'\"#\n]|&a|\\*a|- |: ){0,300}"
        ) {
            if let Ok(values) = document(&text).map(|value| vec![value]).or_else(|_| documents(&text)) {
                prop_assert!(check_limits(&text, &Budget::new(None)).is_ok());
                for value in &values {
                    let (depth, nodes) = depth_and_nodes(value);
                    prop_assert!(depth <= MAX_DEPTH);
                    prop_assert!(nodes <= 2 * (text.len() as u64 + 1) + MAX_ALIAS_NODES);
                }
            }
        }

        #[test]
        fn aliases_are_refused_exactly_past_the_allowance((text, copied) in aliased_stream()) {
            let read = within_ten_seconds({
                let text = text.clone();
                move || documents(&text)
            });
            prop_assert_eq!(read.is_ok(), copied <= MAX_ALIAS_NODES, "{}", text);
            prop_assert_eq!(
                check_limits(&text, &Budget::new(None)).is_ok(),
                copied <= MAX_ALIAS_NODES
            );
        }
    }
}
