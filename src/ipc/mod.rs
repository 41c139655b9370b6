//! What the helper and the daemon say to each other over the local socket: the frame format
//! ([`frame`]), the messages inside frames ([`messages`]) and the socket's name ([`name`]). Shared by [`crate::client`] and
//! [`crate::daemon`], and imports neither.

mod frame;
mod messages;
mod name;

pub use frame::{decode, encode_into, parse_header, FrameError, Kind, HEADER_LEN, MAX_PAYLOAD};
pub use messages::{
    decode_erase, encode_answer, encode_erase, split_answer, DaemonState, HeldCredential,
    JobIdentity, Rejection, MAX_JOB_FIELD, REJECTED,
};
pub use name::socket_name;
