//! The `filters` query parameter of list and prune endpoints, read in both encodings clients send:
//! the docker CLI's `{"key":{"value":true}}` and docker-py's `{"key":["value"]}`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Why a `filters` parameter was rejected; messages match dockerd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The parameter is not JSON in either accepted encoding.
    #[error("invalid filter")]
    InvalidJson,
    /// The endpoint does not support this filter key.
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
    /// The values given for a key make no sense for it.
    #[error("invalid filter '{key}=[{}]'", values.join(" "))]
    InvalidValue {
        /// The filter key.
        key: String,
        /// The values given for it.
        values: Vec<String>,
    },
    /// A boolean filter key was given with no value.
    #[error("invalid filter '{0}'")]
    MissingValue(String),
}

/// Something that can look up a label by key, so filters work on any label map.
pub trait LabelSource {
    /// The label's value, if the label is set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl<S: std::hash::BuildHasher> LabelSource for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl LabelSource for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// Parsed filters: each key with its sorted, de-duplicated values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// Parses the raw `filters` query value; absent or empty means no filters.
    pub fn parse(raw: Option<&str>) -> Result<Filters, FilterError> {
        let raw = match raw {
            Some(raw) if !raw.trim().is_empty() => raw,
            _ => return Ok(Filters::default()),
        };
        let value: Value = serde_json::from_str(raw).map_err(|_| FilterError::InvalidJson)?;
        let object = match value {
            Value::Null => return Ok(Filters::default()),
            Value::Object(object) => object,
            _ => return Err(FilterError::InvalidJson),
        };
        let mut filters = Filters::default();
        for (key, entry) in object {
            filters.fields.entry(key.clone()).or_default();
            match entry {
                Value::Null => {}
                // docker CLI: {"status": {"running": true}}
                Value::Object(map) => {
                    for (value, flag) in map {
                        if !flag.is_boolean() {
                            return Err(FilterError::InvalidJson);
                        }
                        filters.add(&key, &value);
                    }
                }
                // docker-py and older clients: {"status": ["running"]}
                Value::Array(list) => {
                    for item in list {
                        let Value::String(value) = item else {
                            return Err(FilterError::InvalidJson);
                        };
                        filters.add(&key, &value);
                    }
                }
                _ => return Err(FilterError::InvalidJson),
            }
        }
        Ok(filters)
    }

    /// Adds one value under `key`, for building filters in code.
    pub fn add(&mut self, key: &str, value: &str) {
        let values = self.fields.entry(key.to_string()).or_default();
        if let Err(position) = values.binary_search_by(|v| v.as_str().cmp(value)) {
            values.insert(position, value.to_string());
        }
    }

    /// Rejects keys the endpoint does not support, with dockerd's `invalid filter '<key>'`.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(key) => Err(FilterError::UnknownKey(key.clone())),
            None => Ok(()),
        }
    }

    /// The values given for `key`, sorted; empty when the key is absent.
    pub fn values(&self, key: &str) -> &[String] {
        self.fields.get(key).map_or(&[], Vec::as_slice)
    }

    /// Reports whether `key` was given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Reports whether no filter keys were given.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Applies one key: true if it has no values, else if any value satisfies `matches` (OR).
    pub fn match_any(&self, key: &str, matches: impl Fn(&str) -> bool) -> bool {
        let values = self.values(key);
        values.is_empty() || values.iter().any(|v| matches(v))
    }

    /// Reads a boolean filter such as `dangling` (`true`/`1`, `false`/`0`); `None` when absent.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let Some(values) = self.fields.get(key) else {
            return Ok(None);
        };
        if values.is_empty() {
            return Err(FilterError::MissingValue(key.to_string()));
        }
        let is_true = values.iter().any(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let is_false = values.iter().any(|v| v == "0" || v.eq_ignore_ascii_case("false"));
        if is_true == is_false {
            return Err(FilterError::InvalidValue { key: key.to_string(), values: values.clone() });
        }
        Ok(Some(is_true))
    }

    /// Applies the `label` filter: every `key` / `key=value` value must hold (true when absent).
    pub fn match_labels(&self, labels: &impl LabelSource) -> bool {
        self.match_labels_key("label", labels)
    }

    /// Label matching under any key, so callers can apply `label!` (see `negated_label_matching`).
    pub fn match_labels_key(&self, key: &str, labels: &impl LabelSource) -> bool {
        self.values(key).iter().all(|wanted| match wanted.split_once('=') {
            Some((name, value)) => labels.label(name) == Some(value),
            None => labels.label(wanted).is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn absent_and_empty_parameters() {
        for raw in [None, Some(""), Some("  "), Some("{}"), Some("null")] {
            let filters = Filters::parse(raw).unwrap();
            assert!(filters.is_empty(), "{raw:?}");
            assert!(filters.values("status").is_empty());
        }
    }

    #[test]
    fn docker_cli_map_encoding() {
        let filters =
            Filters::parse(Some(r#"{"status":{"running":true,"paused":true},"label":{"a=b":true}}"#)).unwrap();
        assert_eq!(filters.values("status"), ["paused", "running"]);
        assert_eq!(filters.values("label"), ["a=b"]);
        assert!(filters.contains("label"));
        assert!(!filters.contains("name"));
    }

    #[test]
    fn docker_py_list_encoding() {
        let filters = Filters::parse(Some(r#"{"status":["running","exited","running"],"label":["l=v"]}"#)).unwrap();
        assert_eq!(filters.values("status"), ["exited", "running"]);
        assert_eq!(filters.values("label"), ["l=v"]);
        assert!(!filters.is_empty());
    }

    #[test]
    fn invalid_json_is_rejected() {
        for raw in ["not json", "[]", r#"{"status":"running"}"#, r#"{"status":[1]}"#, r#"{"status":{"running":"yes"}}"#]
        {
            let err = Filters::parse(Some(raw)).unwrap_err();
            assert_eq!(err.to_string(), "invalid filter", "{raw}");
        }
    }

    #[test]
    fn validate_rejects_unknown_keys() {
        let filters = Filters::parse(Some(r#"{"status":["running"],"bogus":["x"]}"#)).unwrap();
        assert!(filters.validate(&["status", "bogus"]).is_ok());
        assert_eq!(filters.validate(&["status"]).unwrap_err().to_string(), "invalid filter 'bogus'");
        assert!(Filters::default().validate(&[]).is_ok());
    }

    #[test]
    fn match_any_ors_values() {
        let filters = Filters::parse(Some(r#"{"status":["running","paused"]}"#)).unwrap();
        assert!(filters.match_any("status", |v| v == "paused"));
        assert!(!filters.match_any("status", |v| v == "exited"));
        // An absent key does not restrict anything.
        assert!(filters.match_any("name", |_| false));
    }

    #[test]
    fn bool_values() {
        let parse = |raw: &str| Filters::parse(Some(raw)).unwrap();
        assert_eq!(parse("{}").bool_value("dangling"), Ok(None));
        assert_eq!(parse(r#"{"dangling":["true"]}"#).bool_value("dangling"), Ok(Some(true)));
        assert_eq!(parse(r#"{"dangling":{"1":true}}"#).bool_value("dangling"), Ok(Some(true)));
        assert_eq!(parse(r#"{"dangling":["false"]}"#).bool_value("dangling"), Ok(Some(false)));
        assert_eq!(parse(r#"{"dangling":["0"]}"#).bool_value("dangling"), Ok(Some(false)));
        assert_eq!(
            parse(r#"{"dangling":["xyz"]}"#).bool_value("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=[xyz]'"
        );
        assert_eq!(
            parse(r#"{"dangling":["true","false"]}"#).bool_value("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=[false true]'"
        );
        assert_eq!(
            parse(r#"{"dangling":[]}"#).bool_value("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling'"
        );
    }

    #[test]
    fn label_matching() {
        let set = labels(&[("a", "b"), ("env", "prod")]);
        let parse = |raw: &str| Filters::parse(Some(raw)).unwrap();

        assert!(Filters::default().match_labels(&set));
        assert!(Filters::default().match_labels(&HashMap::new()));
        assert!(parse(r#"{"label":{"a=b":true}}"#).match_labels(&set));
        assert!(parse(r#"{"label":["a"]}"#).match_labels(&set));
        assert!(parse(r#"{"label":["a","env=prod"]}"#).match_labels(&set));
        assert!(!parse(r#"{"label":["a","env=dev"]}"#).match_labels(&set));
        assert!(!parse(r#"{"label":["missing"]}"#).match_labels(&set));
        assert!(!parse(r#"{"label":["a=c"]}"#).match_labels(&set));
        assert!(!parse(r#"{"label":["a"]}"#).match_labels(&HashMap::new()));
        // A value containing '=' is split at the first one.
        let tricky = labels(&[("k", "x=y")]);
        assert!(parse(r#"{"label":["k=x=y"]}"#).match_labels(&tricky));

        let btree: BTreeMap<String, String> = set.clone().into_iter().collect();
        assert!(parse(r#"{"label":["env=prod"]}"#).match_labels(&btree));
    }

    #[test]
    fn negated_label_matching() {
        let set = labels(&[("keep", "yes")]);
        let filters = Filters::parse(Some(r#"{"label!":["keep"]}"#)).unwrap();
        let excluded = filters.contains("label!") && filters.match_labels_key("label!", &set);
        assert!(excluded);
        let other = labels(&[("other", "1")]);
        let excluded = filters.contains("label!") && filters.match_labels_key("label!", &other);
        assert!(!excluded);
    }

    #[test]
    fn add_builds_filters() {
        let mut filters = Filters::default();
        filters.add("label", "b");
        filters.add("label", "a");
        filters.add("label", "b");
        assert_eq!(filters.values("label"), ["a", "b"]);
    }
}
