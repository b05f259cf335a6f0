//! The Kubernetes manifests in `deploy/kubernetes`, read the way the API
//! server would take them: no cluster exists here, so every YAML document
//! is deserialised into its `k8s-openapi` type by kind. Those types ignore
//! fields they do not know, as a lenient API server would — a misspelt
//! `readOnlyRootFilesystem` would silently leave the root file system
//! writable — so each document is serialised back and compared with what
//! was read: a field that did not survive the round trip is unknown, and
//! the test names the file, the document and the field's path. The
//! `kustomization.yaml` files, which have no `k8s-openapi` type, get the
//! same treatment with a type of the fields Kustomize documents.
//!
//! On the typed objects the test then checks what the manifests promise:
//! the `scale` action's Role grants `deployments/scale` and nothing else,
//! the control plane's probes and Service reach the port it listens on,
//! every container runs as non-root on a read-only root file system
//! without capabilities, secrets come from Secrets only, the agents are an
//! Indexed Job and the sidecar follows the control plane's Service. The
//! containers' arguments are checked against the `seawall` binary itself
//! in the CLI's tests (`crates/cli/tests/it/kubernetes.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, Namespace, PodTemplateSpec, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `deploy/kubernetes` in the workspace.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .canonicalize()
        .expect("deploy/kubernetes exists")
}

/// One Kubernetes object of a kind these manifests may hold.
#[derive(Debug, Clone)]
enum Object {
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    Job(Box<Job>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    Role(Box<Role>),
    RoleBinding(Box<RoleBinding>),
}

/// A document of a manifest file.
#[derive(Debug, Clone)]
struct Doc {
    /// The file, relative to `deploy/kubernetes`.
    file: String,
    /// 1-based position among the file's documents.
    index: usize,
    object: Object,
}

impl Doc {
    /// `KIND NAME` for messages.
    fn name(&self) -> String {
        let (kind, meta) = match &self.object {
            Object::Namespace(o) => (Namespace::KIND, &o.metadata),
            Object::ServiceAccount(o) => (ServiceAccount::KIND, &o.metadata),
            Object::ConfigMap(o) => (ConfigMap::KIND, &o.metadata),
            Object::Service(o) => (Service::KIND, &o.metadata),
            Object::Deployment(o) => (Deployment::KIND, &o.metadata),
            Object::StatefulSet(o) => (StatefulSet::KIND, &o.metadata),
            Object::Job(o) => (Job::KIND, &o.metadata),
            Object::PodDisruptionBudget(o) => (PodDisruptionBudget::KIND, &o.metadata),
            Object::Role(o) => (Role::KIND, &o.metadata),
            Object::RoleBinding(o) => (RoleBinding::KIND, &o.metadata),
        };
        format!("{kind} {}", meta.name.as_deref().unwrap_or("(unnamed)"))
    }

    /// The pod template of a workload object.
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        match &self.object {
            Object::Deployment(d) => Some(&d.spec.template),
            Object::StatefulSet(s) => Some(&s.spec.template),
            Object::Job(j) => j.spec.as_ref().map(|s| &s.template),
            _ => None,
        }
    }
}

/// The fields of a `kustomization.yaml` these manifests may use
/// (kubectl.docs.kubernetes.io, Kustomization reference).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    components: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    images: Option<Vec<KustomizeImage>>,
}

/// An `images:` entry of a kustomization.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct KustomizeImage {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

/// `value` as a `T`, or the paths of what the round trip through `T` lost
/// or changed (unknown fields, values of the wrong shape).
fn typed<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, Vec<String>> {
    let object: T =
        serde_json::from_value(value.clone()).map_err(|e| vec![format!("does not read: {e}")])?;
    let back = serde_json::to_value(&object).map_err(|e| vec![format!("does not write: {e}")])?;
    let mut lost = Vec::new();
    compare(value, &back, "", &mut lost);
    if lost.is_empty() {
        Ok(object)
    } else {
        Err(lost)
    }
}

/// Every path where `read` has something `back` (the round trip) lacks or
/// holds differently. Fields only `back` has (defaults such as a claim
/// template's `apiVersion`) are fine.
fn compare(read: &Value, back: &Value, path: &str, lost: &mut Vec<String>) {
    match (read, back) {
        (Value::Object(read), Value::Object(back)) => {
            for (key, value) in read {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match back.get(key) {
                    Some(kept) => compare(value, kept, &path, lost),
                    None => lost.push(format!("unknown field {path}")),
                }
            }
        }
        (Value::Array(read), Value::Array(back)) if read.len() == back.len() => {
            for (i, (r, b)) in read.iter().zip(back).enumerate() {
                compare(r, b, &format!("{path}[{i}]"), lost);
            }
        }
        (read, back) if read == back => {}
        (read, back) => lost.push(format!("field {path}: {read} read as {back}")),
    }
}

/// A document as the object its `apiVersion` and `kind` name.
fn object(value: &Value) -> Result<Object, Vec<String>> {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Err(vec!["no apiVersion or kind".to_owned()]);
    };
    fn of<T: Resource + DeserializeOwned + Serialize>(
        value: &Value,
        api_version: &str,
        kind: &str,
        wrap: fn(Box<T>) -> Object,
    ) -> Option<Result<Object, Vec<String>>> {
        (api_version == T::API_VERSION && kind == T::KIND)
            .then(|| typed::<T>(value).map(|o| wrap(Box::new(o))))
    }
    None.or_else(|| of(value, api_version, kind, Object::Namespace))
        .or_else(|| of(value, api_version, kind, Object::ServiceAccount))
        .or_else(|| of(value, api_version, kind, Object::ConfigMap))
        .or_else(|| of(value, api_version, kind, Object::Service))
        .or_else(|| of(value, api_version, kind, Object::Deployment))
        .or_else(|| of(value, api_version, kind, Object::StatefulSet))
        .or_else(|| of(value, api_version, kind, Object::Job))
        .or_else(|| of(value, api_version, kind, Object::PodDisruptionBudget))
        .or_else(|| of(value, api_version, kind, Object::Role))
        .or_else(|| of(value, api_version, kind, Object::RoleBinding))
        .unwrap_or_else(|| {
            Err(vec![format!(
                "{api_version} {kind} is not a kind these manifests may hold"
            )])
        })
}

/// The documents of one manifest file (`file` names it in messages), or
/// one message per problem: `FILE document N: unknown field PATH`.
fn read_manifest(file: &str, text: &str) -> Result<Vec<Doc>, Vec<String>> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| vec![format!("{file}: not YAML: {e}")])?;
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let index = i + 1;
        match object(value) {
            Ok(object) => docs.push(Doc {
                file: file.to_owned(),
                index,
                object,
            }),
            Err(lost) => problems.extend(
                lost.into_iter()
                    .map(|p| format!("{file} document {index}: {p}")),
            ),
        }
    }
    if problems.is_empty() {
        Ok(docs)
    } else {
        Err(problems)
    }
}

/// A `kustomization.yaml` (`file` names it in messages).
fn read_kustomization(file: &str, text: &str) -> Result<Kustomization, Vec<String>> {
    let value: Value =
        serde_saphyr::from_str(text).map_err(|e| vec![format!("{file}: not YAML: {e}")])?;
    let k: Kustomization = typed(&value).map_err(|lost| {
        lost.into_iter()
            .map(|p| format!("{file}: {p}"))
            .collect::<Vec<_>>()
    })?;
    if k.api_version != "kustomize.config.k8s.io/v1beta1" || k.kind != "Kustomization" {
        return Err(vec![format!(
            "{file}: {} {} is not a Kustomization",
            k.api_version, k.kind
        )]);
    }
    Ok(k)
}

/// Every `*.yaml`/`*.yml` below `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `path` relative to `deploy/kubernetes`, with `/`.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .expect("below deploy/kubernetes")
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every manifest and kustomization of `deploy/kubernetes`, or every
/// problem found in them.
struct Tree {
    docs: Vec<Doc>,
    /// Directory (relative) → its kustomization.
    kustomizations: BTreeMap<String, Kustomization>,
}

fn read_tree() -> Result<Tree, Vec<String>> {
    let root = deploy_dir();
    let mut docs = Vec::new();
    let mut kustomizations = BTreeMap::new();
    let mut problems = Vec::new();
    for path in yaml_files(&root) {
        let file = relative(&root, &path);
        let text = std::fs::read_to_string(&path).expect("read manifest");
        if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
            let dir = relative(&root, path.parent().expect("parent"));
            match read_kustomization(&file, &text) {
                Ok(k) => {
                    kustomizations.insert(dir, k);
                }
                Err(p) => problems.extend(p),
            }
        } else {
            match read_manifest(&file, &text) {
                Ok(d) => docs.extend(d),
                Err(p) => problems.extend(p),
            }
        }
    }
    if problems.is_empty() {
        Ok(Tree {
            docs,
            kustomizations,
        })
    } else {
        Err(problems)
    }
}

fn tree() -> Tree {
    read_tree().unwrap_or_else(|problems| panic!("deploy/kubernetes:\n{}", problems.join("\n")))
}

/// Every object of one variant of [`Object`], unboxed.
macro_rules! all_of {
    ($docs:expr, $variant:ident) => {
        $docs
            .iter()
            .filter_map(|d| match &d.object {
                Object::$variant(o) => Some(&**o),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// The one document named `kind name`.
fn find<'a>(docs: &'a [Doc], name: &str) -> &'a Doc {
    let found: Vec<&Doc> = docs.iter().filter(|d| d.name() == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name} in deploy/kubernetes");
    found[0]
}

/// Every container of a pod template, init containers included.
fn containers(t: &PodTemplateSpec) -> Vec<&Container> {
    let spec = t.spec.as_ref().expect("pod spec");
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .collect()
}

/// The container of a pod template that runs `seawall SUB`.
fn runs<'a>(t: &'a PodTemplateSpec, sub: &str) -> Option<&'a Container> {
    containers(t).into_iter().find(|c| {
        c.args
            .as_ref()
            .and_then(|a| a.first())
            .is_some_and(|a| a == sub)
    })
}

/// The labels of a pod template.
fn pod_labels(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// The selector of the Service named `name`, and its first port.
fn service(docs: &[Doc], name: &str) -> (BTreeMap<String, String>, i32) {
    let Object::Service(service) = &find(docs, &format!("Service {name}")).object else {
        unreachable!("found as a Service")
    };
    let spec = service.spec.as_ref().expect("service spec");
    let port = spec.ports.as_ref().expect("ports")[0].port;
    (spec.selector.clone().unwrap_or_default(), port)
}

/// Whether a selector selects pods with these labels.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value after `flag` in a container's args.
fn flag<'a>(c: &'a Container, flag: &str) -> Option<&'a str> {
    let args = c.args.as_deref().unwrap_or_default();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The container port `port` (a number or a port's name) designates.
fn resolve_port(c: &Container, port: &IntOrString) -> Option<i32> {
    let ports = c.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(n) => ports.iter().find(|p| p.container_port == *n),
        IntOrString::String(name) => ports.iter().find(|p| p.name.as_deref() == Some(name)),
    }
    .map(|p| p.container_port)
}

/// The Secret an env var reads: `(secret, key)`.
fn secret_ref(env: &EnvVar) -> Option<(&str, &str)> {
    env.value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.as_ref())
        .map(|s| (s.name.as_str(), s.key.as_str()))
}

#[test]
fn every_manifest_is_a_kubernetes_object_without_unknown_fields() {
    let tree = tree();
    let kinds: BTreeSet<String> = tree
        .docs
        .iter()
        .map(|d| d.name().split(' ').next().unwrap_or_default().to_owned())
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "Service",
        "Deployment",
        "StatefulSet",
        "Job",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
    ] {
        assert!(
            kinds.contains(kind),
            "a {kind} in deploy/kubernetes: {kinds:?}"
        );
    }
    // No two objects of one kind share a name (kustomize would refuse).
    let mut seen = BTreeSet::new();
    for d in &tree.docs {
        assert!(
            seen.insert(d.name()),
            "{} document {}: {} twice",
            d.file,
            d.index,
            d.name()
        );
    }
}

#[test]
fn kustomizations_list_every_manifest_once_and_only_existing_paths() {
    let tree = tree();
    let root = deploy_dir();
    let mut listed = BTreeSet::new();
    for (dir, k) in &tree.kustomizations {
        for resource in k
            .resources
            .iter()
            .flatten()
            .chain(k.components.iter().flatten())
        {
            let path = root.join(dir).join(resource);
            assert!(
                path.is_file() || path.join("kustomization.yaml").is_file(),
                "{dir}/kustomization.yaml lists {resource}, which is neither a file nor a \
                 directory with a kustomization.yaml"
            );
            if path.is_file() {
                assert!(
                    !resource.contains('/'),
                    "{dir}/kustomization.yaml: {resource} is another directory's file"
                );
                assert!(
                    listed.insert(relative(&root, &path.canonicalize().expect("exists"))),
                    "{dir}/{resource} listed twice"
                );
            }
        }
        assert_eq!(
            k.namespace.as_deref(),
            Some("seawall"),
            "{dir}/kustomization.yaml puts everything in the namespace seawall"
        );
    }
    let files: BTreeSet<String> = tree.docs.iter().map(|d| d.file.clone()).collect();
    for file in &files {
        assert!(
            listed.contains(file),
            "{file} is in no kustomization.yaml: kubectl apply -k would leave it out"
        );
    }
    // Every base is reached from an overlay.
    let mut reached = BTreeSet::new();
    let mut todo: Vec<String> = tree
        .kustomizations
        .keys()
        .filter(|d| d.starts_with("overlays/"))
        .cloned()
        .collect();
    assert!(
        !todo.is_empty(),
        "overlays under deploy/kubernetes/overlays"
    );
    while let Some(dir) = todo.pop() {
        if !reached.insert(dir.clone()) {
            continue;
        }
        for resource in tree.kustomizations[&dir].resources.iter().flatten() {
            let path = root.join(&dir).join(resource);
            if path.is_dir() {
                todo.push(relative(&root, &path.canonicalize().expect("exists")));
            }
        }
    }
    for dir in tree.kustomizations.keys() {
        assert!(reached.contains(dir), "{dir} is reached from no overlay");
    }
}

#[test]
fn a_misspelt_field_names_the_file_the_document_and_the_path() {
    let text = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: fine
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  selector:
    matchLabels: {app: typo}
  template:
    metadata:
      labels: {app: typo}
    spec:
      containers:
        - name: main
          image: seawall
        - name: sidecar
          image: seawall
          securityContext:
            readOnlyRootFilesytem: true
";
    let problems = read_manifest("workload/typo.yaml", text).expect_err("a misspelt field");
    assert_eq!(
        problems,
        ["workload/typo.yaml document 2: unknown field \
             spec.template.spec.containers[1].securityContext.readOnlyRootFilesytem"]
    );

    // A value of the wrong shape is named too, as is a kind nobody reads.
    let wrong = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n    - port: 80\n      targetPort: [http]\n";
    let problems = read_manifest("s.yaml", wrong).expect_err("a list for a port");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("s.yaml document 1: does not read"),
        "{problems:?}"
    );
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";
    assert_eq!(
        read_manifest("w.yaml", unknown).expect_err("unknown kind"),
        ["w.yaml document 1: example.com/v1 Widget is not a kind these manifests may hold"]
    );

    // kustomization.yaml is checked the same way.
    let k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resource:\n  - a.yaml\nimages:\n  - name: seawall\n    newTags: dev\n";
    assert_eq!(
        read_kustomization("base/kustomization.yaml", k).expect_err("misspelt fields"),
        [
            "base/kustomization.yaml: unknown field images[0].newTags",
            "base/kustomization.yaml: unknown field resource",
        ]
    );
}

#[test]
fn the_scale_role_grants_deployments_scale_and_nothing_else() {
    let tree = tree();
    let roles: Vec<&Role> = all_of!(tree.docs, Role);
    assert_eq!(roles.len(), 1, "one Role: the scale action's");
    let role = roles[0];
    let rules = role.rules.as_deref().unwrap_or_default();
    assert_eq!(rules.len(), 1, "one rule: {rules:?}");
    let rule = &rules[0];
    assert_eq!(rule.api_groups.as_deref(), Some(&["apps".to_owned()][..]));
    assert_eq!(
        rule.resources.as_deref(),
        Some(&["deployments/scale".to_owned()][..])
    );
    assert!(rule.non_resource_urls.is_none(), "{rule:?}");
    let verbs: BTreeSet<&str> = rule.verbs.iter().map(String::as_str).collect();
    // crates/kube reads the scale (GET) and merge-patches it (PATCH).
    assert!(
        verbs.contains("get") && verbs.contains("patch"),
        "the scale action reads and patches: {verbs:?}"
    );
    assert!(
        verbs.is_subset(&BTreeSet::from(["get", "patch", "update"])),
        "nothing but reading and changing the scale: {verbs:?}"
    );

    // Bound to the control plane's service account, and to nothing else.
    let bindings: Vec<&RoleBinding> = all_of!(tree.docs, RoleBinding);
    assert_eq!(bindings.len(), 1);
    let binding = bindings[0];
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let control = find(&tree.docs, "Deployment seawall-control");
    let pod = control
        .pod_template()
        .and_then(|t| t.spec.as_ref())
        .expect("pod spec");
    let account = pod
        .service_account_name
        .as_deref()
        .expect("a service account");
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].name, account);
    find(&tree.docs, &format!("ServiceAccount {account}"));

    // Only the control plane's replicas (any may be the evaluator, which
    // scales) get a service-account token at all.
    for d in &tree.docs {
        let Some(template) = d.pod_template() else {
            continue;
        };
        let spec = template.spec.as_ref().expect("pod spec");
        if runs(template, "serve").is_some() {
            assert_eq!(spec.automount_service_account_token, Some(true));
            assert_eq!(spec.service_account_name.as_deref(), Some(account));
        } else {
            assert_eq!(
                spec.automount_service_account_token,
                Some(false),
                "{}: no service-account token in pods that do not scale",
                d.name()
            );
            assert!(spec.service_account_name.is_none(), "{}", d.name());
        }
    }
}

#[test]
fn the_control_planes_probes_service_and_budget_reach_its_listen_port() {
    let tree = tree();
    let control = find(&tree.docs, "Deployment seawall-control");
    let Object::Deployment(deployment) = &control.object else {
        unreachable!("found as a Deployment")
    };
    let spec = &deployment.spec;
    assert!(
        spec.replicas.unwrap_or(1) >= 2,
        "replicas on PostgreSQL, so a disruption leaves one serving"
    );
    let template = &spec.template;
    let labels = pod_labels(template);
    let serve = runs(template, "serve").expect("a `seawall serve` container");
    let listen = flag(serve, "--listen").expect("--listen");
    let port: i32 = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("--listen HOST:PORT");
    assert!(
        listen.starts_with("0.0.0.0:"),
        "the kubelet and the Service reach the pod's address: {listen}"
    );
    for (probe, path) in [
        (&serve.readiness_probe, "/readyz"),
        (&serve.liveness_probe, "/healthz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("an HTTP probe on {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(
            resolve_port(serve, &get.port),
            Some(port),
            "{path} on {listen}"
        );
        assert!(get.scheme.as_deref().is_none_or(|s| s == "HTTP"));
    }

    // Both Services reach the same port (the fleet's pod is this one).
    assert!(selects(&service(&tree.docs, "seawall-control").0, &labels));
    for name in ["seawall-control", "seawall-fleet"] {
        let Object::Service(svc) = &find(&tree.docs, &format!("Service {name}")).object else {
            unreachable!("found as a Service")
        };
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        assert_eq!(ports.len(), 1, "{name}");
        let target = ports[0].target_port.clone().expect("targetPort");
        assert_eq!(resolve_port(serve, &target), Some(port), "{name}");
    }

    // The budget covers the same pods and leaves one up.
    let pdb = find(&tree.docs, "PodDisruptionBudget seawall-control");
    let Object::PodDisruptionBudget(pdb) = &pdb.object else {
        unreachable!("found as a PodDisruptionBudget")
    };
    let p = pdb.spec.as_ref().expect("pdb spec");
    assert_eq!(p.min_available, Some(IntOrString::Int(1)));
    let matches = p
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    assert!(selects(&matches, &labels));
    assert_eq!(
        Some(&matches),
        spec.selector.match_labels.as_ref(),
        "the budget selects the Deployment's pods"
    );
}

#[test]
fn every_container_runs_as_non_root_on_a_read_only_root_without_capabilities() {
    let tree = tree();
    let mut seen = 0;
    for d in &tree.docs {
        let Some(template) = d.pod_template() else {
            continue;
        };
        let spec = template.spec.as_ref().expect("pod spec");
        let pod = spec.security_context.clone().unwrap_or_default();
        assert_eq!(
            pod.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
            Some("RuntimeDefault"),
            "{}",
            d.name()
        );
        for c in containers(template) {
            seen += 1;
            let what = format!("{} container {}", d.name(), c.name);
            let sc = c
                .security_context
                .clone()
                .unwrap_or_else(|| panic!("{what}: a securityContext"));
            assert_eq!(
                sc.run_as_non_root.or(pod.run_as_non_root),
                Some(true),
                "{what}: runAsNonRoot"
            );
            let uid = sc.run_as_user.or(pod.run_as_user);
            assert!(
                uid.is_some_and(|u| u > 0),
                "{what}: a numeric non-root user"
            );
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{what}");
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}");
            assert_ne!(sc.privileged, Some(true), "{what}");
            let caps = sc.capabilities.clone().unwrap_or_default();
            assert_eq!(
                caps.drop.as_deref(),
                Some(&["ALL".to_owned()][..]),
                "{what}"
            );
            assert!(caps.add.is_none(), "{what}: no capability added");
            assert!(
                c.resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .is_some_and(|l| l.contains_key("memory")),
                "{what}: a memory limit"
            );
        }
    }
    assert!(
        seen >= 5,
        "control plane, PostgreSQL, app, sidecar, agent: {seen}"
    );
}

#[test]
fn secrets_come_from_secrets_never_from_the_manifests() {
    let tree = tree();
    let secretish = ["TOKEN", "PASSWORD", "SECRET", "KEY", "SEAWALL_DB"];
    let mut secret_refs = BTreeSet::new();
    for d in &tree.docs {
        if let Object::ConfigMap(cm) = &d.object {
            for (k, v) in cm.data.iter().flatten() {
                assert!(
                    !v.contains("://") || !v.contains('@'),
                    "{}: {k} looks like a URL with credentials",
                    d.name()
                );
            }
        }
        let Some(template) = d.pod_template() else {
            continue;
        };
        for c in containers(template) {
            let what = format!("{} container {}", d.name(), c.name);
            for env in c.env.iter().flatten() {
                if secretish.iter().any(|s| env.name.contains(s)) {
                    assert!(env.value.is_none(), "{what}: {} inline", env.name);
                    let (name, key) = secret_ref(env)
                        .unwrap_or_else(|| panic!("{what}: {} from a Secret", env.name));
                    secret_refs.insert(format!("{name}/{key}"));
                }
            }
            for arg in c.args.iter().flatten().chain(c.command.iter().flatten()) {
                assert!(
                    !arg.contains("postgres://") && !arg.starts_with("--token"),
                    "{what}: a credential in the arguments ({arg})"
                );
            }
        }
    }
    // The Secrets docs/scale-out.md tells to create, and only those.
    let documented = std::fs::read_to_string(deploy_dir().join("../../docs/scale-out.md"))
        .expect("docs/scale-out.md");
    for r in &secret_refs {
        let (name, key) = r.split_once('/').expect("name/key");
        assert!(
            documented.contains(&format!("secret generic {name} "))
                && documented.contains(&format!("--from-literal={key}=")),
            "docs/scale-out.md tells how to create Secret {name} with key {key}"
        );
    }
    assert!(secret_refs.len() >= 5, "{secret_refs:?}");
}

#[test]
fn the_agents_are_an_indexed_job_and_the_sidecar_follows_the_control_plane() {
    let tree = tree();
    let jobs: Vec<&Doc> = tree
        .docs
        .iter()
        .filter(|d| matches!(d.object, Object::Job(_)))
        .collect();
    assert_eq!(jobs.len(), 1);
    let Object::Job(job) = &jobs[0].object else {
        unreachable!("filtered")
    };
    let spec = job.spec.as_ref().expect("job spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert!(spec.completions.is_some_and(|n| n >= 2));
    assert_eq!(spec.completions, spec.parallelism, "every agent at once");
    assert_eq!(
        spec.backoff_limit,
        Some(0),
        "a failed agent's share is reported, not sent again by a new pod"
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let agent = &pod.containers[0];
    assert_eq!(
        agent
            .args
            .as_ref()
            .and_then(|a| a.first())
            .map(String::as_str),
        Some("agent")
    );
    assert!(
        agent
            .env
            .iter()
            .flatten()
            .all(|e| e.name != "JOB_COMPLETION_INDEX"),
        "Kubernetes sets JOB_COMPLETION_INDEX itself in an Indexed Job"
    );

    // Agents reach the one fleet replica; sidecars any replica.
    let (_, port) = service(&tree.docs, "seawall-fleet");
    let fleet = format!("http://seawall-fleet:{port}");
    assert_eq!(flag(agent, "--control"), Some(fleet.as_str()));
    let (_, port) = service(&tree.docs, "seawall-control");
    let url = format!("http://seawall-control:{port}");

    let sidecars: Vec<(&Doc, &PodTemplateSpec, &Container)> = tree
        .docs
        .iter()
        .filter_map(|d| d.pod_template().map(|t| (d, t)))
        .filter_map(|(d, t)| runs(t, "sidecar").map(|c| (d, t, c)))
        .collect();
    assert!(!sidecars.is_empty(), "a workload with the sidecar");
    for (d, template, c) in sidecars {
        let what = format!("{} container {}", d.name(), c.name);
        assert_eq!(flag(c, "--control"), Some(url.as_str()), "{what}");
        assert!(flag(c, "--service").is_some(), "{what}");
        let token = c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "SEAWALL_TOKEN")
            .and_then(secret_ref);
        assert!(token.is_some(), "{what}: its token from a Secret");
        // The workload's Service sends traffic to the sidecar, never past it.
        let labels = pod_labels(template);
        let listen = flag(c, "--listen").expect("--listen");
        let guarded: i32 = listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("--listen HOST:PORT");
        let fronting: Vec<&Service> = all_of!(tree.docs, Service)
            .into_iter()
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| selects(sel, &labels))
            })
            .collect();
        assert_eq!(fronting.len(), 1, "{what}: one Service in front");
        for p in fronting[0]
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .expect("ports")
        {
            let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
            assert_eq!(resolve_port(c, &target), Some(guarded), "{what}: {p:?}");
        }
    }
}

#[test]
fn agents_reach_one_replica_which_runs_the_control_planes_pod() {
    let tree = tree();
    let template = |name: &str| {
        find(&tree.docs, &format!("Deployment {name}"))
            .pod_template()
            .expect("a pod template")
            .clone()
    };
    let (control, fleet) = (template("seawall-control"), template("seawall-fleet"));
    let Object::Deployment(d) = &find(&tree.docs, "Deployment seawall-fleet").object else {
        unreachable!("found as a Deployment")
    };
    // Runs across agents live in one replica's memory: one pod, never two.
    assert_eq!(d.spec.replicas, Some(1));
    assert_eq!(
        d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("Recreate")
    );
    // The same pod as the control plane's, container for container.
    let (c, f) = (
        control.spec.as_ref().expect("pod spec"),
        fleet.spec.as_ref().expect("pod spec"),
    );
    assert_eq!(c.containers, f.containers);
    assert_eq!(c.volumes, f.volumes);
    assert_eq!(c.security_context, f.security_context);
    assert_eq!(c.service_account_name, f.service_account_name);
    assert_eq!(
        c.automount_service_account_token,
        f.automount_service_account_token
    );
    // seawall-fleet selects that pod only; seawall-control not it.
    let (fleet_selector, _) = service(&tree.docs, "seawall-fleet");
    let (control_selector, _) = service(&tree.docs, "seawall-control");
    assert!(selects(&fleet_selector, &pod_labels(&fleet)));
    assert!(!selects(&fleet_selector, &pod_labels(&control)));
    assert!(selects(&control_selector, &pod_labels(&control)));
    assert!(!selects(&control_selector, &pod_labels(&fleet)));
    for d in &tree.docs {
        if let Some(t) = d.pod_template()
            && d.name() != "Deployment seawall-fleet"
        {
            assert!(!selects(&fleet_selector, &pod_labels(t)), "{}", d.name());
        }
    }
}
