//! The page shell every console page shares: header, navigation, the
//! verification badge, the scripts.

use maud::{html, Markup, DOCTYPE};

/// The section of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The log overview.
    Overview,
    /// The entry list and entry pages.
    Entries,
    /// Search.
    Search,
    /// Workflows.
    Workflows,
    /// The consistency checker.
    Consistency,
    /// Pinned keys.
    Keys,
}

const SECTIONS: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Entries, "/entries", "Entries"),
    (Nav::Search, "/search", "Search"),
    (Nav::Workflows, "/workflows", "Workflows"),
    (Nav::Consistency, "/consistency", "Consistency"),
    (Nav::Keys, "/keys", "Keys"),
];

/// Who is looking: everyone sees the log; an admin (signed in with the
/// admin token) also sees robot accounts and integrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The log's origin, shown in the header.
    pub origin: String,
    /// The log's verifier key as this server announces it: what the
    /// module verifies against until the auditor pins a key.
    pub announced_key: String,
    /// Signed in with the admin token.
    pub admin: bool,
    /// Whether the server has an admin token at all (else no sign-in form).
    pub admin_configured: bool,
}

/// A complete page: `title`, the section, what the page is (the module
/// reads `data-page` and the `data-*` attributes of `page_data`), and the
/// content.
pub(crate) fn page(
    session: &Session,
    title: &str,
    nav: Nav,
    page_data: &[(&str, String)],
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · evledger" }
                link rel="stylesheet" href="/assets/console.css";
                link rel="icon" href="data:,";
                script type="module" src="/assets/console.js" {}
            }
            body #console data-page=(page_name(nav)) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "evledger" span.origin { (session.origin) } }
                    nav aria-label="Sections" {
                        ul {
                            @for (section, href, label) in SECTIONS {
                                li {
                                    @if section == nav {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    (session_box(session))
                }
                main #main tabindex="-1" {
                    div #page-data hidden {
                        span data-name="announced-key" data-value=(session.announced_key) {}
                        @for (name, value) in page_data {
                            span data-name=(name) data-value=(value) {}
                        }
                    }
                    (content)
                }
                footer {
                    p {
                        "Times are UTC; with JavaScript, your local time is shown beside them. "
                        "Verification runs in your browser against the keys you pin under "
                        a href="/keys" { "Keys" } "."
                    }
                }
            }
        }
    }
}

fn page_name(nav: Nav) -> &'static str {
    match nav {
        Nav::Overview => "overview",
        Nav::Entries => "entries",
        Nav::Search => "search",
        Nav::Workflows => "workflows",
        Nav::Consistency => "consistency",
        Nav::Keys => "keys",
    }
}

fn session_box(session: &Session) -> Markup {
    html! {
        @if session.admin {
            form.session method="post" action="/logout" {
                span { "Signed in as admin" }
                button type="submit" { "Sign out" }
            }
        } @else if session.admin_configured {
            form.session method="post" action="/login" {
                label for="admin-token" { "Admin token" }
                input #admin-token type="password" name="token" autocomplete="off" required;
                button type="submit" { "Sign in" }
            }
        }
    }
}

/// The verification badge of a page: what the module verified, against
/// what, or which step failed. Without JavaScript it says that nothing
/// was verified.
pub(crate) fn badge(what: &str) -> Markup {
    html! {
        section.badge.unverified #badge role="status" aria-live="polite" data-what=(what) {
            p.badge-title { span.badge-icon aria-hidden="true" { "?" } " Not verified" }
            p.badge-detail #badge-detail {
                "Verification runs in your browser with JavaScript. "
                "Nothing on this page has been verified: it is what the server says."
            }
            ol.badge-steps #badge-steps {}
        }
        noscript {
            p.notice { "JavaScript is off: the content below is shown as the server sent it, and nothing is verified. Use " code { "evledger verify" } " to check it offline." }
        }
    }
}

/// An error page (a bad query, an entry that does not exist).
pub fn error_page(session: &Session, nav: Nav, title: &str, message: &str) -> Markup {
    page(
        session,
        title,
        nav,
        &[],
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    )
}
