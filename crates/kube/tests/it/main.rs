//! Integration tests of seawall-kube: kubeconfig and in-cluster
//! credentials from real files, and the scale subresource against the
//! fake API server on real loopback HTTP and HTTPS.

mod common;
mod credentials;
mod fake;
mod manifests;
mod names;
mod redaction;
mod scaling;
mod tls;
