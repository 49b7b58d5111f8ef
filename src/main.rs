//! ctlookup: AWS CloudTrail Event history with filters on any field. Parse → config → run → exit code.

mod answers;
mod cli;
mod config;
mod decode;
mod discovery;
mod error;
mod event;
mod interrupt;
mod jq;
mod output;
mod path;
mod progress;
mod query;
mod reference;
mod resources;
mod run;
mod source;
mod store;
mod store_commands;
mod suggest;
mod time;

use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(err) => return error::report_clap(err),
    };
    let env = config::Environment::detect();
    let result = config::Task::from_cli(cli, &env).and_then(|task| match task {
        config::Task::Lookup(config) => {
            interrupt::install();
            run::run(*config)
        }
        config::Task::Services(list) => discovery::services(&list),
        config::Task::Actions { service, list } => discovery::actions(service.as_deref(), &list),
        config::Task::Completions(script) => Ok(io::stdout().write_all(&script)?),
        config::Task::Sync(config) => {
            interrupt::install();
            store_commands::sync(*config)
        }
        config::Task::StoreList(list) => store_commands::list(&list),
        config::Task::StoreClear(selection) => store_commands::clear(&selection),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}
