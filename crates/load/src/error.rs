//! Why a run could not start.

/// A run that could not start: every check happens before the first
/// request, so an error means no traffic was sent. Failures of individual
/// requests are not errors but counted in [`crate::ErrorCounts`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The run carries no test tag and `untagged` was not set.
    #[error(
        "refusing to send untagged load: set a test tag (run id) or allow untagged traffic explicitly"
    )]
    Untagged,
    /// The target URL does not parse or lacks a host.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is not `http`.
    #[error("unsupported scheme `{0}`: only http:// targets are supported")]
    UnsupportedScheme(String),
    /// The method is not a valid HTTP method token.
    #[error("invalid HTTP method `{0}`")]
    InvalidMethod(String),
    /// A header name or value is not valid HTTP.
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A numeric setting is out of range.
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidSetting {
        /// Which setting (`rate`, `duration`, `connections`, `timeout`).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name does not resolve.
    #[error("cannot resolve `{host}`")]
    Resolve {
        /// Host and port that were looked up.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// A CSV data file of a scenario is malformed.
    #[error("{file}:{line}:{column}: {reason}")]
    Csv {
        /// The file as named in the scenario.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (character).
        column: usize,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// A scenario step's template or extraction is unusable.
    #[error("journey `{journey}`, step {step} (`{entry}`): {reason}")]
    Step {
        /// Journey id.
        journey: String,
        /// 1-based step number.
        step: usize,
        /// The step's entry id.
        entry: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// A scenario is inconsistent (no journeys, zero rates, bad stages …).
    #[error("invalid scenario: {0}")]
    Scenario(String),
}
