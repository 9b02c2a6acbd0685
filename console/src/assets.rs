//! The console's static assets, embedded at build time: no CDN, no font
//! download, no build step.

/// An embedded asset.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const ASSETS: [(&str, Asset); 3] = [
    (
        "console.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("../assets/console.css"),
        },
    ),
    (
        "console.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("../assets/console.js"),
        },
    ),
    (
        "verify.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("../assets/verify.js"),
        },
    ),
];

/// The asset served at `/assets/<name>`, if there is one.
pub fn get(name: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(asset_name, _)| *asset_name == name)
        .map(|(_, asset)| *asset)
}

/// The names of every asset.
pub fn names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _)| *name)
}
