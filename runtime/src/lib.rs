//! Ward's gateway runtime: the classification core that turns traffic into
//! facts, and the policy host ([`host`]) that runs compiled policy modules.

pub mod host;
