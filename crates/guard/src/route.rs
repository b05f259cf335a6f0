//! Route matching: method + path pattern → resource, precompiled into a
//! segment trie so a request costs one walk over its path segments (no
//! regular expressions, no allocation).
//!
//! Patterns are `/`-separated: a literal segment matches itself, `{name}`
//! matches exactly one segment, and `*` (last segment only) matches the rest
//! of the path, including nothing. Empty segments are ignored, so `/a//b/`
//! is `/a/b`. When several patterns match, the most specific wins: at each
//! segment a literal beats `{param}`, which beats `*`; at the end, a route
//! for the request's method beats one for any method.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::GuardError;
use crate::fx::FxBuild;

/// A route: method and path pattern that select a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// HTTP method (case-insensitive); absent or `*`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path pattern: `/`-separated literal segments, `{name}` for exactly
    /// one segment, and `*` as the last segment for the rest of the path.
    pub path: String,
}

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'a> {
    Literal(&'a str),
    Param,
    Rest,
}

/// Splits and checks a path pattern.
fn segments(path: &str) -> Result<Vec<Segment<'_>>, String> {
    if !path.starts_with('/') {
        return Err(format!("path pattern `{path}` must start with `/`"));
    }
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let seg = if *p == "*" {
            if i + 1 != parts.len() {
                return Err(format!(
                    "path pattern `{path}`: `*` is only allowed as the last segment"
                ));
            }
            Segment::Rest
        } else if p.starts_with('{') || p.ends_with('}') {
            let name = p
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .filter(|n| !n.is_empty() && !n.contains(['{', '}']));
            if name.is_none() {
                return Err(format!(
                    "path pattern `{path}`: segment `{p}` must be a whole `{{name}}`"
                ));
            }
            Segment::Param
        } else if p.contains(['{', '}', '*']) {
            return Err(format!(
                "path pattern `{path}`: segment `{p}` mixes text with `{{`, `}}` or `*`"
            ));
        } else {
            Segment::Literal(p)
        };
        out.push(seg);
    }
    Ok(out)
}

/// The method part of a route, upper-cased; `None`: any method.
fn method_of(route: &Route) -> Result<Option<String>, String> {
    match route.method.as_deref().map(str::trim) {
        None | Some("*") => Ok(None),
        Some("") => Err("route method must not be empty (omit it, or use `*`)".into()),
        Some(m) if m.bytes().all(|b| b.is_ascii_alphabetic()) => Ok(Some(m.to_ascii_uppercase())),
        Some(m) => Err(format!("route method `{m}` is not an HTTP method")),
    }
}

/// Checks one route; the error message says what is wrong.
pub(crate) fn validate_route(route: &Route) -> Result<(), String> {
    method_of(route)?;
    segments(&route.path)?;
    Ok(())
}

/// A key identifying routes that can never be told apart.
pub(crate) fn route_key(route: &Route) -> Option<String> {
    let method = method_of(route).ok()?;
    let segs = segments(&route.path).ok()?;
    let mut key = method.unwrap_or_else(|| "*".into());
    key.push(' ');
    for s in segs {
        key.push('/');
        match s {
            Segment::Literal(l) => key.push_str(l),
            Segment::Param => key.push_str("{}"),
            Segment::Rest => key.push('*'),
        }
    }
    Some(key)
}

#[derive(Debug, Default)]
struct Ends {
    /// Resource per method (upper case).
    by_method: Vec<(Box<str>, usize)>,
    any: Option<usize>,
}

impl Ends {
    fn add(&mut self, method: Option<String>, target: usize) {
        match method {
            Some(m) => {
                if !self.by_method.iter().any(|(x, _)| **x == *m) {
                    self.by_method.push((m.into_boxed_str(), target));
                }
            }
            None => {
                self.any.get_or_insert(target);
            }
        }
    }

    #[inline]
    fn find(&self, method: &str) -> Option<usize> {
        self.by_method
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, t)| *t)
            .or(self.any)
    }
}

/// Literal children: a short list scanned in order (cheaper than hashing
/// for the few children most nodes have), or a hash map for wide nodes.
#[derive(Debug)]
enum Literals {
    Few(Vec<(Box<str>, Node)>),
    Many(HashMap<Box<str>, Node, FxBuild>),
}

impl Default for Literals {
    fn default() -> Self {
        Literals::Few(Vec::new())
    }
}

/// Above this many children a node's literals move into a hash map.
const FEW: usize = 8;

impl Literals {
    fn entry(&mut self, seg: &str) -> &mut Node {
        if let Literals::Few(list) = self
            && list.len() >= FEW
            && !list.iter().any(|(k, _)| **k == *seg)
        {
            let map = std::mem::take(list).into_iter().collect();
            *self = Literals::Many(map);
        }
        match self {
            Literals::Few(list) => {
                let i = match list.iter().position(|(k, _)| **k == *seg) {
                    Some(i) => i,
                    None => {
                        list.push((seg.into(), Node::default()));
                        list.len() - 1
                    }
                };
                &mut list[i].1
            }
            Literals::Many(map) => map.entry(seg.into()).or_default(),
        }
    }

    #[inline]
    fn get(&self, seg: &str) -> Option<&Node> {
        match self {
            Literals::Few(list) => list.iter().find(|(k, _)| **k == *seg).map(|(_, n)| n),
            Literals::Many(map) => map.get(seg),
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    literals: Literals,
    param: Option<Box<Node>>,
    /// Routes ending in `*` here.
    rest: Ends,
    /// Routes ending exactly here.
    end: Ends,
}

/// Compiled routes of a rule set.
#[derive(Debug, Default)]
pub(crate) struct Router {
    root: Node,
    len: usize,
}

impl Router {
    /// Compiles `(route, target)` pairs; routes must be valid
    /// (`validate_route`). Of two indistinguishable routes the first wins.
    pub(crate) fn new<'a>(routes: impl IntoIterator<Item = (&'a Route, usize)>) -> Self {
        let mut root = Node::default();
        let mut len = 0;
        for (route, target) in routes {
            let (Ok(method), Ok(segs)) = (method_of(route), segments(&route.path)) else {
                continue;
            };
            let mut node = &mut root;
            let mut rest = false;
            for s in segs {
                match s {
                    Segment::Literal(l) => node = node.literals.entry(l),
                    Segment::Param => node = node.param.get_or_insert_with(Box::default),
                    Segment::Rest => rest = true,
                }
            }
            if rest {
                node.rest.add(method, target);
            } else {
                node.end.add(method, target);
            }
            len += 1;
        }
        Self { root, len }
    }

    /// The target of the most specific route matching `method` and `path`
    /// (the path without its query string).
    #[inline]
    pub(crate) fn find(&self, method: &str, path: &str) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        find(&self.root, path, method)
    }
}

/// The next non-empty segment of `rest` and what follows it.
#[inline]
fn next_segment(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return None;
    }
    Some(match rest.as_bytes().iter().position(|&b| b == b'/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    })
}

fn find(node: &Node, rest: &str, method: &str) -> Option<usize> {
    let Some((seg, rest)) = next_segment(rest) else {
        return node.end.find(method).or_else(|| node.rest.find(method));
    };
    if let Some(child) = node.literals.get(seg)
        && let Some(t) = find(child, rest, method)
    {
        return Some(t);
    }
    if let Some(child) = &node.param
        && let Some(t) = find(child, rest, method)
    {
        return Some(t);
    }
    node.rest.find(method)
}

/// Turns a route problem into the guard's error for resource `resource`.
pub(crate) fn route_error(resource: &str, message: String) -> GuardError {
    GuardError::Invalid {
        rule: String::new(),
        message: format!("resource `{resource}`: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Option<&str>, path: &str) -> Route {
        Route {
            method: method.map(str::to_owned),
            path: path.to_owned(),
        }
    }

    fn router(routes: &[Route]) -> Router {
        Router::new(routes.iter().enumerate().map(|(i, r)| (r, i)))
    }

    #[test]
    fn literal_beats_param_beats_rest() {
        let r = router(&[
            route(Some("GET"), "/api/orders/{id}"),
            route(Some("GET"), "/api/orders/export"),
            route(None, "/api/*"),
            route(Some("post"), "/api/orders"),
            route(None, "/api/orders/{id}/items/{item}"),
        ]);
        assert_eq!(r.find("GET", "/api/orders/42"), Some(0));
        assert_eq!(r.find("GET", "/api/orders/export"), Some(1));
        assert_eq!(r.find("DELETE", "/api/orders/42"), Some(2));
        assert_eq!(r.find("POST", "/api/orders"), Some(3));
        assert_eq!(r.find("post", "/api/orders/"), Some(3));
        assert_eq!(r.find("GET", "/api/orders"), Some(2));
        assert_eq!(r.find("GET", "/api"), Some(2));
        assert_eq!(r.find("PUT", "/api/orders/7/items/9"), Some(4));
        assert_eq!(r.find("PUT", "/api/orders/7/items/9/x"), Some(2));
        assert_eq!(r.find("GET", "/other"), None);
        assert_eq!(r.find("GET", "/"), None);
    }

    #[test]
    fn backtracks_from_a_dead_literal_branch() {
        let r = router(&[route(None, "/a/b/c"), route(None, "/a/{x}/d")]);
        assert_eq!(r.find("GET", "/a/b/d"), Some(1));
        assert_eq!(r.find("GET", "/a/b/c"), Some(0));
        assert_eq!(r.find("GET", "/a/b"), None);
    }

    #[test]
    fn wide_nodes_move_to_a_map_and_still_match() {
        let routes: Vec<Route> = (0..50)
            .map(|i| route(None, &format!("/api/r{i}/{{id}}")))
            .chain([route(None, "/api/r7/x"), route(None, "/api/*")])
            .collect();
        let r = router(&routes);
        for i in 0..50 {
            assert_eq!(r.find("GET", &format!("/api/r{i}/1")), Some(i));
        }
        assert_eq!(r.find("GET", "/api/r7/x"), Some(50));
        assert_eq!(r.find("GET", "/api/r99/1"), Some(51));
    }

    #[test]
    fn root_rest_matches_everything() {
        let r = router(&[route(None, "/*")]);
        assert_eq!(r.find("GET", "/"), Some(0));
        assert_eq!(r.find("GET", "/x/y"), Some(0));
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "api", "/a/*/b", "/a/{x", "/a/x}", "/a/{}", "/a/b*", "/a/{x}y",
        ] {
            assert!(validate_route(&route(None, bad)).is_err(), "{bad}");
        }
        assert!(validate_route(&route(Some("GE T"), "/a")).is_err());
        assert!(validate_route(&route(Some(""), "/a")).is_err());
        assert_eq!(
            route_key(&route(Some("get"), "/a/{x}/*")),
            route_key(&route(Some("GET"), "/a/{y}/*"))
        );
    }
}
