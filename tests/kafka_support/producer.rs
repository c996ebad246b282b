//! A continuous idempotent `acks=all` producer (Kafka's own VerifiableProducer) whose
//! acknowledgements are recorded with their arrival time, for zero-loss checks.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Res, classpath, java_console_consume, libs_dir, repo, scratch_dir};

/// One acknowledged message.
pub struct Ack {
    pub value: String,
    pub at: Instant,
}

/// The running producer.
pub struct ZeroLossProducer {
    child: Child,
    reader: Option<JoinHandle<()>>,
    pub acks: Arc<Mutex<Vec<Ack>>>,
    pub errors: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Option<usize>>>,
    topic: String,
}

/// What the producer and a consumer saw.
pub struct Report {
    pub sent: usize,
    pub acked: usize,
    pub received: usize,
    pub missing: Vec<String>,
    pub errors: Vec<String>,
}

impl ZeroLossProducer {
    /// Starts producing `throughput` messages per second to `topic` and waits until 200 are
    /// acknowledged.
    pub async fn start(bootstrap: &str, topic: &str, throughput: u32) -> Res<Self> {
        let dir = scratch_dir("zero-loss-producer")?;
        let config = dir.join("producer.properties");
        std::fs::write(
            &config,
            "enable.idempotence=true\nacks=all\ndelivery.timeout.ms=300000\nrequest.timeout.ms=10000\n\
             retries=2147483647\nmax.in.flight.requests.per.connection=5\nlinger.ms=5\n",
        )
        .map_err(|e| e.to_string())?;
        let mut child = Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j2.configurationFile=file:{}",
                repo().join("tests/kafka/log4j2-tools.properties").display()
            ))
            .arg("-cp")
            .arg(classpath(&libs_dir()?))
            .arg("org.apache.kafka.tools.VerifiableProducer")
            .args(["--bootstrap-server", bootstrap, "--topic", topic])
            .args([
                "--throughput",
                &throughput.to_string(),
                "--max-messages",
                "-1",
                "--acks",
                "-1",
            ])
            .arg("--producer.config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start the producer: {e}"))?;
        let stdout = child.stdout.take().ok_or("no producer stdout")?;
        let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sent: Arc<Mutex<Option<usize>>> = Arc::default();
        let reader = {
            let (acks, errors, sent) = (acks.clone(), errors.clone(), sent.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    match v["name"].as_str() {
                        Some("producer_send_success") => lock(&acks).push(Ack {
                            value: v["value"].as_str().unwrap_or_default().to_string(),
                            at: Instant::now(),
                        }),
                        Some("producer_send_error") => lock(&errors).push(line),
                        Some("tool_data") => *lock(&sent) = v["sent"].as_u64().map(|n| n as usize),
                        _ => {}
                    }
                }
            })
        };
        let producer = Self {
            child,
            reader: Some(reader),
            acks,
            errors,
            sent,
            topic: topic.to_string(),
        };
        let started = Instant::now();
        while lock(&producer.acks).len() < 200 {
            if started.elapsed() > Duration::from_secs(120) {
                return Err("producer did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(producer)
    }

    /// The longest gap between two acknowledgements (or from `from` to the first) in `from..to`.
    pub fn largest_stall(&self, from: Instant, to: Instant) -> Duration {
        let acks = lock(&self.acks);
        let mut last = from;
        let mut worst = Duration::ZERO;
        for a in acks.iter().filter(|a| a.at >= from && a.at <= to) {
            worst = worst.max(a.at - last);
            last = a.at;
        }
        worst.max(to.saturating_duration_since(last))
    }

    /// Stops the producer gracefully and reads the topic back from the beginning.
    pub async fn finish(&mut self, bootstrap: &str) -> Res<Report> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let acked: BTreeSet<String> = lock(&self.acks).iter().map(|a| a.value.clone()).collect();
        let highest = acked
            .iter()
            .filter_map(|v| v.parse::<usize>().ok())
            .max()
            .map_or(0, |m| m + 1);
        let sent = lock(&self.sent).unwrap_or(highest);
        let received: BTreeSet<String> = java_console_consume(bootstrap, &self.topic, sent.max(acked.len()))?
            .into_iter()
            .collect();
        Ok(Report {
            sent,
            acked: acked.len(),
            received: received.len(),
            missing: acked.difference(&received).cloned().collect(),
            errors: lock(&self.errors).clone(),
        })
    }
}

/// A producer left running by a failed test would run forever (and keep any lock file the test
/// process held open): it goes with the test.
impl Drop for ZeroLossProducer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
