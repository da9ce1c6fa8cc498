//! Following a tag list across pages, as the OCI distribution spec describes: the `Link` header's
//! `rel="next"` URL when the registry sends one, else `n`/`last` (the last tag of a full page),
//! and stopping when a registry ignores both.

/// How many tags are asked for per page (`n`).
pub const PAGE_SIZE: usize = 1000;

/// What to request after a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextPage {
    /// The URL the `Link` header names: absolute, or relative to the page's URL (RFC 8288).
    Link(String),
    /// The same listing with `last` set to this tag.
    After(String),
    /// The listing is complete.
    Done,
}

/// Decides the request after a page of `page_len` tags ending with `page_last`, given the
/// page's `Link` header, the `n` asked for, and the `last` the page was asked with. Without a
/// `Link`, a page shorter than `n` ends the listing, as does a page longer than `n` (the
/// registry ignores `n`) or one ending where the previous did (it ignores `last`).
pub fn next_page(
    link: Option<&str>,
    page_len: usize,
    page_last: Option<&str>,
    requested: usize,
    asked_after: Option<&str>,
) -> NextPage {
    if let Some(next) = link.and_then(next_link) {
        return NextPage::Link(next);
    }
    match page_last {
        Some(last) if page_len == requested && asked_after != Some(last) => {
            NextPage::After(last.to_owned())
        }
        _ => NextPage::Done,
    }
}

/// The target of the `rel="next"` entry of a `Link` header (RFC 8288), e.g.
/// `</v2/app/tags/list?last=b&n=2>; rel="next"` -> `/v2/app/tags/list?last=b&n=2`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            param
                .trim()
                .strip_prefix("rel=")
                .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|rel| rel == "next"))
        });
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = r#"<https://r.io/v2/a/tags/list?n=2&last=x>; rel="prev", </v2/a/tags/list?last=b&n=2>; rel="next""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</v2/x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn a_link_wins_over_n_and_last() {
        let next = next_page(Some(r#"</next>; rel="next""#), 1, Some("a"), 2, None);
        assert_eq!(next, NextPage::Link("/next".into()));
    }

    #[test]
    fn a_full_page_without_link_continues_after_its_last_tag() {
        assert_eq!(
            next_page(None, 2, Some("b"), 2, None),
            NextPage::After("b".into())
        );
        assert_eq!(next_page(None, 1, Some("c"), 2, Some("b")), NextPage::Done);
    }

    #[test]
    fn registries_ignoring_n_or_last_end_the_listing() {
        assert_eq!(next_page(None, 5, Some("e"), 2, None), NextPage::Done);
        assert_eq!(next_page(None, 2, Some("b"), 2, Some("b")), NextPage::Done);
        assert_eq!(next_page(None, 0, None, 2, None), NextPage::Done);
    }
}
