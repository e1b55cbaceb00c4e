//! The client's first packet: no type byte, an int32 length and an int32 code. 196608 is a
//! protocol 3.0 `StartupMessage` (then name/value pairs), 80877103 an `SSLRequest`, 80877104
//! a `GSSENCRequest`, 80877102 a `CancelRequest` (sent on a connection of its own).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

pub const PROTOCOL_3: i32 = 196_608;
pub const SSL_REQUEST: i32 = 80_877_103;
pub const GSSENC_REQUEST: i32 = 80_877_104;
pub const CANCEL_REQUEST: i32 = 80_877_102;

/// A first packet, whole (its length included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet(pub Vec<u8>);

impl Packet {
    pub fn code(&self) -> i32 {
        i32::from_be_bytes([self.0[4], self.0[5], self.0[6], self.0[7]])
    }

    /// A `StartupMessage` with `-c name=value` added to its `options` (kept, and appended to,
    /// when the client sent some): how the proxy sets a level the application does not.
    pub fn with_setting(&self, name: &str, value: &str) -> Packet {
        let setting = format!("-c {name}={}", value.replace(' ', "\\ "));
        let mut pairs = self.parameters();
        match pairs.iter_mut().find(|(key, _)| key == "options") {
            Some((_, options)) => *options = format!("{options} {setting}"),
            None => pairs.push(("options".to_string(), setting)),
        }
        Packet::startup(&pairs)
    }

    /// A protocol 3.0 `StartupMessage` with `pairs`.
    pub fn startup<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Packet {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        for (key, value) in pairs {
            body.extend_from_slice(key.as_ref().as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_ref().as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend(body);
        Packet(packet)
    }

    /// A `StartupMessage`'s name/value pairs.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut fields = self.0[8..].split(|&b| b == 0);
        let mut pairs = Vec::new();
        while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
            if key.is_empty() {
                break;
            }
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            pairs.push((text(key), text(value)));
        }
        pairs
    }
}

/// Reads one first packet; None when the client closed before sending one.
pub async fn read_packet<R: AsyncRead + Unpin>(client: &mut R) -> io::Result<Option<Packet>> {
    let mut length = [0u8; 4];
    match client.read_exact(&mut length).await {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let length = u32::from_be_bytes(length) as usize;
    if !(8..=10_000).contains(&length) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a PostgreSQL start-up packet",
        ));
    }
    let mut packet = vec![0u8; length];
    packet[..4].copy_from_slice(&(length as u32).to_be_bytes());
    client.read_exact(&mut packet[4..]).await?;
    Ok(Some(Packet(packet)))
}

#[cfg(test)]
mod tests {
    use super::{PROTOCOL_3, Packet};

    fn startup(pairs: &[(&str, &str)]) -> Packet {
        Packet::startup(pairs)
    }

    #[test]
    fn the_level_goes_into_the_options_the_client_sent_or_new_ones() {
        let plain = startup(&[("user", "app"), ("database", "shop")]);
        let set = plain.with_setting("default_transaction_isolation", "repeatable read");
        assert_eq!(set.code(), PROTOCOL_3);
        assert_eq!(
            set.parameters(),
            vec![
                ("user".into(), "app".into()),
                ("database".into(), "shop".into()),
                (
                    "options".into(),
                    "-c default_transaction_isolation=repeatable\\ read".into()
                ),
            ]
        );
        let with_options = startup(&[("user", "app"), ("options", "-c search_path=x")]);
        let set = with_options.with_setting("default_transaction_isolation", "serializable");
        assert_eq!(
            set.parameters()[1].1,
            "-c search_path=x -c default_transaction_isolation=serializable"
        );
    }
}
