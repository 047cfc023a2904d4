//! Running the built `sockwire` binary from tests: every child is killed when its handle is
//! dropped or when it overruns its time limit, readiness comes from the `bound ...` line on
//! stderr, and output is collected by reader threads so no pipe ever fills up.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Default limit for a child to finish.
pub const LIMIT: Duration = Duration::from_secs(20);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockwire")
}

/// A running `sockwire`.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout_lines: Receiver<String>,
    stderr_lines: Receiver<String>,
    stdout_all: Arc<Mutex<Vec<u8>>>,
    stderr_all: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished child left.
#[derive(Debug)]
pub struct Done {
    pub status: ExitStatus,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Done {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn reader(
    mut src: impl Read + Send + 'static,
    all: Arc<Mutex<Vec<u8>>>,
) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = channel();
    let h = std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            all.lock().unwrap().extend_from_slice(&buf[..n]);
            pending.extend_from_slice(&buf[..n]);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                let _ = tx.send(String::from_utf8_lossy(&line[..i]).into_owned());
            }
        }
    });
    (rx, h)
}

impl Proc {
    /// Starts `sockwire ARGS` with stdin at end of input.
    pub fn spawn(args: &[&str]) -> Proc {
        Self::start(args, false)
    }

    /// Starts `sockwire ARGS` with a stdin pipe the test writes to.
    pub fn spawn_piped(args: &[&str]) -> Proc {
        Self::start(args, true)
    }

    fn start(args: &[&str], piped: bool) -> Proc {
        let mut child = Command::new(bin())
            .args(args)
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_BACKTRACE", "1")
            .spawn()
            .expect("start sockwire");
        let stdout_all = Arc::new(Mutex::new(Vec::new()));
        let stderr_all = Arc::new(Mutex::new(Vec::new()));
        let (stdout_lines, h1) = reader(child.stdout.take().unwrap(), stdout_all.clone());
        let (stderr_lines, h2) = reader(child.stderr.take().unwrap(), stderr_all.clone());
        Proc {
            stdin: child.stdin.take(),
            child,
            stdout_lines,
            stderr_lines,
            stdout_all,
            stderr_all,
            readers: vec![h1, h2],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the `bound ENDPOINT` stderr line and returns ENDPOINT.
    pub fn bound(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(ep) = line.strip_prefix("bound ") {
                        return ep.to_string();
                    }
                }
                Err(_) => panic!(
                    "no 'bound' line on stderr; stderr so far: {}",
                    String::from_utf8_lossy(&self.stderr_all.lock().unwrap())
                ),
            }
        }
    }

    /// Waits for a stderr line containing `needle` (skipping others) and returns it, or
    /// `None` after `timeout`.
    pub fn stderr_line_containing(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr_all.lock().unwrap()).into_owned()
    }

    /// The next stdout line, or `None` after `timeout`.
    pub fn stdout_line(&mut self, timeout: Duration) -> Option<String> {
        match self.stdout_lines.recv_timeout(timeout) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Writes to the child's stdin.
    pub fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("spawned with spawn_piped");
        stdin.write_all(bytes).expect("write to child stdin");
        stdin.flush().unwrap();
    }

    /// Closes the child's stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends a signal by name (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to `limit` for the child to exit by itself; kills it and panics otherwise.
    pub fn finish_within(mut self, limit: Duration) -> Done {
        let start = Instant::now();
        self.stdin = None;
        let status = match self.child.wait_timeout(limit).unwrap() {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sockwire did not exit within {limit:?}; stdout: {:?}; stderr: {:?}",
                    String::from_utf8_lossy(&self.stdout_all.lock().unwrap()),
                    String::from_utf8_lossy(&self.stderr_all.lock().unwrap())
                );
            }
        };
        let elapsed = start.elapsed();
        for h in self.readers.drain(..) {
            let _ = h.join();
        }
        let stdout_bytes = self.stdout_all.lock().unwrap().clone();
        let stderr = String::from_utf8_lossy(&self.stderr_all.lock().unwrap()).into_owned();
        assert!(!stderr.contains("panicked"), "sockwire panicked: {stderr}");
        Done {
            status,
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stdout_bytes,
            stderr,
            elapsed,
        }
    }

    pub fn finish(self) -> Done {
        self.finish_within(LIMIT)
    }

    /// Kills the child (for roles that run until interrupted) and returns what it printed.
    pub fn kill(mut self) -> Done {
        let _ = self.child.kill();
        self.finish_within(Duration::from_secs(5))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sockwire ARGS` to the end (stdin empty).
pub fn run(args: &[&str]) -> Done {
    Proc::spawn(args).finish()
}

/// Asserts a runtime/usage failure: the exit code, one error line (plus at most one hint line
/// for usage errors) that contains `needle`, and no panic.
pub fn assert_fails(done: &Done, code: i32, needle: &str) {
    assert_eq!(done.code(), code, "exit code; stderr: {}", done.stderr);
    let lines = done.stderr_lines();
    let max = if code == 2 { 2 } else { 1 };
    assert!(
        !lines.is_empty() && lines.len() <= max,
        "expected {max} stderr line(s), got: {:?}",
        done.stderr
    );
    assert!(
        lines[0].contains(needle),
        "first stderr line {:?} should contain {needle:?}",
        lines[0]
    );
    assert!(!done.stderr.contains("panicked") && !done.stderr.contains("backtrace"));
}
