//! Credentials from real kubeconfig files and service-account
//! directories: the good shapes, and each bad one with an error that names
//! the file and says what to do.

use std::path::Path;

use seawall_kube::{CaSource, ConfigError, Credentials, TokenSource};

use crate::common::write;

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn config(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: prod
  context:
    cluster: main
    user: seawall
    namespace: shop
- name: staging
  context:
    cluster: main
    user: seawall
clusters:
- name: main
  cluster:
{cluster}
users:
- name: seawall
  user:
{user}
"
    )
}

fn load(text: &str) -> (tempfile::TempDir, Result<Credentials, ConfigError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "config", text);
    let result = Credentials::from_kubeconfig(&path, None);
    (dir, result)
}

fn error(text: &str) -> String {
    let (dir, result) = load(text);
    let message = result.expect_err("refused").to_string();
    assert!(
        message.contains(&dir.path().join("config").display().to_string()),
        "the error names the file: {message}"
    );
    message
}

#[test]
fn a_kubeconfig_with_a_token_and_ca_data() {
    let data = base64_encode(CA_PEM);
    let (dir, result) = load(&config(
        &format!("    server: https://10.0.0.1:6443/\n    certificate-authority-data: {data}"),
        "    token: abc.def",
    ));
    let credentials = result.expect("credentials");
    assert_eq!(credentials.server, "https://10.0.0.1:6443");
    assert_eq!(credentials.ca, CaSource::Pem(CA_PEM.as_bytes().to_vec()));
    let TokenSource::Inline(token) = &credentials.token else {
        panic!("inline token: {:?}", credentials.token);
    };
    assert_eq!(token.expose(), "abc.def");
    assert_eq!(credentials.namespace.as_deref(), Some("shop"));
    assert!(
        credentials.origin.contains("\"prod\""),
        "{}",
        credentials.origin
    );
    assert!(
        !format!("{credentials:?}").contains("abc.def"),
        "Debug never shows the token"
    );
    drop(dir);
}

#[test]
fn a_named_context_relative_ca_file_and_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir, "ca.pem", CA_PEM);
    write(&dir, "token", "from-file\n");
    let path = write(
        &dir,
        "config",
        &config(
            "    server: https://kube.example:6443\n    certificate-authority: ca.pem",
            "    tokenFile: token",
        ),
    );
    let credentials = Credentials::from_kubeconfig(&path, Some("staging")).expect("credentials");
    assert_eq!(credentials.ca, CaSource::File(dir.path().join("ca.pem")));
    assert_eq!(
        credentials.token,
        TokenSource::File(dir.path().join("token"))
    );
    assert_eq!(
        credentials.token.read().expect("token").expose(),
        "from-file"
    );
    assert_eq!(credentials.namespace, None, "staging names no namespace");
}

#[test]
fn no_ca_means_the_system_roots() {
    let (_dir, result) = load(&config("    server: https://kube.example", "    token: t"));
    assert_eq!(result.expect("credentials").ca, CaSource::System);
}

#[test]
fn a_missing_context_lists_the_ones_there_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "config",
        &config("    server: https://kube.example", "    token: t"),
    );
    let message = Credentials::from_kubeconfig(&path, Some("prod-eu"))
        .expect_err("no such context")
        .to_string();
    assert!(message.contains("no context \"prod-eu\""), "{message}");
    assert!(message.contains("prod, staging"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");

    let message = error(
        &config("    server: https://kube.example", "    token: t")
            .replace("current-context: prod\n", ""),
    );
    assert!(message.contains("no current-context"), "{message}");
    assert!(message.contains("kubectl config use-context"), "{message}");

    let message = error(
        &config("    server: https://kube.example", "    token: t").replace(
            "cluster: main\n    user: seawall\n    namespace",
            "cluster: other\n    user: seawall\n    namespace",
        ),
    );
    assert!(message.contains("cluster \"other\""), "{message}");
}

#[test]
fn bad_certificate_authority_data() {
    let message = error(&config(
        "    server: https://kube.example\n    certificate-authority-data: not*base64!",
        "    token: t",
    ));
    assert!(message.contains("not base64"), "{message}");
    assert!(message.contains("base64 -w0"), "{message}");

    let message = error(&config(
        &format!(
            "    server: https://kube.example\n    certificate-authority-data: {}",
            base64_encode("hello")
        ),
        "    token: t",
    ));
    assert!(message.contains("BEGIN CERTIFICATE"), "{message}");

    let message = error(&config(
        "    server: https://kube.example\n    certificate-authority: missing-ca.pem",
        "    token: t",
    ));
    assert!(message.contains("missing-ca.pem"), "{message}");
    assert!(message.contains("relative to the kubeconfig"), "{message}");
}

#[test]
fn a_missing_token_file() {
    let message = error(&config(
        "    server: https://kube.example",
        "    tokenFile: /nonexistent/seawall-token",
    ));
    assert!(message.contains("/nonexistent/seawall-token"), "{message}");
    assert!(message.contains("cannot be read"), "{message}");

    let message = error(&config("    server: https://kube.example", "    {}"));
    assert!(message.contains("no token or tokenFile"), "{message}");
    assert!(message.contains("kubectl create token"), "{message}");
}

#[test]
fn unsafe_or_unsupported_settings_are_refused() {
    let message = error(&config(
        "    server: https://kube.example\n    insecure-skip-tls-verify: true",
        "    token: t",
    ));
    assert!(message.contains("insecure-skip-tls-verify"), "{message}");
    assert!(message.contains("certificate-authority"), "{message}");

    for (setting, what) in [
        (
            "client-certificate-data: AAAA\n    client-key-data: AAAA",
            "client certificates",
        ),
        ("exec:\n      command: aws", "exec credential plugins"),
        (
            "username: admin\n    password: secret",
            "basic authentication",
        ),
    ] {
        let message = error(&config(
            "    server: https://kube.example",
            &format!("    {setting}"),
        ));
        assert!(message.contains(what), "{message}");
        assert!(message.contains("bearer token"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    let message = error(&config("    server: http://10.0.0.1:8080", "    token: t"));
    assert!(message.contains("plain http"), "{message}");
    let (_dir, loopback) = load(&config("    server: http://127.0.0.1:8001", "    token: t"));
    assert!(loopback.is_ok(), "plain http to loopback (kubectl proxy)");
}

#[test]
fn files_that_are_not_kubeconfigs() {
    let message = error("clusters: [unclosed");
    assert!(message.contains("not a kubeconfig"), "{message}");
    let message = error("contexts: 3\n");
    assert!(message.contains("not a kubeconfig"), "{message}");
    let missing = Credentials::from_kubeconfig(Path::new("/nonexistent/kubeconfig"), None)
        .expect_err("no file")
        .to_string();
    assert!(missing.contains("/nonexistent/kubeconfig"), "{missing}");
}

fn service_account(token: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir, "token", token);
    write(&dir, "ca.crt", CA_PEM);
    write(&dir, "namespace", "shop\n");
    dir
}

#[test]
fn in_cluster_credentials() {
    let dir = service_account("sa-token\n");
    let credentials =
        Credentials::in_cluster(dir.path(), Some("10.96.0.1"), Some("443")).expect("in cluster");
    assert_eq!(credentials.server, "https://10.96.0.1:443");
    assert_eq!(credentials.ca, CaSource::File(dir.path().join("ca.crt")));
    assert_eq!(credentials.namespace.as_deref(), Some("shop"));
    assert_eq!(
        credentials.token.read().expect("token").expose(),
        "sa-token"
    );

    let v6 = Credentials::in_cluster(dir.path(), Some("fd00::1"), Some("6443")).expect("v6");
    assert_eq!(v6.server, "https://[fd00::1]:6443");
}

#[test]
fn in_cluster_needs_the_environment_and_the_mount() {
    let dir = service_account("sa-token");
    let message = Credentials::in_cluster(dir.path(), None, Some("443"))
        .expect_err("no host")
        .to_string();
    assert!(message.contains("KUBERNETES_SERVICE_HOST"), "{message}");
    assert!(message.contains("kubeconfig"), "{message}");
    let message = Credentials::in_cluster(dir.path(), Some("10.96.0.1"), Some("https"))
        .expect_err("bad port")
        .to_string();
    assert!(message.contains("not a port"), "{message}");

    let empty = tempfile::tempdir().expect("tempdir");
    let message = Credentials::in_cluster(empty.path(), Some("10.96.0.1"), Some("443"))
        .expect_err("no token")
        .to_string();
    assert!(
        message.contains(&empty.path().join("token").display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("automountServiceAccountToken"),
        "{message}"
    );

    let blank = service_account("  \n");
    let message = Credentials::in_cluster(blank.path(), Some("10.96.0.1"), Some("443"))
        .expect_err("empty token")
        .to_string();
    assert!(message.contains("is empty"), "{message}");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
