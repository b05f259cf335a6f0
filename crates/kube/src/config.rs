//! Where the API server is and how to prove who we are: a kubeconfig file
//! (what `kubectl` uses) or the pod's own service account (when Seawall
//! runs inside the cluster).
//!
//! Only what the `scale` action needs is supported, and everything else
//! is refused with what to do instead, rather than half-working:
//! - the server's certificate is checked against `certificate-authority`
//!   (a file; relative paths are relative to the kubeconfig, as for
//!   `kubectl`), `certificate-authority-data` (base64 PEM) or the system's
//!   roots; `insecure-skip-tls-verify: true` is refused (a bearer token
//!   must not go to a server nobody checked);
//! - the user is a bearer `token` or a `tokenFile` (re-read before each
//!   request, so a rotated service-account token is picked up); client
//!   certificates, `exec` plugins, `auth-provider` and basic auth are
//!   refused with a clear error;
//! - plain `http://` servers are accepted only on loopback (tests, a
//!   `kubectl proxy`): a token never crosses a network in clear.
//!
//! The token is kept in [`Token`], whose `Debug` is redacted and which has
//! no `Display`; errors name files and settings, never the token.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// The in-cluster service account's directory.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Largest kubeconfig or token file read (kubeconfigs are a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// Credentials that cannot be used, with the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig is not YAML of the expected shape.
    #[error("kubeconfig {}: not a kubeconfig: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// A context, cluster or user it names is missing, or a setting is
    /// unusable.
    #[error("kubeconfig {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Not inside a pod (or the pod has no service account mounted).
    #[error("in-cluster credentials: {message}")]
    InCluster {
        /// What is missing and what to do.
        message: String,
    },
}

/// A bearer token. `Debug` shows `Token(<redacted>)`; there is no
/// `Display`, so it cannot end up in a message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token from its text (surrounding whitespace removed).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into().trim().to_owned())
    }

    /// The token, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given in the kubeconfig.
    Inline(Token),
    /// A file read before each request (service-account tokens rotate).
    File(PathBuf),
}

impl TokenSource {
    /// The current token.
    pub fn read(&self) -> Result<Token, ConfigError> {
        match self {
            TokenSource::Inline(token) => Ok(token.clone()),
            TokenSource::File(path) => {
                let token = Token::new(read_text("token file", path)?);
                if token.0.is_empty() {
                    return Err(ConfigError::InCluster {
                        message: format!(
                            "token file {} is empty; check the service account's token mount",
                            path.display()
                        ),
                    });
                }
                Ok(token)
            }
        }
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// The system's trust store.
    System,
    /// A PEM file.
    File(PathBuf),
    /// PEM bytes (`certificate-authority-data`).
    Pem(Vec<u8>),
}

/// Everything needed to talk to one API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `https://host:port` (or `http://` on loopback).
    pub server: String,
    /// How the server's certificate is checked.
    pub ca: CaSource,
    /// The bearer token.
    pub token: TokenSource,
    /// The default namespace (the context's, or the service account's).
    pub namespace: Option<String>,
    /// Where these came from, for messages (`kubeconfig FILE context C`,
    /// `in-cluster service account`).
    pub origin: String,
}

#[derive(Debug, Deserialize)]
struct Kubeconfig {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: Option<T>,
}

#[derive(Debug, Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Cluster {
    #[serde(default)]
    server: Option<String>,
    #[serde(rename = "certificate-authority", default)]
    certificate_authority: Option<PathBuf>,
    #[serde(rename = "certificate-authority-data", default)]
    certificate_authority_data: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure_skip_tls_verify: bool,
    #[serde(rename = "proxy-url", default)]
    proxy_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(rename = "tokenFile", default)]
    token_file: Option<PathBuf>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// User settings that mean another way to authenticate.
const UNSUPPORTED_AUTH: [(&str, &str); 8] = [
    ("client-certificate", "client certificates"),
    ("client-certificate-data", "client certificates"),
    ("client-key", "client certificates"),
    ("client-key-data", "client certificates"),
    ("exec", "exec credential plugins"),
    ("auth-provider", "auth-provider plugins"),
    ("username", "basic authentication"),
    ("password", "basic authentication"),
];

/// The entry called `name`.
fn lookup<'a, T>(list: &'a [Named<T>], name: &str) -> Option<&'a T> {
    list.iter()
        .find(|n| n.name == name)
        .and_then(|n| n.value.as_ref())
}

/// The names in a list, for messages.
fn names_of<T>(list: &[Named<T>]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
    names.join(", ")
}

impl Cluster {
    /// How its server's certificate is checked; the error goes after the
    /// cluster's name.
    fn ca(&self, dir: &Path) -> Result<CaSource, String> {
        if self.insecure_skip_tls_verify {
            return Err(
                " sets insecure-skip-tls-verify: Seawall does not send a token to \
                 a server whose certificate it cannot check; give certificate-authority \
                 (a PEM file) or certificate-authority-data instead"
                    .to_owned(),
            );
        }
        if self.proxy_url.is_some() {
            return Err(" sets proxy-url, which Seawall does not support; \
                 reach the API server directly"
                .to_owned());
        }
        match (
            &self.certificate_authority_data,
            &self.certificate_authority,
        ) {
            (Some(data), _) => {
                let pem = STANDARD.decode(data.trim().as_bytes()).map_err(|e| {
                    format!(
                        ": certificate-authority-data is not base64 ({e}); \
                         it is the CA's PEM file encoded with `base64 -w0`"
                    )
                })?;
                if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                    return Err(": certificate-authority-data does not decode to a PEM \
                         certificate (no BEGIN CERTIFICATE); it is the CA's PEM file \
                         encoded with `base64 -w0`"
                        .to_owned());
                }
                Ok(CaSource::Pem(pem))
            }
            (None, Some(file)) => {
                let file = dir.join(file);
                if !file.is_file() {
                    return Err(format!(
                        ": certificate-authority {} is not a readable file \
                         (relative paths are relative to the kubeconfig)",
                        file.display()
                    ));
                }
                Ok(CaSource::File(file))
            }
            (None, None) => Ok(CaSource::System),
        }
    }
}

impl User {
    /// Its bearer token; the error goes after the user's name.
    fn token(&self, dir: &Path) -> Result<TokenSource, String> {
        if let Some((key, what)) = UNSUPPORTED_AUTH
            .iter()
            .find(|(key, _)| self.rest.contains_key(*key))
        {
            return Err(format!(
                " uses {key} ({what}), which Seawall does not support; \
                 give it a bearer token instead (token or tokenFile; a service account's \
                 token: `kubectl create token NAME`)"
            ));
        }
        match (&self.token, &self.token_file) {
            (Some(token), _) if !token.trim().is_empty() => {
                Ok(TokenSource::Inline(Token::new(token)))
            }
            (_, Some(file)) => {
                let file = dir.join(file);
                std::fs::metadata(&file).map_err(|e| {
                    format!(
                        ": tokenFile {} cannot be read ({e}); write the token there or give token",
                        file.display()
                    )
                })?;
                Ok(TokenSource::File(file))
            }
            _ => Err(" has no token or tokenFile; give it a bearer token \
                 (a service account's: `kubectl create token NAME`)"
                .to_owned()),
        }
    }
}

impl Credentials {
    /// Credentials of `context` (or the file's `current-context`) in the
    /// kubeconfig at `path`.
    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, ConfigError> {
        let text = read_text("kubeconfig", path)?;
        let config: Kubeconfig = serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let wanted = match (context, config.current_context.as_deref()) {
            (Some(c), _) => c,
            (None, Some(c)) if !c.is_empty() => c,
            (None, _) => {
                return Err(invalid(format!(
                    "no current-context; name one of its contexts ({}) \
                     or run `kubectl config use-context NAME`",
                    names_of(&config.contexts)
                )));
            }
        };
        let ctx = lookup(&config.contexts, wanted).ok_or_else(|| {
            invalid(format!(
                "no context {wanted:?}; its contexts are: {}",
                names_of(&config.contexts)
            ))
        })?;
        let cluster = lookup(&config.clusters, &ctx.cluster).ok_or_else(|| {
            invalid(format!(
                "context {wanted:?} names cluster {:?}, which is not in its clusters ({})",
                ctx.cluster,
                names_of(&config.clusters)
            ))
        })?;
        let Some(user_name) = ctx.user.as_deref() else {
            return Err(invalid(format!(
                "context {wanted:?} names no user; add a user with a token \
                 (a service account's: `kubectl create token NAME`)"
            )));
        };
        let user = lookup(&config.users, user_name).ok_or_else(|| {
            invalid(format!(
                "context {wanted:?} names user {user_name:?}, which is not in its users ({})",
                names_of(&config.users)
            ))
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let server = cluster.server.as_deref().unwrap_or_default();
        check_server(server).map_err(|m| invalid(format!("cluster {:?}: {m}", ctx.cluster)))?;
        let ca = cluster
            .ca(dir)
            .map_err(|m| invalid(format!("cluster {:?}{m}", ctx.cluster)))?;
        let token = user
            .token(dir)
            .map_err(|m| invalid(format!("user {user_name:?}{m}")))?;
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            ca,
            token,
            namespace: ctx.namespace.clone().filter(|n| !n.is_empty()),
            origin: format!("kubeconfig {} context {wanted:?}", path.display()),
        })
    }

    /// The pod's service account: `root`/`token`, `ca.crt` and
    /// `namespace` (root is [`SERVICE_ACCOUNT_DIR`] in a pod), and the
    /// API server at `host`:`port` (`KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`).
    pub fn in_cluster(
        root: &Path,
        host: Option<&str>,
        port: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let (Some(host), Some(port)) = (
            host.filter(|h| !h.is_empty()),
            port.filter(|p| !p.is_empty()),
        ) else {
            return Err(ConfigError::InCluster {
                message: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: \
                          Seawall is not running in a pod; give a kubeconfig instead"
                    .to_owned(),
            });
        };
        let port: u16 = port.parse().map_err(|_| ConfigError::InCluster {
            message: format!("KUBERNETES_SERVICE_PORT {port:?} is not a port number"),
        })?;
        let server = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{port}"),
            Ok(IpAddr::V4(ip)) => format!("https://{ip}:{port}"),
            Err(_) => format!("https://{host}:{port}"),
        };
        let token = root.join("token");
        let ca = root.join("ca.crt");
        for (file, what) in [(&token, "token"), (&ca, "CA certificate")] {
            if !file.is_file() {
                return Err(ConfigError::InCluster {
                    message: format!(
                        "no service-account {what} at {}: mount the pod's service account \
                         (automountServiceAccountToken: true) or give a kubeconfig",
                        file.display()
                    ),
                });
            }
        }
        let source = TokenSource::File(token);
        source.read()?;
        let namespace = match std::fs::read_to_string(root.join("namespace")) {
            Ok(ns) if !ns.trim().is_empty() => Some(ns.trim().to_owned()),
            _ => None,
        };
        Ok(Self {
            server,
            ca: CaSource::File(ca),
            token: source,
            namespace,
            origin: format!("in-cluster service account {}", root.display()),
        })
    }

    /// [`Credentials::in_cluster`] from the process's environment and
    /// [`SERVICE_ACCOUNT_DIR`].
    pub fn in_cluster_from_env() -> Result<Self, ConfigError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok();
        let port = std::env::var("KUBERNETES_SERVICE_PORT").ok();
        Self::in_cluster(
            Path::new(SERVICE_ACCOUNT_DIR),
            host.as_deref(),
            port.as_deref(),
        )
    }
}

/// The kubeconfig `kubectl` would read, from the values of `KUBECONFIG`
/// and `HOME` (passed in): the first file `KUBECONFIG` lists (a
/// `:`-separated list, which `kubectl` merges; Seawall reads one file),
/// else `$HOME/.kube/config`.
pub fn default_kubeconfig(kubeconfig: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    if let Some(first) = kubeconfig.and_then(|list| list.split(':').find(|p| !p.is_empty())) {
        return Some(PathBuf::from(first));
    }
    home.map(|home| home.join(".kube").join("config"))
}

/// A server URL a token may be sent to.
fn check_server(server: &str) -> Result<(), String> {
    if server.is_empty() {
        return Err("has no server; give server: https://HOST:PORT".to_owned());
    }
    let uri: http::Uri = server
        .parse()
        .map_err(|_| format!("server {server:?} is not a URL; give https://HOST:PORT"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "server {server:?} is plain http: Seawall sends the token only over https \
             (plain http only to a loopback address)"
        )),
        _ => Err(format!("server {server:?}: give https://HOST:PORT")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A small text file (a kubeconfig, a token).
fn read_text(what: &'static str, path: &Path) -> Result<String, ConfigError> {
    let read = |source| ConfigError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_FILE {
        return Err(read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes, more than {MAX_FILE}"),
        )));
    }
    std::fs::read_to_string(path).map_err(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        assert!(check_server("https://10.0.0.1:6443").is_ok());
        assert!(check_server("http://127.0.0.1:8001").is_ok());
        assert!(check_server("http://[::1]:8001").is_ok());
        assert!(check_server("http://localhost:8001").is_ok());
        assert!(check_server("http://10.0.0.1:8080").is_err());
        assert!(check_server("").is_err());
        assert!(check_server("ftp://x").is_err());
    }

    #[test]
    fn the_default_kubeconfig() {
        let home = Path::new("/home/ops");
        assert_eq!(
            default_kubeconfig(Some(":/etc/kube/a:/etc/kube/b"), Some(home)),
            Some(PathBuf::from("/etc/kube/a"))
        );
        assert_eq!(
            default_kubeconfig(Some(""), Some(home)),
            Some(PathBuf::from("/home/ops/.kube/config"))
        );
        assert_eq!(default_kubeconfig(None, None), None);
    }

    #[test]
    fn tokens_are_redacted() {
        let t = Token::new(" secret-value\n");
        assert_eq!(t.expose(), "secret-value");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let s = TokenSource::Inline(t);
        assert!(!format!("{s:?}").contains("secret"));
    }
}
