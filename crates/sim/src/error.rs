//! What can go wrong when starting or steering a simulation.

use std::net::SocketAddr;

/// An error of the simulator: a bad option, a plan it cannot simulate, a
/// port it cannot bind, or a fault request it cannot apply.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A [`SimOptions`](crate::SimOptions) field is out of range.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// Field name (`scale`, `listen_base`).
        option: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// The plan has something the simulator cannot model (a dangling
    /// reference or a cycle would be one — `seawall_plan::parse` rejects
    /// those first).
    #[error("the plan cannot be simulated: {0}")]
    Plan(String),
    /// An entry's path is under the reserved control prefix.
    #[error(
        "entry `{entry}`: path `{path}` is under /_sim/, which the simulator reserves for its \
         control endpoints; give the entry another path"
    )]
    ReservedPath {
        /// Entry id.
        entry: String,
        /// Its path.
        path: String,
    },
    /// `listen_base` plus the number of servers runs past port 65535.
    #[error(
        "listen base {base}: {count} servers need ports {first}..={last}, past 65535; choose a \
         lower base port (or port 0 for ephemeral ports)",
        first = base.port(),
        last = u32::from(base.port()) + count - 1
    )]
    PortRange {
        /// The base address.
        base: SocketAddr,
        /// Servers (services and partners) to start.
        count: u32,
    },
    /// A server could not bind its address.
    #[error(
        "cannot listen on {addr} for `{id}` (is the port in use? choose another --listen-base)"
    )]
    Bind {
        /// Service or partner id.
        id: String,
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A fault names neither a service nor a partner of the plan.
    #[error(
        "unknown fault target `{target}`: not a service or partner of the plan (known: {known})"
    )]
    UnknownTarget {
        /// The name given.
        target: String,
        /// Comma-separated ids that exist.
        known: String,
    },
    /// A mix names an entry the plan does not have.
    #[error("unknown entry `{entry}` in the mix (known: {known})")]
    UnknownEntry {
        /// The name given.
        entry: String,
        /// Comma-separated entry ids.
        known: String,
    },
    /// A mix rate is negative or not a number.
    #[error("entry `{entry}`: rate {rate} is not a non-negative number of requests per second")]
    InvalidRate {
        /// Entry id.
        entry: String,
        /// The rate given.
        rate: f64,
    },
    /// A fault's numbers are out of range.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
}
