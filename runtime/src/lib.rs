//! Ward's gateway runtime: the classification core that turns traffic into
//! facts, and the policy host ([`host`]) that runs compiled policy modules.

pub mod capture;
pub mod categories;
pub mod files;
pub mod flow;
#[cfg(feature = "host")]
pub mod host;
pub mod inspect;
pub mod inventory;
pub mod oui;
pub mod packet;
pub mod proto;
pub mod reassembly;
pub mod synth;
