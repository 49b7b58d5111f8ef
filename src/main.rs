//! ctlookup: AWS CloudTrail Event history with filters on any field. Parse → config → run → exit code.

mod cli;
mod config;
mod error;
mod event;
mod interrupt;
mod jq;
mod output;
mod progress;
mod query;
mod run;
mod source;
mod time;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return error::report_clap(err),
    };
    interrupt::install();
    match config::Config::from_cli(cli, &config::Environment::detect()).and_then(run::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}
