//! The parent side: plans the cells of a run, starts the child processes of each (re-executing
//! this binary with a hidden role argument, optionally under `taskset -c 0`), reads their
//! `READY` and `RESULT` lines, and collects one sample per cell and repetition.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::child::{Role, RoleArgs, RtFlavor};
use crate::systems::System;

/// The hidden first argument that makes the binary run one child role.
pub const ROLE_FLAG: &str = "__role";

/// Which workload a cell measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// PUSH -> PULL throughput.
    Thr,
    /// REQ/REP round trips.
    Lat,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Thr => "throughput",
            Workload::Lat => "latency",
        }
    }
}

/// One measurement to make: a workload, a system, a transport and a message size.
#[derive(Clone, Debug)]
pub struct Cell {
    pub workload: Workload,
    pub system: System,
    pub transport: &'static str,
    pub size: usize,
    /// Messages (throughput) or timed round trips (latency).
    pub count: u64,
    pub warmup: u64,
}

/// What one run of a cell measured.
#[derive(Clone, Debug)]
pub enum Measure {
    Thr {
        /// Messages counted by the receiver (fewer than planned if the time cap hit).
        count: u64,
        /// First to last message at the receiver.
        elapsed_ns: u64,
        /// User + system CPU time of both processes.
        cpu_us: u64,
    },
    Lat {
        count: u64,
        mean_ns: u64,
        p50_ns: u64,
        p99_ns: u64,
        /// User + system CPU time of both processes over the timed round trips.
        cpu_us: u64,
    },
}

impl Measure {
    pub fn msgs_per_s(&self) -> Option<f64> {
        match *self {
            Measure::Thr {
                count, elapsed_ns, ..
            } => Some(count as f64 / (elapsed_ns.max(1) as f64 / 1e9)),
            Measure::Lat { .. } => None,
        }
    }

    /// CPU microseconds per message (throughput) or per round trip (latency).
    pub fn cpu_us_per_msg(&self) -> f64 {
        match *self {
            Measure::Thr { count, cpu_us, .. } | Measure::Lat { count, cpu_us, .. } => {
                cpu_us as f64 / count.max(1) as f64
            }
        }
    }
}

/// One repetition of one cell.
#[derive(Clone, Debug)]
pub struct Sample {
    pub cell: Cell,
    pub rep: usize,
    pub result: Result<Measure, String>,
}

/// How the children are started.
#[derive(Clone, Debug)]
pub struct Launch {
    pub pin: bool,
    pub rt: RtFlavor,
    /// Per-run time cap passed to the measuring side.
    pub cap: Duration,
    /// Where ipc socket files go.
    pub ipc_dir: PathBuf,
}

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    what: String,
}

impl Proc {
    fn spawn(launch: &Launch, args: &RoleArgs) -> Result<Proc, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        let mut cmd = if launch.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.arg(ROLE_FLAG)
            .args(args.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let what = format!("{} {}", args.system, args.role.as_str());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Proc {
            child,
            stdin,
            stdout,
            what,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line starting with `prefix`, without it.
    fn read_line(&mut self, prefix: &str) -> Result<String, String> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) => return Err(format!("{} exited before printing {prefix}", self.what)),
                Ok(_) => {
                    if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Err(e) => return Err(format!("reading from {}: {e}", self.what)),
            }
        }
    }

    fn read_result(&mut self) -> Result<HashMap<String, u64>, String> {
        let line = self.read_line("RESULT")?;
        line.split_whitespace()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("bad result field {kv:?} from {}", self.what))?;
                let v = v
                    .parse()
                    .map_err(|_| format!("bad result value {kv:?} from {}", self.what))?;
                Ok((k.to_string(), v))
            })
            .collect()
    }

    /// Tells a sender or echo server that its peer is done.
    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
    }

    fn finish(mut self) {
        self.stop();
        // Children exit on their own after reporting; the watchdog kills any that hang.
        let _ = self.child.wait();
    }
}

/// Kills the children of a run if it is not over by its deadline.
struct Watchdog {
    done: mpsc::Sender<()>,
}

impl Watchdog {
    fn start(pids: Vec<u32>, deadline: Duration) -> Watchdog {
        let (done, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(deadline) {
                for pid in pids {
                    // SAFETY: kill has no memory effects; the pid is a child we started and
                    // have not reaped yet (the run is still waiting for it).
                    unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGKILL);
                    }
                }
            }
        });
        Watchdog { done }
    }

    fn disarm(self) {
        let _ = self.done.send(());
    }
}

fn field(m: &HashMap<String, u64>, k: &str) -> Result<u64, String> {
    m.get(k)
        .copied()
        .ok_or_else(|| format!("result is missing {k}"))
}

fn cpu(m: &HashMap<String, u64>) -> Result<u64, String> {
    Ok(field(m, "user_us")? + field(m, "sys_us")?)
}

/// How long a run may take before its children are killed.
fn hang_deadline(launch: &Launch) -> Duration {
    launch.cap * 2 + Duration::from_secs(30)
}

/// Runs one repetition of `cell`. `seq` makes endpoint names unique.
pub fn run_cell(launch: &Launch, cell: &Cell, seq: usize) -> Result<Measure, String> {
    let endpoint = match cell.transport {
        "tcp" => "tcp://127.0.0.1:0".to_string(),
        "ipc" => format!(
            "ipc://{}/{}-{seq}.ipc",
            launch.ipc_dir.display(),
            cell.system.as_str()
        ),
        "inproc" => format!("inproc://sockwire-bench-{seq}"),
        other => return Err(format!("unknown transport {other}")),
    };
    let args = |role| RoleArgs {
        role,
        system: cell.system.as_str().to_string(),
        endpoint: endpoint.clone(),
        size: cell.size,
        count: cell.count,
        warmup: cell.warmup,
        cap: launch.cap,
        rt: launch.rt,
    };
    match (cell.workload, cell.transport) {
        (Workload::Thr, "inproc") => {
            let mut p = Proc::spawn(launch, &args(Role::ThrInproc))?;
            let dog = Watchdog::start(vec![p.pid()], hang_deadline(launch));
            let r = p.read_result();
            dog.disarm();
            p.finish();
            let r = r?;
            Ok(Measure::Thr {
                count: field(&r, "count")?,
                elapsed_ns: field(&r, "elapsed_ns")?,
                cpu_us: cpu(&r)?,
            })
        }
        (Workload::Thr, _) => two_procs(
            launch,
            args(Role::ThrRecv),
            args(Role::ThrSend),
            |recv, send| {
                Ok(Measure::Thr {
                    count: field(recv, "count")?,
                    elapsed_ns: field(recv, "elapsed_ns")?,
                    cpu_us: cpu(recv)? + cpu(send)?,
                })
            },
        ),
        (Workload::Lat, _) => two_procs(
            launch,
            args(Role::LatServer),
            args(Role::LatClient),
            |server, client| {
                Ok(Measure::Lat {
                    count: field(client, "count")?,
                    mean_ns: field(client, "mean_ns")?,
                    p50_ns: field(client, "p50_ns")?,
                    p99_ns: field(client, "p99_ns")?,
                    cpu_us: cpu(server)? + cpu(client)?,
                })
            },
        ),
    }
}

/// Starts the binding side, then the connecting side on the endpoint the binder reported; waits
/// for the result of the side that measures, then stops the other one and takes its CPU time.
/// For throughput the binder (PULL) measures; for latency the connecter (REQ) does.
fn two_procs(
    launch: &Launch,
    binder_args: RoleArgs,
    mut connecter_args: RoleArgs,
    combine: impl FnOnce(&HashMap<String, u64>, &HashMap<String, u64>) -> Result<Measure, String>,
) -> Result<Measure, String> {
    let binder_measures = binder_args.role == Role::ThrRecv;
    let mut binder = Proc::spawn(launch, &binder_args)?;
    let dog = Watchdog::start(vec![binder.pid()], hang_deadline(launch));
    let ready = binder.read_line("READY");
    let endpoint = match ready {
        Ok(e) => e,
        Err(e) => {
            dog.disarm();
            binder.finish();
            return Err(e);
        }
    };
    connecter_args.endpoint = endpoint;
    let mut connecter = match Proc::spawn(launch, &connecter_args) {
        Ok(p) => p,
        Err(e) => {
            dog.disarm();
            binder.finish();
            return Err(e);
        }
    };
    dog.disarm();
    let dog = Watchdog::start(vec![connecter.pid(), binder.pid()], hang_deadline(launch));
    let outcome = (|| {
        let (measurer, other) = if binder_measures {
            (&mut binder, &mut connecter)
        } else {
            (&mut connecter, &mut binder)
        };
        let first = measurer.read_result()?;
        other.stop();
        let second = other.read_result()?;
        if binder_measures {
            combine(&first, &second)
        } else {
            combine(&second, &first)
        }
    })();
    dog.disarm();
    connecter.finish();
    binder.finish();
    outcome
}
