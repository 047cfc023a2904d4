//! The ZMTP frame codec: flags byte, short (1-byte) or long (8-byte) size, body.

use bytes::{Bytes, BytesMut};

use crate::ProtocolError;

/// Flag bit: more frames follow in this message.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 bytes.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: this frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;

/// One decoded frame. `body` is a slice of the read buffer (no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// The body.
    pub body: Bytes,
}

/// Incremental frame decoder. Works on any split of the byte stream.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_size: u64,
}

impl FrameDecoder {
    /// A decoder refusing any frame whose declared size exceeds `max_frame_size`, before
    /// any allocation.
    pub fn new(max_frame_size: u64) -> Self {
        FrameDecoder { max_frame_size }
    }
    /// Changes the size limit (the connection lowers it as a multipart message grows).
    pub fn set_max_frame_size(&mut self, max: u64) {
        self.max_frame_size = max;
    }
    /// Decodes one frame from the front of `buf`, splitting it off without copying.
    /// `Ok(None)` when `buf` does not yet hold a whole frame. Checks the flags and the declared
    /// size as soon as the header is complete, before the body has arrived.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        todo!()
    }
    /// How many more bytes are needed to finish the frame at the front of `buf` (a hint for
    /// sizing reads; capped by the caller).
    pub fn bytes_needed(&self, buf: &[u8]) -> usize {
        todo!()
    }
}

/// Appends a frame header (flags and size, short form up to 255 bytes) to `out`.
pub fn encode_header(more: bool, command: bool, len: usize, out: &mut BytesMut) {
    todo!()
}

/// Appends a whole frame (header and body) to `out`.
pub fn encode_frame(more: bool, command: bool, body: &[u8], out: &mut BytesMut) {
    encode_header(more, command, body.len(), out);
    out.extend_from_slice(body);
}
