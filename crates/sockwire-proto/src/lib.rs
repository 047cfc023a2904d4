//! Sans-IO core of sockwire: everything ZMTP decides, driven by byte slices and clock values.
//!
//! This crate never touches a socket, a runtime or a timer (see `shared/DESIGN.md`). The
//! `sockwire` crate moves bytes between a transport and a [`Connection`], which owns the whole
//! protocol: greeting and version negotiation, the security mechanism's handshake, the frame
//! codec, commands, heartbeats and size limits.

#![warn(missing_docs)]

pub mod command;
pub mod connection;
pub mod curve;
pub mod error;
pub mod frame;
pub mod greeting;
pub mod keys;
pub mod mechanism;
pub mod message;
pub mod socket_type;
pub mod z85;

pub use command::{Command, Metadata};
pub use connection::{AuthRequest, Connection, ConnectionConfig, Event, PeerInfo};
pub use error::ProtocolError;
pub use frame::{Frame, FrameDecoder};
pub use greeting::Greeting;
pub use keys::{CookieKeyRing, CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError};
pub use mechanism::{Credentials, MechanismConfig};
pub use message::Message;
pub use socket_type::SocketType;
