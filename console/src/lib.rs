//! The auditor console of `evledger serve`: server-rendered HTML pages and
//! the assets they load, all embedded in the binary.
//!
//! Every page is complete without JavaScript. What a page shows as
//! *verified* is verified in the browser by [`assets`]' ES modules, against
//! the keys the auditor pinned, from bytes the module fetched itself: this
//! crate renders what the server says, the module checks it. Nothing here
//! touches the ledger: the API crate reads it and fills the page models
//! ([`overview::Overview`], [`entries::EntryDetail`], ...), so each page
//! is a pure function of its model.
//!
//! Pages carry no inline script or style, so they run under
//! [`CONTENT_SECURITY_POLICY`].

pub mod assets;
pub mod consistency;
pub mod entries;
mod format;
pub mod keys;
mod layout;
pub mod overview;
pub mod search;
pub mod workflows;

pub use layout::{error_page, Nav, Session};

/// The Content-Security-Policy of every console page: nothing from
/// anywhere but this server, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Entries per page of the entry list and of search results.
pub const PAGE_SIZE: usize = 50;
