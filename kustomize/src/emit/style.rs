//! Which style go-yaml v2 prints a string in: its encoder's first choice (`stringv`: literal
//! block for multi-line text, plain when the text reads back as a string, double quotes
//! otherwise) corrected by its emitter's scalar analysis (`yaml_emitter_analyze_scalar` and
//! `yaml_emitter_select_scalar_style`, block context, unicode output).

use super::chars::{char_width, is_blank, is_blankz, is_break, is_printable, is_space};
use crate::resolve::plain_reads_as_string;

/// How a string scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// What the emitter's analysis allows for a string (block context only: Sluice never prints
/// flow collections other than `{}` and `[]`).
struct Allowed {
    multiline: bool,
    plain: bool,
    single_quoted: bool,
    block: bool,
}

/// The style go-yaml v2 prints `text` in, as a mapping key (`simple_key`) or as a value.
pub fn choose(text: &str, simple_key: bool) -> Style {
    let wanted = if text.contains('\n') {
        Style::Literal
    } else if plain_reads_as_string(text) {
        Style::Plain
    } else {
        Style::DoubleQuoted
    };
    let allowed = analyze(text.as_bytes());
    let mut style = wanted;
    if simple_key && allowed.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!allowed.plain || (text.is_empty() && simple_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !allowed.single_quoted {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!allowed.block || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

/// Flags of `yaml_emitter_analyze_scalar`, folded into what each style allows.
#[derive(Default)]
struct Findings {
    block_indicators: bool,
    line_breaks: bool,
    special_characters: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
}

fn analyze(value: &[u8]) -> Allowed {
    if value.is_empty() {
        return Allowed {
            multiline: false,
            plain: true,
            single_quoted: true,
            block: false,
        };
    }
    let found = findings(value);
    let mut allowed = Allowed {
        multiline: found.line_breaks,
        plain: true,
        single_quoted: true,
        block: true,
    };
    if found.leading_space || found.leading_break || found.trailing_space || found.trailing_break {
        allowed.plain = false;
    }
    if found.trailing_space {
        allowed.block = false;
    }
    if found.break_space {
        allowed.plain = false;
        allowed.single_quoted = false;
    }
    if found.space_break || found.special_characters {
        allowed.plain = false;
        allowed.single_quoted = false;
        allowed.block = false;
    }
    if found.line_breaks || found.block_indicators {
        allowed.plain = false;
    }
    allowed
}

fn findings(value: &[u8]) -> Findings {
    let mut found = Findings {
        block_indicators: value.starts_with(b"---") || value.starts_with(b"..."),
        ..Findings::default()
    };
    let mut preceded_by_whitespace = true;
    let mut previous_space = false;
    let mut previous_break = false;
    let mut index = 0;
    while index < value.len() {
        let width = char_width(value[index]).max(1);
        let followed_by_whitespace = index + width >= value.len() || is_blank(value, index + width);
        let indicator = match (index, value[index]) {
            (0, b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>')
            | (0, b'\'' | b'"' | b'%' | b'@' | b'`') => true,
            (0, b'?' | b':' | b'-') => followed_by_whitespace,
            (_, b':') => followed_by_whitespace,
            (_, b'#') => preceded_by_whitespace,
            _ => false,
        };
        found.block_indicators |= indicator;
        found.special_characters |= !is_printable(value, index);
        let last = index + width == value.len();
        if is_space(value, index) {
            found.leading_space |= index == 0;
            found.trailing_space |= last;
            found.break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(value, index) {
            found.line_breaks = true;
            found.leading_break |= index == 0;
            found.trailing_break |= last;
            found.space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(value, index);
        index += width;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_style_go_yaml_picks() {
        let cases = [
            ("plain text", Style::Plain),
            ("it's: quoted", Style::SingleQuoted),
            ("- dash", Style::SingleQuoted),
            (" leading", Style::SingleQuoted),
            ("#comment", Style::SingleQuoted),
            ("a #b", Style::SingleQuoted),
            ("a#b", Style::Plain),
            ("tab\there", Style::DoubleQuoted),
            ("yes", Style::DoubleQuoted),
            ("x\ny\n", Style::Literal),
            ("x  \ny", Style::DoubleQuoted),
            ("emoji \u{1F600}", Style::DoubleQuoted),
            ("é", Style::Plain),
            ("", Style::DoubleQuoted),
        ];
        for (text, style) in cases {
            assert_eq!(choose(text, false), style, "{text:?}");
        }
        assert_eq!(choose("x\ny", true), Style::DoubleQuoted);
    }
}
