//! One line of text for an error and its causes, for events, conditions and logs: many libraries
//! (reqwest, gix, prometheus-http-query) say only what failed at the top and why in the causes
//! (e.g. "connection refused").

/// `error` followed by each cause in its [`source`](std::error::Error::source) chain not already
/// part of the text (an error that prints its source is not repeated), joined by `: `.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("querying prometheus")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("fetching: {0}")]
    struct Printing(#[source] Outer);

    #[test]
    fn causes_follow_the_error() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(chain(&error), "querying prometheus: connection refused");
    }

    #[test]
    fn a_cause_the_error_already_prints_is_not_repeated() {
        let error = Printing(Outer(std::io::Error::other("connection refused")));
        assert_eq!(
            chain(&error),
            "fetching: querying prometheus: connection refused"
        );
    }
}
