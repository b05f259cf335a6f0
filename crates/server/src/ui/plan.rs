//! The plan page (`/ui/events/{slug}/plan`): the current version with its
//! YAML (every line has an anchor `#L<n>`, where findings link to), the
//! history, a line diff between any two versions, old versions, and — for
//! commanders and admins — the upload of a new version (a file or pasted
//! text), validated exactly like the API's push: an invalid plan is shown
//! with its diagnostics inline (422) and nothing is stored.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use super::chrome::fmt_ms;
use super::targets::{bad, query};
use super::{Chrome, Form, Nav, Session, UiError, render};
use crate::auth::{PLANNERS, READERS};
use crate::error::ApiError;
use crate::service::plans::validate_off_thread;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/plan", get(current).post(upload))
        .route("/events/{slug}/plan/versions/{version}", get(old_version))
        .route("/events/{slug}/plan/diff", get(diff))
}

/// A plan version as the page shows it.
pub struct VersionView {
    /// Number.
    pub version: i64,
    /// Pusher.
    pub by: String,
    /// Push time (event time zone).
    pub when: String,
    /// SHA-256.
    pub sha256: String,
    /// File name.
    pub file_name: String,
    /// Numbered lines.
    pub lines: Vec<(usize, String)>,
    /// Whether it is the latest.
    pub is_current: bool,
}

/// A history row.
pub struct HistoryRow {
    /// Number.
    pub version: i64,
    /// Pusher.
    pub by: String,
    /// Push time.
    pub when: String,
    /// First 12 hex digits of the SHA-256.
    pub sha: String,
    /// File name.
    pub file_name: String,
}

/// One diagnostic of a refused upload.
#[derive(Debug, Clone)]
pub struct DiagView {
    /// Code (`E010`).
    pub code: String,
    /// `file:line:col`.
    pub at: String,
    /// YAML path.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
    /// The offending line of the upload, with its number.
    pub source: Option<(u64, String)>,
}

/// The upload form's state (refilled after a refused upload).
#[derive(Debug, Default)]
pub struct UploadView {
    /// Text pasted or uploaded.
    pub text: String,
    /// File name.
    pub file_name: String,
    /// Why it was refused.
    pub error: Option<String>,
    /// Diagnostics of an invalid plan.
    pub diagnostics: Vec<DiagView>,
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    chrome: Chrome,
    slug: String,
    shown: Option<VersionView>,
    history: Vec<HistoryRow>,
    can_upload: bool,
    upload: UploadView,
    notice: Option<String>,
}

/// The page showing version `version` (`None`: the latest, or none yet).
async fn build(
    state: &AppState,
    session: &Session,
    slug: &str,
    version: Option<i64>,
) -> Result<PlanPage, UiError> {
    let (mut chrome, event) = Chrome::event(state, session, slug, Nav::Plan).await?;
    let infos = state.store.plan_versions(event.id).await?;
    let latest = infos.last().map(|i| i.version);
    let stored = match version {
        None => state.store.plan_version(event.id, None).await?,
        Some(v) => Some(
            state
                .store
                .plan_version(event.id, Some(v))
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "event `{slug}` has no plan version {v}; its versions are {}",
                        list(infos.iter().map(|i| i.version))
                    ))
                })?,
        ),
    };
    // Times in the event's zone, from the version shown (or UTC).
    let tz = stored
        .as_ref()
        .and_then(|s| crate::service::plans::parsed(state, slug, s).ok())
        .map_or_else(|| "UTC".to_owned(), |p| p.event.timezone.clone());
    if let Some(v) = version {
        chrome.title = format!("Plan version {v}");
    }
    let shown = stored.map(|s| VersionView {
        version: s.info.version,
        by: s.info.created_by.clone(),
        when: fmt_ms(s.info.created_ms, &tz),
        sha256: s.info.sha256.clone(),
        file_name: s.info.file_name.clone(),
        lines: s
            .text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_owned()))
            .collect(),
        is_current: Some(s.info.version) == latest,
    });
    let history = infos
        .iter()
        .rev()
        .map(|i| HistoryRow {
            version: i.version,
            by: i.created_by.clone(),
            when: fmt_ms(i.created_ms, &tz),
            sha: i.sha256.chars().take(12).collect(),
            file_name: i.file_name.clone(),
        })
        .collect();
    Ok(PlanPage {
        can_upload: chrome.is_commander(),
        chrome,
        slug: slug.to_owned(),
        shown,
        history,
        upload: UploadView::default(),
        notice: None,
    })
}

fn list(versions: impl Iterator<Item = i64>) -> String {
    let v: Vec<String> = versions.map(|v| v.to_string()).collect();
    if v.is_empty() {
        "none yet".to_owned()
    } else {
        v.join(", ")
    }
}

/// `?pushed=` after a successful upload.
#[derive(Debug, Deserialize)]
struct PlanQuery {
    pushed: Option<i64>,
}

async fn current(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    q: Result<Query<PlanQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let q = query(q)?;
    let mut page = build(&state, &session, &slug, None).await?;
    if let Some(v) = q.pushed {
        page.notice = Some(format!("Plan version {v} stored."));
    }
    render(&page)
}

/// A version number from a URL: a positive integer, or a 400 page.
fn version_number(what: &str, s: &str) -> Result<i64, UiError> {
    match s.trim().parse::<i64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(bad(format!(
            "{what} `{s}` is not a plan version; versions are numbered 1, 2, …"
        ))),
    }
}

async fn old_version(
    State(state): State<AppState>,
    session: Session,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let v = version_number("version", &version)?;
    render(&build(&state, &session, &slug, Some(v)).await?)
}

/// One line of a diff.
pub struct DiffLine {
    /// `add`, `del` or `ctx`.
    pub tag: &'static str,
    /// Line number in the old version.
    pub old: Option<usize>,
    /// Line number in the new version.
    pub new: Option<usize>,
    /// Text.
    pub text: String,
}

/// A run of changes with context.
pub struct Hunk {
    /// `@@ -a,b +c,d @@`.
    pub header: String,
    /// Lines.
    pub lines: Vec<DiffLine>,
}

/// The line diff of two texts in hunks with `context` unchanged lines
/// around each change, and the counts of added and removed lines.
pub fn line_diff(old: &str, new: &str, context: usize) -> (Vec<Hunk>, usize, usize) {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let mut hunks = Vec::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o0, o1) = (first.old_range().start, last.old_range().end);
        let (n0, n1) = (first.new_range().start, last.new_range().end);
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => "ctx",
                    ChangeTag::Delete => {
                        removed += 1;
                        "del"
                    }
                    ChangeTag::Insert => {
                        added += 1;
                        "add"
                    }
                };
                lines.push(DiffLine {
                    tag,
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change
                        .value()
                        .trim_end_matches('\n')
                        .trim_end_matches('\r')
                        .to_owned(),
                });
            }
        }
        hunks.push(Hunk {
            header: format!("@@ -{},{} +{},{} @@", o0 + 1, o1 - o0, n0 + 1, n1 - n0),
            lines,
        });
    }
    (hunks, added, removed)
}

#[derive(Template)]
#[template(path = "plan_diff.html")]
struct DiffPage {
    chrome: Chrome,
    slug: String,
    from: i64,
    to: i64,
    versions: Vec<i64>,
    hunks: Vec<Hunk>,
    added: usize,
    removed: usize,
}

/// `?from=&to=`, read as text so a bad number gets a clear page.
#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn diff(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let q = query(q)?;
    let (Some(from), Some(to)) = (q.from.as_deref(), q.to.as_deref()) else {
        return Err(bad(
            "a diff needs two versions: …/plan/diff?from=1&to=2 (from the history on the plan page)",
        ));
    };
    let (from, to) = (version_number("from", from)?, version_number("to", to)?);
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Plan).await?;
    chrome.title = format!("Plan diff {from} → {to}");
    let versions: Vec<i64> = state
        .store
        .plan_versions(event.id)
        .await?
        .iter()
        .map(|i| i.version)
        .collect();
    let mut texts = Vec::new();
    for v in [from, to] {
        let stored = state
            .store
            .plan_version(event.id, Some(v))
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "event `{slug}` has no plan version {v}; its versions are {}",
                    list(versions.iter().copied())
                ))
            })?;
        texts.push(stored.text);
    }
    let (hunks, added, removed) = line_diff(&texts[0], &texts[1], 3);
    render(&DiffPage {
        chrome,
        slug,
        from,
        to,
        versions,
        hunks,
        added,
        removed,
    })
}

/// What the upload form sent.
#[derive(Debug, Default, Deserialize)]
struct UploadForm {
    csrf: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    file_name: String,
}

/// Longest file name kept.
const FILE_NAME_MAX: usize = 200;

/// The last path segment of an uploaded file's name, trimmed and bounded.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    base.chars()
        .filter(|c| !c.is_control())
        .take(FILE_NAME_MAX)
        .collect()
}

/// Read the form: `multipart/form-data` (file input and textarea) or a
/// plain url-encoded form (textarea only). A file with content wins over
/// the textarea.
/// Also says whether an uploaded file was not UTF-8 text.
async fn read_upload(req: Request, state: &AppState) -> Result<(UploadForm, bool), UiError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(f) = Form::<UploadForm>::from_request(req, state).await?;
        return Ok((f, false));
    }
    let unreadable = |e: String| {
        UiError(ApiError::BadRequest {
            code: "bad_form",
            message: format!("the upload cannot be read: {e}"),
            details: None,
        })
    };
    let mut m = Multipart::from_request(req, state)
        .await
        .map_err(|e| unreadable(e.body_text()))?;
    let mut form = UploadForm::default();
    let mut file: Option<(String, bytes::Bytes)> = None;
    while let Some(field) = m
        .next_field()
        .await
        .map_err(|e| unreadable(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| unreadable(e.body_text()))?;
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "csrf" => form.csrf = Some(text()),
            "text" => form.text = text(),
            "file_name" => form.file_name = text(),
            "file" if !data.is_empty() => file = Some((file_name.unwrap_or_default(), data)),
            _ => {}
        }
    }
    let mut not_utf8 = false;
    if let Some((name, data)) = file {
        match String::from_utf8(data.to_vec()) {
            Ok(text) => {
                form.text = text;
                if !name.trim().is_empty() {
                    form.file_name = name;
                }
            }
            Err(_) => not_utf8 = true,
        }
    }
    Ok((form, not_utf8))
}

/// The diagnostics in the API's 422 `details` (`plan check --format json`).
fn diagnostics(details: Option<&serde_json::Value>, text: &str) -> Vec<DiagView> {
    let lines: Vec<&str> = text.lines().collect();
    details
        .and_then(|d| d.get("diagnostics"))
        .and_then(|d| d.as_array())
        .map(|all| {
            all.iter()
                .map(|d| {
                    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                    let n = |k: &str| d.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
                    let line = n("line");
                    DiagView {
                        code: s("code").to_owned(),
                        at: format!("{}:{}:{}", s("file"), line, n("column")),
                        path: s("path").to_owned(),
                        message: s("message").to_owned(),
                        help: d.get("help").and_then(|h| h.as_str()).map(str::to_owned),
                        source: usize::try_from(line)
                            .ok()
                            .and_then(|l| l.checked_sub(1))
                            .and_then(|i| lines.get(i))
                            .map(|l| (line, (*l).to_owned())),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn upload(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    req: Request,
) -> Result<Response, UiError> {
    session.auth.require(PLANNERS)?;
    let (form, not_utf8) = read_upload(req, &state).await?;
    session.check_csrf(form.csrf.as_deref())?;
    let event = crate::service::events::find(&state, &slug).await?;
    let file_name = Some(clean_file_name(&form.file_name))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "plan.yaml".to_owned());
    let refuse = |page: &mut PlanPage, error: String, diagnostics: Vec<DiagView>| {
        page.upload = UploadView {
            text: form.text.clone(),
            file_name: file_name.clone(),
            error: Some(error),
            diagnostics,
        };
    };
    let mut refused: Option<PlanPage> = None;
    if not_utf8 {
        let mut page = build(&state, &session, &slug, None).await?;
        refuse(
            &mut page,
            "the chosen file is not UTF-8 text; save the plan as UTF-8 YAML and upload it again"
                .into(),
            Vec::new(),
        );
        refused = Some(page);
    } else if form.text.trim().is_empty() {
        let mut page = build(&state, &session, &slug, None).await?;
        refuse(
            &mut page,
            "nothing to upload: choose a plan file or paste its YAML into the text box".into(),
            Vec::new(),
        );
        refused = Some(page);
    } else if let Err(e) = validate_off_thread(&form.text, &file_name).await {
        let ApiError::Unprocessable {
            message, details, ..
        } = &e
        else {
            return Err(e.into());
        };
        let mut page = build(&state, &session, &slug, None).await?;
        refuse(
            &mut page,
            message.clone(),
            diagnostics(details.as_ref(), &form.text),
        );
        refused = Some(page);
    }
    if let Some(page) = refused {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let stored = state
        .store
        .push_plan(
            &session.auth.ctx(&state),
            event.id,
            &seawall_store::NewPlanVersion {
                file_name,
                text: form.text,
            },
        )
        .await?;
    state.notify_change();
    Ok(Redirect::to(&format!(
        "/ui/events/{}/plan?pushed={}",
        event.slug, stored.info.version
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_diff_numbers_both_sides() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let (hunks, added, removed) = line_diff(old, new, 1);
        assert_eq!((added, removed), (2, 1));
        assert_eq!(hunks.len(), 2);
        assert_eq!(hunks[0].header, "@@ -4,3 +4,3 @@");
        let tags: Vec<&str> = hunks[0].lines.iter().map(|l| l.tag).collect();
        assert_eq!(tags, ["ctx", "del", "add", "ctx"]);
        assert_eq!(hunks[0].lines[1].old, Some(5));
        assert_eq!(hunks[0].lines[2].new, Some(5));
        assert_eq!(hunks[1].lines.last().map(|l| l.text.as_str()), Some("j"));
        let (same, a, r) = line_diff(old, old, 3);
        assert!(same.is_empty());
        assert_eq!((a, r), (0, 0));
    }

    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(clean_file_name("C:\\plans\\carnival.yaml"), "carnival.yaml");
        assert_eq!(clean_file_name("../../etc/plan.yaml"), "plan.yaml");
        assert_eq!(clean_file_name("a\u{7}b.yaml"), "ab.yaml");
        assert_eq!(clean_file_name(&"x".repeat(500)).len(), FILE_NAME_MAX);
    }

    #[test]
    fn version_numbers_are_positive_integers() {
        assert_eq!(version_number("from", "2").ok(), Some(2));
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(version_number("from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn diagnostics_come_with_their_source_line() {
        let details = serde_json::json!({"valid": false, "diagnostics": [
            {"code": "E010", "file": "p.yaml", "path": "services.a", "line": 2, "column": 3,
             "message": "bad", "help": "fix it"},
            {"code": "E001", "file": "p.yaml", "path": "", "line": 99, "column": 1,
             "message": "far", "help": null}
        ]});
        let d = diagnostics(Some(&details), "one\ntwo\n");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].at, "p.yaml:2:3");
        assert_eq!(d[0].source, Some((2, "two".to_owned())));
        assert_eq!(d[0].help.as_deref(), Some("fix it"));
        assert_eq!(d[1].source, None);
        assert!(diagnostics(None, "").is_empty());
    }
}
