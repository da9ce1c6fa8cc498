//! The output side of go-yaml v2's emitter (`emitterc.go`): a column-tracking writer and its
//! scalar writers, which fold long plain and quoted scalars at column 80 exactly where libyaml
//! does (at a single space, once the column passes the best width).

use super::chars::{char_width, is_break, is_printable, is_space};

/// go-yaml v2's default `best_width`: scalars fold at a space once past this column.
const BEST_WIDTH: usize = 80;

/// go-yaml v2's `best_indent`, also the indentation hint of block scalars.
pub const BEST_INDENT: usize = 2;

/// The text written so far and libyaml's writer state: the current column (in characters),
/// whether the last thing written was whitespace, and whether only indentation is on the line.
pub struct Writer {
    pub out: String,
    column: usize,
    whitespace: bool,
    pub indention: bool,
}

impl Writer {
    /// A writer at the start of a document (libyaml's state after `STREAM-START`).
    pub fn new() -> Self {
        Self {
            out: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
        }
    }

    fn put(&mut self, character: char) {
        self.out.push(character);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// Copies the character at `index` of `text`; returns its byte width.
    fn write_char(&mut self, text: &str, index: usize) -> usize {
        let width = char_width(text.as_bytes()[index]).max(1);
        self.out.push_str(&text[index..index + width]);
        self.column += 1;
        width
    }

    /// Copies the line break at `index` (LF as a newline, others as they are); returns its width.
    fn write_break(&mut self, text: &str, index: usize) -> usize {
        if text.as_bytes()[index] == b'\n' {
            self.put_break();
            return 1;
        }
        let width = self.write_char(text, index);
        self.column = 0;
        width
    }

    /// libyaml's `yaml_emitter_write_indent`: a new line unless at the indentation already,
    /// then spaces up to column `indent`.
    pub fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// libyaml's `yaml_emitter_write_indicator`: `indicator`, after a space if `need_whitespace`.
    pub fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for character in indicator.chars() {
            self.put(character);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// A plain scalar, folded at spaces past column 80 when `allow_breaks` (not in keys).
    /// Continuation lines start at column `indent`.
    pub fn write_plain(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        self.write_folded_body(text, indent, allow_breaks, Quote::None);
        self.whitespace = false;
        self.indention = false;
    }

    /// A single-quoted scalar (quotes doubled), folded like a plain one.
    pub fn write_single_quoted(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        self.write_folded_body(text, indent, allow_breaks, Quote::Single);
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The body shared by plain and single-quoted scalars (`yaml_emitter_write_plain_scalar`,
    /// `yaml_emitter_write_single_quoted_scalar`).
    fn write_folded_body(&mut self, text: &str, indent: usize, allow_breaks: bool, quote: Quote) {
        let bytes = text.as_bytes();
        let (mut spaces, mut breaks) = (false, false);
        let mut index = 0;
        while index < bytes.len() {
            if is_space(bytes, index) {
                let inner = quote == Quote::None || (index > 0 && index < bytes.len() - 1);
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && inner
                    && !is_space(bytes, index + 1)
                {
                    self.write_indent(indent);
                    index += 1;
                } else {
                    index += self.write_char(text, index);
                }
                spaces = true;
            } else if is_break(bytes, index) {
                if !breaks && bytes[index] == b'\n' {
                    self.put_break();
                }
                index += self.write_break(text, index);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if quote == Quote::Single && bytes[index] == b'\'' {
                    self.put('\'');
                }
                index += self.write_char(text, index);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
    }

    /// A double-quoted scalar with libyaml's escapes, folded at spaces past column 80 when
    /// `allow_breaks` (`yaml_emitter_write_double_quoted_scalar`).
    pub fn write_double_quoted(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let bytes = text.as_bytes();
        let starts_with_bom = bytes.starts_with(&[0xEF, 0xBB, 0xBF]);
        let mut spaces = false;
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            if !is_printable(bytes, index)
                || starts_with_bom
                || is_break(bytes, index)
                || byte == b'"'
                || byte == b'\\'
            {
                let width = char_width(byte).max(1);
                let character = text[index..index + width].chars().next().unwrap_or('\0');
                self.write_escape(character);
                index += width;
                spaces = false;
            } else if is_space(bytes, index) {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && index > 0
                    && index < bytes.len() - 1
                {
                    self.write_indent(indent);
                    if is_space(bytes, index + 1) {
                        self.put('\\');
                    }
                    index += 1;
                } else {
                    index += self.write_char(text, index);
                }
                spaces = true;
            } else {
                index += self.write_char(text, index);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_escape(&mut self, character: char) {
        self.put('\\');
        let short = match character {
            '\0' => Some('0'),
            '\u{07}' => Some('a'),
            '\u{08}' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\u{0B}' => Some('v'),
            '\u{0C}' => Some('f'),
            '\r' => Some('r'),
            '\u{1B}' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{A0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        if let Some(letter) = short {
            self.put(letter);
            return;
        }
        let code = u32::from(character);
        let escaped = match code {
            0..=0xFF => format!("x{code:02X}"),
            0x100..=0xFFFF => format!("u{code:04X}"),
            _ => format!("U{code:08X}"),
        };
        for letter in escaped.chars() {
            self.put(letter);
        }
    }

    /// A literal block scalar (`|`, with libyaml's indentation and chomping hints), its lines
    /// at column `indent` (`yaml_emitter_write_literal_scalar`).
    pub fn write_literal(&mut self, text: &str, indent: usize) {
        self.write_indicator("|", true, false, false);
        let bytes = text.as_bytes();
        if is_space(bytes, 0) || is_break(bytes, 0) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        if let Some(chomp) = chomping_hint(text) {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        let mut index = 0;
        while index < bytes.len() {
            if is_break(bytes, index) {
                index += self.write_break(text, index);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                index += self.write_char(text, index);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
}

/// `-` when the text does not end in a line break, `+` when it ends in two (or is one).
fn chomping_hint(text: &str) -> Option<&'static str> {
    let mut characters = text.chars().rev();
    let is_line_break = |c: char| matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
    match (characters.next(), characters.next()) {
        (None, _) => Some("-"),
        (Some(last), _) if !is_line_break(last) => Some("-"),
        (Some(_), None) => Some("+"),
        (Some(_), Some(before)) if is_line_break(before) => Some("+"),
        _ => None,
    }
}
