//! The element builder: the only way this crate (and its callers) make
//! markup. Element and attribute names are `&'static str` written in code;
//! every attribute value and every text node is a plain string that is
//! escaped when the tree is rendered, so no input — a service id, a run
//! title, a URL — can open a tag or leave an attribute. The result is an
//! [`Markup`], whose only constructors are [`Element::render`] and
//! [`Element::render_with`]: a page that embeds a `Markup` unescaped (`|safe`
//! in a template) embeds markup built here and nowhere else.

use std::fmt;

/// How the five markup characters (`&`, `<`, `>`, `"`, `'`) are spelled.
/// Both spellings mean the same to a browser; each caller keeps the one
/// the rest of its page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entities {
    /// `&#38;` `&#60;` `&#62;` `&#34;` `&#39;`: what askama writes, so the
    /// server's pages escape alike inside and outside the charts.
    #[default]
    Numeric,
    /// `&amp;` `&lt;` `&gt;` `&quot;` `&#39;`: the load report's spelling.
    Named,
}

/// Append `s` to `out` with the five markup characters escaped: safe as
/// text and as a double- or single-quoted attribute value. The one escaper
/// of every chart and report.
pub fn escape_into(out: &mut String, s: &str, entities: Entities) {
    let mut rest = s;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        out.push_str(&rest[..at]);
        let c = rest.as_bytes()[at];
        out.push_str(match (c, entities) {
            (b'&', Entities::Numeric) => "&#38;",
            (b'<', Entities::Numeric) => "&#60;",
            (b'>', Entities::Numeric) => "&#62;",
            (b'"', Entities::Numeric) => "&#34;",
            (b'&', Entities::Named) => "&amp;",
            (b'<', Entities::Named) => "&lt;",
            (b'>', Entities::Named) => "&gt;",
            (b'"', Entities::Named) => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// `s` escaped (see [`escape_into`]).
pub fn escape(s: &str, entities: Entities) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, entities);
    out
}

/// A child of an [`Element`]: another element or text (escaped when
/// rendered).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A nested element.
    Element(Element),
    /// Text content.
    Text(String),
}

impl From<Element> for Node {
    fn from(e: Element) -> Self {
        Node::Element(e)
    }
}

/// How an element without children is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// `<line …/>` (SVG, XML).
    SelfClosing,
    /// `<meta …>` (an HTML void element).
    Void,
    /// `<i …></i>` (an HTML element that happens to be empty).
    Pair,
}

/// One element: a name, attributes in the order given, children.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Node>,
    close: Close,
}

/// Whether `name` is a plain element or attribute name (letters, digits,
/// `-`, `_`, `:`; a letter first). Names are written in code, so this is a
/// programming check (debug builds), not an input check.
fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
}

impl Element {
    /// An element; without children it renders self-closed (`<rect …/>`).
    pub fn new(name: &'static str) -> Self {
        debug_assert!(is_name(name), "element name {name:?}");
        Element {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
            close: Close::SelfClosing,
        }
    }

    /// An HTML void element (`<meta …>`): no children, no closing tag.
    pub fn void(name: &'static str) -> Self {
        Element {
            close: Close::Void,
            ..Element::new(name)
        }
    }

    /// An element that always has a closing tag, even when empty (`<i></i>`).
    pub fn pair(name: &'static str) -> Self {
        Element {
            close: Close::Pair,
            ..Element::new(name)
        }
    }

    /// Add an attribute; its value is escaped when rendered.
    pub fn attr(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        debug_assert!(is_name(name), "attribute name {name:?}");
        self.attrs.push((name, value.to_string()));
        self
    }

    /// Add an attribute when `value` is `Some`.
    pub fn attr_opt(self, name: &'static str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Append a child element.
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Append a child element in place.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Append children in order.
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Self {
        self.children.extend(children);
        self
    }

    /// Append text (escaped when rendered).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Append text in place.
    pub fn push_text(&mut self, text: impl Into<String>) {
        self.children.push(Node::Text(text.into()));
    }

    /// A `<title>` child (the tooltip of an SVG shape).
    pub fn title(self, text: impl Into<String>) -> Self {
        self.child(Element::new("title").text(text))
    }

    fn write(&self, out: &mut String, entities: Entities) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(out, value, entities);
            out.push('"');
        }
        if self.children.is_empty() {
            match self.close {
                Close::SelfClosing => out.push_str("/>"),
                Close::Void => out.push('>'),
                Close::Pair => {
                    out.push_str("></");
                    out.push_str(self.name);
                    out.push('>');
                }
            }
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out, entities),
                Node::Text(t) => escape_into(out, t, entities),
            }
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }

    /// The markup, escaped with askama's spelling ([`Entities::Numeric`]).
    pub fn render(&self) -> Markup {
        self.render_with(Entities::Numeric)
    }

    /// The markup, escaped with the given spelling.
    pub fn render_with(&self, entities: Entities) -> Markup {
        let mut out = String::new();
        self.write(&mut out, entities);
        Markup(out)
    }
}

/// Nodes rendered one after another (a fragment such as a chart and its
/// legend, or a whole document's body).
pub fn render_nodes(nodes: &[Node], entities: Entities) -> Markup {
    let mut out = String::new();
    for n in nodes {
        match n {
            Node::Element(e) => e.write(&mut out, entities),
            Node::Text(t) => escape_into(&mut out, t, entities),
        }
    }
    Markup(out)
}

/// Markup built by [`Element`]: every text and attribute value in it was
/// escaped on the way in, so it may be embedded in a page unescaped. There
/// is no other constructor (no `From<String>`); the empty value is the
/// only one not built by the builder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The markup as a `String` (to write it to a file).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for Markup {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `v` with one decimal (`12.0`, `3.5`): the precision of every coordinate.
pub fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// A straight `<line>` of a class (grid, axis, "now") and stroke width.
pub(crate) fn line(
    class: &'static str,
    x1: impl fmt::Display,
    y1: impl fmt::Display,
    x2: impl fmt::Display,
    y2: impl fmt::Display,
    stroke_width: &'static str,
) -> Element {
    Element::new("line")
        .attr("class", class)
        .attr("x1", x1)
        .attr("y1", y1)
        .attr("x2", x2)
        .attr("y2", y2)
        .attr("stroke-width", stroke_width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        // The server's spelling (askama's), and the report's.
        assert_eq!(
            escape(r#"<a href="x">&'"#, Entities::Numeric),
            "&#60;a href=&#34;x&#34;&#62;&#38;&#39;"
        );
        assert_eq!(
            escape("<a href=\"x\">&'", Entities::Named),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn elements_close_as_asked() {
        let e = Element::new("svg")
            .attr("id", "a\"b")
            .child(Element::new("line").attr("x1", 1))
            .child(Element::new("text").text("<x>"))
            .child(Element::pair("i"))
            .child(Element::void("meta").attr("charset", "utf-8"));
        assert_eq!(
            e.render().as_str(),
            r#"<svg id="a&#34;b"><line x1="1"/><text>&#60;x&#62;</text><i></i><meta charset="utf-8"></svg>"#
        );
    }
}
