//! Integration tests of seawall-notify: each provider's payload and
//! signature against vectors computed outside Seawall, fake receivers on
//! real loopback HTTP, and the queue.

mod common;
mod fallback;
mod hosts;
mod payloads;
mod queue;
mod receivers;
mod redaction;
mod secrets;
