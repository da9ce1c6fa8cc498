//! Where a scalar's text starts and ends in the source. saphyr's spans include the scalar's
//! anchor and tag, and for quoted scalars followed by a comment they run on to the next token, so
//! the extent is re-read from the start of the span.

use std::ops::Range;

use saphyr::ScalarStyle;

/// The byte range of a flow scalar's text (quotes included, anchor and tag excluded).
///
/// Takes the source, the bytes where saphyr's span starts and ends (the end is exact for plain
/// scalars) and the scalar's style. Returns `None` for block scalars (`|`, `>`), whose header
/// line holds no value to mark, and for a quoted scalar without closing quote.
pub fn scalar_extent(
    text: &str,
    span_start: usize,
    span_end: usize,
    style: ScalarStyle,
) -> Option<Range<usize>> {
    let start = skip_properties(text, span_start);
    let bytes = text.as_bytes();
    match style {
        ScalarStyle::SingleQuoted => closing_quote(bytes, start, b'\'').map(|end| start..end),
        ScalarStyle::DoubleQuoted => closing_quote(bytes, start, b'"').map(|end| start..end),
        ScalarStyle::Plain => Some(start..span_end.max(start)),
        ScalarStyle::Literal | ScalarStyle::Folded => None,
    }
}

/// Skips `&anchor` and `!tag` properties and the whitespace after each.
fn skip_properties(text: &str, mut position: usize) -> usize {
    while text[position..].starts_with(['&', '!']) {
        let rest = &text[position..];
        let property_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let after = &rest[property_len..];
        position += property_len + (after.len() - after.trim_start().len());
    }
    position
}

/// The byte after the quote closing the scalar opened at `open` (which must hold `quote`); `''`
/// escapes a single quote inside single quotes, a backslash escapes any byte inside double quotes.
fn closing_quote(bytes: &[u8], open: usize, quote: u8) -> Option<usize> {
    if bytes.get(open) != Some(&quote) {
        return None;
    }
    let mut index = open + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if quote == b'"' => index += 2,
            b'\'' if quote == b'\'' && bytes.get(index + 1) == Some(&b'\'') => index += 2,
            byte if byte == quote => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(text: &str, span_end: usize, style: ScalarStyle) -> &str {
        &text[scalar_extent(text, 0, span_end, style).unwrap()]
    }

    #[test]
    fn quoted_scalars_end_at_their_closing_quote() {
        assert_eq!(
            extent(r#"'it''s' # c"#, 11, ScalarStyle::SingleQuoted),
            "'it''s'"
        );
        assert_eq!(
            extent(r#""a\"b" # c"#, 10, ScalarStyle::DoubleQuoted),
            r#""a\"b""#
        );
    }

    #[test]
    fn anchors_and_tags_are_skipped() {
        assert_eq!(
            extent("&a !!str 'x' # c", 16, ScalarStyle::SingleQuoted),
            "'x'"
        );
        assert_eq!(extent("!!str plain", 11, ScalarStyle::Plain), "plain");
    }

    #[test]
    fn plain_scalars_end_at_the_span_end() {
        assert_eq!(extent("app:v1 # c", 6, ScalarStyle::Plain), "app:v1");
    }

    #[test]
    fn block_and_unclosed_scalars_have_no_extent() {
        assert_eq!(scalar_extent("x\n", 0, 2, ScalarStyle::Literal), None);
        assert_eq!(
            scalar_extent("'open", 0, 5, ScalarStyle::SingleQuoted),
            None
        );
    }
}
