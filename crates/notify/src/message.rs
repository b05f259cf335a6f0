//! The one message Seawall sends, whatever the channel: a title, a text,
//! a severity, who to mention, and optionally an acknowledgement link and
//! the incident or alert it is about. [`mod@crate::render`] turns it into each
//! provider's payload.

use serde::{Deserialize, Serialize};

/// How urgent a message is. Pages go first and are never digested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Needs a person, not now.
    Ticket,
    /// Needs a person now.
    Page,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Ticket => "ticket",
            Severity::Page => "page",
        }
    }

    /// Upper-case label shown in messages.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Ticket => "TICKET",
            Severity::Page => "PAGE",
        }
    }
}

/// Someone to notify inside the group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mention {
    /// A phone number (DingTalk `atMobiles`, WeCom `mentioned_mobile_list`).
    Mobile(String),
    /// A provider user id (Lark `open_id`/`user_id`, Slack `U…`, DingTalk
    /// `atUserIds`, WeCom `mentioned_list`).
    UserId(String),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Short title.
    pub title: String,
    /// Body text (Markdown-light: plain lines).
    pub text: String,
    /// Severity.
    pub severity: Severity,
    /// Who to mention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
    /// A signed link that acknowledges the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_url: Option<String>,
    /// The incident it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// The alert it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
}

impl Message {
    /// A message with no mentions, link or ids.
    pub fn new(severity: Severity, title: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            text: text.into(),
            severity,
            mentions: Vec::new(),
            ack_url: None,
            incident_id: None,
            alert_id: None,
        }
    }

    /// Phone numbers among the mentions.
    pub fn mobiles(&self) -> Vec<&str> {
        self.mentions
            .iter()
            .filter_map(|m| match m {
                Mention::Mobile(n) => Some(n.as_str()),
                Mention::UserId(_) => None,
            })
            .collect()
    }

    /// User ids among the mentions.
    pub fn user_ids(&self) -> Vec<&str> {
        self.mentions
            .iter()
            .filter_map(|m| match m {
                Mention::UserId(n) => Some(n.as_str()),
                Mention::Mobile(_) => None,
            })
            .collect()
    }

    /// `PAGE · incident INC-7 · alert checkout-p99`: the context line.
    pub fn context_line(&self) -> String {
        let mut line = self.severity.label().to_owned();
        if let Some(id) = &self.incident_id {
            line.push_str(" · incident ");
            line.push_str(id);
        }
        if let Some(id) = &self.alert_id {
            line.push_str(" · alert ");
            line.push_str(id);
        }
        line
    }

    /// One digest of `messages` (oldest first): the highest severity among
    /// them, every mention once, one line per message with its ack link.
    pub fn digest(messages: &[&Message]) -> Message {
        let severity = messages
            .iter()
            .map(|m| m.severity)
            .max()
            .unwrap_or(Severity::Info);
        let mut text = String::new();
        let mut mentions: Vec<Mention> = Vec::new();
        for m in messages {
            if !text.is_empty() {
                text.push('\n');
            }
            let first = m.text.lines().next().unwrap_or_default();
            text.push_str(&format!("• [{}] {}", m.severity.label(), m.title));
            if !first.is_empty() {
                text.push_str(" — ");
                text.push_str(first);
            }
            if let Some(url) = &m.ack_url {
                text.push_str(&format!(" (ack: {url})"));
            }
            for mention in &m.mentions {
                if !mentions.contains(mention) {
                    mentions.push(mention.clone());
                }
            }
        }
        Message {
            title: format!("Seawall digest: {} messages", messages.len()),
            text,
            severity,
            mentions,
            ack_url: None,
            incident_id: None,
            alert_id: None,
        }
    }
}
