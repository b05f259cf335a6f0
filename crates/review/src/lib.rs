//! Seawall's post-event review (`seawall review`, `GET
//! /api/v1/events/{slug}/review`, the UI's Review page): the event's
//! estimate (the plan's targets), rehearsal (the runs' knees) and actual
//! (the stored telemetry) side by side, with the alerts, emergency plans,
//! change control, incidents and on-call of the day, and recommendations
//! that each follow a stated rule and point at the plan line to change.
//!
//! Why a crate of its own, without IO: the review must be computed only
//! from what the control plane stored, and be the same numbers whichever
//! way it is read (JSON, Markdown, HTML; server, CLI, UI). The server
//! gathers an [`Input`]; [`review`] is a pure function of it; the
//! renderers are pure functions of the [`Review`]. Every formula is in
//! `docs/review.md`.

pub mod compute;
pub mod formula;
mod html;
pub mod input;
mod markdown;
pub mod model;
pub mod text;

pub use compute::{compare, review};
pub use input::Input;
pub use model::{Review, SCHEMA_VERSION};

/// The review as its JSON document (pretty, with `schema_version`).
pub fn to_json(review: &Review) -> String {
    // A `Review` holds only strings, integers, finite floats (or null) and
    // lists: serialising it cannot fail; an empty object stands in if it did.
    serde_json::to_string_pretty(review).unwrap_or_else(|_| "{}".to_owned())
}

/// The review as Markdown, for a wiki.
pub fn to_markdown(review: &Review) -> String {
    markdown::render(review)
}

/// The entries' bar chart (planned target, rehearsed knee, actual peak)
/// for a page to embed, or `None` without figures.
pub fn entries_chart(review: &Review) -> Option<seawall_chart::Markup> {
    html::entries_chart(review)
}

/// The review as one self-contained HTML page: inline CSS (with A4 print
/// rules), inline SVG charts, no script and no external reference.
pub fn to_html(review: &Review) -> String {
    html::render(review)
}
