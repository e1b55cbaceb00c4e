//! The server's side of a proxied connection: its messages found in the bytes as they pass,
//! without holding the stream back or copying it (rows are copied only when asked).

use super::split::Pass;

/// The server's messages, cut at their boundaries as bytes arrive; when only scanning (not
/// editing) the stream is not copied:
/// only the bodies the answers need are kept (`K`, `C`, `E`, `Z`); the others (rows above all)
/// are counted and skipped by length.
#[derive(Default)]
pub(super) struct Scanner {
    /// Keep the bodies of `RowDescription` and `DataRow` too (for the first row's values).
    keep_rows: bool,
    header: Vec<u8>,
    kind: u8,
    remaining: usize,
    body: Vec<u8>,
    /// Whole messages kept back from the client (an edited stream's).
    held: Vec<u8>,
}

impl Scanner {
    pub fn new(keep_rows: bool) -> Scanner {
        Scanner {
            keep_rows,
            ..Scanner::default()
        }
    }

    /// Finds the whole messages in `bytes` (`whole` hears each), which pass on untouched.
    pub fn feed(&mut self, bytes: &[u8], mut whole: impl FnMut(u8, &[u8]) -> Pass) {
        self.scan(bytes, None, &mut whole);
    }

    /// As [`Scanner::feed`], and writes to `out` what the client gets: each message, once
    /// whole, as `whole` says (passed, dropped, passed with another status, or held and
    /// passed later). Every body is kept: an edited stream is the application explorer's,
    /// where a statement waits at a gate far longer than its bytes take to copy.
    pub fn edit(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        mut whole: impl FnMut(u8, &[u8]) -> Pass,
    ) {
        self.scan(bytes, Some(out), &mut whole);
    }

    fn scan(
        &mut self,
        mut bytes: &[u8],
        mut out: Option<&mut Vec<u8>>,
        whole: &mut impl FnMut(u8, &[u8]) -> Pass,
    ) {
        while !bytes.is_empty() {
            if self.header.len() < 5 {
                let taken = (5 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..taken]);
                bytes = &bytes[taken..];
                if self.header.len() < 5 {
                    return;
                }
                self.kind = self.header[0];
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.remaining = length.saturating_sub(4);
                self.body.clear();
            }
            let taken = self.remaining.min(bytes.len());
            let kept = match self.kind {
                b'K' | b'C' | b'E' | b'Z' => true,
                b'T' | b'D' => self.keep_rows || out.is_some(),
                _ => out.is_some(),
            };
            if kept {
                self.body.extend_from_slice(&bytes[..taken]);
            }
            bytes = &bytes[taken..];
            self.remaining -= taken;
            if self.remaining == 0 {
                let pass = whole(self.kind, &self.body);
                if let Some(out) = out.as_deref_mut() {
                    self.pass_on(pass, out);
                }
                self.header.clear();
            }
        }
    }

    /// Writes the whole message just scanned as `pass` says.
    fn pass_on(&mut self, pass: Pass, out: &mut Vec<u8>) {
        match pass {
            Pass::Forward => {
                out.extend_from_slice(&self.header);
                out.extend_from_slice(&self.body);
            }
            Pass::Drop => {}
            Pass::Status(status) => {
                out.extend_from_slice(&self.header);
                out.push(status);
            }
            Pass::Hold => {
                self.held.extend_from_slice(&self.header);
                self.held.extend_from_slice(&self.body);
            }
            Pass::AfterHeld => {
                out.append(&mut self.held);
                out.extend_from_slice(&self.header);
                out.extend_from_slice(&self.body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::message;
    use super::super::split::Pass;
    use super::Scanner;

    #[test]
    fn an_edited_stream_drops_and_changes_whole_messages_whatever_the_pieces() {
        let mut stream = message(b'C', b"BEGIN\0");
        stream.extend(message(b'D', b"\0\x01\0\0\0\x011"));
        stream.extend(message(b'Z', b"T"));
        stream.extend(message(b'E', b"SERROR\0"));
        stream.extend(message(b'Z', b"I"));
        let mut expected = message(b'D', b"\0\x01\0\0\0\x011");
        expected.extend(message(b'Z', b"I"));
        expected.extend(message(b'E', b"SERROR\0"));
        expected.extend(message(b'Z', b"I"));
        for piece in [1, 2, 5, 6, stream.len()] {
            let (mut scanner, mut out) = (Scanner::new(false), Vec::new());
            for chunk in stream.chunks(piece) {
                scanner.edit(chunk, &mut out, |kind, body| match (kind, body) {
                    (b'C', _) => Pass::Drop,
                    (b'E', _) => Pass::Hold,
                    (b'Z', b"T") => Pass::Status(b'I'),
                    (b'Z', _) => Pass::AfterHeld,
                    _ => Pass::Forward,
                });
            }
            assert_eq!(out, expected, "pieces of {piece}");
        }
    }
}
