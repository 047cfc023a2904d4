//! `sockwire TYPE [OPTIONS]`: one message socket driven by the options. Each socket type is
//! given one of six roles (sender, receiver, requester, replier, router, duplex) that decides
//! what stdin, `-d`, `--echo` and `--count` mean for it; `sockwire TYPE --help` documents them.

use std::time::Duration;

use sockwire::{Bytes, Endpoint, Message, Socket, SocketType};
use tokio::sync::mpsc;

use crate::cli::SocketArgs;
use crate::fail::{Failure, Outcome};
use crate::format::Printer;
use crate::input::{fixed_message, stdin_lines, Source};
use crate::security::Security;
use crate::signals::Signals;

/// What a socket type does with the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// push, pub: send from the source.
    Sender,
    /// pull, sub: print what arrives.
    Receiver,
    /// req: send, then print the reply, in turn.
    Requester,
    /// rep: print each request, then reply.
    Replier,
    /// router, stream: print each message (routing id first), optionally reply to its sender.
    Router,
    /// pair, dealer, xpub, xsub: send and receive at the same time.
    Duplex,
}

fn role_of(kind: SocketType) -> Role {
    match kind {
        SocketType::Push | SocketType::Pub => Role::Sender,
        SocketType::Pull | SocketType::Sub => Role::Receiver,
        SocketType::Req => Role::Requester,
        SocketType::Rep => Role::Replier,
        SocketType::Router | SocketType::Stream => Role::Router,
        _ => Role::Duplex,
    }
}

fn name(kind: SocketType) -> String {
    kind.as_str().to_ascii_lowercase()
}

/// Refuses options that make no sense for the type (exit 2), before any socket exists.
fn check_usage(kind: SocketType, args: &SocketArgs) -> Outcome {
    let role = role_of(kind);
    let usage = |m: String| Err(Failure::Usage(m));
    if role == Role::Receiver && (!args.data.is_empty() || args.file.is_some()) {
        return usage(format!(
            "a {} socket cannot send: -d/--data and -F/--file do not apply",
            name(kind)
        ));
    }
    if !args.subscribe.is_empty() && !matches!(kind, SocketType::Sub | SocketType::XSub) {
        return usage(format!(
            "-s/--subscribe applies to sub and xsub sockets, not {}",
            name(kind)
        ));
    }
    let echoes = matches!(
        kind,
        SocketType::Rep
            | SocketType::Router
            | SocketType::Stream
            | SocketType::Pair
            | SocketType::Dealer
    );
    if args.echo && !echoes {
        return usage(format!(
            "--echo applies to rep, router, stream, pair and dealer sockets, not {}",
            name(kind)
        ));
    }
    Ok(())
}

/// Runs `sockwire TYPE`: sets the socket up, runs its role until `--count` is reached, input
/// ends or a signal arrives, then closes it with linger.
pub async fn run(kind: SocketType, args: SocketArgs) -> Outcome {
    check_usage(kind, &args)?;
    let security = Security::from_args(&args.security)?;
    let mut signals = Signals::new()?;
    let socket = Socket::new(kind)?;
    security.apply(&socket)?;
    socket.set_linger(args.linger.or_else(|| default_linger(kind)));
    if let Some(id) = &args.identity {
        socket.set_routing_id(Bytes::copy_from_slice(id.as_bytes()))?;
    }
    match kind {
        SocketType::Sub if args.subscribe.is_empty() => socket.subscribe(b"")?,
        SocketType::Sub | SocketType::XSub => {
            for prefix in &args.subscribe {
                socket.subscribe(prefix.as_bytes())?;
            }
        }
        _ => {}
    }
    for endpoint in &args.bind {
        bind_and_report(&socket, endpoint)?;
    }
    for endpoint in &args.connect {
        socket.connect(endpoint)?;
    }

    let session = Session {
        socket: &socket,
        printer: Printer::new(args.format),
        recv_timeout: args.recv_timeout,
    };
    let outcome = tokio::select! {
        r = session.run(kind, &args) => r,
        _ = signals.next() => Ok(()),
    };
    // Linger: queued messages still go out, unless a second signal says to stop waiting or
    // the run failed (then nobody wants them, and the failure must not turn into a hang).
    if outcome.is_err() {
        socket.set_linger(Some(Duration::ZERO));
    }
    tokio::select! {
        _ = close(socket, !args.bind.is_empty()) => {}
        _ = signals.next() => {}
    }
    match outcome {
        Err(Failure::Runtime(m)) if m == STDOUT_CLOSED => Ok(()),
        other => other,
    }
}

/// How long closing waits for unsent messages when `--linger` is not given: until they are
/// sent (libzmq's default), except for PUB and XPUB, which never promise delivery and whose
/// subscribers may have left for good.
fn default_linger(kind: SocketType) -> Option<Duration> {
    match kind {
        SocketType::Pub | SocketType::XPub => Some(Duration::from_secs(1)),
        _ => None,
    }
}

/// Closes with linger: queued messages are written first, for up to the linger time.
pub async fn close(socket: Socket, _has_bound: bool) {
    socket.close().await;
}

/// Binds and prints `bound ENDPOINT` on stderr when the OS chose the port.
pub fn bind_and_report(socket: &Socket, endpoint: &str) -> Outcome<String> {
    let real = socket.bind(endpoint)?;
    if port_is_chosen(endpoint) {
        eprintln!("bound {real}");
    }
    Ok(real)
}

/// Whether binding `endpoint` lets the OS choose the port (`:0` or `:*`).
pub fn port_is_chosen(endpoint: &str) -> bool {
    matches!(
        Endpoint::parse(endpoint),
        Ok(Endpoint::Tcp { port: 0, .. } | Endpoint::Udp { port: 0, .. })
    )
}

/// Marks the end of a run because whoever read stdout went away (`| head -1`): not an error.
const STDOUT_CLOSED: &str = "stdout closed";

struct Session<'a> {
    socket: &'a Socket,
    printer: Printer,
    recv_timeout: Option<Duration>,
}

impl Session<'_> {
    async fn run(mut self, kind: SocketType, args: &SocketArgs) -> Outcome {
        match role_of(kind) {
            Role::Sender => {
                let mut source = Source::from_args(args)?;
                self.send_all(&mut source).await
            }
            Role::Receiver => {
                let mut received = 0;
                while args.count != Some(received) {
                    let msg = self.recv().await?;
                    self.print(&msg)?;
                    received += 1;
                }
                Ok(())
            }
            Role::Requester => {
                let mut source = Source::from_args(args)?;
                while let Some(msg) = source.next().await {
                    self.socket.send(msg).await?;
                    let reply = self.recv().await?;
                    self.print(&reply)?;
                }
                Ok(())
            }
            Role::Replier => {
                let mut replies = Replies::new(args)?;
                let mut answered = 0;
                while args.count != Some(answered) {
                    let request = self.recv().await?;
                    self.print(&request)?;
                    let Some(reply) = replies.next(&request).await else {
                        return Ok(()); // stdin ended: nothing left to reply with
                    };
                    self.socket.send(reply).await?;
                    answered += 1;
                }
                Ok(())
            }
            Role::Router => {
                let fixed = fixed_message(args)?;
                let mut received = 0;
                while args.count != Some(received) {
                    let msg = self.recv().await?;
                    self.print(&msg)?;
                    received += 1;
                    // STREAM: [id, ""] announces a connect or disconnect; answering it with
                    // an empty frame would close the connection.
                    let empty_data = match msg.get(1) {
                        Some(d) => d.is_empty(),
                        None => true,
                    };
                    if kind == SocketType::Stream && empty_data {
                        continue;
                    }
                    let reply = if args.echo {
                        Some(msg)
                    } else {
                        fixed.clone().map(|mut body| {
                            body.push_front(msg.get(0).cloned().unwrap_or_default());
                            body
                        })
                    };
                    if let Some(reply) = reply {
                        self.socket.send(reply).await?;
                    }
                }
                Ok(())
            }
            Role::Duplex => self.duplex(args).await,
        }
    }

    /// Sends and receives at once; with `--count N`, done after N sent (or end of input) and
    /// N received. With `--echo`, every received message is sent back.
    async fn duplex(&mut self, args: &SocketArgs) -> Outcome {
        let socket = self.socket;
        let sending = async {
            if args.echo {
                return Ok(());
            }
            let mut source = Source::from_args(args)?;
            while let Some(msg) = source.next().await {
                socket.send(msg).await?;
            }
            Ok::<(), Failure>(())
        };
        let receiving = async {
            let mut received = 0;
            while args.count != Some(received) {
                let msg = self.recv().await?;
                self.print(&msg)?;
                received += 1;
                if args.echo {
                    socket.send(msg).await?;
                }
            }
            Ok(())
        };
        tokio::try_join!(sending, receiving).map(|_| ())
    }

    async fn send_all(&self, source: &mut Source) -> Outcome {
        while let Some(msg) = source.next().await {
            self.socket.send(msg).await?;
        }
        Ok(())
    }

    async fn recv(&self) -> Outcome<Message> {
        match self.recv_timeout {
            None => Ok(self.socket.recv().await?),
            Some(t) => match tokio::time::timeout(t, self.socket.recv()).await {
                Ok(r) => Ok(r?),
                Err(_) => Err(Failure::RecvTimeout(t)),
            },
        }
    }

    fn print(&mut self, msg: &Message) -> Outcome {
        self.printer.print(msg).map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Failure::Runtime(STDOUT_CLOSED.into())
            } else {
                Failure::Runtime(format!("cannot write to stdout: {e}"))
            }
        })
    }
}

/// REP's replies: the request itself, the fixed message, or the next stdin line.
enum Replies {
    Echo,
    Fixed(Message),
    Stdin(mpsc::Receiver<Bytes>),
}

impl Replies {
    fn new(args: &SocketArgs) -> Outcome<Replies> {
        Ok(if args.echo {
            Replies::Echo
        } else if let Some(m) = fixed_message(args)? {
            Replies::Fixed(m)
        } else {
            Replies::Stdin(stdin_lines())
        })
    }

    async fn next(&mut self, request: &Message) -> Option<Message> {
        match self {
            Replies::Echo => Some(request.clone()),
            Replies::Fixed(m) => Some(m.clone()),
            Replies::Stdin(rx) => rx.recv().await.map(Message::single),
        }
    }
}
