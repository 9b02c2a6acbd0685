//! The log overview: identity, the latest checkpoint and who cosigned it,
//! entries per minute over the last day, and how far the index and the
//! sinks trail the log.

use maud::{html, Markup};

use crate::format::{copyable, count, utc};
use crate::layout::{badge, page, Nav, Session};

/// A witness the server is configured with, and whether it cosigned the
/// checkpoint shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The witness's name (its key's name).
    pub name: String,
    /// Its verifier key.
    pub key: String,
    /// Whether its cosignature on the checkpoint shown verifies (checked
    /// by the server; the browser checks it again against pinned keys).
    pub cosigned: bool,
}

/// How far a follower of the log trails it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// The follower: `index` or a sink's name.
    pub name: String,
    /// Entries of the log it has not dealt with, if known.
    pub entries: Option<u64>,
    /// What it is (`Kafka`, `webhook`, ...), or why its lag is unknown.
    pub note: String,
}

/// What the overview shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// The log's origin.
    pub origin: String,
    /// Entries in the log.
    pub tree_size: u64,
    /// Root hash of the latest tree, hex.
    pub root_hex: String,
    /// The checkpoint as served at `/checkpoint` (with cosignatures).
    pub checkpoint: String,
    /// The log's verifier key as the server announces it.
    pub verifier_key: String,
    /// Configured witnesses.
    pub witnesses: Vec<Witness>,
    /// Cosignatures the server requires per checkpoint.
    pub witness_quorum: usize,
    /// Entries per minute for the last 1,440 minutes, oldest first; the
    /// last is the current minute.
    pub per_minute: Vec<u64>,
    /// The current time, Unix milliseconds.
    pub now_ms: u64,
    /// The index and every sink.
    pub lags: Vec<Lag>,
}

/// The overview page.
pub fn render(session: &Session, model: &Overview) -> Markup {
    let last_day: u64 = model.per_minute.iter().sum();
    let data = [
        ("tree-size", model.tree_size.to_string()),
        ("root", model.root_hex.clone()),
    ];
    page(
        session,
        "Log overview",
        Nav::Overview,
        &data,
        html! {
            h1 { "Log overview" }
            (badge("checkpoint"))
            dl.facts {
                dt { "Origin" } dd { code { (model.origin) } }
                dt { "Entries" } dd #tree-size { (count(model.tree_size)) }
                dt { "Root hash" } dd { (copyable(&model.root_hex)) }
                dt { "Verifier key" } dd { (copyable(&model.verifier_key)) }
            }
            section aria-labelledby="checkpoint-h" {
                h2 #checkpoint-h { "Latest checkpoint" }
                pre.note #checkpoint-text { (model.checkpoint) }
                p { a href="/checkpoint" { "Download" } " · the same text is served at " code { "/checkpoint" } "." }
            }
            section aria-labelledby="witness-h" {
                h2 #witness-h { "Witnesses" }
                @if model.witnesses.is_empty() {
                    p { "This ledger has no witnesses configured: the checkpoint carries the log's signature only." }
                } @else {
                    p { "The server asks for " (model.witness_quorum) " of " (model.witnesses.len()) " cosignatures per checkpoint." }
                    table {
                        thead { tr { th scope="col" { "Witness" } th scope="col" { "Cosigned this checkpoint" } th scope="col" { "Key" } } }
                        tbody {
                            @for w in &model.witnesses {
                                tr {
                                    td { (w.name) }
                                    td { @if w.cosigned { "yes" } @else { strong { "no" } } }
                                    td { (copyable(&w.key)) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="rate-h" {
                h2 #rate-h { "Entries per minute, last 24 hours" }
                p { (count(last_day)) " entries in the last 24 hours (to " (utc(model.now_ms)) ")." }
                (chart(&model.per_minute))
            }
            section aria-labelledby="lag-h" {
                h2 #lag-h { "Index and sinks" }
                table {
                    thead { tr { th scope="col" { "Follower" } th scope="col" { "Entries behind" } th scope="col" { "Notes" } } }
                    tbody {
                        @for lag in &model.lags {
                            tr {
                                td { (lag.name) }
                                td { @match lag.entries { Some(n) => (count(n)), None => "unknown" } }
                                td { (lag.note) }
                            }
                        }
                    }
                }
            }
        },
    )
}

const CHART_WIDTH: usize = 720;
const CHART_HEIGHT: u64 = 120;

/// An SVG line chart of per-minute counts, with the hourly totals in a
/// table for readers who cannot see it.
fn chart(per_minute: &[u64]) -> Markup {
    let peak = per_minute.iter().copied().max().unwrap_or(0).max(1);
    let step = CHART_WIDTH as f64 / per_minute.len().max(1) as f64;
    let mut points = String::with_capacity(per_minute.len() * 12);
    for (i, n) in per_minute.iter().enumerate() {
        let x = i as f64 * step;
        let y = CHART_HEIGHT as f64 - (*n as f64 / peak as f64) * CHART_HEIGHT as f64;
        points.push_str(&format!("{x:.1},{y:.1} "));
    }
    let hours: Vec<u64> = per_minute.chunks(60).map(|c| c.iter().sum()).collect();
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (CHART_WIDTH) " " (CHART_HEIGHT) } role="img"
                aria-label={ "Entries per minute over the last 24 hours; peak " (peak) " a minute" } {
                line.axis x1="0" y1=(CHART_HEIGHT) x2=(CHART_WIDTH) y2=(CHART_HEIGHT) {}
                polyline.series points=(points.trim_end()) {}
            }
            figcaption { "Peak " (count(peak)) " a minute. 24 hours ago on the left, now on the right." }
            details {
                summary { "Entries per hour (table)" }
                table {
                    thead { tr { th scope="col" { "Hours ago" } th scope="col" { "Entries" } } }
                    tbody {
                        @for (i, n) in hours.iter().enumerate().rev() {
                            tr { td { (hours.len() - i - 1) "–" (hours.len() - i) } td { (count(*n)) } }
                        }
                    }
                }
            }
        }
    }
}
