//! PostgreSQL's messages cut out of a byte stream: after start-up every message is a type
//! byte, an int32 length that counts itself, and the body. Bytes arrive in any pieces; whole
//! messages come out, each with its bytes as they arrived (forwarded untouched).

/// The most a single message may claim to be (PostgreSQL's own limit for a query is 1 GB):
/// a length past it means the stream is not PostgreSQL's protocol.
const MAX_MESSAGE: usize = 1 << 30;

/// One whole message, borrowed from the stream's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u8,
    /// The whole message: type byte, length, body.
    pub bytes: &'a [u8],
}

impl Message<'_> {
    pub fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }

    /// The first null-terminated string of the body, and the rest after it.
    pub fn cstr(body: &[u8]) -> (String, &[u8]) {
        let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
        let text = String::from_utf8_lossy(&body[..end]).into_owned();
        (text, body.get(end + 1..).unwrap_or_default())
    }
}

/// The bytes of a stream not yet cut into messages. Messages are cut in place (no copy per
/// message): [`Framer::next_message`] gives where the next one lies, [`Framer::message`] its
/// bytes, and the caller forwards whole runs of them with [`Framer::bytes`].
#[derive(Debug, Default)]
pub struct Framer {
    pending: Vec<u8>,
    start: usize,
}

/// Where a whole message lies in the framer's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Framer {
    /// Appends `bytes`; the messages handed out before are forgotten (their spans too).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// Where the bytes not yet cut into a message begin.
    pub fn cut_up_to(&self) -> usize {
        self.start
    }

    pub fn bytes(&self, from: usize, to: usize) -> &[u8] {
        &self.pending[from..to]
    }

    pub fn message(&self, span: Span) -> Message<'_> {
        Message {
            kind: self.pending[span.start],
            bytes: &self.pending[span.start..span.end],
        }
    }

    /// The next whole message, if it is all there, without cutting it.
    pub fn peek(&self) -> Option<Message<'_>> {
        let rest = &self.pending[self.start..];
        let length = u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?) as usize;
        let bytes = rest.get(..1 + length)?;
        Some(Message {
            kind: bytes[0],
            bytes,
        })
    }

    /// Where the next whole message lies; Err when the stream cannot be PostgreSQL's
    /// protocol.
    pub fn next_message(&mut self) -> Result<Option<Span>, String> {
        let rest = &self.pending[self.start..];
        if rest.len() < 5 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if !(4..=MAX_MESSAGE).contains(&length) {
            return Err(format!(
                "a message of kind {:?} claims {length} bytes: not PostgreSQL's protocol",
                rest[0] as char
            ));
        }
        if rest.len() < 1 + length {
            return Ok(None);
        }
        let span = Span {
            start: self.start,
            end: self.start + 1 + length,
        };
        self.start = span.end;
        Ok(Some(span))
    }
}

/// A whole message of `kind` with `body`, as the tests of both sides write them.
#[cfg(test)]
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::{Framer, Message, message};

    #[test]
    fn messages_come_out_whole_whatever_the_pieces() {
        let mut stream = message(b'Q', b"SELECT 1\0");
        stream.extend(message(b'S', b""));
        stream.extend(message(b'X', b""));
        for piece in [1, 2, 3, 7, stream.len()] {
            let mut framer = Framer::default();
            let mut kinds = Vec::new();
            for chunk in stream.chunks(piece) {
                framer.feed(chunk);
                while let Some(span) = framer.next_message().unwrap() {
                    kinds.push(framer.message(span).kind);
                }
            }
            assert_eq!(kinds, b"QSX", "pieces of {piece}");
        }
    }

    #[test]
    fn a_length_that_cannot_be_is_an_error() {
        let mut framer = Framer::default();
        framer.feed(&[b'Q', 0, 0, 0, 2]);
        assert!(framer.next_message().is_err());
    }

    #[test]
    fn a_cstring_and_what_follows() {
        let (text, rest) = Message::cstr(b"portal\0stmt\0");
        assert_eq!((text.as_str(), rest), ("portal", &b"stmt\0"[..]));
    }
}
