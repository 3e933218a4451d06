//! Shared helpers of the gateway's tests: the `ringgate-gateway` binary started over a real
//! cluster, an HTTP client, and the Python driver for cross-checks.
//!
//! The cluster is instance `RINGGATE_CLUSTER_ID` of `scripts/cluster` (0, the test cluster,
//! when unset): its nodes are 127.0.0.x for instance 0 and 127.0.1K.x for instance K. A
//! gateway that cannot join fails the test with its own output and the node's log tail.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

pub use ringgate_test_support::{cluster_id, python};

/// The address of node `n` (1-based) of the instance, as text.
pub fn node_ip(n: u8) -> String {
    ringgate_test_support::node_ip(n).to_string()
}

/// The last lines of node `n`'s log, for failure messages.
pub fn log_tail(n: u8) -> String {
    ringgate_test_support::log_tail(n, 40)
}

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running `ringgate-gateway`; killed when dropped.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// The line it printed once it served.
    pub startup: String,
    /// What it prints after the startup line, once it exits.
    stdout: Option<std::thread::JoinHandle<String>>,
    /// What it logs, once it exits.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status and body (JSON when it parses, else the text as a JSON string).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// Asserts the status, naming the body when it differs; the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    /// Asserts an error answer: the status, `{"description", "code"}` with the same code, and
    /// a description holding `part`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, part: &str) {
        self.expect(status);
        assert_eq!(self.body["code"], status, "{}", self.body);
        let description = self.body["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(part),
            "description {description:?} should contain {part:?}"
        );
    }
}

impl Gateway {
    /// Starts the binary on a free port over the instance's first node, with `extra` flags.
    pub fn start(extra: &[&str]) -> Gateway {
        Self::start_with_env(extra, &[])
    }

    /// As [`Gateway::start`], with these environment variables.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        let node = node_ip(1);
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--contact-points",
            &node,
            "--local-dc",
            "dc1",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringgate-gateway"))
            .args(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the ringgate-gateway binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(addr) = line
            .strip_prefix("ringgate-gateway listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!(
                "the gateway did not start (startup line {line:?}); its stderr:\n{err}\n\
                 The cluster must be up (RINGGATE_CLUSTER_ID={}). Node 1's log:\n{}",
                cluster_id(),
                log_tail(1)
            );
        };
        // Keep draining the pipes so the gateway never blocks on a full one.
        let stdout = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            rest
        });
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut all = String::new();
                let _ = stderr.read_to_string(&mut all);
                all
            })
        });
        Gateway {
            child,
            addr,
            http: reqwest::Client::new(),
            startup: line,
            stdout: Some(stdout),
            stderr,
        }
    }

    /// Sends `signal` (`INT`, `TERM`) and waits for the exit: its status and what it printed
    /// after the startup line.
    pub fn stop(self, signal: &str) -> (std::process::ExitStatus, String) {
        let (status, out, _) = self.stop_with_log(signal);
        (status, out)
    }

    /// As [`Gateway::stop`], with what it logged too.
    pub fn stop_with_log(mut self, signal: &str) -> (std::process::ExitStatus, String, String) {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -s {signal} failed");
        let status = self.child.wait().expect("the gateway exits");
        let out = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let log = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, out, log)
    }

    /// The URL of `path` on this gateway.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request with an optional token and JSON (or raw text) body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("X-Cassandra-Token", token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    /// A new token of `user`; panics unless the gateway answers 201.
    pub async fn token(&self, user: &str, password: &str) -> String {
        let body = serde_json::json!({"username": user, "password": password}).to_string();
        let answer = self.call(Method::POST, "/v1/auth", None, Some(&body)).await;
        answer.expect(201)["authToken"]
            .as_str()
            .expect("authToken is a string")
            .to_owned()
    }
}

/// A client of one gateway with one token.
pub struct Client<'g> {
    pub gateway: &'g Gateway,
    pub token: String,
}

impl Client<'_> {
    pub async fn get(&self, path: &str) -> Answer {
        self.gateway
            .call(Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.gateway
            .call(
                Method::POST,
                path,
                Some(&self.token),
                Some(&body.to_string()),
            )
            .await
    }

    pub async fn post_text(&self, path: &str, body: &str) -> Answer {
        self.gateway
            .call(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.gateway
            .call(
                Method::PUT,
                path,
                Some(&self.token),
                Some(&body.to_string()),
            )
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.gateway
            .call(
                Method::PATCH,
                path,
                Some(&self.token),
                Some(&body.to_string()),
            )
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.gateway
            .call(Method::DELETE, path, Some(&self.token), None)
            .await
    }

    /// Drops the keyspace if it is there, then creates it in dc1 with two replicas.
    pub async fn fresh_keyspace(&self, ks: &str) {
        let gone = self.delete(&format!("/v2/schemas/keyspaces/{ks}")).await;
        assert!(
            [204, 404].contains(&gone.status.as_u16()),
            "dropping {ks}: {gone:?}"
        );
        self.post(
            "/v2/schemas/keyspaces",
            &serde_json::json!({"name": ks, "datacenters": [{"name": "dc1", "replicas": 2}]}),
        )
        .await
        .expect(201);
    }
}

/// `GET ?where=` on a table, the filter URL-encoded.
pub fn where_path(ks: &str, table: &str, filter: &Value, extra: &str) -> String {
    let encoded: String = url_encode(&filter.to_string());
    format!("/v2/keyspaces/{ks}/{table}?where={encoded}{extra}")
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a Python program (with the driver at hand) and returns its stdout; panics with its
/// stderr when it fails.
pub fn run_python(program: &str) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(program)
        .env("NODE", node_ip(1))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the Python program failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
