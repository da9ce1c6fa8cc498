//! libyaml's byte-level character classes (go-yaml v2's `yamlprivateh.go`), over UTF-8 bytes.

/// The byte length of the UTF-8 character starting with `lead` (0 for a continuation byte).
pub fn char_width(lead: u8) -> usize {
    match lead {
        b if b & 0x80 == 0x00 => 1,
        b if b & 0xE0 == 0xC0 => 2,
        b if b & 0xF0 == 0xE0 => 3,
        b if b & 0xF8 == 0xF0 => 4,
        _ => 0,
    }
}

fn byte_at(value: &[u8], index: usize) -> u8 {
    value.get(index).copied().unwrap_or(0)
}

/// A character YAML may print unescaped (libyaml's `is_printable`: no C0/C1 controls except
/// line feed, no surrogates, no BOM or non-characters, nothing beyond the BMP).
pub fn is_printable(value: &[u8], index: usize) -> bool {
    let (b0, b1, b2) = (
        byte_at(value, index),
        byte_at(value, index + 1),
        byte_at(value, index + 2),
    );
    b0 == 0x0A
        || (0x20..=0x7E).contains(&b0)
        || (b0 == 0xC2 && b1 >= 0xA0)
        || (b0 > 0xC2 && b0 < 0xED)
        || (b0 == 0xED && b1 < 0xA0)
        || b0 == 0xEE
        || (b0 == 0xEF
            && !(b1 == 0xBB && b2 == 0xBF)
            && !(b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF)))
}

/// A space (not a tab).
pub fn is_space(value: &[u8], index: usize) -> bool {
    byte_at(value, index) == b' '
}

/// A space or a tab.
pub fn is_blank(value: &[u8], index: usize) -> bool {
    matches!(byte_at(value, index), b' ' | b'\t')
}

/// A line break: CR, LF, NEL, LS or PS.
pub fn is_break(value: &[u8], index: usize) -> bool {
    let (b0, b1, b2) = (
        byte_at(value, index),
        byte_at(value, index + 1),
        byte_at(value, index + 2),
    );
    b0 == b'\r'
        || b0 == b'\n'
        || (b0 == 0xC2 && b1 == 0x85)
        || (b0 == 0xE2 && b1 == 0x80 && (b2 == 0xA8 || b2 == 0xA9))
}

/// A blank, a break, or the end of the text (a NUL).
pub fn is_blankz(value: &[u8], index: usize) -> bool {
    is_blank(value, index) || is_break(value, index) || byte_at(value, index) == 0
}
