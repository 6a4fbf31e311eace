//! Ward's gateway runtime: the classification core that turns traffic into
//! facts, and (in later work) the policy host and the DNS/URL front ends.

pub mod capture;
pub mod categories;
pub mod flow;
pub mod inspect;
pub mod inventory;
pub mod oui;
pub mod packet;
pub mod proto;
pub mod reassembly;
pub mod synth;
