//! Hostile clients against a running `ringgate` node while the Python driver writes through it
//! and must see no error (issue #14). Each case gets an ERROR where a response is possible,
//! and only its own connection is closed; nothing makes the node's memory grow without bound:
//!
//! - garbage bytes; a request before STARTUP; a header declaring a 2 GiB body (refused before
//!   any allocation); an LZ4 body declaring a 2 GiB uncompressed length; two requests in
//!   flight on one stream id;
//! - half an envelope, then silence: closed after the idle timeout (`idle_timeout_seconds`);
//! - a client that never reads its responses: the node stops reading from it (its requests
//!   stay in the socket, not in the node's memory), then closes it after the idle timeout;
//! - more connections than `max_connections`: those past it are closed as soon as accepted,
//!   and once clients leave, new ones are served again.
//!
//! Truncated bodies, unknown versions and opcodes, response opcodes sent as requests and
//! over-long envelopes in v5 segments are `real_node_edges`'s. Runs against instance 3 of
//! `scripts/cluster` (`make reliability`).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Instance, Node, key_values, python, start_node};

const IDLE_TIMEOUT_SECONDS: u64 = 3;
const MAX_CONNECTIONS: usize = 24;

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rss_kib(node: &Node) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A v4 envelope.
fn frame(flags: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![4, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn string_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut b = u16::try_from(pairs.len()).unwrap().to_be_bytes().to_vec();
    for (k, v) in pairs {
        for s in [k, v] {
            b.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
    }
    b
}

const STARTUP: u8 = 0x01;
const QUERY: u8 = 0x07;
const ERROR: u8 = 0x00;
const READY: u8 = 0x02;
const RESULT: u8 = 0x08;

fn query_body(cql: &str) -> Vec<u8> {
    let mut b = u32::try_from(cql.len()).unwrap().to_be_bytes().to_vec();
    b.extend_from_slice(cql.as_bytes());
    b.extend_from_slice(&[0, 1, 0]); // ONE, no flags
    b
}

/// One envelope read back: stream, opcode, body.
#[derive(Debug)]
struct Answer {
    stream: i16,
    opcode: u8,
    body: Vec<u8>,
}

impl Answer {
    /// The code and message of an ERROR.
    fn error(&self) -> (i32, String) {
        assert_eq!(self.opcode, ERROR, "not an ERROR: {self:?}");
        assert!(self.body.len() >= 6, "{self:?}");
        let code = i32::from_be_bytes(self.body[..4].try_into().unwrap());
        let len = usize::from(u16::from_be_bytes(self.body[4..6].try_into().unwrap()));
        let message = String::from_utf8_lossy(
            self.body
                .get(6..6 + len)
                .unwrap_or_else(|| panic!("{self:?}")),
        )
        .into_owned();
        (code, message)
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one envelope; `None` when the connection is closed (or reset) first.
fn read_answer(s: &mut TcpStream) -> Option<Answer> {
    let mut header = [0u8; 9];
    if let Err(e) = s.read_exact(&mut header) {
        assert!(
            matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ),
            "reading an answer: {e}"
        );
        return None;
    }
    assert_eq!(header[0] & 0x80, 0x80, "not a response: {header:?}");
    let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
    assert!(len < 1 << 20, "an answer of {len} bytes");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(Answer {
        stream: i16::from_be_bytes([header[2], header[3]]),
        opcode: header[4],
        body,
    })
}

/// Whether the node closes the connection within `within` (reading and dropping what comes).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut sink = [0u8; 65536];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A v4 connection after STARTUP (with `compression`, when given).
fn ready(addr: SocketAddr, compression: Option<&str>) -> TcpStream {
    let mut s = connect(addr);
    let mut options = vec![("CQL_VERSION", "3.0.0")];
    if let Some(c) = compression {
        options.push(("COMPRESSION", c));
    }
    s.write_all(&frame(0, 0, STARTUP, &string_map(&options)))
        .unwrap();
    let answer = read_answer(&mut s).expect("an answer to STARTUP");
    assert_eq!(answer.opcode, READY, "{answer:?}");
    s
}

/// The well-behaved client: the Python driver writing through the node all along, with
/// heartbeats every second (the node closes clients idle for 3 s).
fn bystander(node: &Node, dir: &std::path::Path) -> Child {
    let port = node.addr.port().to_string();
    let setup = Command::new(python())
        .arg(repo().join("coordinator/tests/drivers/python/reliability.py"))
        .args(["setup", "127.0.0.1", &port, "rg_rel_hostile", "3"])
        .env("RG_HEARTBEAT", "1")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
    Command::new(python())
        .arg(repo().join("coordinator/tests/drivers/python/reliability.py"))
        .args([
            "write",
            "127.0.0.1",
            &port,
            "rg_rel_hostile",
            "300",
            "4",
            dir.to_str().unwrap(),
        ])
        .env("RG_HEARTBEAT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn hostile_clients_get_errors_or_are_closed_and_a_driver_beside_them_sees_nothing() {
    let instance = Instance::from_env_or("3");
    let contacts = instance
        .hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let node = start_node(&[
        "--listen",
        "127.0.0.1:0",
        "--contact-points",
        &contacts,
        "--local-dc",
        "dc1",
        "--idle-timeout-seconds",
        &IDLE_TIMEOUT_SECONDS.to_string(),
        "--max-connections",
        &MAX_CONNECTIONS.to_string(),
    ]);
    let addr = node.addr;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("reliability")
        .join(format!("hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut driver = bystander(&node, &dir);
    std::thread::sleep(Duration::from_secs(3));
    let rss_start = rss_kib(&node);

    // Garbage: at most an ERROR, then the connection is closed.
    let mut s = connect(addr);
    s.write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(64)).unwrap();
    if let Some(answer) = read_answer(&mut s) {
        let (code, message) = answer.error();
        println!("garbage: error {code:#06x} {message}");
    }
    assert!(closed_within(&mut s, Duration::from_secs(5)), "garbage");

    // A request before STARTUP: a protocol error on its stream.
    let mut s = connect(addr);
    s.write_all(&frame(
        0,
        3,
        QUERY,
        &query_body("SELECT key FROM system.local"),
    ))
    .unwrap();
    let answer = read_answer(&mut s).expect("an answer to a QUERY before STARTUP");
    assert_eq!(answer.stream, 3);
    let (code, message) = answer.error();
    assert_eq!(code, 0x000A, "{message}");
    drop(s);

    // A 2 GiB body declared: refused on its stream before anything is allocated.
    let mut s = ready(addr, None);
    let mut header = vec![4, 0, 0, 7, QUERY];
    header.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
    s.write_all(&header).unwrap();
    let answer = read_answer(&mut s).expect("an answer to a 2 GiB envelope");
    assert_eq!(answer.stream, 7);
    let (code, message) = answer.error();
    assert_eq!(code, 0x000A, "{message}");
    drop(s);

    // An LZ4 body claiming 2 GiB once decompressed.
    let mut s = ready(addr, Some("lz4"));
    let mut body = 0x7fff_ffffu32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x1f, 0x41, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff]);
    s.write_all(&frame(0x01, 8, QUERY, &body)).unwrap();
    match read_answer(&mut s) {
        Some(answer) => {
            // An ERROR, LZ4-compressed as the connection asked (its text stays readable: a
            // literal run).
            assert_eq!((answer.stream, answer.opcode), (8, ERROR), "{answer:?}");
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            assert!(text.contains("above the limit"), "{text}");
        }
        None => println!("lz4 bomb: closed without an answer"),
    }
    drop(s);

    // Two requests in flight on one stream id: each answered (or refused), never mixed up,
    // and the connection goes on.
    let mut s = ready(addr, None);
    let forwarded = "SELECT keyspace_name FROM system_schema.keyspaces";
    let mut both = frame(0, 9, QUERY, &query_body(forwarded));
    both.extend(frame(0, 9, QUERY, &query_body(forwarded)));
    s.write_all(&both).unwrap();
    for _ in 0..2 {
        let answer = read_answer(&mut s).expect("an answer on stream 9");
        assert_eq!(answer.stream, 9);
        assert!(
            answer.opcode == RESULT || answer.opcode == ERROR,
            "{answer:?}"
        );
        if answer.opcode == ERROR {
            println!("duplicate stream: {:?}", answer.error());
        }
    }
    s.write_all(&frame(
        0,
        10,
        QUERY,
        &query_body("SELECT key FROM system.local"),
    ))
    .unwrap();
    let answer = read_answer(&mut s).expect("the connection still serves");
    assert_eq!((answer.stream, answer.opcode), (10, RESULT));
    drop(s);

    // Half an envelope, then silence: closed after the idle timeout.
    let mut s = ready(addr, None);
    s.write_all(&[4, 0, 0, 11, QUERY]).unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(IDLE_TIMEOUT_SECONDS + 10)),
        "half an envelope: still open"
    );
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(IDLE_TIMEOUT_SECONDS) - Duration::from_millis(500),
        "closed after {after:?}, before the idle timeout"
    );
    println!("half an envelope: closed after {after:?}");

    // A client that never reads: the node stops reading from it.
    let mut s = ready(addr, None);
    s.set_nonblocking(true).unwrap();
    let request = frame(0, 12, QUERY, &query_body("SELECT * FROM system.local"));
    let burst = request.repeat(64);
    let (mut sent, mut stuck_since) = (0usize, None::<Instant>);
    let rss_before = rss_kib(&node);
    loop {
        match s.write(&burst) {
            Ok(n) => {
                sent += n;
                stuck_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(1) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the node closed the slow reader before it stopped reading: {e}"),
        }
        assert!(
            sent < 256 << 20,
            "the node read 256 MiB from a client that reads nothing"
        );
    }
    let rss_stuck = rss_kib(&node);
    println!(
        "slow reader: the node stopped reading after {} KiB of requests; node RSS {} -> {} KiB",
        sent / 1024,
        rss_before,
        rss_stuck
    );
    assert!(
        rss_stuck < rss_before + 64 * 1024,
        "node RSS grew from {rss_before} to {rss_stuck} KiB"
    );
    // Then it gives up on it, still unread: closed once its answers could not be written for
    // the idle timeout. (Reading now would let the node go on: it still holds megabytes of
    // requests.) A write to a socket the node closed fails; to one it keeps, it would block.
    std::thread::sleep(Duration::from_secs(IDLE_TIMEOUT_SECONDS + 1));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match s.write(&request) {
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                break;
            }
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("the slow reader was never closed: {other:?}"),
        }
    }
    drop(s);

    // More connections than the limit: those past it are closed at once.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..MAX_CONNECTIONS + 4 {
        let mut s = connect(addr);
        s.write_all(&frame(0, 0, 0x05, &[])).unwrap(); // OPTIONS
        match read_answer(&mut s) {
            Some(answer) => {
                assert_eq!(answer.opcode, 0x06, "{answer:?}");
                open.push(s);
            }
            None => refused += 1,
        }
    }
    println!(
        "limit {MAX_CONNECTIONS}: {} served beside the driver's, {refused} refused",
        open.len()
    );
    assert!(refused >= 4, "{refused} refused");
    assert!(open.len() < MAX_CONNECTIONS, "{} served", open.len());
    drop(open);
    std::thread::sleep(Duration::from_millis(500));
    let mut s = ready(addr, None);
    s.write_all(&frame(
        0,
        1,
        QUERY,
        &query_body("SELECT key FROM system.local"),
    ))
    .unwrap();
    assert_eq!(read_answer(&mut s).expect("served again").opcode, RESULT);
    drop(s);

    let rss_end = rss_kib(&node);
    std::fs::write(dir.join("stop"), b"").unwrap();
    let out = driver.wait_with_output_timeout();
    let fields = key_values(&out);
    println!("figure hostile clients: node RSS {rss_start} -> {rss_end} KiB; driver {fields:?}");
    assert_eq!(
        fields.get("failed").map(String::as_str),
        Some("0"),
        "the driver beside the hostile clients saw errors:\n{out}\n{}",
        std::fs::read_to_string(dir.join("errors")).unwrap_or_default()
    );
    assert!(
        fields
            .get("acked")
            .and_then(|a| a.parse::<u64>().ok())
            .is_some_and(|a| a > 100),
        "{out}"
    );
    assert!(
        rss_end < rss_start + 64 * 1024,
        "node RSS grew from {rss_start} to {rss_end} KiB"
    );
}

trait WaitOutput {
    fn wait_with_output_timeout(&mut self) -> String;
}

impl WaitOutput for Child {
    /// Waits for the driver to stop (it stops within a second of the stop file) and returns
    /// its stdout.
    fn wait_with_output_timeout(&mut self) -> String {
        let mut stdout = String::new();
        self.stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        self.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = self.wait().unwrap();
        assert!(status.success(), "the driver failed:\n{stdout}\n{stderr}");
        stdout
    }
}
