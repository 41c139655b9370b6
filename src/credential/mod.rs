//! The credential git asks for: its wire format ([`protocol`]), the origins and path scopes we
//! compare exactly ([`origin`]), the decision to answer or refuse ([`policy`]), and the answer
//! itself ([`answer`]) over the credentials we serve ([`served`]), shared by the standalone helper and the daemon.
//!
//! Everything here is pure and synchronous: it is the `get` path git waits on for every fetch
//! and push, so it reads no configuration and starts no runtime of its own.

mod answer;
mod origin;
mod policy;
mod protocol;
mod served;

pub use answer::{answer, expiry, Answered};
pub use origin::{OriginError, Scope};
pub use policy::{decide, Decision, Refusal};
pub use protocol::{read_message, Request, Stdin, MAX_REQUEST_BYTES, READ_TIMEOUT};
pub use served::{Credential, Provenance};
