//! The process's one async runtime: a current-thread tokio runtime, started on first use and shared
//! by everything that waits on the network (LookupEvents, STS, the AWS Service Reference).

use std::future::Future;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, started the first time it is wanted.
pub fn get() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|err| anyhow!("cannot start the async runtime: {err}"))
}

/// Runs `future` to completion on the runtime. Not from inside a task of the runtime itself.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(get()?.block_on(future))
}
