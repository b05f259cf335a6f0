//! A fake API server with one deployment, and a client for it built from
//! a real kubeconfig file.

use std::path::PathBuf;
use std::time::Duration;

use seawall_kube::testing::{FakeApiServer, TOKEN};
use seawall_kube::{Credentials, KubeClient, KubeError, ScaleOutcome};

/// A fake, a client reaching it through a kubeconfig, and the directory
/// holding that kubeconfig.
pub struct Setup {
    pub fake: FakeApiServer,
    pub client: KubeClient,
    pub _dir: tempfile::TempDir,
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// A fake holding shop/web with `replicas`, and a client with its token.
pub async fn setup(replicas: i32) -> Setup {
    let fake = FakeApiServer::start().await.expect("fake API server");
    fake.add_deployment("shop", "web", replicas);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "config", &fake.kubeconfig(TOKEN, None));
    let credentials = Credentials::from_kubeconfig(&config, None).expect("credentials");
    let client = KubeClient::new(&credentials).expect("client");
    Setup {
        fake,
        client,
        _dir: dir,
    }
}

impl Setup {
    /// Requests with this method the fake answered so far.
    pub fn count(&self, method: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// Scales shop/`deployment` to `target`, waiting up to 30 s and
    /// reading every 20 ms.
    pub async fn scale(&self, deployment: &str, target: i32) -> Result<ScaleOutcome, KubeError> {
        let (timeout, poll) = (Duration::from_secs(30), Duration::from_millis(20));
        self.client
            .scale("shop", deployment, target, timeout, poll)
            .await
    }
}
