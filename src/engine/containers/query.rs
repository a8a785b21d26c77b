//! `docker ps`: which containers to list, with Docker's filters (status, name, id, label,
//! ancestor, exited, before, since).

use super::Container;
use crate::engine::filters::Filters;
use crate::engine::{Engine, Error, Result};

/// What `GET /containers/json` asked for.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// At most this many (newest first); 0 or less means no limit.
    pub limit: i64,
    /// The filters.
    pub filters: Filters,
}

const FILTERS: &[&str] = &[
    "status", "name", "id", "label", "ancestor", "exited", "before", "since", "network", "volume", "health", "publish",
    "expose", "is-task",
];

impl Engine {
    /// A tenant's containers that pass the filters, newest first.
    pub async fn list_containers(&self, tenant: &str, options: &ListOptions) -> Result<Vec<Container>> {
        let filters = &options.filters;
        filters.validate(FILTERS).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        for status in filters.values("status") {
            if !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(&status.as_str())
            {
                return Err(Error::InvalidArgument(format!("invalid filter 'status={status}'")));
            }
        }
        let exited: Vec<i64> = filters
            .values("exited")
            .iter()
            .map(|e| e.parse().map_err(|_| Error::InvalidArgument(format!("invalid filter 'exited={e}'"))))
            .collect::<Result<_>>()?;
        let mut ancestors = Vec::new();
        for name in filters.values("ancestor") {
            if let Ok(image) = self.resolve_image(tenant, name).await {
                ancestors.push(image.id);
            }
        }
        let before = match filters.values("before").first() {
            Some(name) => Some(self.resolve_container(tenant, name).await?.row.created_at),
            None => None,
        };
        let since = match filters.values("since").first() {
            Some(name) => Some(self.resolve_container(tenant, name).await?.row.created_at),
            None => None,
        };
        let every_state = options.all || options.limit > 0 || filters.contains("status") || filters.contains("exited");
        let mut out = Vec::new();
        for row in self.store.containers(tenant).await? {
            let c = Container::from_row(row)?;
            let status = c.row.state.status.as_str();
            if !every_state && !c.is_running() {
                continue;
            }
            if !filters.match_any("status", |s| s == status) {
                continue;
            }
            if !filters.match_any("id", |prefix| c.row.id.starts_with(prefix)) {
                continue;
            }
            if !filters.match_any("name", |pattern| name_matches(pattern, &c.row.name)) {
                continue;
            }
            if !filters.match_labels(&c.config.labels) {
                continue;
            }
            let health = c.health().map(|h| h.status).unwrap_or_else(|| "none".into());
            if !filters.match_any("health", |h| h == health) {
                continue;
            }
            if filters.contains("ancestor") && !ancestors.contains(&c.row.image_id) {
                continue;
            }
            // [networks]
            if filters.contains("network") && !self.container_on_networks(&c, filters.values("network")).await? {
                continue;
            }
            if !exited.is_empty()
                && (c.is_running() || c.row.state.started_at.is_none() || !exited.contains(&c.row.state.exit_code))
            {
                continue;
            }
            if before.as_ref().is_some_and(|b| c.row.created_at >= *b)
                || since.as_ref().is_some_and(|s| c.row.created_at <= *s)
            {
                continue;
            }
            out.push(c);
            if options.limit > 0 && out.len() as i64 >= options.limit {
                break;
            }
        }
        Ok(out)
    }
}

/// Docker matches `name` as a regular expression against `/name`; this covers the forms
/// people use: substrings and `^`/`$` anchors.
fn name_matches(pattern: &str, name: &str) -> bool {
    let slashed = format!("/{name}");
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, needle) = match rest.strip_suffix('$') {
        Some(needle) => (true, needle),
        None => (false, rest),
    };
    [name, slashed.as_str()].iter().any(|candidate| match (anchored_start, anchored_end) {
        (true, true) => *candidate == needle,
        (true, false) => candidate.starts_with(needle),
        (false, true) => candidate.ends_with(needle),
        (false, false) => candidate.contains(needle),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_substrings_and_anchors() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(name_matches("^/web", "web-1"));
        assert!(!name_matches("^web", "my-web"));
        assert!(name_matches("web$", "my-web"));
        assert!(name_matches("^web$", "web"));
        assert!(!name_matches("^web$", "web2"));
    }
}
