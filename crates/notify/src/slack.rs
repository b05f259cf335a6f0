//! Slack's interactive requests: when someone presses the Acknowledge
//! button of a page ([`crate::render()`] gives it `action_id` `seawall_ack`
//! and the incident id as its `value`), Slack POSTs a signed
//! `application/x-www-form-urlencoded` body `payload=<JSON>` to the app's
//! request URL. This module checks the signature ([`crate::sign`]) and
//! reads who acknowledged which incident; what an ack does is the caller's.

use percent_encoding::percent_decode;
use serde::Deserialize;

use crate::sign::{Signed, VerifyError, verify_slack};

/// The button's `action_id`.
pub const ACK_ACTION: &str = "seawall_ack";

/// The largest body read (Slack's payloads are a few KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// Someone pressed Acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAck {
    /// The incident (the button's `value`).
    pub incident_id: String,
    /// Slack user id of who pressed it.
    pub user_id: String,
    /// Their Slack user name, when sent.
    pub user_name: Option<String>,
}

/// Why an interactive request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    /// The signature or timestamp is wrong.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The body is not a Slack interaction payload.
    #[error("not a Slack interaction payload: {0}")]
    Malformed(String),
    /// A valid interaction, but not the Acknowledge button.
    #[error("not an Acknowledge button press")]
    NotAnAck,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// Verifies a Slack interactive request (signing secret, headers, raw
/// body, `now_secs`) and reads the Acknowledge press in it.
pub fn verify_ack(
    signing_secret: &str,
    request: Signed<'_>,
    now_secs: i64,
) -> Result<SlackAck, InteractionError> {
    if request.body.len() > MAX_BODY {
        return Err(InteractionError::Malformed(format!(
            "body over {MAX_BODY} bytes"
        )));
    }
    verify_slack(signing_secret, request, now_secs)?;
    parse_ack(request.body)
}

/// Reads the Acknowledge press of an (already verified) body.
pub fn parse_ack(body: &[u8]) -> Result<SlackAck, InteractionError> {
    let malformed = |m: &str| InteractionError::Malformed(m.to_owned());
    let encoded = body
        .split(|b| *b == b'&')
        .find_map(|pair| pair.strip_prefix(b"payload="))
        .ok_or_else(|| malformed("no payload= field"))?;
    // Form encoding: `+` is a space, then percent-decoding.
    let plus: Vec<u8> = encoded
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let json: Vec<u8> = percent_decode(&plus).collect();
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|e| InteractionError::Malformed(e.to_string()))?;
    if payload.kind != "block_actions" {
        return Err(InteractionError::NotAnAck);
    }
    let value = payload
        .actions
        .into_iter()
        .find(|a| a.action_id == ACK_ACTION)
        .and_then(|a| a.value)
        .filter(|v| !v.is_empty())
        .ok_or(InteractionError::NotAnAck)?;
    Ok(SlackAck {
        incident_id: value,
        user_id: payload.user.id,
        user_name: payload.user.username,
    })
}
