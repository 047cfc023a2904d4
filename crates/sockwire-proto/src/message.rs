//! A message: one or more frames, delivered atomically.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::PeerInfo;

/// A ZeroMQ message: an ordered list of frames, sent and received as a unit.
///
/// Frames are [`Bytes`], so a received frame is a slice of the read buffer and a large body is
/// sent without a copy. Most messages have one or two frames, which are stored inline.
///
/// A received message from an authenticated peer (PLAIN, CURVE, or NULL with an authenticator)
/// carries that peer's [`PeerInfo`] — its user id, the authenticator's metadata, its socket
/// type — readable with [`Message::peer`] and [`Message::property`], like libzmq's
/// `zmq_msg_gets`. Equality compares the frames only.
#[derive(Clone, Debug, Default)]
pub struct Message {
    frames: SmallVec<[Bytes; 2]>,
    peer: Option<Arc<PeerInfo>>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.frames == other.frames
    }
}
impl Eq for Message {}

impl Message {
    /// An empty message (no frames).
    pub fn new() -> Self {
        Message {
            frames: SmallVec::new(),
            peer: None,
        }
    }
    /// The authenticated peer this message came from (see the type's documentation).
    pub fn peer(&self) -> Option<&Arc<PeerInfo>> {
        self.peer.as_ref()
    }
    /// Attaches (or clears) the peer information.
    pub fn set_peer(&mut self, peer: Option<Arc<PeerInfo>>) {
        self.peer = peer;
    }
    /// The authenticated user id of the sender (libzmq's `User-Id` property).
    pub fn user_id(&self) -> Option<&Bytes> {
        self.peer.as_ref()?.user_id.as_ref()
    }
    /// A message property as libzmq's `zmq_msg_gets` names them: `User-Id`, then the
    /// authenticator's metadata, then the peer's own properties (`Socket-Type`, `Identity`,
    /// `X-*`). Names compare case-insensitively; `None` for messages of unauthenticated peers.
    pub fn property(&self, name: &str) -> Option<&Bytes> {
        let peer = self.peer.as_ref()?;
        if name.eq_ignore_ascii_case("User-Id") {
            return peer.user_id.as_ref();
        }
        peer.auth_metadata
            .get(name)
            .or_else(|| peer.metadata.get(name))
    }
    /// A message of one frame.
    pub fn single(frame: impl Into<Bytes>) -> Self {
        Message {
            frames: smallvec::smallvec![frame.into()],
            peer: None,
        }
    }
    /// A message of the given frames, in order.
    pub fn from_frames<I, F>(frames: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<Bytes>,
    {
        frames.into_iter().map(Into::into).collect()
    }
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }
    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
    /// Total body size of all frames, in bytes.
    pub fn size(&self) -> usize {
        if let [only] = &self.frames[..] {
            return only.len();
        }
        self.frames.iter().map(|f| f.len()).sum()
    }
    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }
    /// Prepends a frame (used for envelopes and routing ids).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }
    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }
    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.frames.pop()
    }
    /// The frame at `index`.
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.frames.get(index)
    }
    /// The frames, in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }
    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames.iter()
    }
    /// Splits off the first `at` frames into a new message; `self` keeps the rest.
    pub fn split_front(&mut self, at: usize) -> Message {
        let rest: SmallVec<[Bytes; 2]> = self.frames.drain(at..).collect();
        let front = std::mem::replace(&mut self.frames, rest);
        Message {
            frames: front,
            peer: self.peer.clone(),
        }
    }
    /// Appends every frame of `other`.
    pub fn extend(&mut self, other: Message) {
        self.frames.extend(other.frames);
    }
}

impl IntoIterator for Message {
    type Item = Bytes;
    type IntoIter = smallvec::IntoIter<[Bytes; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl FromIterator<Bytes> for Message {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().collect(),
            peer: None,
        }
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::single(b)
    }
}
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::single(b)
    }
}
impl From<&'static [u8]> for Message {
    fn from(b: &'static [u8]) -> Self {
        Message::single(Bytes::from_static(b))
    }
}
impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::single(Bytes::from_static(s.as_bytes()))
    }
}
impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::single(s)
    }
}
impl From<Vec<Bytes>> for Message {
    fn from(v: Vec<Bytes>) -> Self {
        v.into_iter().collect()
    }
}
impl<const N: usize> From<[&'static str; N]> for Message {
    fn from(v: [&'static str; N]) -> Self {
        v.iter().map(|s| Bytes::from_static(s.as_bytes())).collect()
    }
}
