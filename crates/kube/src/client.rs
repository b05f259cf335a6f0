//! The scale subresource of a deployment, and nothing else:
//! `GET` and `PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`.
//!
//! Requests go over `seawall_api::Client` (hyper 1, one connection per
//! request, a deadline each, rustls with the `ring` provider): the
//! workspace's one HTTP and TLS stack. Each carries `Authorization: Bearer`
//! (the token is read from its source right before, so a rotated
//! service-account token is used) and `Accept: application/json`; a
//! `PATCH` is a JSON merge patch (`application/merge-patch+json`,
//! RFC 7386) of `spec.replicas`, with `metadata.resourceVersion` when the
//! caller wants optimistic concurrency (the API server then answers 409 if
//! the object changed since it was read).
//!
//! Answers are the API's own shapes (see `docs/respond.md`): an
//! `autoscaling/v1` `Scale` on success, a `v1` `Status` on failure, read
//! into [`KubeError`] by its `reason` and `code`.

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::config::{CaSource, ConfigError, Credentials, TokenSource};
use crate::name::{NameError, scale_path};

/// The content type of a JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// `autoscaling/v1` `Scale`: the replicas of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// `autoscaling/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Scale`.
    #[serde(default)]
    pub kind: String,
    /// Name, namespace, resourceVersion.
    #[serde(default)]
    pub metadata: ScaleMeta,
    /// What is asked.
    #[serde(default)]
    pub spec: ScaleSpec,
    /// What is there.
    #[serde(default)]
    pub status: ScaleStatus,
}

/// The metadata of a [`Scale`] that matters here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleMeta {
    /// The deployment's name.
    #[serde(default)]
    pub name: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: String,
    /// The version for optimistic concurrency (opaque: compare, never
    /// order).
    #[serde(default)]
    pub resource_version: String,
}

/// `spec` of a [`Scale`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleSpec {
    /// Desired replicas. The API omits it when 0 (`omitempty`).
    #[serde(default)]
    pub replicas: i32,
}

/// `status` of a [`Scale`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleStatus {
    /// Replicas the controller has (created pods, ready or not).
    #[serde(default)]
    pub replicas: i32,
    /// The label selector of the pods, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// `v1` `Status`: the body of every API error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `Status`.
    #[serde(default)]
    pub kind: String,
    /// `Failure`.
    #[serde(default)]
    pub status: String,
    /// What happened, in the API server's words.
    #[serde(default)]
    pub message: String,
    /// `NotFound`, `Forbidden`, `Conflict`, `Unauthorized`, `Invalid`, …
    #[serde(default)]
    pub reason: String,
    /// The HTTP status.
    #[serde(default)]
    pub code: u16,
}

/// Why a scale request failed, said with what to do.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A namespace or deployment name Kubernetes would not accept; no
    /// request was made.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The credentials cannot be used (or the token file cannot be read).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A negative replica count; no request was made.
    #[error("cannot scale {namespace}/{deployment} to {replicas} replicas: give 0 or more")]
    NegativeReplicas {
        /// Namespace.
        namespace: String,
        /// Deployment.
        deployment: String,
        /// The count given.
        replicas: i32,
    },
    /// 404: no such deployment (or namespace).
    #[error(
        "deployment {namespace}/{deployment} not found ({message}); check the service's \
         namespace and deployment in the plan against `kubectl get deployment -n {namespace}`"
    )]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Deployment.
        deployment: String,
        /// The API server's words.
        message: String,
    },
    /// 401: the token was not accepted.
    #[error(
        "the API server did not accept the token of {origin} ({message}): it is wrong or \
         expired; renew it (`kubectl create token NAME`)"
    )]
    Unauthorized {
        /// Where the credentials came from.
        origin: String,
        /// The API server's words.
        message: String,
    },
    /// 403: the token's identity may not do this.
    #[error(
        "not allowed to {verb} deployments/scale in namespace {namespace} ({message}); \
         grant get and patch on deployments/scale (API group apps) to this identity \
         with a Role and RoleBinding"
    )]
    Forbidden {
        /// Namespace.
        namespace: String,
        /// `get` or `patch`.
        verb: &'static str,
        /// The API server's words.
        message: String,
    },
    /// 409 after every retry: someone else keeps changing the deployment.
    #[error(
        "deployment {namespace}/{deployment} changed under every one of {attempts} attempts \
         ({message}); something else is scaling it (an autoscaler?): stop it and run again"
    )]
    Conflict {
        /// Namespace.
        namespace: String,
        /// Deployment.
        deployment: String,
        /// Attempts made.
        attempts: u32,
        /// The API server's words.
        message: String,
    },
    /// 422: the API server refused the value.
    #[error("the API server refused the change to {namespace}/{deployment}: {message}")]
    Invalid {
        /// Namespace.
        namespace: String,
        /// Deployment.
        deployment: String,
        /// The API server's words.
        message: String,
    },
    /// Any other error answer.
    #[error("the API server answered {status} {reason}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The `Status` reason, if the body was one.
        reason: String,
        /// The API server's words, or the start of the body.
        message: String,
    },
    /// A success answer that is not a `Scale`.
    #[error("{url} answered {status} with a body that is not an autoscaling/v1 Scale: {message}")]
    Body {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The parser's words.
        message: String,
    },
    /// No answer: connection, TLS, deadline.
    #[error("Kubernetes API server: {0}")]
    Transport(#[from] seawall_api::ClientError),
}

impl KubeError {
    /// The error a `Status` answer stands for.
    fn from_answer(status: StatusCode, body: &[u8], ctx: &Ask<'_>) -> Self {
        let parsed: Option<Status> = serde_json::from_slice(body)
            .ok()
            .filter(|s: &Status| s.kind == "Status");
        let message = match &parsed {
            Some(s) if !s.message.is_empty() => s.message.clone(),
            _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
        let reason = parsed.map(|s| s.reason).unwrap_or_default();
        let (namespace, deployment) = (ctx.namespace.to_owned(), ctx.deployment.to_owned());
        match (status.as_u16(), reason.as_str()) {
            (404, _) | (_, "NotFound") => KubeError::NotFound {
                namespace,
                deployment,
                message,
            },
            (401, _) | (_, "Unauthorized") => KubeError::Unauthorized {
                origin: ctx.origin.to_owned(),
                message,
            },
            (403, _) | (_, "Forbidden") => KubeError::Forbidden {
                namespace,
                verb: ctx.verb,
                message,
            },
            (409, _) | (_, "Conflict") => KubeError::Conflict {
                namespace,
                deployment,
                attempts: 1,
                message,
            },
            (422, _) | (_, "Invalid") => KubeError::Invalid {
                namespace,
                deployment,
                message,
            },
            (code, _) => KubeError::Api {
                status: code,
                reason,
                message,
            },
        }
    }
}

/// Who is asking, for errors.
struct Ask<'a> {
    namespace: &'a str,
    deployment: &'a str,
    verb: &'static str,
    origin: &'a str,
}

/// A client of one API server's deployments' scale subresource.
#[derive(Clone)]
pub struct KubeClient {
    http: seawall_api::Client,
    token: TokenSource,
    origin: String,
    conflict_retries: u32,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("server", &self.http.base())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A merge patch of `spec.replicas` (and the version it applies to).
#[derive(Serialize)]
struct Patch<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<PatchMeta<'a>>,
    spec: PatchSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PatchMeta<'a> {
    resource_version: &'a str,
}

#[derive(Serialize)]
struct PatchSpec {
    replicas: i32,
}

impl KubeClient {
    /// A client for `credentials` (reads the CA; the token is read per
    /// request).
    pub fn new(credentials: &Credentials) -> Result<Self, KubeError> {
        let http = match &credentials.ca {
            CaSource::System => seawall_api::Client::new(&credentials.server)?,
            CaSource::File(path) => {
                seawall_api::Client::new_with_ca(&credentials.server, Some(path))?
            }
            CaSource::Pem(pem) => {
                // The HTTP client reads its CA from a file once, when it
                // is built; the certificate is public, the file goes away.
                let mut file =
                    tempfile::NamedTempFile::new().map_err(|source| ConfigError::Read {
                        what: "temporary CA file",
                        path: std::env::temp_dir(),
                        source,
                    })?;
                file.write_all(pem).map_err(|source| ConfigError::Read {
                    what: "temporary CA file",
                    path: file.path().to_owned(),
                    source,
                })?;
                seawall_api::Client::new_with_ca(&credentials.server, Some(file.path()))?
            }
        };
        Ok(Self {
            http: http.with_timeout(Duration::from_secs(10)),
            token: credentials.token.clone(),
            origin: credentials.origin.clone(),
            conflict_retries: 5,
        })
    }

    /// Each request's deadline (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.with_timeout(timeout);
        self
    }

    /// How many times [`KubeClient::scale`] re-reads and retries after a
    /// 409 (default 5).
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    pub(crate) fn conflict_retries(&self) -> u32 {
        self.conflict_retries
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        self.http.base()
    }

    /// The deployment's scale: `GET …/deployments/{name}/scale`.
    pub async fn get_scale(&self, namespace: &str, deployment: &str) -> Result<Scale, KubeError> {
        self.request(Method::GET, "get", namespace, deployment, None)
            .await
    }

    /// Sets the deployment's desired replicas with a merge patch of
    /// `spec.replicas`. With `resource_version`, the patch carries it and
    /// the API server refuses it with 409 ([`KubeError::Conflict`]) if the
    /// deployment changed since that version was read.
    pub async fn set_replicas(
        &self,
        namespace: &str,
        deployment: &str,
        replicas: i32,
        resource_version: Option<&str>,
    ) -> Result<Scale, KubeError> {
        if replicas < 0 {
            return Err(KubeError::NegativeReplicas {
                namespace: namespace.to_owned(),
                deployment: deployment.to_owned(),
                replicas,
            });
        }
        let patch = Patch {
            metadata: resource_version.map(|v| PatchMeta {
                resource_version: v,
            }),
            spec: PatchSpec { replicas },
        };
        let body = serde_json::to_vec(&patch)
            .map_err(|e| seawall_api::ClientError::Build(e.to_string()))?;
        self.request(
            Method::PATCH,
            "patch",
            namespace,
            deployment,
            Some(Bytes::from(body)),
        )
        .await
    }

    async fn request(
        &self,
        method: Method,
        verb: &'static str,
        namespace: &str,
        deployment: &str,
        body: Option<Bytes>,
    ) -> Result<Scale, KubeError> {
        let path = scale_path(namespace, deployment)?;
        let token = self.token.read()?;
        let mut headers = vec![
            (header::AUTHORIZATION, format!("Bearer {}", token.expose())),
            (header::ACCEPT, "application/json".to_owned()),
        ];
        if body.is_some() {
            headers.push((header::CONTENT_TYPE, MERGE_PATCH.to_owned()));
        }
        let answer = self
            .http
            .send_raw(method, &path, &headers, body.unwrap_or_default())
            .await?;
        if answer.status.is_success() {
            return serde_json::from_slice(&answer.body).map_err(|e| KubeError::Body {
                url: answer.url.clone(),
                status: answer.status.as_u16(),
                message: e.to_string(),
            });
        }
        let ask = Ask {
            namespace,
            deployment,
            verb,
            origin: &self.origin,
        };
        Err(KubeError::from_answer(answer.status, &answer.body, &ask))
    }
}
