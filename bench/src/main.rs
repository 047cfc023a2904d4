//! `sockwire-bench`: sockwire side by side with libzmq (through the `zmq` crate), omq.rs
//! (`omq-tokio`) and zmq.rs (the `zeromq` crate), in one run on one machine.
//!
//! Throughput is PUSH -> PULL with sender and receiver in separate processes, like libzmq's
//! `local_thr`/`remote_thr` (this binary re-executes itself with a hidden role argument);
//! inproc runs both sockets in one process. Latency is REQ/REP round trips. CPU time is
//! getrusage user + system of both processes. Each cell runs `--reps` times, interleaved
//! (every cell once, then every cell again) so slow drifts of a noisy machine hit all systems
//! alike; the tables show medians. See BENCHMARKS.md at the repository root.

mod chart;
mod child;
mod report;
mod runner;
mod systems;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use child::{RoleArgs, RtFlavor};
use runner::{Cell, Launch, Sample, Workload, ROLE_FLAG};
use systems::System;

const USAGE: &str = "\
sockwire-bench: sockwire vs libzmq, omq.rs and zmq.rs, side by side

USAGE: sockwire-bench [OPTIONS]

OPTIONS:
  --quick               ~30 s run: fewer messages, shorter caps, 1 repetition
  --pin                 run every process under `taskset -c 0` (one core for everything)
  --reps N              repetitions per cell, medians reported (default 5, quick 1)
  --systems LIST        comma-separated: sockwire,libzmq,omq,zeromq (default all)
  --transports LIST     comma-separated: tcp,ipc,inproc (default all)
  --sizes LIST          throughput sizes in bytes (default 8,64,1024,65536,1048576)
  --lat-sizes LIST      latency sizes in bytes (default 8,1024)
  --only thr|lat        run only the throughput or only the latency workload
  --rt multi|current    tokio runtime for sockwire and zeromq (default multi, i.e.
                        #[tokio::main]); omq always uses its own Context
  --scale F             multiply every message count by F (default 1)
  --out DIR             where results go (default: bench/results in the repository)
  -h, --help            this text
";

/// Messages per throughput run by transport and size: about a quarter to a whole second for
/// the fastest system here; slower ones stop at the time cap. inproc gets more, since the
/// libraries that pass bodies by reference move large messages as fast as small ones.
fn thr_count(transport: &str, size: usize) -> u64 {
    let inproc = transport == "inproc";
    match size {
        0..=255 if inproc => 3_000_000,
        0..=255 => 2_000_000,
        256..=4095 if inproc => 1_000_000,
        256..=4095 => 500_000,
        4096..=262_143 if inproc => 200_000,
        4096..=262_143 => 20_000,
        _ if inproc => 20_000,
        _ => 1_000,
    }
}

struct Config {
    quick: bool,
    pin: bool,
    reps: usize,
    systems: Vec<System>,
    transports: Vec<&'static str>,
    sizes: Vec<usize>,
    lat_sizes: Vec<usize>,
    thr: bool,
    lat: bool,
    rt: RtFlavor,
    scale: f64,
    out: PathBuf,
}

fn list<T>(v: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| f(s.trim()).ok_or_else(|| format!("unknown value {s:?}")))
        .collect()
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config {
        quick: false,
        pin: false,
        reps: 0,
        systems: System::ALL.to_vec(),
        transports: vec!["tcp", "ipc", "inproc"],
        sizes: vec![8, 64, 1024, 65_536, 1_048_576],
        lat_sizes: vec![8, 1024],
        thr: true,
        lat: true,
        rt: RtFlavor::Multi,
        scale: 1.0,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results")),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--quick" => cfg.quick = true,
            "--pin" => cfg.pin = true,
            "--reps" => {
                cfg.reps = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--reps needs a positive number")?
            }
            "--systems" => cfg.systems = list(&value()?, System::parse)?,
            "--transports" => {
                cfg.transports = list(&value()?, |s| {
                    ["tcp", "ipc", "inproc"].into_iter().find(|t| *t == s)
                })?
            }
            "--sizes" => cfg.sizes = list(&value()?, |s| s.parse().ok())?,
            "--lat-sizes" => cfg.lat_sizes = list(&value()?, |s| s.parse().ok())?,
            "--only" => match value()?.as_str() {
                "thr" => cfg.lat = false,
                "lat" => cfg.thr = false,
                other => return Err(format!("--only takes thr or lat, not {other:?}")),
            },
            "--rt" => {
                let v = value()?;
                cfg.rt =
                    RtFlavor::parse(&v).ok_or(format!("--rt takes multi or current, not {v:?}"))?
            }
            "--scale" => {
                cfg.scale = value()?
                    .parse()
                    .ok()
                    .filter(|&f: &f64| f > 0.0)
                    .ok_or("--scale needs a positive number")?
            }
            "--out" => cfg.out = PathBuf::from(value()?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    if cfg.reps == 0 {
        cfg.reps = if cfg.quick { 1 } else { 5 };
    }
    Ok(cfg)
}

fn plan(cfg: &Config) -> Vec<Cell> {
    let quick_div = if cfg.quick { 3.0 } else { 1.0 };
    let scaled = |n: u64| ((n as f64 * cfg.scale / quick_div) as u64).max(10);
    let mut cells = Vec::new();
    if cfg.thr {
        for &transport in &cfg.transports {
            for &size in &cfg.sizes {
                for &system in &cfg.systems {
                    if system.supports(transport) {
                        cells.push(Cell {
                            workload: Workload::Thr,
                            system,
                            transport,
                            size,
                            count: scaled(thr_count(transport, size)),
                            warmup: 0,
                        });
                    }
                }
            }
        }
    }
    if cfg.lat {
        for &transport in cfg.transports.iter().filter(|t| **t != "inproc") {
            for &size in &cfg.lat_sizes {
                for &system in &cfg.systems {
                    cells.push(Cell {
                        workload: Workload::Lat,
                        system,
                        transport,
                        size,
                        count: scaled(10_000),
                        warmup: scaled(1_000),
                    });
                }
            }
        }
    }
    cells
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Versions of the compared crates as locked in the workspace's Cargo.lock.
fn locked_versions() -> String {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let Ok(text) = std::fs::read_to_string(lock) else {
        return "unknown".into();
    };
    let mut found = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(n) = name.take() {
                if [
                    "zmq",
                    "zmq-sys",
                    "omq-tokio",
                    "omq-proto",
                    "zeromq",
                    "tokio",
                    "sockwire",
                ]
                .contains(&n.as_str())
                {
                    found.push(format!("{n} {}", v.trim_matches('"')));
                }
            }
        }
    }
    found.join(", ")
}

fn meta(cfg: &Config, argv: &[String]) -> Vec<(String, String)> {
    let (major, minor, patch) = zmq::version();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    vec![
        (
            "command".into(),
            format!("sockwire-bench {}", argv.join(" ")),
        ),
        ("unix_time".into(), now.to_string()),
        (
            "nproc".into(),
            std::thread::available_parallelism()
                .map(|n| n.get().to_string())
                .unwrap_or_default(),
        ),
        (
            "cpu".into(),
            first_line("/proc/cpuinfo", "model name").unwrap_or_default(),
        ),
        (
            "kernel".into(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        (
            "rustc".into(),
            command_output("rustc", &["--version"]).unwrap_or_default(),
        ),
        ("libzmq".into(), format!("{major}.{minor}.{patch}")),
        ("crates".into(), locked_versions()),
        ("pinned".into(), cfg.pin.to_string()),
        ("tokio_runtime".into(), cfg.rt.as_str().to_string()),
        ("reps".into(), cfg.reps.to_string()),
    ]
}

fn run_parent(argv: &[String]) -> Result<(), String> {
    let cfg = parse_args(argv)?;
    let cells = plan(&cfg);
    let ipc_dir = std::env::temp_dir().join(format!("sockwire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&ipc_dir).map_err(|e| format!("cannot create {ipc_dir:?}: {e}"))?;
    let launch = Launch {
        pin: cfg.pin,
        rt: cfg.rt,
        cap: if cfg.quick {
            Duration::from_millis(700)
        } else {
            Duration::from_secs(2)
        },
        ipc_dir: ipc_dir.clone(),
    };
    let total = cells.len() * cfg.reps;
    eprintln!(
        "sockwire-bench: {} cells x {} repetitions{}",
        cells.len(),
        cfg.reps,
        if cfg.pin { ", pinned to CPU 0" } else { "" }
    );
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::with_capacity(total);
    let mut seq = 0;
    for rep in 0..cfg.reps {
        for cell in &cells {
            seq += 1;
            let result = runner::run_cell(&launch, cell, seq);
            let shown = match &result {
                Ok(m) => match m.msgs_per_s() {
                    Some(r) => format!(
                        "{} msg/s, {:.3} CPU-us/msg",
                        report::si(r),
                        m.cpu_us_per_msg()
                    ),
                    None => match m {
                        runner::Measure::Lat {
                            mean_ns, p99_ns, ..
                        } => format!(
                            "mean {:.1} us, p99 {:.1} us",
                            *mean_ns as f64 / 1e3,
                            *p99_ns as f64 / 1e3
                        ),
                        runner::Measure::Thr { .. } => String::new(),
                    },
                },
                Err(e) => format!("FAILED: {e}"),
            };
            eprintln!(
                "[{seq:>3}/{total}] {:>5.0}s {:<10} {:<8} {:<6} {:>7}  {shown}",
                started.elapsed().as_secs_f64(),
                cell.workload.as_str(),
                cell.system.as_str(),
                cell.transport,
                report::size_label(cell.size),
            );
            samples.push(Sample {
                cell: cell.clone(),
                rep,
                result,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&ipc_dir);
    let wall = started.elapsed();

    let medians = report::medians(&samples);
    let mut tables = report::tables(&medians, &cfg.systems);
    tables.push_str(&report::per_rep_ratios(&samples));
    tables.push_str(&report::targets(&medians));
    let mut meta = meta(&cfg, argv);
    meta.push(("wall_seconds".into(), format!("{:.0}", wall.as_secs_f64())));
    println!();
    for (k, v) in &meta {
        println!("{k}: {v}");
    }
    println!();
    print!("{tables}");

    let suffix = format!(
        "{}{}",
        if cfg.pin { "-pinned" } else { "" },
        if cfg.rt == RtFlavor::Current {
            "-current-rt"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(&cfg.out).map_err(|e| format!("cannot create {:?}: {e}", cfg.out))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = cfg.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {path:?}: {e}"))?;
        Ok(path)
    };
    let mut written = vec![
        write(
            &format!("results{suffix}.json"),
            &report::json(&meta, &samples, &medians),
        )?,
        write(&format!("results{suffix}.csv"), &report::csv(&medians))?,
    ];
    let mut md = String::new();
    for (k, v) in &meta {
        md.push_str(&format!("- {k}: {v}\n"));
    }
    md.push('\n');
    md.push_str(&tables);
    written.push(write(&format!("results{suffix}.md"), &md)?);
    if cfg.thr {
        let svg = cfg.out.join(format!("throughput{suffix}.svg"));
        let title = format!(
            "PUSH -> PULL throughput by message size, medians of {} runs{}{} ({} cores)",
            cfg.reps,
            if cfg.pin { ", all on CPU 0" } else { "" },
            if cfg.rt == RtFlavor::Current {
                ", current-thread tokio runtime"
            } else {
                ""
            },
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        chart::throughput_svg(&svg, &medians, &cfg.systems, &title)
            .map_err(|e| format!("cannot draw {svg:?}: {e}"))?;
        written.push(svg);
    }
    eprintln!("\nwall time {:.0} s; wrote:", wall.as_secs_f64());
    for p in written {
        eprintln!("  {}", p.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(ROLE_FLAG) {
        let Some(args) = RoleArgs::from_args(&argv[1..]) else {
            eprintln!("sockwire-bench: bad role arguments {argv:?}");
            return ExitCode::from(2);
        };
        let Some(system) = System::parse(&args.system) else {
            eprintln!("sockwire-bench: unknown system {}", args.system);
            return ExitCode::from(2);
        };
        return match system.run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "sockwire-bench: {} {}: {e}",
                    args.system,
                    args.role.as_str()
                );
                ExitCode::FAILURE
            }
        };
    }
    match run_parent(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockwire-bench: {e}");
            ExitCode::from(2)
        }
    }
}
