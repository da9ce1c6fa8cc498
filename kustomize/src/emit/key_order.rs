//! The order go-yaml v2 prints map keys in (its `keyList.Less` for string keys): a natural
//! order where letters sort after other characters and runs of digits compare as numbers
//! (`a9` before `a10`).

use std::cmp::Ordering;

/// Compares two map keys as go-yaml v2 does.
pub fn compare_keys(a: &str, b: &str) -> Ordering {
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn less(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for index in 0..a.len().min(b.len()) {
        if a[index] == b[index] {
            continue;
        }
        let (a_letter, b_letter) = (a[index].is_alphabetic(), b[index].is_alphabetic());
        if a_letter && b_letter {
            return a[index] < b[index];
        }
        if a_letter || b_letter {
            return b_letter;
        }
        let leading_zero = (a[index] == '0' || b[index] == '0')
            && a[..index]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|&c| c != '0');
        let (a_end, a_number) = digit_run(&a, index, leading_zero);
        let (b_end, b_number) = digit_run(&b, index, leading_zero);
        if a_number != b_number {
            return a_number < b_number;
        }
        if a_end != b_end {
            return a_end < b_end;
        }
        return a[index] < b[index];
    }
    a.len() < b.len()
}

/// The end of the run of digits starting at `start` and its value (go-yaml's arithmetic,
/// seeded with 1 when the run continues a number with a non-zero digit before it).
fn digit_run(chars: &[char], start: usize, seeded: bool) -> (usize, i64) {
    let mut number: i64 = i64::from(seeded);
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_digit() {
        number = number
            .wrapping_mul(10)
            .wrapping_add(i64::from(chars[end] as u8 - b'0'));
        end += 1;
    }
    (end, number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_go_yaml() {
        let mut keys = vec![
            "a10", "b", "a9", "A", "a_1", "a-1", "a", "0", "10", "9", "x01", "x1",
        ];
        keys.sort_by(|a, b| compare_keys(a, b));
        assert_eq!(
            keys,
            vec![
                "0", "9", "10", "A", "a", "a-1", "a_1", "a9", "a10", "b", "x1", "x01"
            ]
        );
    }
}
