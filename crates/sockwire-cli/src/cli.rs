//! The command-line grammar (clap derive): one subcommand per socket type sharing
//! [`SocketArgs`], plus `perf`, `raw`, `demo` and `completions`. The contract it implements is
//! `shared/spec/cli.md`; anything beyond the contract is marked "extension" in the help.
//!
//! Security options (CURVE/PLAIN) and `keygen` belong to a later change: they slot in as a
//! flattened `SecurityArgs` in [`SocketArgs`] and [`PerfArgs`], and a `Keygen` variant of
//! [`Command`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const MAIN_EXAMPLES: &str = "\
Examples:
  sockwire demo                                       # see every pattern run, then a benchmark
  sockwire pull -b tcp://127.0.0.1:5555 -n 3          # print 3 messages, then exit
  seq 3 | sockwire push -c tcp://127.0.0.1:5555       # each stdin line is one message
  sockwire rep -b tcp://*:5556 --echo                 # an echo server
  sockwire req -c tcp://127.0.0.1:5556 -d ping -n 2   # prints each reply before the next send
  sockwire sub -c tcp://127.0.0.1:5557 -s weather.    # topic filter
  sockwire perf local-thr tcp://127.0.0.1:5558 64 1000000
  sockwire raw --listen tcp://[::1]:7000              # netcat-like, no ZMTP framing

Exit status: 0 success, 1 runtime error (bad endpoint, I/O, ...), 2 usage, 3 receive timeout.
Run 'sockwire TYPE --help' for what each socket type does with these options.";

const SOCKET_EXAMPLES: &str = "\
Roles per type (what the options mean for each):
  push, pub        send: -d/-F (once; N times with -n; forever with -i and no -n) or one
                   message per stdin line; -n counts messages sent. PUB drops messages sent
                   before subscribers have joined: use --delay or -i.
  pull, sub        receive and print; -n counts messages received. A SUB with no -s
                   subscribes to everything.
  req              for each message (from -d/-F or each stdin line): send it, wait for the
                   reply and print it before sending the next; -n counts round trips.
  rep              receive and print each request, then reply with the request itself
                   (--echo), with -d/-F, or with the next stdin line (it exits when stdin ends);
                   -n counts requests answered.
  router, stream   receive and print each message, its routing id frame first; reply to it
                   (to the same peer) with --echo or -d/-F, else only receive; -n counts
                   messages received.
  pair, dealer,    send (-d/-F or stdin lines, as push) and receive (print) at the same time;
  xpub, xsub       with -n, exit once N are sent (or input ended) and N received. With --echo
                   (pair, dealer) each received message is sent back. XPUB prints the
                   subscription messages it receives; XSUB subscribes with -s.

Line format prints a frame as text when it is printable UTF-8, otherwise as 0x followed by
hex, so that one message is always one line. Use -f quoted or -f hex for exact bytes.

Examples:
  sockwire pull -b tcp://127.0.0.1:0 -n 1             # prints 'bound tcp://127.0.0.1:PORT'
  sockwire push -c tcp://127.0.0.1:5555 -d hello -n 3 -i 0.5
  sockwire push -c tcp://127.0.0.1:5555 -d a -d b -d c  # one message of 3 frames
  sockwire pub -b tcp://*:5557 -d 'weather.paris 21C' -i 1
  sockwire sub -c tcp://127.0.0.1:5557 -s weather. -f quoted
  sockwire router -b ipc:///tmp/rt.sock --echo
  sockwire dealer -c ipc:///tmp/rt.sock --identity client-1 -d hi -n 1
  sockwire pull -c tcp://127.0.0.1:5555 --recv-timeout 2 || echo \"status $?\"";

const PERF_EXAMPLES: &str = "\
Same roles, arguments and output as libzmq's local_thr/remote_thr/local_lat/remote_lat, so
either side can be swapped for libzmq's tools or any ZeroMQ peer.

Examples:
  sockwire perf local-thr tcp://127.0.0.1:5555 64 1000000 &
  sockwire perf remote-thr tcp://127.0.0.1:5555 64 1000000
  sockwire perf local-lat tcp://127.0.0.1:5556 64 10000 &
  sockwire perf remote-lat tcp://127.0.0.1:5556 64 10000";

const RAW_EXAMPLES: &str = "\
Plain sockets, no ZMTP: stdin goes to the socket and the socket goes to stdout, like netcat.
TCP/IPC: when stdin ends, the sending side is shut down and the tool exits once the peer
closes. UDP: each stdin line is one datagram; --listen prints each datagram received (with a
newline added when it has none) and sends stdin lines to the peer it last heard from.

Examples:
  sockwire raw --listen tcp://127.0.0.1:7000
  echo hello | sockwire raw --connect tcp://127.0.0.1:7000
  sockwire raw --listen tcp://[::1]:0 --keep-open     # prints 'bound tcp://[::1]:PORT'
  sockwire raw --listen udp://0.0.0.0:7001
  sockwire raw --connect udp://127.0.0.1:7001 -q 1
  sockwire raw --listen ipc:///tmp/raw.sock";

/// ZeroMQ-compatible message sockets, perf tools and raw sockets, from the command line.
#[derive(Parser, Debug)]
#[command(
    name = "sockwire",
    version,
    after_help = MAIN_EXAMPLES,
    subcommand_value_name = "TYPE|COMMAND",
    subcommand_help_heading = "Socket types and commands",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// PAIR: exclusive connection to one PAIR peer; sends and receives.
    #[command(after_help = SOCKET_EXAMPLES)]
    Pair(SocketArgs),
    /// PUB: sends to every subscriber whose subscription prefixes the message.
    #[command(after_help = SOCKET_EXAMPLES)]
    Pub(SocketArgs),
    /// SUB: prints what its subscriptions (-s) select; all messages without -s.
    #[command(after_help = SOCKET_EXAMPLES)]
    Sub(SocketArgs),
    /// XPUB: a PUB that also prints the subscription messages it receives.
    #[command(after_help = SOCKET_EXAMPLES)]
    Xpub(SocketArgs),
    /// XSUB: a SUB that can also send (subscriptions are messages 0x01 PREFIX).
    #[command(after_help = SOCKET_EXAMPLES)]
    Xsub(SocketArgs),
    /// REQ: sends each message and prints its reply before sending the next.
    #[command(after_help = SOCKET_EXAMPLES)]
    Req(SocketArgs),
    /// REP: prints each request and replies (--echo, -d/-F, or the next stdin line).
    #[command(after_help = SOCKET_EXAMPLES)]
    Rep(SocketArgs),
    /// DEALER: sends (load-balanced) and receives (fair-queued) at the same time.
    #[command(after_help = SOCKET_EXAMPLES)]
    Dealer(SocketArgs),
    /// ROUTER: prints each message with its routing id first; replies with --echo or -d/-F.
    #[command(after_help = SOCKET_EXAMPLES)]
    Router(SocketArgs),
    /// PUSH: sends messages, load-balanced over its PULL peers.
    #[command(after_help = SOCKET_EXAMPLES)]
    Push(SocketArgs),
    /// PULL: prints the messages its PUSH peers send.
    #[command(after_help = SOCKET_EXAMPLES)]
    Pull(SocketArgs),
    /// STREAM: plain TCP peers as [routing id, data] messages; replies with --echo or -d/-F.
    #[command(after_help = SOCKET_EXAMPLES)]
    Stream(SocketArgs),
    /// Throughput and latency tools, compatible with libzmq's perf tools.
    #[command(after_help = PERF_EXAMPLES)]
    Perf(PerfArgs),
    /// Netcat-like plain sockets (tcp, udp, ipc), no ZMTP framing.
    #[command(after_help = RAW_EXAMPLES)]
    Raw(RawArgs),
    /// Runs REQ/REP, PUB/SUB and PUSH/PULL over loopback TCP in one process, then measures
    /// throughput and latency for ~2 s. Ends by itself in a few seconds.
    #[command(after_help = "Example:\n  sockwire demo")]
    Demo,
    /// Prints a shell completion script.
    #[command(
        after_help = "Examples:\n  sockwire completions bash > /etc/bash_completion.d/sockwire\n  sockwire completions zsh > \"${fpath[1]}/_sockwire\"\n  sockwire completions fish > ~/.config/fish/completions/sockwire.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options shared by every socket type.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("endpoints").required(true).multiple(true).args(["bind", "connect"])))]
pub struct SocketArgs {
    /// Bind to ENDPOINT (repeatable): tcp://HOST:PORT (HOST may be *, PORT 0 or * for an
    /// ephemeral port, printed as 'bound ENDPOINT' on stderr), ipc://PATH.
    #[arg(short, long, value_name = "ENDPOINT")]
    pub bind: Vec<String>,
    /// Connect to ENDPOINT (repeatable); the peer may come later: it retries with backoff.
    #[arg(short, long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// The message to send; repeat it to send one multi-frame message (extension). Without
    /// -d or -F, each line of stdin is one message.
    #[arg(short, long, value_name = "TEXT", conflicts_with = "file")]
    pub data: Vec<String>,
    /// The message to send is this file's bytes.
    #[arg(short = 'F', long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Senders stop after sending N messages, receivers exit 0 after receiving N.
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    /// Pause between sends, in decimal seconds. With -d/-F and no -n, repeats forever.
    #[arg(short, long, value_name = "SECS", value_parser = parse_secs)]
    pub interval: Option<Duration>,
    /// Wait this long (decimal seconds) before the first send.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub delay: Option<Duration>,
    /// sub/xsub: subscribe to PREFIX (repeatable); a SUB with none subscribes to everything.
    #[arg(short, long, value_name = "PREFIX")]
    pub subscribe: Vec<String>,
    /// rep, router, stream, pair, dealer: send each received message back as the reply.
    #[arg(long, conflicts_with_all = ["data", "file"])]
    pub echo: bool,
    /// How received messages are printed.
    #[arg(short, long, value_name = "FMT", value_enum, default_value_t = Format::Line)]
    pub format: Format,
    /// Give up if no message arrives within SECS: print why on stderr, exit 3.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub recv_timeout: Option<Duration>,
    /// Routing id announced to a ROUTER peer (1 to 255 bytes).
    #[arg(long, value_name = "ID", value_parser = parse_identity)]
    pub identity: Option<String>,
    /// How long closing waits for unsent messages (extension). Default: until they are sent
    /// (libzmq's default), 1 s for pub and xpub; 0 after an error. A second Ctrl-C ends the
    /// wait at once.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub linger: Option<Duration>,
}

/// How received messages are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Frames joined by a single space, one message per line.
    Line,
    /// Bytes as they are, no separator between frames or messages.
    Raw,
    /// Each frame as a quoted, escaped string, one message per line.
    Quoted,
    /// Each frame in hex, frames separated by a space, one message per line.
    Hex,
}

/// `sockwire perf ROLE ENDPOINT SIZE COUNT`.
#[derive(Args, Debug, Clone)]
pub struct PerfArgs {
    /// local-thr (PULL, binds), remote-thr (PUSH, connects), local-lat (REP, binds, echoes),
    /// remote-lat (REQ, connects, COUNT round trips).
    #[arg(value_enum)]
    pub role: PerfRole,
    /// Endpoint to bind (local-*) or connect (remote-*).
    pub endpoint: String,
    /// Message size in bytes.
    pub size: usize,
    /// Message count (thr) or round-trip count (lat).
    pub count: u64,
}

/// The four perf roles.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfRole {
    /// PULL, binds; prints the throughput from the first to the last message.
    LocalThr,
    /// PUSH, connects; sends COUNT messages.
    RemoteThr,
    /// REP, binds; echoes COUNT messages.
    LocalLat,
    /// REQ, connects; prints average, p50 and p99 one-way latency.
    RemoteLat,
}

/// `sockwire raw (--listen|--connect) ENDPOINT`.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["listen", "connect"])))]
pub struct RawArgs {
    /// Listen on ENDPOINT (tcp://, udp://, ipc://); port 0 picks one (printed on stderr).
    #[arg(short, long, value_name = "ENDPOINT")]
    pub listen: Option<String>,
    /// Connect to ENDPOINT (tcp://, udp://, ipc://).
    #[arg(short, long, value_name = "ENDPOINT")]
    pub connect: Option<String>,
    /// TCP/IPC --listen: keep accepting connections, several at once; stdin goes to all.
    #[arg(short, long)]
    pub keep_open: bool,
    /// After stdin ends, quit after SECS even if the peer is still there (extension, like
    /// nc -q). Without it TCP/IPC wait for the peer to close and UDP runs until interrupted.
    #[arg(short, long, value_name = "SECS", value_parser = parse_secs)]
    pub quit_after: Option<Duration>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("'{s}' is not a valid number of seconds"))
}

fn parse_identity(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 {
        return Err("a routing id has 1 to 255 bytes".into());
    }
    Ok(s.to_string())
}
