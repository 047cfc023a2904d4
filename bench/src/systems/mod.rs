//! The four systems under test, each a thin adapter from the child roles to one library.

pub mod libzmq;
pub mod omq;
pub mod sockwire;
pub mod zeromq;

use crate::child::{Res, RoleArgs};

/// A library under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Sockwire,
    Libzmq,
    Omq,
    Zeromq,
}

impl System {
    pub const ALL: [System; 4] = [
        System::Sockwire,
        System::Libzmq,
        System::Omq,
        System::Zeromq,
    ];

    /// The short name used on the command line and in the results.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Sockwire => "sockwire",
            System::Libzmq => "libzmq",
            System::Omq => "omq",
            System::Zeromq => "zeromq",
        }
    }

    /// A longer label for tables and the chart.
    pub fn label(self) -> &'static str {
        match self {
            System::Sockwire => "sockwire",
            System::Libzmq => "libzmq 4.3 (zmq crate)",
            System::Omq => "omq.rs (omq-tokio)",
            System::Zeromq => "zmq.rs (zeromq crate)",
        }
    }

    pub fn parse(s: &str) -> Option<System> {
        System::ALL.into_iter().find(|sys| sys.as_str() == s)
    }

    /// Whether the library has the transport at all.
    pub fn supports(self, transport: &str) -> bool {
        !(self == System::Zeromq && transport == "inproc")
    }

    /// Runs a child role of this system in this process.
    pub fn run(self, args: &RoleArgs) -> Res<()> {
        match self {
            System::Sockwire => sockwire::run(args),
            System::Libzmq => libzmq::run(args),
            System::Omq => omq::run(args),
            System::Zeromq => zeromq::run(args),
        }
    }
}
