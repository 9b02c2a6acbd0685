//! The consistency checker: the browser verifies that one signed tree
//! extends another.

use maud::{html, Markup};

use crate::format::count;
use crate::layout::{badge, page, Nav, Session};

/// What the consistency page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyPage {
    /// Entries in the log now.
    pub tree_size: u64,
    /// Recent tree sizes at which the log signed a checkpoint, newest first.
    pub signed_sizes: Vec<u64>,
    /// The older size asked for.
    pub first: Option<u64>,
    /// The newer size asked for.
    pub second: Option<u64>,
}

/// The consistency page.
pub fn render(session: &Session, model: &ConsistencyPage) -> Markup {
    let first = model.first.map(|n| n.to_string()).unwrap_or_default();
    let second = model.second.unwrap_or(model.tree_size).to_string();
    let data = [("tree-size", model.tree_size.to_string())];
    page(
        session,
        "Consistency",
        Nav::Consistency,
        &data,
        html! {
            h1 { "Consistency" }
            p {
                "A log is append-only if every checkpoint it signs extends the ones before it. "
                "Pick two tree sizes the log signed, or paste a checkpoint you saved, "
                "and your browser checks both signatures and the consistency proof between them."
            }
            form.consistency #consistency-form method="get" action="/consistency" {
                div.field {
                    label for="first" { "Older tree size" }
                    input #first type="number" name="first" min="1" value=(first);
                }
                div.field {
                    label for="second" { "Newer tree size" }
                    input #second type="number" name="second" min="1" value=(second);
                    small { "The log has " (count(model.tree_size)) " entries." }
                }
                div.field {
                    label for="saved" { "…or a checkpoint you saved (it replaces the older size)" }
                    textarea #saved name="saved" rows="6" spellcheck="false" {}
                }
                button #check type="submit" { "Verify" }
            }
            @if !model.signed_sizes.is_empty() {
                p { "Sizes the log signed recently: "
                    @for (i, n) in model.signed_sizes.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (n) }
                    }
                }
            }
            (badge("consistency"))
        },
    )
}
