//! Where outgoing messages come from: a fixed message (`-d`/`-F`) repeated by `--count` and
//! `--interval`, or stdin streamed line by line. Stdin is read on its own thread, because a
//! blocking read cannot be cancelled and must not hold up the runtime at exit.

use std::io::BufRead;
use std::time::Duration;

use sockwire::{Bytes, Message};
use tokio::sync::mpsc;

use crate::cli::SocketArgs;
use crate::fail::{Failure, Outcome};

/// Starts a thread that sends each stdin line (without its `\n` or `\r\n`) on the returned
/// channel; the channel closes at end of input. The channel holds one line, so stdin is read
/// as the socket consumes it, not to the end first.
pub fn stdin_lines() -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                match lock.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                        }
                        if tx.blocking_send(Bytes::copy_from_slice(&line)).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .expect("cannot start the stdin thread");
    rx
}

/// The messages a sending role sends, in order, with the pacing the options ask for.
pub struct Source {
    kind: SourceKind,
    /// Messages still allowed (`None` = no limit).
    remaining: Option<u64>,
    interval: Option<Duration>,
    delay: Option<Duration>,
    sent_any: bool,
}

enum SourceKind {
    Fixed(Message),
    Stdin(mpsc::Receiver<Bytes>),
}

impl Source {
    /// The source the options describe. A fixed message is sent once, unless `--count` or
    /// `--interval` ask for more.
    pub fn from_args(args: &SocketArgs) -> Outcome<Source> {
        let fixed = fixed_message(args)?;
        let (kind, remaining) = match fixed {
            Some(m) => {
                let limit = match (args.count, args.interval) {
                    (Some(n), _) => Some(n),
                    (None, Some(_)) => None,
                    (None, None) => Some(1),
                };
                (SourceKind::Fixed(m), limit)
            }
            None => (SourceKind::Stdin(stdin_lines()), args.count),
        };
        Ok(Source {
            kind,
            remaining,
            interval: args.interval,
            delay: args.delay,
            sent_any: false,
        })
    }

    /// The next message to send, after the delay or interval; `None` when done.
    pub async fn next(&mut self) -> Option<Message> {
        if self.remaining == Some(0) {
            return None;
        }
        let pause = if self.sent_any {
            self.interval
        } else {
            self.delay
        };
        if let Some(p) = pause {
            tokio::time::sleep(p).await;
        }
        let msg = match &mut self.kind {
            SourceKind::Fixed(m) => m.clone(),
            SourceKind::Stdin(rx) => Message::single(rx.recv().await?),
        };
        self.sent_any = true;
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Some(msg)
    }
}

/// The `-d`/`-F` message, if any: each `-d` is one frame.
pub fn fixed_message(args: &SocketArgs) -> Outcome<Option<Message>> {
    if let Some(path) = &args.file {
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::Runtime(format!("cannot read file '{}': {e}", path.display())))?;
        return Ok(Some(Message::single(bytes)));
    }
    if args.data.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        args.data
            .iter()
            .map(|d| Bytes::copy_from_slice(d.as_bytes()))
            .collect(),
    ))
}
