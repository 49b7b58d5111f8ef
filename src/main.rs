//! ctlookup: AWS CloudTrail Event history with filters on any field. Parse → Task → dispatch → exit code.

mod answers;
mod aws;
mod cli;
mod commands;
mod config;
mod decode;
mod dirs;
mod error;
mod event;
mod interrupt;
mod jq;
#[cfg(test)]
mod layers;
mod merge;
mod output;
mod path;
mod pool;
mod progress;
mod query;
mod reference;
mod resources;
mod runtime;
mod source;
mod store;
mod suggest;
mod text;
mod time;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(err) => return error::report_clap(err),
    };
    let env = config::Environment::detect();
    match config::Task::from_cli(cli, &env).and_then(commands::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}
