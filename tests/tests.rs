//! ctlookup's integration tests, one binary (as ripgrep lays them out): each module runs the built
//! `ctlookup` as a user would, against the fake CloudTrail server or files, and asserts on what a user sees.

mod common;

mod accounts;
mod answers;
mod athena;
mod denied;
mod discovery;
mod errors;
mod files;
mod follow;
mod hardening;
mod hostile;
mod jqsafety;
mod lookup;
mod outputs;
mod query;
mod reliability;
mod s3;
mod shapes;
mod store;
mod store_concurrency;
