//! Test doubles for ctlookup: a fake CloudTrail `LookupEvents` server, a misbehaving endpoint, and a
//! realistic event generator.
pub mod generate;
pub mod hostile;
pub mod server;
