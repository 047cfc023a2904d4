//! The command-line grammar (clap derive): one subcommand per socket type sharing
//! [`SocketArgs`], plus `perf`, `raw`, `demo` and `completions`. The contract it implements is
//! `shared/spec/cli.md`; anything beyond the contract is marked "extension" in the help.
//!
//! Security options (CURVE/PLAIN) are a flattened [`SecurityArgs`] in [`SocketArgs`] and
//! [`PerfArgs`]; `keygen` prints a CURVE key pair.

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
  sockwire keygen                                     # a CURVE key pair for --curve-*

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

Security: keys are 40 Z85 characters ('sockwire keygen' makes a pair). A key may begin with
'-': '--curve-server KEY' and '--curve-server=KEY' both take it. A malformed key is an error
(exit 1, like a malformed endpoint). A peer that fails authentication is dropped and reported
on stderr as 'authentication failed for tcp://PEER: REASON'; the others are served as usual.

Examples:
  sockwire pull -b tcp://127.0.0.1:0 -n 1             # prints 'bound tcp://127.0.0.1:PORT'
  sockwire push -c tcp://127.0.0.1:5555 -d hello -n 3 -i 0.5
  sockwire push -c tcp://127.0.0.1:5555 -d a -d b -d c  # one message of 3 frames
  sockwire pub -b tcp://*:5557 -d 'weather.paris 21C' -i 1
  sockwire sub -c tcp://127.0.0.1:5557 -s weather. -f quoted
  sockwire router -b ipc:///tmp/rt.sock --echo
  sockwire dealer -c ipc:///tmp/rt.sock --identity client-1 -d hi -n 1
  sockwire pull -c tcp://127.0.0.1:5555 --recv-timeout 2 || echo \"status $?\"
  sockwire rep -b tcp://*:5555 --echo --curve-server=SECRET --curve-allow=CLIENT_PUBLIC
  sockwire req -c tcp://127.0.0.1:5555 -d hi --curve-client=SERVER_PUBLIC";

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
    /// Prints a new CURVE key pair as two lines, 'public: Z85' and 'secret: Z85'.
    #[command(after_help = KEYGEN_EXAMPLES)]
    Keygen,
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
    #[command(flatten)]
    pub security: SecurityArgs,
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
    #[command(flatten)]
    pub security: SecurityArgs,
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

const KEYGEN_EXAMPLES: &str = "\
Give the public key to the peers and keep the secret key secret. A Z85 key may begin with
'-': pass it as --curve-server=KEY (either form works).

Example (a CURVE REQ/REP pair that only accepts one client):
  sockwire keygen   # server: public: S_PUB, secret: S_SEC
  sockwire keygen   # client: public: C_PUB, secret: C_SEC
  sockwire rep -b tcp://*:5555 --echo --curve-server=S_SEC --curve-allow=C_PUB
  sockwire req -c tcp://127.0.0.1:5555 -d hi --curve-client=S_PUB --curve-secret-key=C_SEC";

/// The security options of message sockets and perf tools (CURVE, RFC 26; PLAIN, RFC 24).
/// Without any of them the socket uses NULL (no security), like libzmq.
///
/// Every option that takes a key or a password also accepts a value that starts with '-'
/// (Z85 keys may), as the next argument or in the `--opt=VALUE` form.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Security (CURVE, PLAIN)")]
pub struct SecurityArgs {
    /// Be a CURVE server with this long-term secret key (Z85, 40 characters; see 'sockwire
    /// keygen').
    #[arg(
        long,
        value_name = "SECRET",
        allow_hyphen_values = true,
        conflicts_with_all = ["curve_client", "plain_server", "plain_user", "plain_password"]
    )]
    pub curve_server: Option<String>,
    /// Be a CURVE client of the server with this public key (Z85).
    #[arg(
        long,
        value_name = "SERVERPUB",
        allow_hyphen_values = true,
        conflicts_with_all = ["plain_server", "plain_user", "plain_password"]
    )]
    pub curve_client: Option<String>,
    /// CURVE client: our long-term secret key (Z85); without it a fresh key pair is made.
    #[arg(
        long,
        value_name = "SECRET",
        allow_hyphen_values = true,
        requires = "curve_client"
    )]
    pub curve_secret_key: Option<String>,
    /// CURVE server: accept only the client with this public key (repeatable). Without it
    /// any client that completes the handshake (knows our public key) is accepted.
    #[arg(
        long,
        value_name = "PUB",
        allow_hyphen_values = true,
        requires = "curve_server"
    )]
    pub curve_allow: Vec<String>,
    /// Be a PLAIN server (user names and passwords travel in clear text). Without
    /// --plain-allow any user name and password is accepted (libzmq without a ZAP handler).
    #[arg(long, conflicts_with_all = ["plain_user", "plain_password"])]
    pub plain_server: bool,
    /// PLAIN server: accept this user with this password (repeatable; split at the first ':').
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        allow_hyphen_values = true,
        requires = "plain_server",
        value_parser = parse_user_password
    )]
    pub plain_allow: Vec<(String, String)>,
    /// Be a PLAIN client with this user name (at most 255 bytes); needs --plain-password.
    #[arg(
        long,
        value_name = "USER",
        allow_hyphen_values = true,
        requires = "plain_password"
    )]
    pub plain_user: Option<String>,
    /// The PLAIN client's password (at most 255 bytes); needs --plain-user.
    #[arg(
        long,
        value_name = "PASSWORD",
        allow_hyphen_values = true,
        requires = "plain_user"
    )]
    pub plain_password: Option<String>,
}

fn parse_user_password(s: &str) -> Result<(String, String), String> {
    let Some((user, password)) = s.split_once(':') else {
        return Err("expected USER:PASSWORD".into());
    };
    if user.len() > 255 || password.len() > 255 {
        return Err("a PLAIN user name or password has at most 255 bytes".into());
    }
    Ok((user.to_string(), password.to_string()))
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
