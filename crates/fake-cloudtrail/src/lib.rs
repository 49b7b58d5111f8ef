//! Test doubles for ctlookup: a fake CloudTrail `LookupEvents` server, a static HTTP server (for the AWS
//! Service Reference) and a realistic event generator.
pub mod generate;
pub mod http;
pub mod server;
