//! How a run ends badly: every failure is one sentence for stderr plus the contract's exit
//! status (1 runtime error, 2 usage, 3 receive timeout). Nothing in the tool panics on bad
//! input; it returns one of these.

use std::fmt;
use std::time::Duration;

/// A failure that ends the run.
#[derive(Debug)]
pub enum Failure {
    /// Bad endpoint, I/O, protocol error: exit 1.
    Runtime(String),
    /// The options make no sense together: exit 2, with a hint line.
    Usage(String),
    /// `--recv-timeout` expired: exit 3.
    RecvTimeout(Duration),
}

impl Failure {
    /// The contract's exit status.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Runtime(_) => 1,
            Failure::Usage(_) => 2,
            Failure::RecvTimeout(_) => 3,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Runtime(m) | Failure::Usage(m) => f.write_str(m),
            Failure::RecvTimeout(d) => write!(
                f,
                "no message received within {} s (--recv-timeout)",
                fmt_secs(*d)
            ),
        }
    }
}

impl From<sockwire::Error> for Failure {
    fn from(e: sockwire::Error) -> Failure {
        Failure::Runtime(e.to_string())
    }
}

/// Seconds without useless decimals: `2`, `0.5`.
pub fn fmt_secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Shorthand.
pub type Outcome<T = ()> = Result<T, Failure>;
