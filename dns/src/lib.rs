//! Ward's DNS front end: `ward serve`, a filtering resolver that decides
//! every query with the compiled policy for the device that asked.
//!
//! The layout is in ARCHITECTURE.md ("The DNS front end").

pub mod bundle;
pub mod cache;
pub mod config;
pub mod doh;
pub mod gateway;
pub mod log;
pub mod metrics;
pub mod server;
pub mod slots;
pub mod upstream;
pub mod wire;
pub mod zones;
