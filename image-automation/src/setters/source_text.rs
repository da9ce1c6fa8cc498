//! Positions in a YAML text: saphyr marks positions in characters, edits splice bytes.

/// Byte offset of every character of a text, plus the text's length as the offset one past the
/// last character.
#[derive(Debug, Clone)]
pub struct CharOffsets(Vec<usize>);

impl CharOffsets {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        Self(
            text.char_indices()
                .map(|(byte, _)| byte)
                .chain([text.len()])
                .collect(),
        )
    }

    /// The byte offset of character `index`; the text's length past the end.
    pub fn byte(&self, index: usize) -> usize {
        let last = self.0.len() - 1;
        self.0[index.min(last)]
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// The line comment that follows byte `end` on its line: the text from `#` to the end of the line
/// (without the line break), when only spaces or tabs separate it from `end` (YAML requires at
/// least one). `None` when anything else follows.
pub fn line_comment_after(text: &str, end: usize) -> Option<&str> {
    let rest = &text[end..];
    let line = rest
        .split('\n')
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    let comment = line.trim_start_matches([' ', '\t']);
    let separated = comment.len() < line.len();
    (separated && comment.starts_with('#')).then_some(comment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_offsets_account_for_multibyte_characters() {
        let offsets = CharOffsets::new("é✓a");
        assert_eq!(
            [
                offsets.byte(0),
                offsets.byte(1),
                offsets.byte(2),
                offsets.byte(3)
            ],
            [0, 2, 5, 6]
        );
        assert_eq!(offsets.byte(10), 6);
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\r\nc", 0), 1);
        assert_eq!(line_of("a\nb\r\nc", 5), 3);
    }

    #[test]
    fn finds_the_comment_after_a_scalar() {
        let text = "image: app:1 # {\"x\": \"y\"}\r\nnext: 1 # other\n";
        assert_eq!(line_comment_after(text, 12), Some("# {\"x\": \"y\"}"));
        assert_eq!(line_comment_after("a: b#c\n", 4), None);
        assert_eq!(line_comment_after("a: [b] # c\n", 4), None);
        assert_eq!(line_comment_after("a: b\n# c\n", 4), None);
    }
}
