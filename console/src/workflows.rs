//! Workflows: their contract revisions (with a diff between any two),
//! their attestations, and, for an admin, robot accounts and integrations.

use maud::{html, Markup};
use similar::{ChangeTag, TextDiff};

use crate::format::{copyable, count, time, utc};
use crate::layout::{page, Nav, Session};

/// A workflow in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRow {
    /// Its name.
    pub name: String,
    /// Its project.
    pub project: String,
    /// The team that owns it.
    pub team: String,
    /// Its latest contract revision.
    pub revision: u64,
    /// When it was created, Unix seconds.
    pub created_at: u64,
}

/// The workflow list page.
pub fn render_list(session: &Session, workflows: &[WorkflowRow]) -> Markup {
    page(
        session,
        "Workflows",
        Nav::Workflows,
        &[],
        html! {
            h1 { "Workflows" }
            @if workflows.is_empty() {
                p { "No workflows yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Workflow" } th scope="col" { "Project" } th scope="col" { "Contract revision" } th scope="col" { "Created" } th scope="col" { "Team" } } }
                    tbody {
                        @for w in workflows {
                            tr {
                                td { a href={ "/workflows/" (w.name) } { (w.name) } }
                                td { (w.project) }
                                td { (w.revision) }
                                td { (time(Some(w.created_at.saturating_mul(1000)))) }
                                td { (w.team) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A contract revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRow {
    /// Its number, from 1.
    pub revision: u64,
    /// Where it is logged.
    pub log_index: Option<u64>,
    /// When it was made, Unix seconds.
    pub created_at: u64,
    /// The contract, as text (its canonical JSON, pretty).
    pub text: String,
}

/// An attestation of the workflow, checked against the revision it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRow {
    /// Its log index.
    pub index: u64,
    /// When it was committed, Unix milliseconds.
    pub time_ms: Option<u64>,
    /// The contract revision it names.
    pub revision: Option<u64>,
    /// Every requirement of that revision it does not meet (empty: pass).
    pub failures: Vec<String>,
    /// Subject names.
    pub subjects: Vec<String>,
}

/// A robot account, by name: its token is never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotRow {
    /// Its id.
    pub id: String,
    /// When it was created, Unix seconds.
    pub created_at: u64,
    /// When it was last used, Unix seconds.
    pub last_used_at: Option<u64>,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<u64>,
}

/// An integration attached to the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRow {
    /// Its name.
    pub name: String,
    /// Its kind (`kafka`, `webhook`, `grpc`).
    pub kind: String,
    /// Entries of the log it has not dealt with, if known.
    pub lag: Option<u64>,
}

/// What a workflow's page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowPage {
    /// The workflow.
    pub workflow: WorkflowRow,
    /// Its contract revisions, newest first.
    pub revisions: Vec<RevisionRow>,
    /// The two revisions diffed (older, newer), when asked.
    pub diff: Option<(u64, u64)>,
    /// Its latest attestations, newest first.
    pub attestations: Vec<AttestationRow>,
    /// The `before` cursor of older attestations, if there are more.
    pub older: Option<String>,
    /// Robot accounts, for an admin.
    pub robots: Option<Vec<RobotRow>>,
    /// Attached integrations, for an admin.
    pub integrations: Option<Vec<IntegrationRow>>,
}

/// A workflow's page.
pub fn render(session: &Session, model: &WorkflowPage) -> Markup {
    let w = &model.workflow;
    page(
        session,
        &format!("Workflow {}", w.name),
        Nav::Workflows,
        &[],
        html! {
            h1 { "Workflow " (w.name) }
            dl.facts {
                dt { "Project" } dd { (w.project) }
                dt { "Team" } dd { (w.team) }
                dt { "Contract revision" } dd { (w.revision) }
                dt { "Created" } dd { (time(Some(w.created_at.saturating_mul(1000)))) }
            }
            section aria-labelledby="pack-h" {
                h2 #pack-h { "Evidence pack" }
                form.pack method="get" action="/api/v1/packs" {
                    input type="hidden" name="workflow" value=(w.name);
                    div.field { label for="pack-from" { "From log index" } input #pack-from type="number" name="from" min="0"; }
                    div.field { label for="pack-to" { "To log index (exclusive)" } input #pack-to type="number" name="to" min="0"; }
                    label { input type="checkbox" name="blobs" value="true"; " include CAS blobs (size-limited)" }
                    button type="submit" { "Download pack" }
                    button type="submit" formaction="/packs/summary" { "Printable summary" }
                }
                p { "Verify a pack offline with " code { "evledger verify pack --key <log key> pack.zip" } "." }
            }
            section aria-labelledby="revisions-h" {
                h2 #revisions-h { "Contract revisions" }
                (revisions(model))
            }
            section aria-labelledby="attestations-h" {
                h2 #attestations-h { "Attestations" }
                @if model.attestations.is_empty() {
                    p { "No attestations yet." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Index" } th scope="col" { "Time" } th scope="col" { "Revision" } th scope="col" { "Contract check" } th scope="col" { "Subjects" } } }
                        tbody {
                            @for a in &model.attestations {
                                tr {
                                    td { a href={ "/entries/" (a.index) } { (a.index) } }
                                    td { (time(a.time_ms)) }
                                    td { @if let Some(r) = a.revision { (r) } }
                                    td {
                                        @if a.failures.is_empty() {
                                            span.pass { "✓ pass" }
                                        } @else {
                                            span.fail { "✗ fail" }
                                            ul { @for f in &a.failures { li { (f) } } }
                                        }
                                    }
                                    td { @for (i, s) in a.subjects.iter().enumerate() { @if i > 0 { br; } (s) } }
                                }
                            }
                        }
                    }
                    @if let Some(cursor) = &model.older {
                        nav.pager aria-label="Pages" { a rel="next" href={ "/workflows/" (w.name) "?before=" (cursor) } { "Older attestations" } }
                    }
                }
            }
            @if let Some(robots) = &model.robots {
                section aria-labelledby="robots-h" {
                    h2 #robots-h { "Robot accounts" }
                    @if robots.is_empty() { p { "None." } } @else {
                        table {
                            thead { tr { th scope="col" { "Account" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Status" } } }
                            tbody {
                                @for r in robots {
                                    tr {
                                        td { (copyable(&r.id)) }
                                        td { (utc(r.created_at.saturating_mul(1000))) }
                                        td { @match r.last_used_at { Some(t) => (utc(t.saturating_mul(1000))), None => "never" } }
                                        td { @match r.revoked_at { Some(t) => { strong { "revoked" } " " (utc(t.saturating_mul(1000))) }, None => "active" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(integrations) = &model.integrations {
                section aria-labelledby="integrations-h" {
                    h2 #integrations-h { "Integrations" }
                    @if integrations.is_empty() { p { "None attached." } } @else {
                        table {
                            thead { tr { th scope="col" { "Integration" } th scope="col" { "Kind" } th scope="col" { "Entries behind" } } }
                            tbody {
                                @for i in integrations {
                                    tr { td { (i.name) } td { (i.kind) } td { @match i.lag { Some(n) => (count(n)), None => "unknown" } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn revisions(model: &WorkflowPage) -> Markup {
    let name = &model.workflow.name;
    let newest = model.revisions.first().map_or(0, |r| r.revision);
    let (from, to) = model
        .diff
        .unwrap_or((newest.saturating_sub(1).max(1), newest));
    html! {
        @if model.revisions.len() > 1 {
            form.diff method="get" action={ "/workflows/" (name) } {
                label for="diff-from" { "Compare revision" }
                select #diff-from name="from" {
                    @for r in &model.revisions { option value=(r.revision) selected[r.revision == from] { (r.revision) } }
                }
                label for="diff-to" { "with" }
                select #diff-to name="to" {
                    @for r in &model.revisions { option value=(r.revision) selected[r.revision == to] { (r.revision) } }
                }
                button type="submit" { "Show diff" }
            }
        }
        @if let Some((a, b)) = model.diff {
            @match (model.revisions.iter().find(|r| r.revision == a), model.revisions.iter().find(|r| r.revision == b)) {
                (Some(old), Some(new)) => { (diff(old, new)) }
                _ => { p.error role="alert" { "No such revision." } }
            }
        }
        table {
            thead { tr { th scope="col" { "Revision" } th scope="col" { "Logged at index" } th scope="col" { "Created" } th scope="col" { "Contract" } } }
            tbody {
                @for r in &model.revisions {
                    tr {
                        td { (r.revision) }
                        td { @match r.log_index { Some(i) => { a href={ "/entries/" (i) } { (i) } }, None => "pending" } }
                        td { (utc(r.created_at.saturating_mul(1000))) }
                        td { details { summary { "show" } pre.json { (r.text) } } }
                    }
                }
            }
        }
    }
}

/// A line diff of two revisions; added and removed lines are marked with
/// `+` and `-` as well as colour.
fn diff(old: &RevisionRow, new: &RevisionRow) -> Markup {
    let diff = TextDiff::from_lines(&old.text, &new.text);
    html! {
        figure.diff {
            figcaption { "Revision " (old.revision) " → revision " (new.revision) }
            pre {
                @for change in diff.iter_all_changes() {
                    @match change.tag() {
                        ChangeTag::Delete => { del { "- " (change.value()) } }
                        ChangeTag::Insert => { ins { "+ " (change.value()) } }
                        ChangeTag::Equal => { span { "  " (change.value()) } }
                    }
                }
            }
        }
    }
}
