//! Headless Chromium driven through chromedriver (Debian's packages, never
//! a downloaded build). chromedriver runs in its own process group with
//! Chromium under it, so dropping a [`Browser`] kills every process it
//! started, even when a test panics half-way.
//!
//! Chromium gets a fresh profile and the recording proxy as its proxy for
//! everything except the control plane itself (`<-loopback>` removes the
//! implicit loopback bypass, so even other local ports go to the proxy).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use seawall_server::ui::session::SESSION_COOKIE;
use seawall_store::testing::TempDir;
use serde_json::{Value, json};

use crate::{CHROMEDRIVER, CHROMIUM, E2eError, RecordingProxy, screenshot_dir};

/// How long to wait for chromedriver to listen, an element to appear or a
/// navigation to finish: generous for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Where the browser and its driver are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binaries {
    /// The Chromium executable.
    pub chromium: &'static str,
    /// chromedriver.
    pub chromedriver: &'static str,
}

impl Binaries {
    /// Debian's: [`CHROMIUM`] and [`CHROMEDRIVER`].
    pub const DEBIAN: Binaries = Binaries {
        chromium: CHROMIUM,
        chromedriver: CHROMEDRIVER,
    };
}

/// The narrowest window Chromium makes.
const MIN_WINDOW_WIDTH: u32 = 500;

/// A browser window's size in CSS pixels (narrower than Chromium's 500 px
/// minimum: an emulated phone viewport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Size {
    /// A war-room laptop: 1366×768.
    pub const DESKTOP: Size = Size {
        width: 1366,
        height: 768,
    };
    /// A phone: 390×844.
    pub const PHONE: Size = Size {
        width: 390,
        height: 844,
    };
}

/// One entry of the browser's console log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// Where it came from (`security`, `javascript`, `network`, …).
    pub source: String,
    /// The message, with the URL and line it names.
    pub message: String,
}

impl LogEntry {
    /// A Content-Security-Policy violation.
    pub fn is_csp_violation(&self) -> bool {
        self.message.contains("Content Security Policy")
    }

    /// An uncaught script error.
    pub fn is_script_error(&self) -> bool {
        self.source == "javascript" && self.level == "SEVERE"
    }
}

/// chromedriver and the Chromium it started, killed as a process group on
/// drop.
struct Driver {
    child: Child,
    log: PathBuf,
}

impl Driver {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0)): it and every
        // Chromium process it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on the control plane at `base`.
pub struct Browser {
    client: Client,
    base: String,
    // Dropped in this order: the session's driver, then its profile.
    driver: Driver,
    _profile: TempDir,
}

/// chromedriver's `se/log`: the browser's console entries since the last
/// call (WebDriver has no standard command for it).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// WebDriver's Add Cookie with a host-only cookie (fantoccini always sends
/// a `domain`, which Chromium refuses for an IP address).
#[derive(Debug)]
struct AddHostCookie {
    name: String,
    value: String,
    path: String,
    http_only: bool,
}

impl WebDriverCompatibleCommand for AddHostCookie {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/cookie", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cookie": {
            "name": self.name, "value": self.value, "path": self.path,
            "httpOnly": self.http_only, "sameSite": "Strict",
        }});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// The strings of a JSON array (none if it is not one).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn free_port() -> Result<u16, E2eError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(E2eError::io("find a free port for chromedriver"))
}

fn require(what: &'static str, path: &'static str) -> Result<(), E2eError> {
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(E2eError::Missing { what, path })
    }
}

/// Start chromedriver on a free port and wait until it listens.
async fn start_driver(dir: &Path, chromedriver: &str) -> Result<(Driver, u16), E2eError> {
    let log = dir.join("chromedriver.log");
    let out = File::create(&log).map_err(E2eError::io("create chromedriver's log"))?;
    let err = out
        .try_clone()
        .map_err(E2eError::io("create chromedriver's log"))?;
    let port = free_port()?;
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(E2eError::io(format!("start {chromedriver}")))?;
    let mut driver = Driver { child, log };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = driver.child.try_wait() {
            return Err(E2eError::Driver {
                reason: format!("it exited ({status})"),
                log: driver.log_tail(),
            });
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok((driver, port));
        }
        if started.elapsed() > PATIENCE {
            return Err(E2eError::Driver {
                reason: format!("nothing listens on port {port} after {PATIENCE:?}"),
                log: driver.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Browser {
    /// Start Chromium at `size` for the control plane at `base` (served on
    /// `server_port` of 127.0.0.1), every other request going to `proxy`.
    pub async fn start(
        base: &str,
        server_port: u16,
        proxy: &RecordingProxy,
        size: Size,
    ) -> Result<Browser, E2eError> {
        Self::start_with(Binaries::DEBIAN, base, server_port, proxy, size).await
    }

    /// [`Browser::start`] with other binaries (a test of the missing-binary
    /// error uses it).
    pub async fn start_with(
        binaries: Binaries,
        base: &str,
        server_port: u16,
        proxy: &RecordingProxy,
        size: Size,
    ) -> Result<Browser, E2eError> {
        require("Chromium", binaries.chromium)?;
        require("chromedriver", binaries.chromedriver)?;
        let profile = TempDir::new().map_err(|e| E2eError::Io {
            what: "create a browser profile dir".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let user_data = profile.path().join("profile");
        let (driver, port) = start_driver(profile.path(), binaries.chromedriver).await?;
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            // Chromium's own traffic (not the pages'): without these it
            // calls home, and the proxy would record that.
            "--disable-extensions".to_owned(),
            "--disable-client-side-phishing-detection".to_owned(),
            "--disable-domain-reliability".to_owned(),
            "--disable-breakpad".to_owned(),
            "--metrics-recording-only".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--no-pings".to_owned(),
            "--disable-search-engine-choice-screen".to_owned(),
            "--password-store=basic".to_owned(),
            "--allow-browser-signin=false".to_owned(),
            // The Aim* features: Chromium 148's omnibox asks
            // www.google.com/async/folae at start-up whether "AI mode" is
            // available.
            "--disable-features=AutofillServerCommunication,OptimizationHints,Translate,\
             MediaRouter,NetworkTimeServiceQuerying,SearchEnginePreconnector,\
             SearchEnginePreconnect2,InterestFeedContentSuggestions,AimEnabled,\
             AimServerEligibilityEnabled,AimServerRequestOnStartupEnabled"
                .to_owned(),
            format!("--user-data-dir={}", user_data.display()),
            format!("--window-size={},{}", size.width, size.height),
            format!("--proxy-server={}", proxy.url()),
            format!("--proxy-bypass-list=<-loopback>;127.0.0.1:{server_port}"),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        // Profile preferences (chromedriver writes them into the fresh
        // profile): with Google as its default search engine, Chromium 148
        // preconnects to www.google.com and its new-tab page fetches the
        // doodle, the bar and promos from there, whatever the flags say. A
        // loopback search engine and no network prediction keep it home.
        let mut options = json!({
            "binary": binaries.chromium,
            "args": args,
            "prefs": {
                "net.network_prediction_options": 2,
                "default_search_provider_data.template_url_data": {
                    "short_name": "Seawall",
                    "keyword": "seawall",
                    "url": "http://127.0.0.1/?q={searchTerms}",
                    "id": "99",
                    "synced_guid": "5e0a3a11-0000-4000-8000-000000000001",
                    "prepopulate_id": 0,
                },
            },
        });
        if size.width < MIN_WINDOW_WIDTH {
            // Chromium's windows are at least 500 px wide; a phone's
            // viewport is emulated instead.
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": size.width, "height": size.height, "pixelRatio": 1.0,
            }});
        }
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| match e {
                fantoccini::error::NewSessionError::SessionNotCreated(w) => E2eError::Driver {
                    reason: format!("it could not start Chromium: {w}"),
                    log: driver.log_tail(),
                },
                other => E2eError::Session(other),
            })?;
        Ok(Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
            _profile: profile,
        })
    }

    /// The process group of chromedriver and the Chromium it started
    /// (chromedriver's pid).
    pub fn process_group(&self) -> u32 {
        self.driver.child.id()
    }

    /// The WebDriver client, for anything the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The control plane's origin, `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Open `path` (e.g. `/ui/`) on the control plane.
    pub async fn goto(&self, path: &str) -> Result<(), E2eError> {
        Ok(self.client.goto(&format!("{}{path}", self.base)).await?)
    }

    /// Open any URL (for the proxy's self-test).
    pub async fn goto_url(&self, url: &str) -> Result<(), E2eError> {
        Ok(self.client.goto(url).await?)
    }

    /// Path and query of the page shown.
    pub async fn path(&self) -> Result<String, E2eError> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// The first element matching the CSS selector (waiting up to 30 s).
    pub async fn find(&self, css: &str) -> Result<Element, E2eError> {
        Ok(self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await?)
    }

    /// Every element matching the CSS selector now (no waiting).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, E2eError> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// Whether an element matches the CSS selector now.
    pub async fn exists(&self, css: &str) -> Result<bool, E2eError> {
        Ok(!self.find_all(css).await?.is_empty())
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String, E2eError> {
        Ok(self.find(css).await?.text().await?)
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value, E2eError> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Log in through the login form with `token`; the path landed on.
    /// Fails with the form's message when the server refuses the token.
    pub async fn login(&self, token: &str) -> Result<String, E2eError> {
        self.goto("/ui/login").await?;
        self.find("#token").await?.send_keys(token).await?;
        self.find("form button[type=submit]").await?.click().await?;
        let started = Instant::now();
        loop {
            if self.exists("header.top .who").await? {
                return self.path().await;
            }
            if let Some(e) = self.find_all("#login-error").await?.first() {
                return Err(E2eError::Server(format!(
                    "login refused: {}",
                    e.text().await?
                )));
            }
            if started.elapsed() > PATIENCE {
                let text = self
                    .js(
                        "return document.body ? document.body.innerText : '';",
                        vec![],
                    )
                    .await?;
                return Err(E2eError::Server(format!(
                    "no event list after logging in; at {} showing: {}",
                    self.path().await?,
                    text.as_str().unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Give the browser the session cookie of session `id` (a login made
    /// without the form, `ControlPlane::session`): for tests whose subject
    /// is not logging in.
    pub async fn set_session(&self, id: &str) -> Result<(), E2eError> {
        self.set_cookie(SESSION_COOKIE, id, true).await
    }

    /// Set a host-only cookie for the UI (path `/ui`, SameSite=Strict) as
    /// the server would (e.g. `seawall_theme`).
    pub async fn set_cookie(
        &self,
        name: &str,
        value: &str,
        http_only: bool,
    ) -> Result<(), E2eError> {
        // A cookie can only be added on a page of its host.
        if !self
            .client
            .current_url()
            .await?
            .as_str()
            .starts_with(&self.base)
        {
            self.goto("/ui/login").await?;
        }
        self.client
            .issue_cmd(AddHostCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                path: "/ui".to_owned(),
                http_only,
            })
            .await?;
        Ok(())
    }

    /// Click the element matching `css` and wait until the page it leads
    /// to has loaded (a new document is in place).
    pub async fn click_and_wait(&self, css: &str) -> Result<(), E2eError> {
        // Mark the current document; a new one does not carry the mark.
        self.js("window.__seawallOld = true; return null;", vec![])
            .await?;
        self.find(css).await?.click().await?;
        let started = Instant::now();
        loop {
            let state = self
                .js(
                    "return window.__seawallOld === true ? 'old' : document.readyState;",
                    vec![],
                )
                .await?;
            if state == "complete" {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                return Err(E2eError::Server(format!(
                    "clicking {css} led to no new page within {PATIENCE:?} (still {state})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Save a PNG of the window to `<target>/ui-screenshots/<name>.png` and
    /// return its path (the caller prints it: a library never prints).
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, E2eError> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).map_err(E2eError::io(format!("create {}", dir.display())))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(E2eError::io(format!("write {}", path.display())))?;
        Ok(path)
    }

    /// The URLs of every resource the page loaded
    /// (`performance.getEntriesByType('resource')`), and the page's own.
    pub async fn resources(&self) -> Result<Vec<String>, E2eError> {
        let v = self
            .js(
                "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));",
                vec![],
            )
            .await?;
        Ok(strings(&v))
    }

    /// Every URL the page's markup names (`href`, `src`, `action`,
    /// `formaction`, SVG `xlink:href`), resolved against the page.
    pub async fn linked_urls(&self) -> Result<Vec<String>, E2eError> {
        let v = self
            .js(
                "const out = []; \
                 for (const e of document.querySelectorAll('[href],[src],[action],[formaction]')) { \
                   for (const a of ['href', 'src', 'action', 'formaction']) { \
                     const v = e.getAttribute(a); if (v !== null) out.push(new URL(v, location.href).href); } } \
                 for (const e of document.querySelectorAll('*')) { \
                   const v = e.getAttributeNS('http://www.w3.org/1999/xlink', 'href'); \
                   if (v !== null) out.push(new URL(v, location.href).href); } \
                 return out;",
                vec![],
            )
            .await?;
        Ok(strings(&v))
    }

    /// The console entries since the last call.
    pub async fn console(&self) -> Result<Vec<LogEntry>, E2eError> {
        let v = self.client.issue_cmd(BrowserLog).await?;
        let entries = v.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                LogEntry {
                    level: s("level"),
                    source: s("source"),
                    message: s("message"),
                }
            })
            .collect())
    }

    /// What is wrong with the page shown, as sentences (empty when
    /// nothing): resources from another origin, links, sources and form
    /// targets naming another origin, CSP violations and uncaught script
    /// errors in the console since the last call.
    pub async fn problems(&self) -> Result<Vec<String>, E2eError> {
        let origin = format!("{}/", self.base);
        let mut problems: Vec<String> = self
            .resources()
            .await?
            .into_iter()
            .filter(|url| !url.starts_with(&origin))
            .map(|url| format!("loaded from another origin: {url}"))
            .collect();
        for url in self.linked_urls().await? {
            if !url.starts_with(&origin) {
                problems.push(format!("names a URL of another origin: {url}"));
            }
        }
        for entry in self.console().await? {
            if entry.is_csp_violation() {
                problems.push(format!("CSP violation: {}", entry.message));
            } else if entry.is_script_error() {
                problems.push(format!("script error: {}", entry.message));
            }
        }
        Ok(problems)
    }

    /// Whether the page is wider than the window (horizontal overflow):
    /// `(scrollWidth, innerWidth)`.
    pub async fn widths(&self) -> Result<(u64, u64), E2eError> {
        let v = self
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await?;
        let n = |i: usize| v[i].as_u64().unwrap_or(0);
        Ok((n(0), n(1)))
    }

    /// The innermost elements reaching past `width` px from the left, not
    /// inside a scrolling or clipping box (at most 5), as `tag#id.class
    /// (right edge px)`: what makes a page scroll sideways.
    pub async fn wider_than(&self, width: u64) -> Result<Vec<String>, E2eError> {
        let v = self
            .js(
                "const w = arguments[0] + 0.5; const out = []; \
                 const right = e => e.getBoundingClientRect().right + window.scrollX; \
                 const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement) { \
                   if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; }; \
                 for (const e of document.querySelectorAll('body *')) { \
                   if (right(e) > w && !clipped(e) && ![...e.children].some(c => right(c) > w)) { \
                     const cls = typeof e.className === 'string' && e.className.trim() \
                       ? '.' + e.className.trim().split(' ').join('.') : ''; \
                     out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls \
                       + ' (' + Math.round(right(e)) + ' px)'); } } \
                 return out.slice(0, 5);",
                vec![json!(width)],
            )
            .await?;
        Ok(strings(&v))
    }

    /// End the session (chromedriver closes Chromium) and stop chromedriver.
    pub async fn close(self) -> Result<(), E2eError> {
        let Browser { client, driver, .. } = self;
        let closed = tokio::time::timeout(PATIENCE, client.close()).await;
        drop(driver);
        match closed {
            Ok(r) => Ok(r?),
            Err(_) => Err(E2eError::Server(
                "the WebDriver session did not end within 30 s".into(),
            )),
        }
    }
}
