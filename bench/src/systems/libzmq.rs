//! libzmq (Debian's system library) through the `zmq` crate's blocking sockets, written like
//! libzmq's own perf tools: one context with the default single I/O thread, `zmq_msg_recv` into
//! a reused message.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::child::{self, Cpu, Res, Role, RoleArgs, RoundTrips};

/// Spawns the thread that waits for the parent's stop line and then reports `Cpu` since the
/// instant stored in `start` and ends the process, whatever the main thread is blocked in.
fn report_on_stop(start: Arc<Mutex<Option<Cpu>>>) {
    std::thread::spawn(move || {
        child::wait_stdin();
        let cpu0 = start.lock().expect("not poisoned").unwrap_or_default();
        child::print_cpu(Cpu::now().since(cpu0));
        child::exit_now();
    });
}

fn last_endpoint(s: &zmq::Socket) -> Res<String> {
    s.get_last_endpoint()?
        .map_err(|_| "libzmq returned a non-UTF-8 endpoint".into())
}

/// libzmq spells "any port" as `*`.
fn bind_endpoint(endpoint: &str) -> String {
    match endpoint.strip_suffix(":0") {
        Some(host) if endpoint.starts_with("tcp://") => format!("{host}:*"),
        _ => endpoint.to_string(),
    }
}

fn recv_loop(pull: &zmq::Socket, args: &RoleArgs, cpu0: Option<Cpu>) -> Res<()> {
    let mut msg = zmq::Message::new();
    pull.recv(&mut msg, 0)?;
    if msg.len() != args.size {
        return Err(format!("received {} bytes, expected {}", msg.len(), args.size).into());
    }
    let start = Instant::now();
    let cpu0 = cpu0.unwrap_or_else(Cpu::now);
    let check_every = if args.size >= 65_536 { 1 } else { 256 };
    let mut n = 1u64;
    while n < args.count {
        pull.recv(&mut msg, 0)?;
        n += 1;
        if n.is_multiple_of(check_every) && start.elapsed() > args.cap {
            break;
        }
    }
    child::print_thr(n, start.elapsed(), Cpu::now().since(cpu0));
    child::exit_now()
}

pub fn run(args: &RoleArgs) -> Res<()> {
    let ctx = zmq::Context::new();
    match args.role {
        Role::ThrRecv => {
            let pull = ctx.socket(zmq::PULL)?;
            pull.bind(&bind_endpoint(&args.endpoint))?;
            child::print_ready(&last_endpoint(&pull)?);
            recv_loop(&pull, args, None)
        }
        Role::ThrSend => {
            let push = ctx.socket(zmq::PUSH)?;
            push.connect(&args.endpoint)?;
            let start = Arc::new(Mutex::new(None));
            report_on_stop(start.clone());
            let body = vec![b'x'; args.size];
            *start.lock().expect("not poisoned") = Some(Cpu::now());
            for _ in 0..args.count {
                if let Err(e) = push.send(&body[..], 0) {
                    // As in the async sender: report CPU time when the parent says stop.
                    eprintln!("sockwire-bench: libzmq sender stopped: {e}");
                    break;
                }
            }
            // Stay connected (and keep flushing) until the parent's stop line ends us.
            loop {
                std::thread::park();
            }
        }
        Role::ThrInproc => {
            let cpu0 = Cpu::now();
            let pull = ctx.socket(zmq::PULL)?;
            pull.bind(&args.endpoint)?;
            let push = ctx.socket(zmq::PUSH)?;
            push.connect(&args.endpoint)?;
            let (size, count) = (args.size, args.count);
            std::thread::spawn(move || {
                let body = vec![b'x'; size];
                for _ in 0..count {
                    if push.send(&body[..], 0).is_err() {
                        break;
                    }
                }
                loop {
                    std::thread::park();
                }
            });
            recv_loop(&pull, args, Some(cpu0))
        }
        Role::LatServer => {
            let rep = ctx.socket(zmq::REP)?;
            rep.bind(&bind_endpoint(&args.endpoint))?;
            child::print_ready(&last_endpoint(&rep)?);
            let start = Arc::new(Mutex::new(None));
            report_on_stop(start.clone());
            let mut served = 0u64;
            loop {
                let mut msg = zmq::Message::new();
                rep.recv(&mut msg, 0)?;
                rep.send(msg, 0)?;
                served += 1;
                if served == args.warmup {
                    *start.lock().expect("not poisoned") = Some(Cpu::now());
                }
            }
        }
        Role::LatClient => {
            let req = ctx.socket(zmq::REQ)?;
            req.connect(&args.endpoint)?;
            let body = vec![b'x'; args.size];
            let mut msg = zmq::Message::new();
            for _ in 0..args.warmup {
                req.send(&body[..], 0)?;
                req.recv(&mut msg, 0)?;
            }
            let mut rtts = RoundTrips::new();
            let start = Instant::now();
            let cpu0 = Cpu::now();
            for _ in 0..args.count {
                let t = Instant::now();
                req.send(&body[..], 0)?;
                req.recv(&mut msg, 0)?;
                rtts.record(t.elapsed());
                if start.elapsed() > args.cap {
                    break;
                }
            }
            rtts.print(Cpu::now().since(cpu0));
            child::exit_now()
        }
    }
}
