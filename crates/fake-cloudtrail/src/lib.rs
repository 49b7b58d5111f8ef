//! Test doubles for ctlookup: a fake CloudTrail `LookupEvents` server, a misbehaving endpoint, a static
//! HTTP server (for the AWS Service Reference) and a realistic event generator.
pub mod generate;
pub mod hostile;
pub mod http;
mod listen;
pub mod server;
pub mod sts;
