//! Pinned keys: the auditor's trust anchors, kept in the browser.

use maud::{html, Markup};

use crate::format::copyable;
use crate::layout::{page, Nav, Session};

/// What the keys page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysPage {
    /// The log's verifier key as this server announces it.
    pub announced_key: String,
    /// The witness keys this server is configured with.
    pub announced_witnesses: Vec<String>,
}

/// The keys page.
pub fn render(session: &Session, model: &KeysPage) -> Markup {
    let data = [];
    page(
        session,
        "Keys",
        Nav::Keys,
        &data,
        html! {
            h1 { "Pinned keys" }
            p {
                "Pages verify against the keys you pin here. They stay in this browser (local storage) "
                "and are never sent to the server. Get the log's key from a source you trust, not only from this page: "
                "a server can announce any key."
            }
            p { "This server announces the log key " (copyable(&model.announced_key)) }
            @if !model.announced_witnesses.is_empty() {
                p { "and these witness keys:" }
                ul { @for w in &model.announced_witnesses { li { (copyable(w)) } } }
            }
            form #pin-form {
                div.field {
                    label for="log-key" { "Log verifier key" }
                    input #log-key type="text" name="key" spellcheck="false" autocomplete="off" size="80";
                    small { "<origin>+<hash>+<key>, as " code { "evledger serve" } " prints it" }
                }
                div.field {
                    label for="witness-keys" { "Witness keys (one per line, optional)" }
                    textarea #witness-keys name="witnesses" rows="4" spellcheck="false" {}
                }
                div.field {
                    label for="quorum" { "Cosignatures required" }
                    input #quorum type="number" name="quorum" min="0" value="0";
                }
                button type="submit" { "Pin" }
                button #unpin type="button" { "Forget pinned keys" }
            }
            p #pin-status role="status" aria-live="polite" {
                noscript { "Pinning needs JavaScript." }
            }
            p { "A link with " code { "?key=<log key>" } " on any page pins that key." }
        },
    )
}
