//! The `sockwire` command line. Its contract is `shared/spec/cli.md`.

use clap::Parser;

/// ZeroMQ-compatible message sockets, perf tools and raw sockets.
#[derive(Parser)]
#[command(name = "sockwire", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
