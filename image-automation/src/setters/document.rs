//! Finds the marked scalars of a YAML text: every scalar value (mapping value or sequence item,
//! never a key) followed on its line by a comment that mentions `"$imagepolicy"`, in every
//! document of the text, with its exact byte range.

use std::ops::Range;

use saphyr::{MarkedYaml, ScalarStyle, ScanError, YamlData, YamlLoader};
use saphyr_parser::Parser;

use super::marker::{Marker, MarkerError, parse_marker_comment};
use super::object::ObjectIdentifier;
use super::source_text::{CharOffsets, line_comment_after, line_of};

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The text is not YAML (syntax error, duplicate key, ...), with saphyr's message and position.
    #[error("not valid YAML: {0}")]
    Parse(String),
}

/// A scalar carrying a marker comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedScalar {
    /// The marker, or why the comment is not one Flux would apply.
    pub marker: Result<Marker, MarkerError>,
    /// The comment, from its `#` to the end of the line.
    pub comment: String,
    /// Bytes of the scalar's text in the source, quotes included (empty for an empty value).
    pub bytes: Range<usize>,
    /// Line of the comment, from 1.
    pub line: usize,
    /// How the scalar is written.
    pub style: ScalarStyle,
    /// The scalar's value (a plain scalar's text as written, e.g. `1.10`, not the float).
    pub value: String,
    /// The object of the document holding the scalar.
    pub object: ObjectIdentifier,
}

/// Loads every document of `text` keeping each scalar's text and style (no early parsing).
///
/// Errors with `DocumentError::Parse` when the text is not YAML.
pub fn load_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, DocumentError> {
    let parse_error = |error: &ScanError| DocumentError::Parse(error.to_string());
    let mut loader = YamlLoader::default();
    loader.early_parse(false);
    Parser::new_from_str(text)
        .load(&mut loader, true)
        .map_err(|error| parse_error(&error))?;
    match loader.error() {
        Some(error) => Err(parse_error(error)),
        None => Ok(loader.into_documents()),
    }
}

/// Finds the marked scalars of `text`, in source order.
///
/// Errors with `DocumentError::Parse` when the text is not YAML. Block scalars (`|`, `>`) are
/// never marked: their comment sits on the header line, before the value.
pub fn find_marked_scalars(text: &str) -> Result<Vec<MarkedScalar>, DocumentError> {
    let offsets = CharOffsets::new(text);
    let mut found = Vec::new();
    for document in load_documents(text)? {
        let object = ObjectIdentifier::of_document(&document);
        collect_values(&document, &mut |node| {
            found.extend(marked_scalar(text, &offsets, node, &object));
        });
    }
    found.sort_by_key(|scalar| scalar.bytes.start);
    Ok(found)
}

/// Calls `visit` on every mapping value and sequence item under `node`, depth first.
fn collect_values(node: &MarkedYaml<'_>, visit: &mut dyn FnMut(&MarkedYaml<'_>)) {
    match &node.data {
        YamlData::Mapping(mapping) => mapping.values().for_each(|value| {
            visit(value);
            collect_values(value, visit);
        }),
        YamlData::Sequence(items) => items.iter().for_each(|item| {
            visit(item);
            collect_values(item, visit);
        }),
        YamlData::Tagged(_, inner) => collect_values(inner, visit),
        _ => {}
    }
}

fn marked_scalar(
    text: &str,
    offsets: &CharOffsets,
    node: &MarkedYaml<'_>,
    object: &ObjectIdentifier,
) -> Option<MarkedScalar> {
    let YamlData::Representation(value, style, _) = &node.data else {
        return None;
    };
    let (span_start, span_end) = (
        offsets.byte(node.span.start.index()),
        offsets.byte(node.span.end.index()),
    );
    let bytes = match value.is_empty() && *style == ScalarStyle::Plain {
        true => empty_value_position(text, span_start)..empty_value_position(text, span_start),
        false => super::scalar_extent::scalar_extent(text, span_start, span_end, *style)?,
    };
    let comment = line_comment_after(text, bytes.end)?;
    Some(MarkedScalar {
        marker: parse_marker_comment(comment)?,
        comment: comment.to_owned(),
        line: line_of(text, bytes.end),
        bytes,
        style: *style,
        value: value.to_string(),
        object: object.clone(),
    })
}

/// Where an empty mapping value sits: saphyr marks it on the `:` before it.
fn empty_value_position(text: &str, span_start: usize) -> usize {
    match text[span_start..].starts_with(':') {
        true => span_start + 1,
        false => span_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &str = r#"# {"$imagepolicy": "ns:p"}"#;

    fn find(text: &str) -> Vec<MarkedScalar> {
        find_marked_scalars(text).unwrap()
    }

    #[test]
    fn finds_values_of_every_style_with_their_exact_bytes() {
        let text = format!(
            "a: plain:1 {MARK}\nb: 'single' {MARK}\nc: \"dou\\\"ble\"  {MARK}\nd:\n- &x !!str item {MARK}\n"
        );
        let found = find(&text);
        let spans: Vec<&str> = found
            .iter()
            .map(|scalar| &text[scalar.bytes.clone()])
            .collect();
        assert_eq!(spans, ["plain:1", "'single'", "\"dou\\\"ble\"", "item"]);
        let values: Vec<&str> = found.iter().map(|scalar| scalar.value.as_str()).collect();
        assert_eq!(values, ["plain:1", "single", "dou\"ble", "item"]);
        assert_eq!(
            found.iter().map(|scalar| scalar.line).collect::<Vec<_>>(),
            [1, 2, 3, 5]
        );
    }

    #[test]
    fn multibyte_text_before_the_scalar_keeps_byte_ranges_right() {
        let text = format!("# ünïcødé ✓\nname: \"✓\"\nimage: app:1 {MARK}\n");
        let found = find(&text);
        assert_eq!(&text[found[0].bytes.clone()], "app:1");
    }

    #[test]
    fn keys_block_scalars_and_unmarked_comments_are_not_marked() {
        let text = format!("k: v # plain comment\nlit: |\n  x {MARK}\n? key {MARK}\n: v\n");
        assert_eq!(find(&text), []);
    }

    #[test]
    fn plain_values_keep_their_written_text() {
        let text = format!("tag: 1.10 {MARK}\nempty: {MARK}\n");
        let found = find(&text);
        assert_eq!(found[0].value, "1.10");
        let empty_value_at = text.find("empty:").unwrap() + "empty:".len();
        assert_eq!(
            (found[1].value.as_str(), found[1].bytes.clone()),
            ("", empty_value_at..empty_value_at)
        );
    }

    #[test]
    fn every_document_has_its_object() {
        let text = format!("kind: A\nmetadata: {{name: a}}\nx: 1 {MARK}\n---\n- 2 {MARK}\n");
        let found = find(&text);
        assert_eq!(found[0].object.name, "a");
        assert_eq!(found[1].object, ObjectIdentifier::default());
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        assert!(matches!(
            find_marked_scalars("a: [1\nb: 2\n"),
            Err(DocumentError::Parse(_))
        ));
        assert!(matches!(
            find_marked_scalars("a: 1\na: 2\n"),
            Err(DocumentError::Parse(_))
        ));
    }
}
