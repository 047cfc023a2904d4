//! Printing received messages in the four `--format`s, one write and one flush per message so
//! that a pipe reader sees each message as soon as it arrives.

use std::io::Write;

use sockwire::Message;

use crate::cli::Format;

/// Renders `msg` in `format` into `out` (cleared first).
pub fn render(format: Format, msg: &Message, out: &mut Vec<u8>) {
    out.clear();
    match format {
        Format::Raw => {
            for frame in msg.iter() {
                out.extend_from_slice(frame);
            }
        }
        Format::Line | Format::Quoted | Format::Hex => {
            for (i, frame) in msg.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                match format {
                    Format::Line => line_frame(frame, out),
                    Format::Quoted => quoted_frame(frame, out),
                    _ => hex_frame(frame, out),
                }
            }
            out.push(b'\n');
        }
    }
}

/// Text as is when it is printable UTF-8 (so a message stays on one line), else `0x` + hex.
fn line_frame(frame: &[u8], out: &mut Vec<u8>) {
    match std::str::from_utf8(frame) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\t') => out.extend_from_slice(frame),
        _ => {
            out.extend_from_slice(b"0x");
            hex_frame(frame, out);
        }
    }
}

fn quoted_frame(frame: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    out.extend(frame.escape_ascii());
    out.push(b'"');
}

fn hex_frame(frame: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in frame {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
}

/// Writes received messages to stdout, flushing each one.
pub struct Printer {
    format: Format,
    buf: Vec<u8>,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Format) -> Printer {
        Printer {
            format,
            buf: Vec::new(),
        }
    }

    /// Prints one message and flushes. A closed stdout (the reader went away) is an error.
    pub fn print(&mut self, msg: &Message) -> std::io::Result<()> {
        render(self.format, msg, &mut self.buf);
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwire::Bytes;

    fn msg() -> Message {
        Message::from(vec![
            Bytes::from_static(b"a b"),
            Bytes::from_static(b"\x00\x01"),
            Bytes::from_static(b"\"q\"\n"),
        ])
    }

    fn show(f: Format) -> String {
        let mut out = Vec::new();
        render(f, &msg(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn formats() {
        assert_eq!(show(Format::Line), "a b 0x0001 0x2271220a\n");
        assert_eq!(
            show(Format::Quoted),
            "\"a b\" \"\\x00\\x01\" \"\\\"q\\\"\\n\"\n"
        );
        assert_eq!(show(Format::Hex), "612062 0001 2271220a\n");
        assert_eq!(show(Format::Raw), "a b\x00\x01\"q\"\n");
    }
}
