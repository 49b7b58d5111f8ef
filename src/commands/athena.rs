//! `ctlookup athena table`: the CREATE EXTERNAL TABLE of a trail's bucket, printed, or created through
//! Athena with `--run`.

use std::io::{self, Write};

use anyhow::Result;

use crate::config::AthenaTableConfig;
use crate::error::say;

pub fn table(config: AthenaTableConfig) -> Result<()> {
    let Some((athena, table)) = &config.run else {
        io::stdout().lock().write_all(config.ddl.as_bytes())?;
        return Ok(());
    };
    let id = crate::source::run_statement(athena)?;
    say(format_args!("created the Athena table {table} (query {id})"));
    Ok(())
}
