//! Each provider's request for a [`Message`]: URL (with DingTalk's signed
//! query), headers (Seawall's webhook signature) and JSON body (Slack
//! Block Kit, a Lark card or text, DingTalk markdown, WeCom markdown or
//! text, Seawall's own JSON). Pure: the time comes in as a parameter, so
//! the same inputs give the same bytes and the documented test vectors
//! can be checked end to end. Payload shapes: `docs/respond.md`.

use serde_json::{Value, json};

use crate::message::{Message, Severity};
use crate::secret::{Secret, SecretError, SecretRef};
use crate::sign;

/// An IM platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Slack incoming webhook.
    Slack,
    /// Lark / Feishu custom bot.
    Lark,
    /// DingTalk custom robot.
    DingTalk,
    /// WeCom (企业微信) group robot.
    WeCom,
    /// Seawall's signed JSON webhook.
    Webhook,
}

impl Provider {
    /// The plan's `kind` (`slack`, `lark`, `dingtalk`, `wecom`, `webhook`).
    pub fn from_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "slack" => Provider::Slack,
            "lark" => Provider::Lark,
            "dingtalk" => Provider::DingTalk,
            "wecom" => Provider::WeCom,
            "webhook" => Provider::Webhook,
            _ => return None,
        })
    }

    /// The plan's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Lark => "lark",
            Provider::DingTalk => "dingtalk",
            Provider::WeCom => "wecom",
            Provider::Webhook => "webhook",
        }
    }
}

/// Rich (cards, blocks, markdown) or plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Block Kit, Lark card, DingTalk/WeCom markdown.
    #[default]
    Rich,
    /// Plain text messages.
    Text,
}

/// A channel ready to send: where, how, and its secrets (resolved).
#[derive(Debug, Clone)]
pub struct Channel {
    /// The plan's channel id.
    pub id: String,
    /// Platform.
    pub provider: Provider,
    /// The webhook URL. It carries a credential (WeCom's `key`,
    /// DingTalk's `access_token`, the hook id of Lark and Slack), so it is
    /// a [`Secret`]: logs show [`Channel::redacted_url`] only.
    pub url: Secret,
    /// Signing secret (Lark, DingTalk optional; Seawall's webhook required).
    pub secret: Option<Secret>,
    /// Rich or text.
    pub style: Style,
}

/// Why a plan's channel cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    /// Unknown `kind`.
    #[error("channel {id}: unknown kind {kind:?} (lark, dingtalk, wecom, slack, webhook)")]
    UnknownKind {
        /// Channel id.
        id: String,
        /// What was written.
        kind: String,
    },
    /// No `webhook`.
    #[error("channel {id}: no webhook URL")]
    NoWebhook {
        /// Channel id.
        id: String,
    },
    /// The URL is not `http(s)://`.
    #[error("channel {id}: the webhook is not an http:// or https:// URL")]
    BadUrl {
        /// Channel id.
        id: String,
    },
    /// A `webhook` channel without `secret_env`.
    #[error("channel {id}: a webhook channel needs secret_env (its requests are signed)")]
    NoSecret {
        /// Channel id.
        id: String,
    },
    /// A secret cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Channel {
    /// The channel from a plan's `oncall.channels.<id>`: `webhook` is an
    /// URL or a secret reference (`$VAR`, `file:/path`: recommended, as the
    /// URL carries the robot's credential), `secret_env` a reference.
    /// `env` is the environment (the process's in production).
    pub fn from_plan(
        channel: &seawall_plan::model::Channel,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ChannelError> {
        let id = channel.id.clone();
        let provider =
            Provider::from_kind(&channel.kind).ok_or_else(|| ChannelError::UnknownKind {
                id: id.clone(),
                kind: channel.kind.clone(),
            })?;
        let webhook = channel
            .webhook
            .as_deref()
            .ok_or_else(|| ChannelError::NoWebhook { id: id.clone() })?;
        let url = if webhook.starts_with("http://") || webhook.starts_with("https://") {
            Secret::new(webhook)
        } else {
            let what = format!("channel {id} webhook");
            SecretRef::parse(webhook, &what)?.resolve_with(&what, env)?
        };
        if !(url.expose().starts_with("http://") || url.expose().starts_with("https://")) {
            return Err(ChannelError::BadUrl { id });
        }
        let secret = match &channel.secret_env {
            Some(r) => {
                let what = format!("channel {id} secret");
                Some(SecretRef::parse(r, &what)?.resolve_with(&what, env)?)
            }
            None if provider == Provider::Webhook => return Err(ChannelError::NoSecret { id }),
            None => None,
        };
        Ok(Self {
            id,
            provider,
            url,
            secret,
            style: Style::Rich,
        })
    }

    /// The URL without its credential, for logs and errors:
    /// `https://oapi.dingtalk.com/…`.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }
}

/// `scheme://host[:port]/…`: what a log may say about a webhook URL.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Credentials in the authority (user:pass@) are dropped too.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = if end < rest.len() { "/…" } else { "" };
    format!("{scheme}://{host}{tail}")
}

/// A request to send: POST `url` with `headers` and the JSON `body`.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Full URL, credential and DingTalk signature included: never log it.
    pub url: String,
    /// Extra headers (Content-Type is always `application/json`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("url", &redact_url(&self.url))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The header carrying Seawall's webhook signature.
pub const SIGNATURE_HEADER: &str = "x-seawall-signature";
/// The header carrying Seawall's webhook timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-seawall-timestamp";

/// The request for `message` on `channel` at `now_ms` (Unix
/// milliseconds; Lark and Seawall's webhook use its seconds).
pub fn render(channel: &Channel, message: &Message, now_ms: i64) -> Outgoing {
    let now_secs = now_ms.div_euclid(1000);
    let secret = channel.secret.as_ref().map(Secret::expose);
    let url = channel.url.expose().to_owned();
    let (url, headers, body) = match channel.provider {
        Provider::Slack => (url, Vec::new(), slack_body(message, channel.style)),
        Provider::Lark => {
            let mut body = lark_body(message, channel.style);
            if let (Some(secret), Some(map)) = (secret, body.as_object_mut()) {
                map.insert("timestamp".into(), json!(now_secs.to_string()));
                map.insert("sign".into(), json!(sign::lark_sign(secret, now_secs)));
            }
            (url, Vec::new(), body)
        }
        Provider::DingTalk => {
            let url = match secret {
                Some(secret) => {
                    let sign = sign::dingtalk_sign_encoded(secret, now_ms);
                    let sep = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{sep}timestamp={now_ms}&sign={sign}")
                }
                None => url,
            };
            (url, Vec::new(), dingtalk_body(message, channel.style))
        }
        Provider::WeCom => (url, Vec::new(), wecom_body(message, channel.style)),
        Provider::Webhook => (url, Vec::new(), webhook_body(message, &channel.id)),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut headers = headers;
    if let (Provider::Webhook, Some(secret)) = (channel.provider, secret) {
        headers.push((TIMESTAMP_HEADER, now_secs.to_string()));
        headers.push((
            SIGNATURE_HEADER,
            sign::webhook_signature(secret, now_secs, &body),
        ));
    }
    Outgoing { url, headers, body }
}

/// At most `max_bytes` of `text` (UTF-8 boundary kept), `…` marking a cut.
pub(crate) fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Slack's mrkdwn escapes: `&`, `<`, `>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_body(message: &Message, style: Style) -> Value {
    let mut text = slack_escape(&message.text);
    let mentions: Vec<String> = message
        .user_ids()
        .iter()
        .map(|u| format!("<@{}>", slack_escape(u)))
        .chain(
            message
                .mobiles()
                .iter()
                .map(|m| format!("@{}", slack_escape(m))),
        )
        .collect();
    if !mentions.is_empty() {
        text.push('\n');
        text.push_str(&mentions.join(" "));
    }
    let fallback = clip(
        &format!(
            "[{}] {}: {}",
            message.severity.label(),
            slack_escape(&message.title),
            text
        ),
        3000,
    );
    if style == Style::Text {
        return json!({ "text": fallback });
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&message.title, 150), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, 3000)}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(&message.context_line())}]}),
    ];
    if let Some(url) = &message.ack_url {
        let mut button = json!({
            "type": "button",
            "action_id": crate::slack::ACK_ACTION,
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "style": "primary",
            "url": url,
        });
        if let (Some(id), Some(map)) = (&message.incident_id, button.as_object_mut()) {
            map.insert("value".into(), json!(id));
        }
        blocks.push(json!({"type": "actions", "elements": [button]}));
    }
    json!({ "text": fallback, "blocks": blocks })
}

fn lark_body(message: &Message, style: Style) -> Value {
    if style == Style::Text {
        let mut text = plain_text(message);
        for u in message.user_ids() {
            text.push_str(&format!(" <at user_id=\"{u}\"></at>"));
        }
        for m in message.mobiles() {
            text.push_str(&format!(" @{m}"));
        }
        return json!({"msg_type": "text", "content": {"text": text}});
    }
    let mut content = message.text.clone();
    let mentions: Vec<String> = message
        .user_ids()
        .iter()
        .map(|u| format!("<at id={u}></at>"))
        .chain(message.mobiles().iter().map(|m| format!("@{m}")))
        .collect();
    if !mentions.is_empty() {
        content.push('\n');
        content.push_str(&mentions.join(" "));
    }
    let template = match message.severity {
        Severity::Page => "red",
        Severity::Ticket => "orange",
        Severity::Info => "blue",
    };
    let mut elements = vec![
        json!({"tag": "div", "text": {"tag": "lark_md", "content": content}}),
        json!({"tag": "note", "elements": [{"tag": "plain_text", "content": message.context_line()}]}),
    ];
    if let Some(url) = &message.ack_url {
        elements.push(json!({"tag": "action", "actions": [{
            "tag": "button",
            "text": {"tag": "plain_text", "content": "Acknowledge"},
            "type": "primary",
            "url": url,
        }]}));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": message.title}, "template": template},
            "elements": elements,
        },
    })
}

/// `[PAGE] title`, the text, and the ack link on a line of its own.
fn plain_text(message: &Message) -> String {
    let mut text = format!(
        "[{}] {}\n{}",
        message.severity.label(),
        message.title,
        message.text
    );
    if let Some(url) = &message.ack_url {
        text.push_str(&format!("\nAcknowledge: {url}"));
    }
    text
}

fn dingtalk_body(message: &Message, style: Style) -> Value {
    let mobiles = message.mobiles();
    let user_ids = message.user_ids();
    // DingTalk notifies an @mobile only when the text names it too.
    let tail: String = mobiles.iter().map(|m| format!(" @{m}")).collect();
    let at = json!({"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": false});
    if style == Style::Text {
        let text = plain_text(message) + &tail;
        return json!({"msgtype": "text", "text": {"content": text}, "at": at});
    }
    let mut text = format!(
        "### {}\n\n{}\n\n> {}",
        message.title,
        message.text,
        message.context_line()
    );
    if let Some(url) = &message.ack_url {
        text.push_str(&format!("\n\n[Acknowledge]({url})"));
    }
    if !tail.is_empty() {
        text.push_str("\n\n");
        text.push_str(tail.trim_start());
    }
    json!({
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": text},
        "at": at,
    })
}

fn wecom_body(message: &Message, style: Style) -> Value {
    let mobiles = message.mobiles();
    // WeCom's markdown messages cannot mention by phone number: a message
    // with mobiles goes as text, which can.
    if style == Style::Text || !mobiles.is_empty() {
        let text = plain_text(message);
        return json!({"msgtype": "text", "text": {
            "content": clip(&text, 2048),
            "mentioned_list": message.user_ids(),
            "mentioned_mobile_list": mobiles,
        }});
    }
    let color = match message.severity {
        Severity::Page => "warning",
        Severity::Ticket => "comment",
        Severity::Info => "info",
    };
    let mut text = format!(
        "### {}\n{}\n<font color=\"{color}\">{}</font>",
        message.title,
        message.text,
        message.context_line()
    );
    for u in message.user_ids() {
        text.push_str(&format!(" <@{u}>"));
    }
    if let Some(url) = &message.ack_url {
        text.push_str(&format!("\n[Acknowledge]({url})"));
    }
    json!({"msgtype": "markdown", "markdown": {"content": clip(&text, 4096)}})
}

fn webhook_body(message: &Message, channel: &str) -> Value {
    json!({
        "channel": channel,
        "title": message.title,
        "text": message.text,
        "severity": message.severity,
        "mentions": message.mentions,
        "ack_url": message.ack_url,
        "incident_id": message.incident_id,
        "alert_id": message.alert_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_scheme_and_host_only() {
        assert_eq!(
            redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc"),
            "https://oapi.dingtalk.com/…"
        );
        assert_eq!(
            redact_url("https://user:pw@hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn clip_respects_utf8() {
        assert_eq!(clip("abc", 3), "abc");
        let clipped = clip("告警告警", 7);
        assert!(clipped.len() <= 7, "{clipped}");
        assert!(clipped.ends_with('…'));
    }
}
