//! The commands, one place: what each [`Task`] does. `lookup` (with `denied` and `policy`, answers of a
//! lookup), `sync` and `store` (the local event store), `services` and `actions` (the names), `athena table`, and
//! the shell completions.

mod athena;
mod lookup;
mod names;
mod store;

use std::io::{self, Write};

use anyhow::Result;

use crate::config::Task;
use crate::interrupt;

/// Runs the task.
pub fn run(task: Task) -> Result<()> {
    match task {
        Task::Lookup(config) => {
            interrupt::install();
            lookup::run(*config)
        }
        Task::Services(list) => names::services(&list),
        Task::Actions { service, list } => names::actions(service.as_deref(), &list),
        Task::Completions(script) => Ok(io::stdout().write_all(&script)?),
        Task::Sync(config) => {
            interrupt::install();
            store::sync(*config)
        }
        Task::StoreList(list) => store::list(&list),
        Task::StoreClear(selection) => store::clear(&selection),
        Task::AthenaTable(table) => {
            interrupt::install();
            athena::table(*table)
        }
    }
}
