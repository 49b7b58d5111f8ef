//! Where ctlookup keeps its files: its directory in the user's cache directory.

use std::path::PathBuf;

use anyhow::{anyhow, Result};

/// `ctlookup` under the user's cache directory: `$XDG_CACHE_HOME` (when absolute), else `~/.cache` on Linux;
/// `~/Library/Caches` on macOS; the local application data folder on Windows.
pub fn cache_dir() -> Result<PathBuf> {
    // dirs: on Linux, a relative or empty XDG_CACHE_HOME is ignored (as the XDG spec says) and a missing
    // HOME falls back on the user database.
    let base = dirs::cache_dir().ok_or_else(|| anyhow!("no cache directory: set HOME or XDG_CACHE_HOME"))?;
    Ok(base.join("ctlookup"))
}
