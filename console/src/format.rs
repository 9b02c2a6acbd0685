//! How values are written on the pages.

use std::time::{Duration, UNIX_EPOCH};

use maud::{html, Markup};

/// A Unix-milliseconds time as RFC 3339 UTC, to the second.
pub(crate) fn utc(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A time element: UTC in the text, the instant in `datetime` (the
/// module adds the local time beside it).
pub(crate) fn time(ms: Option<u64>) -> Markup {
    match ms {
        Some(ms) => {
            let text = utc(ms);
            html! { time datetime=(text) { (text.replace('T', " ").replace('Z', " UTC")) } }
        }
        None => html! { span.muted { "unknown" } },
    }
}

/// A digest or other long value, in code, with a copy button (shown by
/// the module; without JavaScript the value is still selectable).
pub(crate) fn copyable(value: &str) -> Markup {
    html! {
        span.copyable {
            code.digest { (value) }
            button.copy type="button" hidden data-copy=(value) aria-label={ "Copy " (value) } { "Copy" }
        }
    }
}

/// `count` with thousands separated by thin spaces.
pub(crate) fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_and_counts_are_grouped() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
