//! Which entries a sink takes, by the index keys of each entry.

use evledger_index_keys::keys::{kind_key, predicate_type_key, workflow_key};

/// Which entries a sink takes: each list that is not empty must hold the
/// entry's value (kind, predicate type, workflow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entry kinds (`dsse`, `contract`).
    pub kinds: Vec<String>,
    /// in-toto predicate types.
    pub predicate_types: Vec<String>,
    /// Workflow names.
    pub workflows: Vec<String>,
}

impl Filter {
    /// Whether an entry with these index keys passes.
    pub fn matches(&self, keys: &[String]) -> bool {
        let any = |values: &[String], key: fn(&str) -> String| {
            values.is_empty() || values.iter().any(|v| keys.contains(&key(v)))
        };
        any(&self.kinds, kind_key)
            && any(&self.predicate_types, predicate_type_key)
            && any(&self.workflows, workflow_key)
    }
}

/// The value of the first index key with `prefix`.
pub(crate) fn key_value(keys: &[String], prefix: &str) -> Option<String> {
    keys.iter()
        .find_map(|k| k.strip_prefix(prefix))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_needs_every_non_empty_list() {
        let keys = vec![
            kind_key("dsse"),
            predicate_type_key("https://slsa.dev/provenance/v1"),
            workflow_key("build"),
        ];
        assert!(Filter::default().matches(&keys));
        let only_build = Filter {
            workflows: vec!["build".into()],
            ..Filter::default()
        };
        assert!(only_build.matches(&keys));
        let other = Filter {
            workflows: vec!["deploy".into()],
            ..Filter::default()
        };
        assert!(!other.matches(&keys));
        let wrong_kind = Filter {
            kinds: vec!["contract".into()],
            workflows: vec!["build".into()],
            ..Filter::default()
        };
        assert!(!wrong_kind.matches(&keys));
        let either_type = Filter {
            predicate_types: vec!["x".into(), "https://slsa.dev/provenance/v1".into()],
            ..Filter::default()
        };
        assert!(either_type.matches(&keys));
    }
}
