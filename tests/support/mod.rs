//! Harness of the integration tests (`tests/integration_*.rs`).
//!
//! The tests are `#[ignore]`d: `make test-integration` starts a local cluster (real API server,
//! etcd, controller manager and scheduler; nodes simulated by kwok), sets `KUBECONFIG` and runs
//! them with `--ignored`. Each test gets fresh namespaces and its own operator process, started
//! from the `kraftwerk` binary Cargo builds for the test and limited to those namespaces, so
//! tests never see each other's objects and every operator's metrics belong to one test.
//!
//! Env: `KUBECONFIG` (required), `KRAFTWERK_KUBECTL` (kubectl to install the CRD with; default
//! `kubectl`), `KRAFTWERK_TEST_LOGS` (directory for operator logs; default `target/test-logs`),
//! `KRAFTWERK_KEEP_NAMESPACES=1` (leave the namespaces for a look after the run).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kraftwerk::crd::KafkaCluster;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous: two cores are shared by the control plane, the operator and the test.
pub const TIMEOUT: Duration = Duration::from_secs(180);
pub const CRD_NAME: &str = "kafkaclusters.kraftwerk.dev";
/// Label every test namespace carries, so leftovers are easy to find and delete.
pub const TEST_LABEL: &str = "kraftwerk.dev/test";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client for the cluster `KUBECONFIG` points at.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the integration tests with `make test-integration`"
    );
    Client::try_default()
        .await
        .expect("a kube client from KUBECONFIG")
}

pub fn kubectl() -> Command {
    let bin = std::env::var("KRAFTWERK_KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    Command::new(bin)
}

/// A kubeconfig for ServiceAccount `sa` in `ns` (in a temporary file, returned): the test
/// cluster's server and CA, a token of the ServiceAccount, `ns` as the context's namespace: what
/// a pod running as that account gets.
pub fn service_account_kubeconfig(ns: &str, sa: &str) -> PathBuf {
    let token = kubectl()
        .args(["create", "token", sa, "-n", ns, "--duration", "2h"])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let view = kubectl()
        .args(["config", "view", "--raw", "--minify", "-o", "json"])
        .output()
        .unwrap();
    let admin: Value = serde_json::from_slice(&view.stdout).unwrap();
    let cluster = admin["clusters"][0]["cluster"].clone();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{ "name": "c", "cluster": cluster }],
        "users": [{ "name": sa, "user": { "token": String::from_utf8_lossy(&token.stdout).trim() } }],
        "contexts": [{ "name": "c", "context": { "cluster": "c", "user": sa, "namespace": ns } }],
        "current-context": "c",
    });
    let path = std::env::temp_dir().join(format!("kubeconfig-{ns}-{sa}"));
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

/// `kubectl apply -f crds/`, exactly what a user runs; returns kubectl's stdout.
pub fn kubectl_apply_crds() -> String {
    let out = kubectl()
        .arg("apply")
        .arg("-f")
        .arg(repo_root().join("crds"))
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl apply -f crds/ failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the CRD once per test binary and waits until it is Established.
pub async fn ensure_crd(client: &Client) {
    static APPLIED: OnceLock<String> = OnceLock::new();
    APPLIED.get_or_init(kubectl_apply_crds);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for("the CRD to be Established", Duration::from_secs(60), || async {
        let crd = crds.get_opt(CRD_NAME).await.ok()??;
        let established = crd
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
}

/// Polls `probe` every 500 ms until it returns `Some`, and panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn test_logs_dir() -> PathBuf {
    std::env::var_os("KRAFTWERK_TEST_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target").join("test-logs"))
}

/// The operator binary running as a child process; killed when dropped.
pub struct Operator {
    child: Child,
    pub metrics_addr: SocketAddr,
    pub log_path: PathBuf,
}

impl Operator {
    /// Starts `kraftwerk run` for `namespaces`, alone (no leader election), and waits until
    /// `/readyz` answers 200.
    pub async fn start(name: &str, namespaces: &[String]) -> Operator {
        Self::start_with(name, namespaces, &["--leader-election=false"], &[]).await
    }

    /// Starts a replica with leader election: the Lease `kraftwerk-operator` in `lease_ns`, this
    /// replica named `identity`. Returns once it is ready: leading or standing by.
    pub async fn start_elected(
        name: &str,
        namespaces: &[String],
        lease_ns: &str,
        identity: &str,
    ) -> Operator {
        Self::start_with(
            name,
            namespaces,
            &["--leader-election=true", "--lease-namespace", lease_ns],
            &[("POD_NAME", identity)],
        )
        .await
    }

    /// Starts `kraftwerk run` for `namespaces` with extra arguments and environment.
    pub async fn start_with(
        name: &str,
        namespaces: &[String],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let mut op = Self::spawn(name, namespaces, args, env);
        op.wait_ready(Duration::from_secs(60)).await;
        op
    }

    /// Starts `kraftwerk run` without waiting for it to be ready.
    pub fn spawn(name: &str, namespaces: &[String], args: &[&str], env: &[(&str, &str)]) -> Operator {
        let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let dir = test_logs_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = dir.join(format!("{name}.operator.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kraftwerk"))
            .arg("run")
            .arg("--namespaces")
            .arg(namespaces.join(","))
            .arg("--metrics-addr")
            .arg(metrics_addr.to_string())
            .arg("--log-level")
            .arg("debug")
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LOG", "info,kraftwerk=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the kraftwerk binary");
        Operator {
            child,
            metrics_addr,
            log_path,
        }
    }

    /// Waits until `/readyz` answers 200; panics with the log tail if the process exits or
    /// `timeout` passes.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the operator exited with {status} at startup:\n{}",
                    self.log_tail(40)
                );
            }
            if let Ok((200, _)) = http_get(self.metrics_addr, "/readyz").await {
                return;
            }
            if start.elapsed() > timeout {
                panic!(
                    "the operator's /readyz did not answer 200 in {timeout:?}:\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// kill -9 (a crash at any point, as far as the cluster can tell) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends the signal `name` (`TERM`, `STOP`, `CONT` …) to the operator.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// kill -TERM (what the kubelet sends first) and wait up to `timeout` for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait_exit(timeout).await
    }

    /// Waits up to `timeout` for the operator to exit; its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "the operator did not exit within {timeout:?}:\n{}",
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until this replica leads (`kraftwerk_is_leader` 1); returns how long that took.
    pub async fn wait_leader(&self, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Ok((200, body)) = http_get(self.metrics_addr, "/metrics").await
                && metric_sum(&body, "kraftwerk_is_leader") == 1.0
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "the operator did not lead within {timeout:?}:\n{}",
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The whole `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        let (code, body) = http_get(self.metrics_addr, "/metrics")
            .await
            .expect("GET /metrics");
        assert_eq!(code, 200, "GET /metrics answered {code}");
        body
    }

    /// The sum of every series of the counter or gauge `name` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.metrics_text().await, name)
    }

    /// The operator's API requests by verb (`kraftwerk_kube_requests_total{verb}`).
    pub async fn requests_by_verb(&self) -> std::collections::BTreeMap<String, f64> {
        let text = self.metrics_text().await;
        text.lines()
            .filter_map(|l| l.strip_prefix("kraftwerk_kube_requests_total{verb=\""))
            .filter_map(|l| {
                let (verb, rest) = l.split_once('"')?;
                Some((verb.to_string(), rest.rsplit_once(' ')?.1.parse().ok()?))
            })
            .collect()
    }

    /// The requests other than watches, by verb, once they stopped moving for 5 s (at most
    /// `timeout`).
    pub async fn settled_requests(&self, timeout: Duration) -> std::collections::BTreeMap<String, f64> {
        let requests = || async {
            let mut by_verb = self.requests_by_verb().await;
            by_verb.remove("watch");
            by_verb
        };
        let start = std::time::Instant::now();
        let mut before = requests().await;
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = requests().await;
            if now == before {
                return now;
            }
            assert!(
                start.elapsed() < timeout,
                "the operator kept sending requests: {before:?} -> {now:?}"
            );
            before = now;
        }
    }

    /// Annotates the KafkaCluster `name` `times` times (no spec change), each time waiting for
    /// the reconcile it brings.
    pub async fn poke(&self, kcs: &Api<DynamicObject>, name: &str, times: usize) {
        for poke in 1..=times {
            let reconciles = self.metric("kraftwerk_reconcile_total").await;
            let patch =
                json!({ "metadata": { "annotations": { "test.kraftwerk.dev/poke": poke.to_string() } } });
            kcs.patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .expect("annotate");
            wait_for(
                "a reconcile after the annotation",
                Duration::from_secs(60),
                || async { (self.metric("kraftwerk_reconcile_total").await > reconciles).then_some(()) },
            )
            .await;
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sums the samples of `name` in a Prometheus text exposition (`name` and `name{...}` lines;
/// `name_total` is also accepted for a counter registered as `name`).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name || metric == format!("{name}_total")).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// A minimal HTTP/1.0 GET, enough for the operator's health and metrics endpoints.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer: {text:.80}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| std::io::Error::other("timeout"))?
}

/// One test's world: fresh namespaces, the CRD installed, an operator watching the namespaces.
pub struct TestEnv {
    pub client: Client,
    /// The first namespace; `namespaces[0]`.
    pub ns: String,
    pub namespaces: Vec<String>,
    pub operator: Operator,
}

impl TestEnv {
    /// One namespace.
    pub async fn new(test: &str) -> TestEnv {
        Self::with_namespaces(test, 1).await
    }

    /// `count` namespaces, all watched by the test's operator.
    pub async fn with_namespaces(test: &str, count: usize) -> TestEnv {
        Self::setup(test, count, false).await
    }

    /// One namespace, watched by an operator with leader election whose Lease lives in that
    /// namespace, named `operator-a`; it leads when this returns.
    pub async fn elected(test: &str) -> TestEnv {
        let env = Self::setup(test, 1, true).await;
        env.operator.wait_leader(Duration::from_secs(60)).await;
        env
    }

    /// Another replica of an [`elected`](Self::elected) operator, named `identity`.
    pub async fn start_replica(&self, identity: &str) -> Operator {
        let name = format!("{}-{identity}", self.ns);
        Operator::start_elected(&name, &self.namespaces, &self.ns, identity).await
    }

    async fn setup(test: &str, count: usize, elected: bool) -> TestEnv {
        let client = client().await;
        ensure_crd(&client).await;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let base: String = test.replace('_', "-").chars().take(40).collect();
        let namespaces: Vec<String> = (0..count)
            .map(|i| format!("{base}-{}-{i}", &suffix[..5]))
            .collect();
        let ns_api: Api<Namespace> = Api::all(client.clone());
        for ns in &namespaces {
            let obj: Namespace = serde_json::from_value(json!({
                "metadata": { "name": ns, "labels": { TEST_LABEL: "true" } }
            }))
            .unwrap();
            ns_api
                .create(&PostParams::default(), &obj)
                .await
                .expect("create the test namespace");
            // Pods are refused until the controller manager has created the default ServiceAccount.
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
            wait_for("the default ServiceAccount", Duration::from_secs(60), || async {
                sas.get_opt("default").await.ok()?.map(|_| ())
            })
            .await;
        }
        let name = format!("{test}-{}", &suffix[..5]);
        let operator = if elected {
            Operator::start_elected(&name, &namespaces, &namespaces[0], "operator-a").await
        } else {
            Operator::start(&name, &namespaces).await
        };
        TestEnv {
            client,
            ns: namespaces[0].clone(),
            namespaces,
            operator,
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn api_in<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// The KafkaClusters of `ns` as untyped objects: for specs the Rust types cannot express.
    pub fn dyn_kc(&self, ns: &str) -> Api<DynamicObject> {
        let ar = ApiResource::erase::<KafkaCluster>(&());
        Api::namespaced_with(self.client.clone(), ns, &ar)
    }

    /// Creates a KafkaCluster from JSON (`spec` as given) in `ns`.
    pub async fn create_kc(&self, ns: &str, name: &str, spec: Value) -> kube::Result<DynamicObject> {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kraftwerk.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": { "name": name, "namespace": ns },
            "spec": spec,
        }))
        .unwrap();
        self.dyn_kc(ns).create(&PostParams::default(), &obj).await
    }

    /// Merge-patches a KafkaCluster's spec.
    pub async fn patch_kc_spec(&self, ns: &str, name: &str, spec: Value) -> kube::Result<DynamicObject> {
        self.dyn_kc(ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
    }

    /// Polls `f` (every 50 ms) until it holds; panics with the operator's log after `timeout`.
    pub async fn wait_until<F: Fn() -> bool>(&self, what: &str, timeout: Duration, f: F) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}\noperator log:\n{}",
                self.operator.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Merge-patches annotations onto a KafkaCluster of the first namespace.
    pub async fn annotate_kc(&self, name: &str, annotations: Value) {
        self.dyn_kc(&self.ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .expect("annotate the KafkaCluster");
    }

    pub async fn get_kc(&self, ns: &str, name: &str) -> KafkaCluster {
        self.api_in::<KafkaCluster>(ns)
            .get(name)
            .await
            .expect("get the KafkaCluster")
    }

    /// Waits until the KafkaCluster's condition `type_` has `status` (and `reason`, if given)
    /// for the current generation; returns the object.
    pub async fn wait_condition(
        &self,
        ns: &str,
        name: &str,
        type_: &str,
        status: &str,
        reason: Option<&str>,
    ) -> KafkaCluster {
        let api: Api<KafkaCluster> = self.api_in(ns);
        let what = format!("{ns}/{name} to have {type_}={status} (reason {reason:?})");
        let start = Instant::now();
        let mut last = None;
        loop {
            if let Ok(kc) = api.get(name).await {
                let gen_ok = match (&kc.status, kc.metadata.generation) {
                    (Some(s), Some(g)) => s.observed_generation == Some(g),
                    _ => false,
                };
                let cond = kc
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_).cloned());
                if let Some(c) = &cond
                    && gen_ok
                    && c.status == status
                    && reason.is_none_or(|r| c.reason == r)
                {
                    return kc;
                }
                last = Some(kc.status.clone());
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "timed out after {TIMEOUT:?} waiting for {what}; last status: {}\noperator log:\n{}",
                    serde_json::to_string_pretty(&last).unwrap_or_default(),
                    self.operator.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn wait_ready(&self, ns: &str, name: &str) -> KafkaCluster {
        self.wait_condition(ns, name, "Ready", "True", None).await
    }

    /// Names of the objects of kind `K` in `ns` that carry `kraftwerk.dev/cluster=<cluster>`.
    pub async fn names_of<K>(&self, ns: &str, cluster: &str) -> Vec<String>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = self.api_in(ns);
        let lp = ListParams::default().labels(&format!("kraftwerk.dev/cluster={cluster}"));
        let mut names: Vec<String> = api
            .list(&lp)
            .await
            .expect("list")
            .items
            .iter()
            .map(|o| o.name_any())
            .collect();
        names.sort();
        names
    }

    /// Every object of kind `K` in `ns`, by name.
    pub async fn all_of<K>(&self, ns: &str) -> BTreeMap<String, K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = self.api_in(ns);
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|o| (o.name_any(), o))
            .collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- operator log ({}), last lines ---\n{}",
                self.operator.log_path.display(),
                self.operator.log_tail(60)
            );
        }
        if std::env::var("KRAFTWERK_KEEP_NAMESPACES").as_deref() == Ok("1") {
            eprintln!("keeping namespaces {:?}", self.namespaces);
            return;
        }
        // Drop cannot await: delete the namespaces from a thread with its own runtime and its
        // own client (the test's client runs on the test's runtime, which is blocked here).
        let namespaces = self.namespaces.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(client) = Client::try_default().await else {
                    return;
                };
                let api: Api<Namespace> = Api::all(client);
                for ns in namespaces {
                    let _ = api.delete(&ns, &DeleteParams::background()).await;
                }
            });
        })
        .join();
    }
}

/// The expected object names of a cluster, from docs/architecture.md, "Nodes, ids and names".
pub struct Names {
    pub cluster: String,
    pub brokers: Vec<(i32, String)>,
    pub controllers: Vec<(i32, String)>,
}

impl Names {
    pub fn new(cluster: &str, brokers: i32, controllers: i32) -> Names {
        Names {
            cluster: cluster.to_string(),
            brokers: (0..brokers)
                .map(|i| (i, format!("{cluster}-broker-{i}")))
                .collect(),
            controllers: (0..controllers)
                .map(|i| (9000 + i, format!("{cluster}-controller-{}", 9000 + i)))
                .collect(),
        }
    }

    pub fn pods(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .brokers
            .iter()
            .chain(&self.controllers)
            .map(|(_, n)| n.clone())
            .collect();
        v.sort();
        v
    }

    pub fn pvcs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.pods().iter().map(|p| format!("data-{p}")).collect();
        v.sort();
        v
    }

    pub fn services(&self) -> Vec<String> {
        let mut v = vec![
            format!("{}-kafka-headless", self.cluster),
            format!("{}-kafka-bootstrap", self.cluster),
        ];
        v.sort();
        v
    }

    pub fn pdbs(&self) -> Vec<String> {
        let mut v = vec![
            format!("{}-brokers", self.cluster),
            format!("{}-controllers", self.cluster),
        ];
        v.sort();
        v
    }
}

/// Reads a file under the repository root.
pub fn read_repo_file(rel: impl AsRef<Path>) -> String {
    std::fs::read_to_string(repo_root().join(rel)).expect("read a repository file")
}
