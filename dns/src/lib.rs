//! Ward's DNS front end: `ward serve`, a filtering resolver that decides
//! every query with the compiled policy for the device that asked.
//!
//! The layout is in ARCHITECTURE.md ("The DNS front end").

pub mod config;
pub mod log;
pub mod metrics;
