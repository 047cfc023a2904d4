//! The ZMTP frame codec: flags byte, short (1-byte) or long (8-byte) size, body.
//!
//! The decoder follows tokio-util's codec shape: it works on a `BytesMut` read buffer, returns
//! `Ok(None)` until a whole frame is there, and hands the body out as a `Bytes` split off the
//! buffer (no copy). Declared sizes are checked against the limit as soon as the header is
//! complete, before any body byte arrives, and never with arithmetic that can wrap
//! (CVE-2019-6250).

use bytes::{Buf, Bytes, BytesMut};

use crate::ProtocolError;

/// Flag bit: more frames follow in this message.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 bytes.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: this frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;

/// Flag bits that RFC 37 reserves and requires to be zero.
const FLAGS_RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);
/// Header length of a short frame: flags and a 1-byte size.
const SHORT_HEADER_LEN: usize = 2;
/// Header length of a long frame: flags and an 8-byte size.
const LONG_HEADER_LEN: usize = 9;
/// RFC 37: "A long frame has a body of 0 to 2^63-1 octets."
const MAX_LONG_SIZE: u64 = i64::MAX as u64;

/// Length of the header [`encode_header`] writes for a body of `len` bytes.
pub fn header_len(len: usize) -> usize {
    if len <= u8::MAX as usize {
        SHORT_HEADER_LEN
    } else {
        LONG_HEADER_LEN
    }
}

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

/// A frame header whose flags have been validated.
struct Header {
    flags: u8,
    header_len: usize,
    body_len: u64,
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

    /// The current size limit.
    pub fn max_frame_size(&self) -> u64 {
        self.max_frame_size
    }

    /// Decodes one frame from the front of `buf`, splitting it off without copying.
    /// `Ok(None)` when `buf` does not yet hold a whole frame. Checks the flags and the declared
    /// size as soon as the header is complete, before the body has arrived.
    ///
    /// Errors: reserved flag bits set or a command with MORE set give
    /// [`ProtocolError::BadFrameFlags`]; a declared size over the limit (or over 2^63-1, the
    /// RFC 37 maximum) gives [`ProtocolError::MessageTooLarge`]. On error `buf` is left as it was.
    #[inline]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let header = match self.header(buf)? {
            Some(h) => h,
            None => return Ok(None),
        };
        // `header_len <= buf.len()` here, so this subtraction cannot wrap; comparing the
        // declared size with what is left (not `pos + size` with the buffer end) cannot
        // overflow whatever the peer declares.
        let available = (buf.len() - header.header_len) as u64;
        if header.body_len > available {
            return Ok(None);
        }
        buf.advance(header.header_len);
        // `body_len <= available <= usize::MAX`, so the cast is lossless.
        let body = buf.split_to(header.body_len as usize).freeze();
        Ok(Some(Frame {
            more: header.flags & FLAG_MORE != 0,
            command: header.flags & FLAG_COMMAND != 0,
            body,
        }))
    }

    /// How many more bytes are needed to finish the frame at the front of `buf` (a hint for
    /// sizing reads; capped by the caller). Zero when a whole frame is there or the header is
    /// invalid (the next [`FrameDecoder::decode`] returns it or the error).
    pub fn bytes_needed(&self, buf: &[u8]) -> usize {
        let Some(&flags) = buf.first() else {
            return SHORT_HEADER_LEN;
        };
        let header_len = if flags & FLAG_LONG != 0 {
            LONG_HEADER_LEN
        } else {
            SHORT_HEADER_LEN
        };
        if buf.len() < header_len {
            return header_len - buf.len();
        }
        let body_len = if flags & FLAG_LONG != 0 {
            u64::from_be_bytes(buf[1..LONG_HEADER_LEN].try_into().expect("8 bytes"))
        } else {
            u64::from(buf[1])
        };
        let available = (buf.len() - header_len) as u64;
        usize::try_from(body_len.saturating_sub(available)).unwrap_or(usize::MAX)
    }

    /// Parses and checks the header at the front of `buf`; `Ok(None)` if it is incomplete.
    #[inline]
    fn header(&self, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let Some(&flags) = buf.first() else {
            return Ok(None);
        };
        if flags & FLAGS_RESERVED != 0 {
            return Err(ProtocolError::BadFrameFlags { flags });
        }
        if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
            return Err(ProtocolError::BadFrameFlags { flags });
        }
        let (header_len, body_len) = if flags & FLAG_LONG != 0 {
            let Some(size) = buf.get(1..LONG_HEADER_LEN) else {
                return Ok(None);
            };
            (
                LONG_HEADER_LEN,
                u64::from_be_bytes(size.try_into().expect("8 bytes")),
            )
        } else {
            let Some(&size) = buf.get(1) else {
                return Ok(None);
            };
            (SHORT_HEADER_LEN, u64::from(size))
        };
        // A body must also fit in memory, which on 32-bit targets is below 2^63-1.
        let limit = self
            .max_frame_size
            .min(MAX_LONG_SIZE)
            .min(usize::MAX as u64);
        if body_len > limit {
            return Err(ProtocolError::MessageTooLarge {
                size: body_len,
                limit,
            });
        }
        Ok(Some(Header {
            flags,
            header_len,
            body_len,
        }))
    }
}

/// A frame header (flags and size, short form up to 255 bytes): the bytes and how many of
/// them are used.
#[inline]
pub fn header(more: bool, command: bool, len: usize) -> ([u8; LONG_HEADER_LEN], usize) {
    let mut flags = 0;
    if more {
        flags |= FLAG_MORE;
    }
    if command {
        flags |= FLAG_COMMAND;
    }
    let mut h = [0u8; LONG_HEADER_LEN];
    if len <= u8::MAX as usize {
        h[0] = flags;
        h[1] = len as u8;
        (h, 2)
    } else {
        h[0] = flags | FLAG_LONG;
        h[1..].copy_from_slice(&(len as u64).to_be_bytes());
        (h, LONG_HEADER_LEN)
    }
}

/// Appends a frame header ([`header`]) to `out`.
#[inline]
pub fn encode_header(more: bool, command: bool, len: usize, out: &mut BytesMut) {
    let (h, n) = header(more, command, len);
    out.extend_from_slice(&h[..n]);
}

/// Appends a whole frame (header and body) to `out`.
pub fn encode_frame(more: bool, command: bool, body: &[u8], out: &mut BytesMut) {
    encode_header(more, command, body.len(), out);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], max: u64) -> Result<Vec<Frame>, ProtocolError> {
        let mut buf = BytesMut::from(bytes);
        let mut dec = FrameDecoder::new(max);
        let mut frames = Vec::new();
        while let Some(f) = dec.decode(&mut buf)? {
            frames.push(f);
        }
        Ok(frames)
    }

    #[test]
    fn short_and_long_headers() {
        let mut out = BytesMut::new();
        encode_header(false, false, 0, &mut out);
        encode_header(true, false, 255, &mut out);
        encode_header(false, true, 5, &mut out);
        encode_header(true, false, 256, &mut out);
        encode_header(false, true, 300, &mut out);
        assert_eq!(
            &out[..],
            &[
                0x00, 0, //
                0x01, 255, //
                0x04, 5, //
                0x03, 0, 0, 0, 0, 0, 0, 1, 0, //
                0x06, 0, 0, 0, 0, 0, 0, 1, 44,
            ]
        );
        assert_eq!(header_len(255), 2);
        assert_eq!(header_len(256), 9);
    }

    #[test]
    fn round_trip_sizes() {
        for len in [0usize, 1, 254, 255, 256, 1000, 70_000] {
            let body = vec![0x5A; len];
            let mut out = BytesMut::new();
            encode_frame(true, false, &body, &mut out);
            encode_frame(false, true, &body, &mut out);
            let frames = decode_all(&out, u64::MAX).unwrap();
            assert_eq!(frames.len(), 2);
            assert!(frames[0].more && !frames[0].command);
            assert!(!frames[1].more && frames[1].command);
            assert_eq!(&frames[0].body[..], &body[..]);
            assert_eq!(&frames[1].body[..], &body[..]);
        }
    }

    #[test]
    fn incomplete_frames_wait_and_leave_buffer_alone() {
        let mut out = BytesMut::new();
        encode_frame(false, false, &[7; 300], &mut out);
        let mut dec = FrameDecoder::new(u64::MAX);
        for n in 0..out.len() {
            let mut part = BytesMut::from(&out[..n]);
            assert_eq!(dec.decode(&mut part), Ok(None), "prefix {n}");
            assert_eq!(part.len(), n);
            assert_eq!(
                dec.bytes_needed(&part),
                if n == 0 {
                    2
                } else if n < 9 {
                    9 - n
                } else {
                    309 - n
                }
            );
        }
        let mut whole = out.clone();
        assert_eq!(dec.bytes_needed(&whole), 0);
        assert!(dec.decode(&mut whole).unwrap().is_some());
        assert!(whole.is_empty());
    }

    #[test]
    fn body_is_a_slice_of_the_read_buffer() {
        let mut out = BytesMut::new();
        encode_frame(false, false, b"hello", &mut out);
        let base = out.as_ptr() as usize;
        let frame = FrameDecoder::new(u64::MAX)
            .decode(&mut out)
            .unwrap()
            .unwrap();
        assert_eq!(frame.body.as_ptr() as usize, base + 2);
    }

    #[test]
    fn limit_is_inclusive() {
        let mut out = BytesMut::new();
        encode_frame(false, false, &[1; 10], &mut out);
        assert!(decode_all(&out, 10).is_ok());
        assert_eq!(
            decode_all(&out, 9),
            Err(ProtocolError::MessageTooLarge { size: 10, limit: 9 })
        );
    }
}
