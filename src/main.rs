//! ctlookup: AWS CloudTrail Event history with filters on any field. Parse → config → run → exit code.

mod cli;
mod config;
mod discovery;
mod error;
mod event;
mod interrupt;
mod jq;
mod output;
mod progress;
mod query;
mod reference;
mod resources;
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
    let env = config::Environment::detect();
    let result = match cli.command {
        Some(command) => discovery::run(command, &env),
        None => {
            interrupt::install();
            config::Config::from_cli(cli.lookup, &env).and_then(run::run)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}
