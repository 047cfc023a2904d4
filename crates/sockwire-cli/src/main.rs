//! The `sockwire` command line. Its contract is `shared/spec/cli.md`: message sockets of every
//! type (`sockets`), libzmq-compatible perf tools (`perf`), netcat-like raw sockets (`raw`) and
//! a first-run demo (`demo`). Every failure ends as one stderr line and the contract's exit
//! status (`fail`); nothing here panics on user input.

mod cli;
mod demo;
mod fail;
mod format;
mod input;
mod perf;
mod raw;
mod security;
mod signals;
mod sockets;

use std::io::Write;

use clap::{CommandFactory, Parser};
use sockwire::SocketType;

use crate::cli::{Cli, Command};
use crate::fail::{Failure, Outcome};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let code = match run(cli) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("error: {f}");
            if matches!(f, Failure::Usage(_)) {
                eprintln!("try 'sockwire --help'");
            }
            f.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    // Exit at once: a thread may still be blocked reading stdin, which nothing can cancel.
    std::process::exit(code);
}

fn run(cli: Cli) -> Outcome {
    let (kind, args) = match cli.command {
        Command::Pair(a) => (SocketType::Pair, a),
        Command::Pub(a) => (SocketType::Pub, a),
        Command::Sub(a) => (SocketType::Sub, a),
        Command::Xpub(a) => (SocketType::XPub, a),
        Command::Xsub(a) => (SocketType::XSub, a),
        Command::Req(a) => (SocketType::Req, a),
        Command::Rep(a) => (SocketType::Rep, a),
        Command::Dealer(a) => (SocketType::Dealer, a),
        Command::Router(a) => (SocketType::Router, a),
        Command::Push(a) => (SocketType::Push, a),
        Command::Pull(a) => (SocketType::Pull, a),
        Command::Stream(a) => (SocketType::Stream, a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "sockwire", &mut std::io::stdout());
            return Ok(());
        }
        Command::Perf(args) => return runtime()?.block_on(perf::run(args)),
        Command::Raw(args) => return runtime()?.block_on(raw::run(args)),
        Command::Demo => return runtime()?.block_on(demo::run()),
        Command::Keygen => {
            print!("{}", security::keygen());
            return Ok(());
        }
    };
    runtime()?.block_on(sockets::run(kind, args))
}

fn runtime() -> Outcome<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Prints a clap error as the contract wants (one line, plus one hint line) and exits 2;
/// `--help` and `--version` print in full and exit 0.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
        let _ = e.print();
        std::process::exit(code);
    }
    let rendered = e.to_string();
    let mut sentence = String::new();
    let mut tip = None;
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(t) = line.strip_prefix("tip:") {
            tip = Some(t.trim().to_string());
            continue;
        }
        if !sentence.is_empty() {
            sentence.push(' ');
        }
        sentence.push_str(line.strip_prefix("error:").map_or(line, str::trim));
    }
    eprintln!("error: {sentence}");
    match tip {
        Some(t) => eprintln!("{t}; try 'sockwire --help'"),
        None => eprintln!("try 'sockwire --help'"),
    }
    std::process::exit(2);
}
