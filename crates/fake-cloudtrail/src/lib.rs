//! Test doubles for ctlookup: a fake CloudTrail `LookupEvents` server and a realistic event generator.
pub mod generate;
pub mod server;
