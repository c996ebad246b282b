//! Test support: run real Apache Kafka nodes (JVM processes) on loopback.
//!
//! - [`libs_dir`]: the jars fetched by `tests/kafka/fetch.sh` (cached in
//!   `~/.cache/kraftwerk/kafka-<version>/libs`; `KRAFTWERK_KAFKA_LIBS` overrides).
//! - [`KafkaNode`]: one node process: format storage, start, SIGTERM stop, kill -9, restart,
//!   RSS, log access. Every JVM gets a watchdog that kills it when the test process is gone.
//! - [`map_to_loopback`]: the test-only address mapping applied to rendered configs
//!   (see docs/kafka-admin.md, "Address mapping").
//! - [`TestCluster`]: a set of nodes sharing a cluster id, with readiness polling, log
//!   scanning for rejected/unknown config keys, and a Rust produce/fetch data path.
//!
//! Tests that use this are `#[ignore]`d and run by `make test-kafka`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kraftwerk::admin::{AdminClient, AdminConfig, AdminError, Target};

pub mod producer;

pub const KAFKA_VERSION: &str = "4.3.1";

/// A result with a human-readable error (tests print it).
pub type Res<T> = Result<T, String>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory with Kafka's jars; runs `tests/kafka/fetch.sh` (seconds when cached).
pub fn libs_dir() -> Res<PathBuf> {
    if let Ok(dir) = std::env::var("KRAFTWERK_KAFKA_LIBS") {
        return Ok(PathBuf::from(dir));
    }
    libs_dir_for(KAFKA_VERSION)
}

/// The jars of Kafka `version` (`KAFKA_VERSION=<version> tests/kafka/fetch.sh`, cached in
/// `~/.cache/kraftwerk/kafka-<version>/libs`).
pub fn libs_dir_for(version: &str) -> Res<PathBuf> {
    let out = Command::new("bash")
        .arg(repo().join("tests/kafka/fetch.sh"))
        .env("KAFKA_VERSION", version)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running fetch.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("tests/kafka/fetch.sh failed: {}", out.status));
    }
    let dir = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    let dir = PathBuf::from(dir);
    if !dir.join(format!("kafka_2.13-{version}.jar")).is_file() {
        return Err(format!(
            "fetch.sh printed {dir:?}, which lacks kafka_2.13-{version}.jar"
        ));
    }
    Ok(dir)
}

/// `java` set up for one of Kafka's tools (small heap, the tools' log4j2 file) on the jars in
/// `libs`; the caller adds the class and its arguments.
pub fn tool_command(libs: &Path) -> Command {
    let mut c = Command::new("java");
    c.args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(format!(
            "-Dlog4j2.configurationFile=file:{}",
            repo().join("tests/kafka/log4j2-tools.properties").display()
        ))
        .arg("-cp")
        .arg(classpath(libs));
    c
}

/// The readiness probe of a node: its listener accepts a TCP connection (up to three tries: a
/// loaded machine can miss one short connect, and a kubelet probe has a failure threshold too).
pub fn listener_open(cluster: &TestCluster, id: i32) -> bool {
    let Ok(node) = cluster.node(id) else { return false };
    let addr = match node.role {
        Role::Controller => node.controller_address(),
        _ => node.client_address(),
    };
    addr.and_then(|a| {
        use std::net::ToSocketAddrs;
        a.to_socket_addrs().ok()?.next()
    })
    .is_some_and(|a| {
        (0..3).any(|_| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
    })
}

/// Creates a topic with replication factor 3 and `min.insync.replicas=2` and waits for full ISRs.
pub async fn create_topic<C: kraftwerk::admin::Connector>(
    admin: &AdminClient<C>,
    topic: &str,
    partitions: i32,
) {
    admin
        .create_topic(
            &kraftwerk::admin::NewTopic::new(topic, partitions, 3).with_config("min.insync.replicas", "2"),
        )
        .await
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    let started = Instant::now();
    loop {
        if let Ok(t) = admin.describe_topic(topic).await
            && t.partitions.len() == partitions as usize
            && t.partitions.iter().all(|p| p.isr.len() == 3)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "topic {topic} not fully replicated"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn classpath(libs: &Path) -> String {
    format!("{}/*", libs.display())
}

/// JVM flags for test nodes: small heap, C1 only, SerialGC (fast start on 2 cores).
pub fn jvm_flags() -> Vec<String> {
    let heap = std::env::var("KRAFTWERK_KAFKA_HEAP").unwrap_or_else(|_| "256m".to_string());
    vec![
        "-Xms64m".into(),
        format!("-Xmx{heap}"),
        "-XX:+UseSerialGC".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-XX:-UsePerfData".into(),
        "-Xss512k".into(),
        "-Djava.awt.headless=true".into(),
        format!(
            "-Dlog4j2.configurationFile=file:{}",
            repo().join("tests/kafka/log4j2.properties").display()
        ),
    ]
}

/// A fresh Kafka cluster id: 16 random bytes, base64url without padding (as
/// `kafka-storage random-uuid`), never starting with '-'.
pub fn random_cluster_id() -> String {
    use base64::Engine as _;
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// A free loopback TCP port (bound, then released).
/// A port below the kernel's ephemeral range (32768 and up on Linux), free when asked. A port
/// the kernel hands out for `bind(0)` comes from the ephemeral range, where any outgoing
/// connection (another JVM's client socket) may take it between this probe and Kafka's bind:
/// that flaked as "Address already in use". Ports are taken in turn from 20000-32767, starting
/// at an offset of this process's id, so parallel test processes rarely meet.
pub fn free_port() -> Res<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_768;
    let start = std::process::id().wrapping_mul(613) % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::SeqCst)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port in 20000-32767".into())
}

/// A unique scratch directory under the system temp dir.
pub fn scratch_dir(label: &str) -> Res<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kraftwerk-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
    Ok(dir)
}

/// Removes `dir` a few seconds after this test process exits (even if it is killed),
/// unless `KRAFTWERK_KEEP_KAFKA_DIRS` is set.
pub fn remove_after_exit(dir: &Path) {
    if std::env::var_os("KRAFTWERK_KEEP_KAFKA_DIRS").is_some() {
        eprintln!("kafka test files kept in {}", dir.display());
        return;
    }
    let _ = Command::new("sh")
        .arg("-c")
        .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; sleep 3; rm -rf "$2""#)
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn signal(pid: u32, sig: &str) -> Res<()> {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("kill -{sig} {pid}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("kill -{sig} {pid}: {st}"))
    }
}

/// Role of a node in the KRaft cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Broker,
    Controller,
    Combined,
}

impl Role {
    pub fn from_process_roles(v: &str) -> Role {
        let b = v.contains("broker");
        let c = v.contains("controller");
        match (b, c) {
            (true, true) => Role::Combined,
            (false, true) => Role::Controller,
            _ => Role::Broker,
        }
    }
    pub fn is_broker(self) -> bool {
        matches!(self, Role::Broker | Role::Combined)
    }
    pub fn is_controller(self) -> bool {
        matches!(self, Role::Controller | Role::Combined)
    }
}

/// One node's configuration before the loopback mapping (what the operator renders).
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub node_id: i32,
    pub role: Role,
    pub fqdn: String,
    pub server_properties: String,
    /// Quorum arguments of `kafka-storage format` (`--initial-controllers ...`), as rendered.
    pub format_args: Vec<String>,
}

impl From<&kraftwerk::render::RenderedNode> for NodeSpec {
    /// The node exactly as the operator renders it.
    fn from(n: &kraftwerk::render::RenderedNode) -> Self {
        NodeSpec {
            name: n.pod_name.clone(),
            node_id: n.node_id,
            role: match n.role {
                kraftwerk::names::Role::Broker => Role::Broker,
                kraftwerk::names::Role::Controller => Role::Controller,
            },
            fqdn: n.fqdn.clone(),
            server_properties: n.server_properties.clone(),
            format_args: n.format_args.clone(),
        }
    }
}

/// Parses a `server.properties` text (no line continuations; the renderer emits none).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let idx = l.find(['=', ':'])?;
            Some((l[..idx].trim().to_string(), l[idx + 1..].trim().to_string()))
        })
        .collect()
}

/// `NAME://host:port` entries of a `listeners` / `advertised.listeners` value.
pub fn parse_listeners(value: &str) -> Res<Vec<(String, String, u16)>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|l| {
            let (name, rest) = l.split_once("://").ok_or_else(|| format!("bad listener {l:?}"))?;
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("bad listener {l:?}"))?;
            let port = port.parse::<u16>().map_err(|_| format!("bad port in {l:?}"))?;
            Ok((name.to_string(), host.to_string(), port))
        })
        .collect()
}

/// The test-only address mapping: every `(fqdn, port)` a node listens on gets a unique
/// loopback port.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    pub ports: BTreeMap<(String, u16), u16>,
}

impl AddressMap {
    /// Allocates a loopback port for every listener of every node.
    pub fn for_nodes(nodes: &[NodeSpec]) -> Res<Self> {
        let mut ports = BTreeMap::new();
        for n in nodes {
            let props = parse_properties(&n.server_properties);
            let listeners = props
                .get("listeners")
                .ok_or_else(|| format!("{}: no listeners", n.name))?;
            for (_, _, port) in parse_listeners(listeners)? {
                ports.insert((n.fqdn.clone(), port), free_port()?);
            }
        }
        Ok(Self { ports })
    }

    pub fn get(&self, fqdn: &str, port: u16) -> Option<u16> {
        self.ports.get(&(fqdn.to_string(), port)).copied()
    }
}

/// Applies the documented test-only mapping to one node's rendered `server.properties`:
///
/// 1. every `<fqdn>:<port>` of any node, in any value, becomes `127.0.0.1:<mapped port>`;
/// 2. in `listeners`, this node's bind address `0.0.0.0:<port>` (or `:<port>`) becomes
///    `127.0.0.1:<mapped port of (own fqdn, port)>`;
/// 3. `log.dirs` and `metadata.log.dir` point to `data_dir`.
///
/// Nothing else changes. Fails if a reference to a node fqdn has no mapping, or a value
/// still mentions a cluster DNS name (`.svc`) afterwards.
pub fn map_to_loopback(
    node: &NodeSpec,
    nodes: &[NodeSpec],
    map: &AddressMap,
    data_dir: &Path,
) -> Res<String> {
    let mut out = String::new();
    for line in node.server_properties.lines() {
        let trimmed = line.trim_start();
        let Some(idx) = (!trimmed.starts_with('#') && !trimmed.is_empty())
            .then(|| trimmed.find('='))
            .flatten()
        else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let key = trimmed[..idx].trim();
        let mut value = map_addresses(&trimmed[idx + 1..], key, node, nodes, map)?;
        match key {
            "listeners" => {
                let mut mapped = Vec::new();
                for (name, host, port) in parse_listeners(&value)? {
                    if host != "0.0.0.0" && !host.is_empty() && host != "127.0.0.1" {
                        return Err(format!(
                            "{}: listener {name} binds {host}, expected 0.0.0.0",
                            node.name
                        ));
                    }
                    let p = if host == "127.0.0.1" {
                        port
                    } else {
                        map.get(&node.fqdn, port)
                            .ok_or_else(|| format!("{}: no mapping for port {port}", node.name))?
                    };
                    mapped.push(format!("{name}://127.0.0.1:{p}"));
                }
                value = mapped.join(",");
            }
            "log.dirs" | "metadata.log.dir" => value = data_dir.display().to_string(),
            _ => {}
        }
        if value.contains(".svc") {
            return Err(format!(
                "{}: {key}={value} still names a cluster DNS address",
                node.name
            ));
        }
        out.push_str(&format!("{key}={value}\n"));
    }
    Ok(out)
}

/// Rule 1 of [`map_to_loopback`] on one value: every `<fqdn>:<port>` of any node becomes
/// `127.0.0.1:<mapped port>`. `what` names the value in errors.
pub fn map_addresses(
    value: &str,
    what: &str,
    node: &NodeSpec,
    nodes: &[NodeSpec],
    map: &AddressMap,
) -> Res<String> {
    let key = what;
    let mut value = value.to_string();
    for other in nodes {
        let re = regex::Regex::new(&format!(r"{}:(\d+)", regex::escape(&other.fqdn)))
            .map_err(|e| e.to_string())?;
        let mut err = None;
        value = re
            .replace_all(&value, |c: &regex::Captures| {
                let port: u16 = c[1].parse().unwrap_or(0);
                match map.get(&other.fqdn, port) {
                    Some(p) => format!("127.0.0.1:{p}"),
                    None => {
                        err = Some(format!(
                            "{}: {key} references {}:{port}, which no listener binds",
                            node.name, other.fqdn
                        ));
                        c[0].to_string()
                    }
                }
            })
            .into_owned();
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(value)
}

/// One Kafka node process.
#[derive(Debug)]
pub struct KafkaNode {
    pub name: String,
    pub node_id: i32,
    pub role: Role,
    pub dir: PathBuf,
    pub props_path: PathBuf,
    pub log_path: PathBuf,
    /// Parsed (mapped) properties.
    pub props: BTreeMap<String, String>,
    /// Quorum arguments of `kafka-storage format` (mapped to loopback).
    pub format_args: Vec<String>,
    /// JVM options added to [`jvm_flags`] (e.g. a hosts file for name resolution).
    pub extra_jvm: Vec<String>,
    libs: PathBuf,
    child: Option<Child>,
    watchdog: Option<Child>,
    pub started_at: Option<Instant>,
}

impl KafkaNode {
    /// Writes `server_properties` into `dir/server.properties`.
    pub fn new(
        name: &str,
        node_id: i32,
        role: Role,
        dir: &Path,
        server_properties: &str,
        libs: &Path,
    ) -> Res<Self> {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
        let props_path = dir.join("server.properties");
        fs::write(&props_path, server_properties).map_err(|e| format!("write {props_path:?}: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            node_id,
            role,
            dir: dir.to_path_buf(),
            log_path: dir.join("server.log"),
            props_path,
            props: parse_properties(server_properties),
            format_args: Vec::new(),
            extra_jvm: Vec::new(),
            libs: libs.to_path_buf(),
            child: None,
            watchdog: None,
            started_at: None,
        })
    }

    /// The jars the node runs (its Kafka release).
    pub fn libs(&self) -> &Path {
        &self.libs
    }

    /// Runs another release's jars from the next start on (an upgrade or a downgrade).
    pub fn set_libs(&mut self, libs: &Path) {
        self.libs = libs.to_path_buf();
    }

    /// `kafka.tools.StorageTool format -t <id> -c <props> --ignore-formatted [format_args]`.
    pub fn format(&self, cluster_id: &str) -> Res<String> {
        let out = Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j2.configurationFile=file:{}",
                repo().join("tests/kafka/log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath(&self.libs))
            .args(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c"])
            .arg(&self.props_path)
            .arg("--ignore-formatted")
            .args(&self.format_args)
            .output()
            .map_err(|e| format!("{}: cannot run java: {e}", self.name))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = fs::write(self.dir.join("format.log"), &text);
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("{}: format failed ({}): {text}", self.name, out.status))
        }
    }

    /// Starts `kafka.Kafka <props>`; stdout/stderr are appended to `server.log`.
    pub fn start(&mut self) -> Res<()> {
        if self.is_running() {
            return Err(format!("{} is already running", self.name));
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("open {:?}: {e}", self.log_path))?;
        let mut log2 = log.try_clone().map_err(|e| e.to_string())?;
        let _ = writeln!(log2, "==== kraftwerk test runner: starting {} ====", self.name);
        let child = Command::new("java")
            .args(jvm_flags())
            .args(&self.extra_jvm)
            .arg(format!("-Dkafka.logs.dir={}", self.dir.display()))
            .arg("-cp")
            .arg(classpath(&self.libs))
            .arg("kafka.Kafka")
            .arg(&self.props_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("{}: cannot start java: {e}", self.name))?;
        let pid = child.id();
        // Watchdog: kill -9 the JVM once this test process is gone.
        self.watchdog = Command::new("sh")
            .arg("-c")
            .arg(r#"while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -0 "$1" 2>/dev/null || kill -9 "$2" 2>/dev/null"#)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        self.child = Some(child);
        self.started_at = Some(Instant::now());
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is alive (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.reap();
                false
            }
            None => false,
        }
    }

    fn reap(&mut self) -> Option<ExitStatus> {
        let st = self.child.take().and_then(|mut c| c.wait().ok());
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        st
    }

    /// Graceful stop: SIGTERM, then wait up to `timeout` (falls back to kill -9).
    /// Returns the exit status and whether it exited on its own.
    pub fn stop(&mut self, timeout: Duration) -> Res<(ExitStatus, bool)> {
        let pid = self
            .pid()
            .ok_or_else(|| format!("{} is not running", self.name))?;
        signal(pid, "TERM")?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                let st = self.reap().ok_or("lost child")?;
                return Ok((st, true));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let st = self.kill()?;
        Ok((st, false))
    }

    /// kill -9 and reap.
    pub fn kill(&mut self) -> Res<ExitStatus> {
        let pid = self
            .pid()
            .ok_or_else(|| format!("{} is not running", self.name))?;
        let _ = signal(pid, "KILL");
        self.reap()
            .ok_or_else(|| format!("{}: no exit status", self.name))
    }

    /// SIGSTOP / SIGCONT (freeze a node to provoke timeouts).
    /// SIGSTOP, and waits until the kernel reports the JVM stopped: delivery is asynchronous,
    /// and on a loaded machine a request sent right after `kill` could still be answered.
    pub fn pause(&self) -> Res<()> {
        let pid = self.pid().ok_or("not running")?;
        signal(pid, "STOP")?;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the parenthesised command name: `pid (comm) T ...`.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if state == Some("T") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("pid {pid} did not stop within 10 s of SIGSTOP"))
    }
    pub fn resume(&self) -> Res<()> {
        signal(self.pid().ok_or("not running")?, "CONT")
    }

    /// Graceful stop (if running), then start.
    pub fn restart(&mut self, timeout: Duration) -> Res<()> {
        if self.is_running() {
            self.stop(timeout)?;
        }
        self.start()
    }

    /// VmRSS of the JVM in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The address of the first advertised listener (brokers) or first listener.
    pub fn client_address(&self) -> Option<String> {
        let v = self
            .props
            .get("advertised.listeners")
            .or_else(|| self.props.get("listeners"))?;
        let (_, host, port) = parse_listeners(v).ok()?.into_iter().next()?;
        Some(format!("{host}:{port}"))
    }

    /// The address of the listener named in `controller.listener.names` (controllers).
    pub fn controller_address(&self) -> Option<String> {
        let name = self
            .props
            .get("controller.listener.names")?
            .split(',')
            .next()?
            .trim()
            .to_string();
        let (_, host, port) = parse_listeners(self.props.get("listeners")?)
            .ok()?
            .into_iter()
            .find(|(n, _, _)| *n == name)?;
        Some(format!("{host}:{port}"))
    }
}

impl Drop for KafkaNode {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = signal(pid, "KILL");
        }
        self.reap();
    }
}

/// Lines of a Kafka log that show a config key rejected or unknown.
pub fn config_problems(log: &str) -> Vec<String> {
    let re = regex::Regex::new(
        r"(?i)(isn't a known config|unknown config|unknown configuration|ConfigException|Invalid value .* for configuration|is not a valid config)",
    )
    .map(Some)
    .unwrap_or(None);
    match re {
        Some(re) => log
            .lines()
            .filter(|l| re.is_match(l))
            .map(str::to_string)
            .collect(),
        None => vec!["internal: bad regex".to_string()],
    }
}

/// Several nodes of one cluster.
#[derive(Debug)]
pub struct TestCluster {
    pub root: PathBuf,
    pub cluster_id: String,
    pub nodes: Vec<KafkaNode>,
    pub map: AddressMap,
    /// Every node spec the addresses were allocated for (spares included).
    pub specs: Vec<NodeSpec>,
    libs: PathBuf,
}

impl TestCluster {
    /// Maps `specs` to loopback, writes each node's config under a scratch dir.
    pub fn new(label: &str, specs: &[NodeSpec]) -> Res<Self> {
        Self::with_spares(label, specs, &[])
    }

    /// As [`TestCluster::new`], with `spares`: nodes that get addresses now but only a process
    /// when [`TestCluster::add_node`] starts one (a pod the operator creates later).
    pub fn with_spares(label: &str, specs: &[NodeSpec], spares: &[NodeSpec]) -> Res<Self> {
        Self::build(label, specs, spares, libs_dir()?)
    }

    /// Like [`TestCluster::new`], every node on the jars in `libs` (another Kafka release).
    pub fn with_libs(label: &str, specs: &[NodeSpec], libs: &Path) -> Res<Self> {
        Self::build(label, specs, &[], libs.to_path_buf())
    }

    fn build(label: &str, specs: &[NodeSpec], spares: &[NodeSpec], libs: PathBuf) -> Res<Self> {
        let root = scratch_dir(label)?;
        remove_after_exit(&root);
        let all: Vec<NodeSpec> = specs.iter().chain(spares).cloned().collect();
        let map = AddressMap::for_nodes(&all)?;
        let mut cluster = Self {
            root,
            cluster_id: random_cluster_id(),
            nodes: Vec::new(),
            map,
            specs: all,
            libs,
        };
        for s in specs {
            let node = cluster.node_of(s)?;
            cluster.nodes.push(node);
        }
        Ok(cluster)
    }

    /// The node process of `spec`, its configuration and format arguments mapped to loopback.
    fn node_of(&self, s: &NodeSpec) -> Res<KafkaNode> {
        let dir = self.root.join(&s.name);
        let props = map_to_loopback(s, &self.specs, &self.map, &dir.join("data"))?;
        let mut node = KafkaNode::new(&s.name, s.node_id, s.role, &dir, &props, &self.libs)?;
        node.format_args = s
            .format_args
            .iter()
            .map(|a| map_addresses(a, "format argument", s, &self.specs, &self.map))
            .collect::<Res<_>>()?;
        Ok(node)
    }

    /// Formats and starts the spare node `spec` (as the operator creates a pod).
    pub fn add_node(&mut self, spec: &NodeSpec) -> Res<()> {
        let mut node = self.node_of(spec)?;
        node.format(&self.cluster_id)?;
        node.start()?;
        self.nodes.push(node);
        Ok(())
    }

    /// Rewrites the configuration of node `spec.node_id` (mapped to loopback) for its next
    /// start, as the operator rewrites a node's ConfigMap; the running process keeps its own.
    pub fn reconfigure(&mut self, spec: &NodeSpec) -> Res<()> {
        let fresh = self.node_of(spec)?;
        let node = self.node_mut(spec.node_id)?;
        node.props = fresh.props.clone();
        node.format_args = fresh.format_args.clone();
        Ok(())
    }

    /// Stops node `id` gracefully and forgets it (as the operator deletes a pod).
    pub fn remove_node(&mut self, id: i32) -> Res<()> {
        let node = self.node_mut(id)?;
        node.stop(Duration::from_secs(120))?;
        self.nodes.retain(|n| n.node_id != id);
        Ok(())
    }

    /// Formats every node (in parallel).
    /// Formats every node, starts them all and waits until the cluster is ready; panics (it is
    /// test set-up) on any failure. Returns the time to ready.
    pub async fn boot(&mut self, timeout: Duration) -> Duration {
        self.format_all().unwrap_or_else(|e| panic!("{e}"));
        self.start_all().unwrap_or_else(|e| panic!("{e}"));
        self.wait_ready(timeout).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn format_all(&self) -> Res<()> {
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .nodes
                .iter()
                .map(|n| s.spawn(|| n.format(&self.cluster_id)))
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .map_err(|_| "format thread panicked".to_string())?
                    .map(|_| ())
            })
        })
    }

    pub fn start_all(&mut self) -> Res<()> {
        self.nodes.iter_mut().try_for_each(KafkaNode::start)
    }

    pub fn node(&self, id: i32) -> Res<&KafkaNode> {
        self.nodes
            .iter()
            .find(|n| n.node_id == id)
            .ok_or_else(|| format!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: i32) -> Res<&mut KafkaNode> {
        self.nodes
            .iter_mut()
            .find(|n| n.node_id == id)
            .ok_or_else(|| format!("no node {id}"))
    }

    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker())
            .map(|n| n.node_id)
            .collect()
    }

    pub fn controller_ids(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_controller())
            .map(|n| n.node_id)
            .collect()
    }

    /// `host:port,...` of every broker's client listener.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker())
            .filter_map(KafkaNode::client_address)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An admin client with short timeouts.
    pub fn admin(&self) -> Res<AdminClient> {
        admin_client(&self.bootstrap())
    }

    /// Polls until the quorum has a leader with every controller as voter and every
    /// broker is registered and unfenced. Returns the time it took.
    pub async fn wait_ready(&self, timeout: Duration) -> Res<Duration> {
        let started = Instant::now();
        let admin = self.admin()?;
        let mut controllers = self.controller_ids();
        controllers.sort();
        let mut brokers = self.broker_ids();
        brokers.sort();
        let mut last = String::from("not polled yet");
        while started.elapsed() < timeout {
            match ready_state(&admin).await {
                Ok((mut voters, mut unfenced)) => {
                    voters.sort();
                    unfenced.sort();
                    if voters == controllers && unfenced == brokers {
                        return Ok(started.elapsed());
                    }
                    last = format!(
                        "voters {voters:?} (want {controllers:?}), unfenced brokers {unfenced:?} (want {brokers:?})"
                    );
                }
                Err(e) => last = format!("{} error: {e}", e.kind()),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!(
            "cluster not ready after {timeout:?}: {last}\n{}",
            self.log_tails(15)
        ))
    }

    /// Config problems found in every node's log, prefixed with the node name.
    pub fn config_problems(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| {
                config_problems(&n.log_text())
                    .into_iter()
                    .map(move |l| format!("{}: {l}", n.name))
            })
            .collect()
    }

    pub fn log_tails(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "---- {} ({})\n{}",
                    n.name,
                    n.log_path.display(),
                    n.log_tail(lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// (node name, VmRSS KiB) of every running node.
    pub fn rss(&self) -> Vec<(String, u64)> {
        self.nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.rss_kib()?)))
            .collect()
    }
}

async fn ready_state(admin: &AdminClient) -> Result<(Vec<i32>, Vec<i32>), AdminError> {
    let q = admin.describe_quorum().await?;
    let c = admin.describe_cluster().await?;
    let voters = if q.leader_id >= 0 {
        q.voters.iter().map(|v| v.id).collect()
    } else {
        vec![]
    };
    Ok((
        voters,
        c.brokers.iter().filter(|b| !b.fenced).map(|b| b.id).collect(),
    ))
}

/// Admin client with test timeouts (connect 2 s, request 10 s).
pub fn admin_client(bootstrap: &str) -> Res<AdminClient> {
    AdminClient::new(
        bootstrap,
        AdminConfig {
            client_id: "kraftwerk-test".into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            tls: None,
            sasl: None,
        },
    )
    .map_err(|e| e.to_string())
}

/// Hand-written configs in the shape of the operator's contract (docs/architecture.md, "Nodes, ids and names"):
/// controllers 9000.., brokers 0.., INTERNAL 9092 / CONTROLLER 9093, pod DNS names,
/// static `controller.quorum.voters`. Mapped to loopback like the real rendering.
pub fn hand_written_specs(cluster: &str, controllers: usize, brokers: usize) -> Vec<NodeSpec> {
    let ns = "kafka-test";
    let fqdn = |pod: &str| format!("{pod}.{cluster}-kafka-headless.{ns}.svc.cluster.local");
    let voters = (0..controllers)
        .map(|i| {
            let id = 9000 + i as i32;
            format!("{id}@{}:9093", fqdn(&format!("{cluster}-controller-{id}")))
        })
        .collect::<Vec<_>>()
        .join(",");
    let rf = brokers.min(3);
    let common = format!(
        "controller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         num.network.threads=2\nnum.io.threads=2\nlog.cleaner.dedupe.buffer.size=2097152\n"
    );
    let mut specs = Vec::new();
    for i in 0..controllers {
        let id = 9000 + i as i32;
        let pod = format!("{cluster}-controller-{id}");
        specs.push(NodeSpec {
            fqdn: fqdn(&pod),
            server_properties: format!(
                "process.roles=controller\nnode.id={id}\n{common}listeners=CONTROLLER://0.0.0.0:9093\n\
                 log.dirs=/var/lib/kafka/data\n"
            ),
            name: pod,
            node_id: id,
            role: Role::Controller,
            format_args: Vec::new(),
        });
    }
    for i in 0..brokers {
        let id = i as i32;
        let pod = format!("{cluster}-broker-{id}");
        specs.push(NodeSpec {
            server_properties: format!(
                "process.roles=broker\nnode.id={id}\n{common}listeners=INTERNAL://0.0.0.0:9092\n\
                 advertised.listeners=INTERNAL://{}:9092\ninter.broker.listener.name=INTERNAL\n\
                 log.dirs=/var/lib/kafka/data\ndefault.replication.factor={rf}\nmin.insync.replicas={}\n\
                 offsets.topic.replication.factor={rf}\ntransaction.state.log.replication.factor={rf}\n\
                 transaction.state.log.min.isr={}\ngroup.initial.rebalance.delay.ms=0\n\
                 auto.create.topics.enable=false\n",
                fqdn(&pod),
                rf.saturating_sub(1).max(1),
                rf.saturating_sub(1).max(1),
            ),
            fqdn: fqdn(&pod),
            name: pod,
            node_id: id,
            role: Role::Broker,
            format_args: Vec::new(),
        });
    }
    specs
}

// ---------------------------------------------------------------------------------------
// Data path: produce with acks=all and fetch back, on kafka-protocol (Produce/Fetch).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Produces `values` as one batch to `topic`-`partition` via its leader with `acks`
/// (-1 = all). Returns the base offset.
pub async fn produce(
    admin: &AdminClient,
    topic: &str,
    partition: i32,
    values: &[String],
    acks: i16,
) -> Res<i64> {
    use kafka_protocol::error::ResponseError::{
        LeaderNotAvailable, NotLeaderOrFollower, UnknownTopicOrPartition,
    };
    // Right after a topic is created or a leader moves, the chosen leader may not know it leads
    // yet: those answers appended nothing, so asking again (briefly) is safe.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        match produce_outcome(admin, topic, partition, values, acks).await? {
            Produced::Appended(offset) => return Ok(offset),
            Produced::Refused(NotLeaderOrFollower | LeaderNotAvailable | UnknownTopicOrPartition, _)
                if Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Produced::Refused(error, message) => {
                return Err(format!(
                    "produce to {topic}-{partition} failed: {error:?} {message:?}"
                ));
            }
        }
    }
}

/// How Kafka answered a produce request.
#[derive(Debug, Clone, PartialEq)]
pub enum Produced {
    /// Appended (and, with acks=all, replicated as required) at this base offset.
    Appended(i64),
    /// Refused with this error code (e.g. `NotEnoughReplicas`) and message.
    Refused(kafka_protocol::error::ResponseError, Option<String>),
}

/// As [`produce`], but a refusal is an answer, with Kafka's error code, not a failure.
pub async fn produce_outcome(
    admin: &AdminClient,
    topic: &str,
    partition: i32,
    values: &[String],
    acks: i16,
) -> Res<Produced> {
    let t = admin.describe_topic(topic).await.map_err(|e| e.to_string())?;
    let leader = t
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .and_then(|p| p.leader)
        .ok_or_else(|| format!("{topic}-{partition} has no leader"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol batches records while offset - sequence stays constant; Kafka takes
            // exactly one batch per partition. This keeps one batch with base sequence -1.
            sequence: i as i32 - 1,
            timestamp: now,
            key: None,
            value: Some(Bytes::from(v.clone())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encode records: {e}"))?;
    let batch = buf.freeze();
    // v12: topics by name (v13 switched to topic ids).
    let (resp, _) = admin
        .send(Target::Node(leader), Some(12), |_| {
            ProduceRequest::default()
                .with_acks(acks)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(partition)
                                .with_records(Some(batch)),
                        ]),
                ])
        })
        .await
        .map_err(|e| e.to_string())?;
    let p = resp
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .ok_or("produce response lacks the partition")?;
    if p.error_code != 0 {
        let error = kafka_protocol::error::ResponseError::try_from_code(p.error_code)
            .ok_or_else(|| format!("unknown error code {}", p.error_code))?;
        return Ok(Produced::Refused(
            error,
            p.error_message.as_ref().map(|m| m.to_string()),
        ));
    }
    Ok(Produced::Appended(p.base_offset))
}

/// `key=value (SOURCE) synonyms={...}` lines of `resource`'s `keys` (all set ones when `None`),
/// as `kafka-configs.sh --describe --all` prints them; for the test output and the closing note.
pub async fn effective_configs(
    admin: &AdminClient,
    resource: &kraftwerk::admin::ConfigResource,
    keys: Option<&[&str]>,
) -> Res<String> {
    let entries = admin
        .describe_configs_with_synonyms(resource, keys)
        .await
        .map_err(|e| format!("DescribeConfigs {resource:?}: {e}"))?;
    Ok(entries
        .iter()
        .map(|e| {
            format!(
                "  {}={} ({}) synonyms={}",
                e.name,
                e.value.as_deref().unwrap_or("null"),
                e.source,
                e.synonyms_text()
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Fetches from `offset` on the partition leader until `count` records arrived (or
/// `timeout`); returns (offset, value) in log order.
pub async fn fetch(
    admin: &AdminClient,
    topic: &str,
    partition: i32,
    offset: i64,
    count: usize,
    timeout: Duration,
) -> Res<Vec<(i64, String)>> {
    let t = admin.describe_topic(topic).await.map_err(|e| e.to_string())?;
    let leader = t
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .and_then(|p| p.leader)
        .ok_or_else(|| format!("{topic}-{partition} has no leader"))?;
    let started = Instant::now();
    let mut out = Vec::new();
    let mut next = offset;
    while out.len() < count && started.elapsed() < timeout {
        let (resp, _) = admin
            .send(Target::Node(leader), Some(12), |_| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(500)
                    .with_min_bytes(1)
                    .with_max_bytes(4 << 20)
                    .with_session_epoch(-1)
                    .with_topics(vec![
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                            .with_partitions(vec![
                                FetchPartition::default()
                                    .with_partition(partition)
                                    .with_current_leader_epoch(-1)
                                    .with_fetch_offset(next)
                                    .with_log_start_offset(-1)
                                    .with_partition_max_bytes(1 << 20),
                            ]),
                    ])
            })
            .await
            .map_err(|e| e.to_string())?;
        let p = resp
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or("fetch response lacks the partition")?;
        if p.error_code != 0 {
            return Err(format!(
                "fetch error {:?}",
                kafka_protocol::error::ResponseError::try_from_code(p.error_code)
            ));
        }
        if let Some(mut records) = p.records {
            let sets =
                RecordBatchDecoder::decode_all(&mut records).map_err(|e| format!("decode records: {e}"))?;
            for r in sets.into_iter().flat_map(|s| s.records) {
                if r.offset >= next && !r.control {
                    next = r.offset + 1;
                    out.push((
                        r.offset,
                        r.value
                            .map(|v| String::from_utf8_lossy(&v).into_owned())
                            .unwrap_or_default(),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Runs Kafka's own console consumer (kafka-tools) as an independent oracle; returns the
/// values it printed.
pub fn java_console_consume(bootstrap: &str, topic: &str, max_messages: usize) -> Res<Vec<String>> {
    let libs = libs_dir()?;
    let out = Command::new("java")
        .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(format!(
            "-Dlog4j2.configurationFile=file:{}",
            repo().join("tests/kafka/log4j2-tools.properties").display()
        ))
        .arg("-cp")
        .arg(classpath(&libs))
        .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args([
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--from-beginning",
        ])
        .args([
            "--max-messages",
            &max_messages.to_string(),
            "--timeout-ms",
            "30000",
        ])
        .output()
        .map_err(|e| format!("console consumer: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Log lines start with '['; record values are printed verbatim.
    Ok(stdout
        .lines()
        .filter(|l| !l.starts_with('['))
        .map(str::to_string)
        .collect())
}
