//! Namespace and deployment names, checked before they go into a URL.
//!
//! A plan names the namespace and deployment of each service; those
//! strings end up in the request path. Kubernetes itself only accepts a
//! namespace that is a DNS-1123 label and a deployment name that is a
//! DNS-1123 subdomain, so anything else (`../x`, `a/b`, `Web`, `%2e`) is
//! refused here, before any request, with the rule it breaks: no path
//! injection, and a typo is caught at once rather than as a 404. The
//! segments are percent-encoded anyway ([`scale_path`]), which after the
//! check changes nothing — a second fence, not the first.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest DNS-1123 label (a namespace).
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain (a deployment name).
pub const MAX_SUBDOMAIN: usize = 253;

/// A name Kubernetes would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {value:?} is not a valid Kubernetes name: {reason} \
     (write it as `kubectl get` shows it: lower-case letters, digits and '-', \
     a deployment's labels joined by '.')"
)]
pub struct NameError {
    /// `namespace` or `deployment`.
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The rule it breaks.
    pub reason: String,
}

/// Checks a namespace: a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`,
/// at most 63 characters).
pub fn check_namespace(value: &str) -> Result<(), NameError> {
    label(value).map_err(|reason| NameError {
        what: "namespace",
        value: value.to_owned(),
        reason,
    })
}

/// Checks a deployment name: a DNS-1123 subdomain (labels joined by
/// `.`, at most 253 characters).
pub fn check_deployment(value: &str) -> Result<(), NameError> {
    let bad = |reason: String| NameError {
        what: "deployment",
        value: value.to_owned(),
        reason,
    };
    if value.len() > MAX_SUBDOMAIN {
        return Err(bad(format!(
            "{} characters, at most {MAX_SUBDOMAIN}",
            value.len()
        )));
    }
    for part in value.split('.') {
        label(part).map_err(|reason| bad(format!("label {part:?}: {reason}")))?;
    }
    Ok(())
}

fn label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty".to_owned());
    }
    if value.len() > MAX_LABEL {
        return Err(format!("{} characters, at most {MAX_LABEL}", value.len()));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{c:?} is not allowed (only lower-case letters, digits and '-')"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err("must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

/// Everything but letters, digits, `-` and `.` is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.');

/// `/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`, after both
/// names are checked.
pub fn scale_path(namespace: &str, deployment: &str) -> Result<String, NameError> {
    check_namespace(namespace)?;
    check_deployment(deployment)?;
    Ok(format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}/scale",
        utf8_percent_encode(namespace, SEGMENT),
        utf8_percent_encode(deployment, SEGMENT)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        for ok in ["a", "web", "web-1", "0", "a".repeat(63).as_str()] {
            assert!(check_namespace(ok).is_ok(), "{ok}");
            assert!(check_deployment(ok).is_ok(), "{ok}");
        }
        assert!(check_deployment("web.v2").is_ok());
        assert!(check_namespace("web.v2").is_err());
        for bad in [
            "", "-a", "a-", "A", "a_b", "a/b", "../x", "..", ".", "a..b", "é",
        ] {
            assert!(check_deployment(bad).is_err(), "{bad}");
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
        assert!(check_namespace(&"a".repeat(64)).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(check_deployment(&long).is_err());
        assert_eq!(
            scale_path("shop", "web.v2").expect("valid"),
            "/apis/apps/v1/namespaces/shop/deployments/web.v2/scale"
        );
    }
}
