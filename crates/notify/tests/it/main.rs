//! Integration tests of seawall-notify: each provider's payload and
//! signature against vectors computed outside Seawall, fake receivers on
//! real loopback HTTP, and the queue.

mod common;
mod payloads;
mod receivers;
mod secrets;
