//! A small decoder from the located YAML tree into typed values that keeps
//! going after a problem, so one run of `seawall plan check` shows every
//! mistake in the file, each with its line, column and a hint.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::diag::{At, Diagnostic, Loc, Severity, join_path};
use crate::node::{Kind, Node};

/// Decoding context: where diagnostics go and how times are read.
pub(crate) struct Cx {
    pub(crate) file: String,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) tz: TimeZone,
    /// Ids written in each named collection (by its path), including items
    /// that failed to decode, so references to them are not reported twice.
    pub(crate) declared: std::collections::HashMap<String, std::collections::HashSet<String>>,
}

/// Closest candidate to `word` among `known`, if close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for k in known {
        let score = strsim::jaro_winkler(word, k);
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, k));
        }
    }
    best.map(|(_, k)| k)
}

impl Cx {
    pub(crate) fn new(file: &str) -> Self {
        Cx {
            file: file.to_string(),
            diags: Vec::new(),
            tz: TimeZone::UTC,
            declared: std::collections::HashMap::new(),
        }
    }

    /// Record an error.
    pub(crate) fn error(
        &mut self,
        code: &'static str,
        path: &str,
        loc: Loc,
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        self.diags.push(Diagnostic {
            code,
            severity: Severity::Error,
            file: self.file.clone(),
            path: path.to_string(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
            help: help.into(),
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.error(
            "E012",
            path,
            node.loc,
            format!(
                "`{path}` must be {expected}, found {}",
                node.kind.describe()
            ),
            Some(format!("write {expected} here")),
        );
    }

    /// Read a map with a fixed set of keys. Unknown keys are reported (with a
    /// "did you mean"); null counts as an empty map.
    pub(crate) fn obj<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
    ) -> Option<Obj<'n>> {
        let entries: &'n [(Node, Node)] = match &node.kind {
            Kind::Map(m) => m,
            Kind::Null => &[],
            _ => {
                self.wrong_type(node, path, "a map");
                return None;
            }
        };
        let mut keys = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Some(name) = self.key(k, path) else {
                continue;
            };
            if !known.contains(&name) {
                let help = match did_you_mean(name, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known keys here: {}", known.join(", ")),
                };
                self.error(
                    "E010",
                    &join_path(path, name),
                    k.loc,
                    format!(
                        "unknown key `{name}` in `{}`",
                        if path.is_empty() { "the plan" } else { path }
                    ),
                    Some(help),
                );
                continue;
            }
            keys.push((name, v));
        }
        Some(Obj {
            path: path.to_string(),
            loc: node.loc,
            keys,
        })
    }

    fn key<'n>(&mut self, k: &'n Node, path: &str) -> Option<&'n str> {
        match &k.kind {
            Kind::Str(s) => Some(s),
            _ => {
                self.error(
                    "E012",
                    path,
                    k.loc,
                    format!(
                        "keys in `{path}` must be names, found {}",
                        k.kind.describe()
                    ),
                    Some("quote the key or use a name".to_string()),
                );
                None
            }
        }
    }

    /// Read a map keyed by ids (a named collection); null is empty.
    pub(crate) fn named<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(String, &'n Node)> {
        let entries: &'n [(Node, Node)] = match &node.kind {
            Kind::Map(m) => m,
            Kind::Null => &[],
            _ => {
                self.wrong_type(node, path, "a map keyed by id");
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let id = match &k.kind {
                Kind::Str(s) => s.clone(),
                Kind::Int(i) => i.to_string(),
                _ => {
                    self.error(
                        "E012",
                        path,
                        k.loc,
                        format!("ids in `{path}` must be names, found {}", k.kind.describe()),
                        Some("use a short name such as `order-api` as the key".to_string()),
                    );
                    continue;
                }
            };
            if id.trim().is_empty() {
                self.error(
                    "E012",
                    path,
                    k.loc,
                    format!("empty id in `{path}`"),
                    Some("give the item a name".to_string()),
                );
                continue;
            }
            out.push((id, v));
        }
        out
    }

    /// Read a list; null is empty.
    pub(crate) fn list<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Node] {
        match &node.kind {
            Kind::Seq(s) => s,
            Kind::Null => &[],
            _ => {
                self.wrong_type(node, path, "a list");
                &[]
            }
        }
    }

    /// A scalar read as text (numbers are accepted, e.g. phone numbers).
    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A list of strings, or one string taken as a list of one.
    pub(crate) fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        if let Kind::Str(s) = &node.kind {
            return vec![s.clone()];
        }
        let items = self.list(node, path);
        items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
            .collect()
    }

    /// A finite number.
    pub(crate) fn num(&mut self, node: &Node, path: &str) -> Option<f64> {
        match &node.kind {
            Kind::Int(i) => Some(*i as f64),
            Kind::Float(f) if f.is_finite() => Some(*f),
            _ => {
                self.wrong_type(node, path, "a number");
                None
            }
        }
    }

    /// A number > 0 (rates, counts, capacities).
    pub(crate) fn positive(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = self.num(node, path)?;
        if v <= 0.0 {
            self.error(
                "E030",
                path,
                node.loc,
                format!("`{path}` must be greater than 0, found {v}"),
                Some("use a positive number, or remove the key to use the default".to_string()),
            );
            return None;
        }
        Some(v)
    }

    /// A number ≥ 0.
    pub(crate) fn non_negative(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = self.num(node, path)?;
        if v < 0.0 {
            self.error(
                "E030",
                path,
                node.loc,
                format!("`{path}` must not be negative, found {v}"),
                Some("use 0 or a positive number".to_string()),
            );
            return None;
        }
        Some(v)
    }

    /// A fraction in (0, 1] (conversions, shares).
    pub(crate) fn fraction(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = self.num(node, path)?;
        if !(v > 0.0 && v <= 1.0) {
            self.error(
                "E031",
                path,
                node.loc,
                format!("`{path}` must be in (0, 1], found {v}"),
                Some("write a fraction such as 0.6 for 60 %".to_string()),
            );
            return None;
        }
        Some(v)
    }

    /// A ratio in [0, 1] (error rates, levels).
    pub(crate) fn unit(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = self.num(node, path)?;
        if !(0.0..=1.0).contains(&v) {
            self.error(
                "E031",
                path,
                node.loc,
                format!("`{path}` must be between 0 and 1, found {v}"),
                Some("write a fraction such as 0.001 for 0.1 %".to_string()),
            );
            return None;
        }
        Some(v)
    }

    /// A non-negative integer that fits in u32.
    pub(crate) fn count(&mut self, node: &Node, path: &str) -> Option<u32> {
        match &node.kind {
            Kind::Int(i) if *i >= 0 => match u32::try_from(*i) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.error(
                        "E030",
                        path,
                        node.loc,
                        format!("`{path}` is too large: {i}"),
                        None,
                    );
                    None
                }
            },
            Kind::Int(i) => {
                self.error(
                    "E030",
                    path,
                    node.loc,
                    format!("`{path}` must not be negative, found {i}"),
                    Some("use 0 or a positive whole number".to_string()),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "a whole number");
                None
            }
        }
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.kind {
            Kind::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    /// One of `choices`; returns its index.
    pub(crate) fn choice(&mut self, node: &Node, path: &str, choices: &[&str]) -> Option<usize> {
        let s = self.string(node, path)?;
        if let Some(i) = choices.iter().position(|c| c.eq_ignore_ascii_case(&s)) {
            return Some(i);
        }
        let help = match did_you_mean(&s.to_ascii_lowercase(), choices.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? (one of: {})", choices.join(", ")),
            None => format!("use one of: {}", choices.join(", ")),
        };
        self.error(
            "E013",
            path,
            node.loc,
            format!("`{s}` is not a valid value for `{path}`"),
            Some(help),
        );
        None
    }

    /// A time in the event's zone or with an offset.
    pub(crate) fn time(&mut self, node: &Node, path: &str) -> Option<Timestamp> {
        let s = self.string(node, path)?;
        match crate::time::parse_time(&s, &self.tz) {
            Ok(t) => Some(t),
            Err(msg) => {
                self.error(
                    "E040",
                    path,
                    node.loc,
                    msg,
                    Some(
                        "example: \"2026-09-30T10:00\" or \"2026-09-30T10:00:00+08:00\""
                            .to_string(),
                    ),
                );
                None
            }
        }
    }

    /// A duration in seconds (`90`, `90s`, `10m`, `1h 30m`).
    pub(crate) fn duration(&mut self, node: &Node, path: &str) -> Option<f64> {
        let secs = match &node.kind {
            Kind::Int(_) | Kind::Float(_) => self.num(node, path)?,
            _ => {
                let s = self.string(node, path)?;
                match crate::time::parse_duration(&s) {
                    Ok(v) => v,
                    Err(msg) => {
                        self.error(
                            "E043",
                            path,
                            node.loc,
                            msg,
                            Some("example: 30s, 10m, 1h 30m".to_string()),
                        );
                        return None;
                    }
                }
            }
        };
        if secs < 0.0 {
            self.error(
                "E030",
                path,
                node.loc,
                format!("`{path}` must not be negative"),
                None,
            );
            return None;
        }
        Some(secs)
    }
}

/// A decoded map with known keys.
pub(crate) struct Obj<'n> {
    pub(crate) path: String,
    pub(crate) loc: Loc,
    keys: Vec<(&'n str, &'n Node)>,
}

impl<'n> Obj<'n> {
    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The value of `key`, reporting E011 when it is missing.
    pub(crate) fn req(&self, cx: &mut Cx, key: &str, what: &str) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            cx.error(
                "E011",
                &self.path,
                self.loc,
                format!("`{}` is missing `{key}`", self.path),
                Some(format!("add `{key}:` ({what})")),
            );
        }
        v
    }

    /// Path of `key` below this map.
    pub(crate) fn path(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    /// The item's position, with its keys' locations.
    pub(crate) fn at(&self) -> At {
        At {
            path: self.path.clone(),
            loc: self.loc,
            fields: self
                .keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.loc))
                .collect(),
        }
    }

    /// Decode `key` with `f` when present.
    pub(crate) fn with<T>(
        &self,
        cx: &mut Cx,
        key: &str,
        f: impl FnOnce(&mut Cx, &'n Node, &str) -> Option<T>,
    ) -> Option<T> {
        let node = self.get(key)?;
        let path = self.path(key);
        f(cx, node, &path)
    }
}

/// `parent.id` for named collections (ids with dots are quoted).
pub(crate) fn item_path(parent: &str, id: &str) -> String {
    if id.contains('.') || id.contains(' ') {
        format!("{parent}[\"{id}\"]")
    } else {
        join_path(parent, id)
    }
}
