//! The guest ABI shared by Ward's host and every module it loads.
//!
//! FIXME(#3): the ABI itself (fact layout, verdict encoding, load-time
//! version check) arrives with the Wasm compiler; only its version lives here.

/// The ABI version a module declares and the host checks at load time.
pub const ABI_VERSION: u32 = 1;
