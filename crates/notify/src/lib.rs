//! Seawall's IM channels: how a page, a ticket or an informational
//! message reaches a war-room group on Slack, Lark/Feishu, DingTalk, WeCom
//! or any receiver of Seawall's signed webhook.
//!
//! - [`message`]: the one message model (title, text, severity, mentions,
//!   ack link, incident and alert ids);
//! - [`secret`]: signing secrets and credential-bearing URLs from `$ENV`
//!   or `file:` references, never in clear from a plan;
//! - [`sign`]: each provider's HMAC-SHA256 signature (`ring`), and the
//!   verifiers of Slack's interactive requests and Seawall's webhook;
//! - [`mod@render`]: each provider's request for a message;
//! - [`slack`]: the Acknowledge button's signed request coming back;
//! - [`response`]: each provider's answer, read as delivered, throttled,
//!   worth a retry, or refused;
//! - [`sender`]: one message to one channel over HTTP, with a deadline
//!   and bounded retries with exponential backoff;
//! - [`queue`]: per-channel budgets, digests of lower severities, pages
//!   first, fallback to the next channel — a pure, clock-parameterised
//!   state machine — and [`driver`], the thin async loop around it.
//!
//! Modules form a DAG: `message`, `secret`, `sign` (leaves) ← `slack` ←
//! `render` ← `response` ← `sender`; `message`, `render` ← `queue` ←
//! `driver` (→ `sender`).
//! Nothing here logs a secret or a webhook URL with its credential.
//! Payloads, signatures and their test vectors: `docs/respond.md`.

#![forbid(unsafe_code)]

pub mod driver;
pub mod message;
pub mod queue;
pub mod render;
pub mod response;
pub mod secret;
pub mod sender;
pub mod sign;
pub mod slack;

pub use driver::{Notifier, Stopped};
pub use message::{Mention, Message, Severity};
pub use queue::{Batch, BatchId, Budget, ChannelConfig, Dispatcher, Failure, MessageId, Outcome};
pub use render::{Channel, ChannelError, Outgoing, Provider, Style, render};
pub use secret::{Secret, SecretError, SecretRef};
pub use sender::{Delivery, RetryPolicy, SendError, Sender};
pub use sign::VerifyError;
