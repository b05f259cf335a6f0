//! The containers of `deploy/kubernetes` against the `seawall` binary they
//! run. The manifests' shapes are checked in `crates/kube` (k8s-openapi
//! types, unknown fields); here every container of the `seawall` image is
//! run with its own arguments followed by `--help`: clap reads the
//! arguments in order, so a flag `seawall` does not have, or a value its
//! parser refuses, fails before the help is printed. Every environment
//! variable a container gets must be one its command reads (`[env: …]` in
//! its help) or one its arguments expand (`$(POD_NAME)`). And the control
//! plane's container is started with its arguments and environment, on
//! loopback, to see its readiness and liveness probes' paths answer 200.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::serve::{Serve, TempDir};
use crate::common::{root, seawall};

/// One YAML document of `deploy/kubernetes`: `FILE document N` and it.
struct Doc {
    at: String,
    value: Value,
}

/// Every manifest below `dir` (kustomizations aside), into `out`.
fn manifests_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            manifests_below(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        {
            out.push(path);
        }
    }
}

/// Every document of every manifest (kustomizations aside), in file order.
fn documents() -> Vec<Doc> {
    let dir = root().join("deploy/kubernetes");
    let mut files = Vec::new();
    manifests_below(&dir, &mut files);
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let values: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
        let file = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        for (i, value) in values.into_iter().enumerate() {
            docs.push(Doc {
                at: format!("{file} document {}", i + 1),
                value,
            });
        }
    }
    docs
}

/// A container of the `seawall` image: where it is, its pod's owner and it.
struct SeawallContainer<'a> {
    at: String,
    doc: &'a Doc,
    container: &'a Value,
}

impl SeawallContainer<'_> {
    fn args(&self) -> Vec<String> {
        self.container["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().expect("args are strings").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn env(&self) -> Vec<&Value> {
        self.container["env"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// Its arguments with `$(NAME)` expanded as the kubelet would, with
    /// sample values.
    fn expanded_args(&self) -> Vec<String> {
        let mut args = self.args();
        for env in self.env() {
            let name = env["name"].as_str().expect("env name");
            let sample = match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("status.podIP") => "10.244.0.7",
                _ => env["value"].as_str().unwrap_or("sample-pod-0"),
            };
            for arg in &mut args {
                *arg = arg.replace(&format!("$({name})"), sample);
            }
        }
        args
    }
}

/// Every container running the `seawall` image, init containers included.
fn seawall_containers(docs: &[Doc]) -> Vec<SeawallContainer<'_>> {
    let mut out = Vec::new();
    for doc in docs {
        let spec = &doc.value["spec"]["template"]["spec"];
        for list in ["initContainers", "containers"] {
            for c in spec[list].as_array().into_iter().flatten() {
                let image = c["image"].as_str().unwrap_or_default();
                if image == "seawall" || image.starts_with("seawall:") {
                    out.push(SeawallContainer {
                        at: format!("{} container {}", doc.at, c["name"]),
                        doc,
                        container: c,
                    });
                }
            }
        }
    }
    out
}

/// `seawall SUB --help`'s text.
fn help(sub: &str) -> String {
    let run = seawall(&[sub, "--help"]);
    assert_eq!(run.code, 0, "seawall {sub} --help: {}", run.stderr);
    run.stdout
}

#[test]
fn kubernetes_containers_arguments_are_flags_seawall_accepts() {
    let docs = documents();
    let containers = seawall_containers(&docs);
    let subs: Vec<String> = containers
        .iter()
        .filter_map(|c| c.args().first().cloned())
        .collect();
    for sub in ["serve", "sidecar", "agent"] {
        assert!(
            subs.iter().any(|s| s == sub),
            "a `seawall {sub}` container: {subs:?}"
        );
    }
    for c in &containers {
        let args = c.expanded_args();
        let sub = args
            .first()
            .unwrap_or_else(|| panic!("{}: a subcommand as the first argument", c.at));
        let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
        with_help.push("--help");
        let run = seawall(&with_help);
        assert_eq!(
            run.code, 0,
            "{}: seawall {args:?} is refused:\n{}",
            c.at, run.stderr
        );
        assert!(
            run.stdout.contains(&format!("Usage: seawall {sub} ")),
            "{}: {}",
            c.at,
            run.stdout
        );

        // Every variable is read by the command or expanded in its args.
        let text = help(sub);
        for env in c.env() {
            let name = env["name"].as_str().expect("env name");
            let expanded = c.args().iter().any(|a| a.contains(&format!("$({name})")));
            assert!(
                expanded || text.contains(&format!("[env: {name}")),
                "{}: {name} is neither read by `seawall {sub}` nor used in its arguments",
                c.at
            );
        }
        // An Indexed Job's agents take their index from Kubernetes.
        if c.doc.value["spec"]["completionMode"] == "Indexed" {
            assert!(
                text.contains("[env: JOB_COMPLETION_INDEX"),
                "{}: `seawall {sub}` reads JOB_COMPLETION_INDEX",
                c.at
            );
        }
    }

    // The check catches a misspelt flag and a bad value.
    assert_eq!(
        seawall(&["serve", "--listn", "0.0.0.0:7878", "--help"]).code,
        2
    );
    assert_eq!(seawall(&["serve", "--listen", "0.0.0.0", "--help"]).code, 2);
}

/// The status code of `GET path` on `addr`.
fn status(addr: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut head = String::new();
    let _ = stream.read_to_string(&mut head);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The value a `configMapKeyRef` names, from the manifests' ConfigMaps.
fn config_value(docs: &[Doc], name: &str, key: &str) -> Option<String> {
    docs.iter()
        .find(|d| d.value["kind"] == "ConfigMap" && d.value["metadata"]["name"] == name)
        .and_then(|d| d.value["data"][key].as_str())
        .map(str::to_owned)
}

#[test]
fn kubernetes_control_plane_starts_with_its_arguments_and_answers_its_probes() {
    let docs = documents();
    let containers = seawall_containers(&docs);
    let serve = containers
        .iter()
        .find(|c| c.args().first().is_some_and(|a| a == "serve"))
        .expect("the control plane's container");
    let dir = TempDir::new("kubernetes");
    let key: PathBuf = dir.0.join("ack-key");
    // `openssl rand -hex 32`, as docs/scale-out.md makes it.
    std::fs::write(&key, format!("{}\n", "5eaa11".repeat(11))).expect("write key");

    // Its arguments, but where this test must differ from a pod:
    // `Serve::start` listens on 127.0.0.1:0 with JSON logs in a temporary
    // data directory; the ack key is a file here; and --kube-in-cluster
    // needs a pod's service account (crates/kube tests it).
    let mut extra: Vec<OsString> = Vec::new();
    let mut args = serve.args().into_iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "--data-dir" | "--log-format" => {
                args.next();
            }
            "--kube-in-cluster" => {}
            "--ack-key-file" => {
                args.next();
                extra.push(arg.into());
                extra.push(key.clone().into());
            }
            _ => extra.push(arg.into()),
        }
    }
    // Its environment: the ConfigMap's values as they are; secrets as
    // samples; no SEAWALL_DB, so the data directory's SQLite (replicas on
    // PostgreSQL are tested in crates/cli/tests/it/replicas.rs).
    let mut env = Vec::new();
    for e in serve.env() {
        let name = e["name"].as_str().expect("env name").to_owned();
        let from = &e["valueFrom"];
        if name == "SEAWALL_DB" {
            assert!(from["secretKeyRef"].is_object(), "SEAWALL_DB from a Secret");
            continue;
        }
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if let Some(r) = from["configMapKeyRef"].as_object() {
            let (map, key) = (r["name"].as_str(), r["key"].as_str());
            config_value(&docs, map.unwrap_or_default(), key.unwrap_or_default())
                .unwrap_or_else(|| panic!("{}: ConfigMap {map:?} key {key:?}", serve.at))
        } else {
            assert!(from["secretKeyRef"].is_object(), "{}: {name}", serve.at);
            "sample-secret".to_owned()
        };
        env.push((name, value));
    }

    let server = Serve::start_with_env(Path::new(&dir.0), &extra, &env);
    let addr = server.url.trim_start_matches("http://").to_owned();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = serve.container[probe]["httpGet"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: an HTTP {probe}", serve.at));
        assert_eq!(status(&addr, path), 200, "{}: {probe} {path}", serve.at);
    }
    assert_eq!(
        status(&addr, "/no-such-probe"),
        404,
        "a wrong path would fail"
    );
    let exit = server.stop();
    assert!(exit.success(), "{exit}");
}
