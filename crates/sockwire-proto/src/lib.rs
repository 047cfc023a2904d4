//! Sans-IO core of sockwire: everything ZMTP decides, driven by byte slices and clock values.
//!
//! This crate never touches a socket, a runtime or a timer (see `shared/DESIGN.md`). The
//! `sockwire` crate moves bytes between a transport and a [`Connection`], which owns the whole
//! protocol: greeting and version negotiation, the security mechanism's handshake, the frame
//! codec, commands, heartbeats and size limits.

#![warn(missing_docs)]

pub mod command;
pub mod connection;
pub mod error;
pub mod frame;
pub mod greeting;
mod mechanism;
pub mod message;
pub mod socket_type;

pub use command::{Command, Metadata};
pub use connection::{Connection, ConnectionConfig, Event, PeerInfo};
pub use error::ProtocolError;
pub use frame::{Frame, FrameDecoder};
pub use greeting::Greeting;
pub use message::Message;
pub use socket_type::SocketType;
