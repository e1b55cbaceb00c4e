//! The server's side of a proxied connection: its messages found in the bytes as they pass,
//! without holding the stream back or copying it (rows are copied only when asked).

/// The server's messages, cut at their boundaries as bytes arrive without copying the stream:
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
}

impl Scanner {
    pub fn new(keep_rows: bool) -> Scanner {
        Scanner {
            keep_rows,
            ..Scanner::default()
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8], mut whole: impl FnMut(u8, &[u8])) {
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
                b'T' | b'D' => self.keep_rows,
                _ => false,
            };
            if kept {
                self.body.extend_from_slice(&bytes[..taken]);
            }
            bytes = &bytes[taken..];
            self.remaining -= taken;
            if self.remaining == 0 {
                whole(self.kind, &self.body);
                self.header.clear();
            }
        }
    }
}
