//! Test doubles for ctlookup: a fake CloudTrail `LookupEvents` server, a misbehaving endpoint, a static
//! HTTP server (for the AWS Service Reference), a fake Athena (queries run on DuckDB) and a realistic event generator.
pub mod athena;
pub mod generate;
pub mod hostile;
pub mod http;
mod listen;
pub mod organizations;
pub mod server;
pub mod sts;
