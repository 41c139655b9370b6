//! The client–daemon wire format: one request frame, one response frame, then close.
//!
//! ```text
//! offset 0   4 bytes  magic "GLCI"
//!        4   1 byte   version (2: an answer to `get` names the daemon's job)
//!        5   1 byte   kind
//!        6   4 bytes  payload length, big-endian, at most MAX_PAYLOAD
//!       10   ...      payload
//! ```
//!
//! Our own framing rather than git's format on the socket, so that a version mismatch (an old
//! client against a new daemon, or the reverse) is detected and refused, never misread, and so
//! that a size cap applies before anything is allocated.

use std::fmt;

pub const MAGIC: &[u8; 4] = b"GLCI";
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 10;
/// The same cap as a request from git, plus room for our own fields.
pub const MAX_PAYLOAD: usize = crate::credential::MAX_REQUEST_BYTES + 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → daemon: a git `get` request, as git wrote it.
    Get = 1,
    /// Client → daemon: a git `erase` request, password replaced by `fingerprint=`.
    Erase = 2,
    /// Client → daemon: report your state (JSON back).
    Status = 3,
    /// Client → daemon: shut down.
    Stop = 4,
    /// Daemon → client: the payload is git's answer, to be written verbatim.
    Answer = 16,
    /// Daemon → client: nothing to say (the payload names the reason, for logs only).
    Refuse = 17,
    /// Daemon → client: a JSON document (status), or an acknowledgement.
    Data = 18,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Get,
            2 => Kind::Erase,
            3 => Kind::Status,
            4 => Kind::Stop,
            16 => Kind::Answer,
            17 => Kind::Refuse,
            18 => Kind::Data,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a git-credential-gitlab-ci frame")]
    BadMagic,
    #[error("protocol version {0} is not supported (this build speaks version {VERSION}); restart the daemon with this binary")]
    Version(u8),
    #[error("unknown frame kind {0}")]
    Kind(u8),
    #[error("frame payload of {0} bytes is over the {MAX_PAYLOAD}-byte cap")]
    TooLarge(u32),
}

/// A parsed header: what follows and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub len: usize,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} frame, {} bytes", self.kind, self.len)
    }
}

/// Checks a header before any of its payload is read or allocated.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
    if &h[..4] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    if h[4] != VERSION {
        return Err(FrameError::Version(h[4]));
    }
    let kind = Kind::from_u8(h[5]).ok_or(FrameError::Kind(h[5]))?;
    let len = u32::from_be_bytes([h[6], h[7], h[8], h[9]]);
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    Ok(Header {
        kind,
        len: len as usize,
    })
}

/// Writes header and payload into `out`, which the caller sized (and zeroes, for secrets).
pub fn encode_into(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    assert!(payload.len() <= MAX_PAYLOAD, "payload over the frame cap");
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Splits a complete frame held in one buffer (used by the fuzzer and the tests).
pub fn decode(buf: &[u8]) -> Result<(Kind, &[u8]), FrameError> {
    let header: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::BadMagic)?;
    let h = parse_header(header)?;
    let payload = buf
        .get(HEADER_LEN..HEADER_LEN + h.len)
        .ok_or(FrameError::TooLarge(h.len as u32))?;
    Ok((h.kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_a_header_and_the_header_says_what_it_is() {
        for kind in [
            Kind::Get,
            Kind::Erase,
            Kind::Status,
            Kind::Stop,
            Kind::Answer,
            Kind::Refuse,
            Kind::Data,
        ] {
            let mut buf = Vec::new();
            encode_into(kind, b"xy", &mut buf);
            let header: &[u8; HEADER_LEN] = buf[..HEADER_LEN].try_into().unwrap();
            let parsed = parse_header(header).unwrap();
            assert_eq!(parsed, Header { kind, len: 2 });
            assert_eq!(parsed.to_string(), format!("{kind:?} frame, 2 bytes"));
        }
    }

    #[test]
    fn the_payload_cap_is_a_request_from_git_and_4_kib_exactly() {
        let header = |len: u32| {
            let mut h = [0u8; HEADER_LEN];
            h[..4].copy_from_slice(MAGIC);
            h[4] = VERSION;
            h[5] = Kind::Get as u8;
            h[6..].copy_from_slice(&len.to_be_bytes());
            h
        };
        let cap = (crate::credential::MAX_REQUEST_BYTES + 4096) as u32;
        assert_eq!(parse_header(&header(cap)).unwrap().len, cap as usize);
        assert_eq!(
            parse_header(&header(cap + 1)).unwrap_err(),
            FrameError::TooLarge(cap + 1)
        );
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        encode_into(Kind::Get, b"protocol=https\nhost=h\n", &mut buf);
        assert_eq!(
            decode(&buf).unwrap(),
            (Kind::Get, &b"protocol=https\nhost=h\n"[..])
        );
    }

    #[test]
    fn bad_headers_are_refused_before_reading_the_payload() {
        let mut buf = Vec::new();
        encode_into(Kind::Answer, b"x", &mut buf);
        let mut wrong = buf.clone();
        wrong[4] = VERSION + 1;
        assert_eq!(
            decode(&wrong).unwrap_err(),
            FrameError::Version(VERSION + 1)
        );
        wrong[4] = 1;
        assert_eq!(
            decode(&wrong).unwrap_err(),
            FrameError::Version(1),
            "version 1 answers carried no job"
        );
        let mut wrong = buf.clone();
        wrong[0] = b'X';
        assert_eq!(decode(&wrong).unwrap_err(), FrameError::BadMagic);
        let mut wrong = buf.clone();
        wrong[5] = 99;
        assert_eq!(decode(&wrong).unwrap_err(), FrameError::Kind(99));
        let mut huge = buf.clone();
        huge[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge).unwrap_err(), FrameError::TooLarge(u32::MAX));
        assert!(decode(&buf[..5]).is_err());
        assert!(decode(&buf[..HEADER_LEN]).is_err(), "a truncated payload");
    }
}
