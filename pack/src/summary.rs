//! `summary.html`: a printable page of what a pack holds, for the auditor's
//! file. One self-contained HTML5 document (inline style with print rules,
//! no script, no external resource); every value from the manifest is
//! HTML-escaped.
//!
//! ```text
//! Evidence pack — log.example/evidence at tree size 123
//!   Scope        workflow build, log indexes 0 to 100 (exclusive)
//!   Checkpoint   origin, tree size, root hash, the signed note
//!   Entries      index | kind | workflow | subjects | predicate type | leaf hash
//!   Contracts    index | workflow | leaf hash
//!   Blobs        digest | size
//! ```
//!
//! The summary shows no field of `files`: a pack's summary can be written
//! before the manifest lists the summary's own digest.

use std::fmt::Write;

use crate::manifest::{Manifest, ManifestEntry, Role, README_PATH};

/// The style: readable on screen, and on paper without the colours, with
/// table headers repeated on each page and long hashes wrapped.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#111}
h1{font-size:1.5rem;margin-bottom:.25rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{font-weight:600}
dd{margin:0}
code,pre,.hash{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.hash{overflow-wrap:anywhere}
pre{background:#f5f5f5;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}
ul.subjects{margin:0;padding-left:1rem}
.note{color:#555}
@media print{
body{margin:0;max-width:none;font-size:10pt}
h2{break-after:avoid}
thead{display:table-header-group}
tr{break-inside:avoid}
th{background:none}
pre{background:none;border:1px solid #ccc}
a{color:inherit;text-decoration:none}
}";

/// Escapes `s` for HTML text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The printable summary of `manifest`, showing the checkpoint by its
/// origin, tree size and root (the signed note itself is the pack's
/// `checkpoint` file).
pub fn summary_html(manifest: &Manifest) -> String {
    render(manifest, None)
}

/// [`summary_html`], with the signed checkpoint note printed in full:
/// the summary a pack holds.
pub fn summary_html_with_checkpoint(manifest: &Manifest, checkpoint_note: &str) -> String {
    render(manifest, Some(checkpoint_note))
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_string(), escape)
}

fn scope(manifest: &Manifest) -> String {
    let scope = &manifest.scope;
    let range = match (scope.from_index, scope.to_index) {
        (None, None) => "the whole log at this tree size".to_string(),
        (Some(from), None) => format!("from log index {from}"),
        (None, Some(to)) => format!("below log index {to}"),
        (Some(from), Some(to)) => format!("log indexes {from} to {to} (exclusive)"),
    };
    let query = scope.query.as_ref().map(|q| {
        // A JSON object of strings and numbers always serialises.
        serde_json::to_string(q).unwrap_or_default()
    });
    format!(
        "<dl>\n<dt>Workflow</dt><dd>{}</dd>\n<dt>Log range</dt><dd>{}</dd>\n<dt>Search</dt><dd>{}</dd>\n</dl>\n",
        or_dash(scope.workflow.as_deref()),
        escape(&range),
        query.map_or_else(|| "—".to_string(), |q| format!("<code>{}</code>", escape(&q))),
    )
}

fn subjects(entry: &ManifestEntry) -> String {
    if entry.subjects.is_empty() {
        return "—".into();
    }
    let mut out = String::from("<ul class=\"subjects\">");
    for subject in &entry.subjects {
        let _ = write!(out, "<li class=\"hash\">{}</li>", escape(subject));
    }
    out.push_str("</ul>");
    out
}

fn render(manifest: &Manifest, checkpoint_note: Option<&str>) -> String {
    let mut out = String::new();
    let title = format!(
        "Evidence pack — {} at tree size {}",
        manifest.origin, manifest.tree_size
    );
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n\
         <p class=\"note\">Made {created}. Verify this pack offline with \
         <code>evledger verify pack --key &lt;log verifier key&gt; pack.zip</code>; \
         {readme} says what verifying proves. This page is a reading aid: the signed \
         manifest and the proofs are the evidence.</p>\n",
        title = escape(&title),
        created = escape(&manifest.created_at),
        readme = escape(README_PATH),
    );

    out.push_str("<section>\n<h2>Scope</h2>\n");
    out.push_str(&scope(manifest));
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "<section>\n<h2>Log and checkpoint</h2>\n<dl>\n\
         <dt>Origin</dt><dd>{}</dd>\n\
         <dt>Verifier key</dt><dd class=\"hash\">{}</dd>\n\
         <dt>Tree size</dt><dd>{}</dd>\n\
         <dt>Root hash</dt><dd class=\"hash\">{}</dd>\n</dl>\n",
        escape(&manifest.origin),
        escape(&manifest.verifier_key),
        manifest.tree_size,
        escape(&manifest.root_hash),
    );
    match checkpoint_note {
        Some(note) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(note));
        }
        None => out.push_str(
            "<p class=\"note\">The signed note is the pack's <code>checkpoint</code> file.</p>\n",
        ),
    }
    out.push_str("</section>\n");

    let others: Vec<&ManifestEntry> = manifest
        .entries
        .iter()
        .filter(|e| e.role != Role::Contract)
        .collect();
    let _ = write!(out, "<section>\n<h2>Entries ({})</h2>\n", others.len());
    if others.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Index</th><th>Role</th><th>Kind</th><th>Workflow</th>\
             <th>Subjects</th><th>Predicate type</th><th>Leaf hash</th></tr></thead>\n<tbody>\n",
        );
        for entry in others {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"hash\">{}</td></tr>",
                entry.log_index,
                entry.role.as_str(),
                escape(&entry.kind),
                or_dash(entry.workflow.as_deref()),
                subjects(entry),
                or_dash(entry.predicate_type.as_deref()),
                escape(&entry.leaf_hash),
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");

    let contracts: Vec<&ManifestEntry> = manifest.entries_with(Role::Contract).collect();
    let _ = write!(
        out,
        "<section>\n<h2>Contract revisions ({})</h2>\n",
        contracts.len()
    );
    if contracts.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Index</th><th>Kind</th><th>Workflow</th>\
             <th>Leaf hash</th></tr></thead>\n<tbody>\n",
        );
        for entry in contracts {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"hash\">{}</td></tr>",
                entry.log_index,
                escape(&entry.kind),
                or_dash(entry.workflow.as_deref()),
                escape(&entry.leaf_hash),
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "<section>\n<h2>Blobs ({}, {} bytes)</h2>\n",
        manifest.blobs.len(),
        manifest.blob_bytes()
    );
    if manifest.blobs.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Digest</th><th>Size (bytes)</th></tr></thead>\n<tbody>\n",
        );
        for blob in &manifest.blobs {
            let _ = writeln!(
                out,
                "<tr><td class=\"hash\">{}</td><td>{}</td></tr>",
                escape(&blob.digest),
                blob.size
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ManifestBlob, Scope, FORMAT};

    fn manifest(hostile: &str) -> Manifest {
        let mut query = serde_json::Map::new();
        query.insert("annotation".into(), hostile.into());
        Manifest {
            format: FORMAT.into(),
            origin: hostile.into(),
            verifier_key: hostile.into(),
            tree_size: 9,
            root_hash: hostile.into(),
            created_at: hostile.into(),
            scope: Scope {
                workflow: Some(hostile.into()),
                from_index: Some(1),
                to_index: Some(5),
                query: Some(query),
            },
            entries: vec![
                ManifestEntry {
                    log_index: 2,
                    leaf_hash: hostile.into(),
                    role: Role::Attestation,
                    kind: hostile.into(),
                    workflow: Some(hostile.into()),
                    subjects: vec![hostile.into(), hostile.into()],
                    predicate_type: Some(hostile.into()),
                    leaf: hostile.into(),
                    proof: hostile.into(),
                },
                ManifestEntry {
                    log_index: 3,
                    leaf_hash: hostile.into(),
                    role: Role::Contract,
                    kind: hostile.into(),
                    workflow: None,
                    subjects: vec![],
                    predicate_type: None,
                    leaf: hostile.into(),
                    proof: hostile.into(),
                },
            ],
            blobs: vec![ManifestBlob {
                digest: hostile.into(),
                size: 4,
                path: hostile.into(),
            }],
            files: Default::default(),
        }
    }

    #[test]
    fn every_value_is_escaped() {
        let hostile = "<script>alert('x')</script>\"&";
        for html in [
            summary_html(&manifest(hostile)),
            summary_html_with_checkpoint(&manifest(hostile), hostile),
        ] {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("alert('x')"), "{html}");
            assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
            // The only tags are the page's own.
            let tags: std::collections::BTreeSet<&str> = html
                .split('<')
                .skip(1)
                .map(|t| t.split([' ', '>']).next().unwrap_or_default())
                .collect();
            for tag in &tags {
                assert!(
                    [
                        "!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title",
                        "style", "/style", "body", "/body", "h1", "/h1", "h2", "/h2", "p", "/p",
                        "code", "/code", "section", "/section", "dl", "/dl", "dt", "/dt", "dd",
                        "/dd", "pre", "/pre", "table", "/table", "thead", "/thead", "tbody",
                        "/tbody", "tr", "/tr", "th", "/th", "td", "/td", "ul", "/ul", "li", "/li"
                    ]
                    .contains(tag),
                    "unexpected tag {tag}"
                );
            }
        }
    }

    #[test]
    fn the_page_is_self_contained_and_printable() {
        let html = summary_html(&manifest("v"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("@media print"));
        for external in ["<script", "<link", "src=", "href=", "url(", "@import"] {
            assert!(!html.contains(external), "{external}");
        }
        assert!(html.contains("Entries (1)"));
        assert!(html.contains("Contract revisions (1)"));
        assert!(html.contains("Blobs (1, 4 bytes)"));
        assert!(html.contains("log indexes 1 to 5 (exclusive)"));
        assert_eq!(html, summary_html(&manifest("v")), "deterministic");
    }
}
