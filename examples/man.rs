//! Writes ctlookup's man pages, rendered from the clap definitions, into a directory:
//!
//!     cargo run --example man -- target/man       # then: man -l target/man/ctlookup.1
//!
//! `ctlookup.1` (every lookup option, the subcommands listed, exit status) and one page per subcommand
//! (`ctlookup-sync.1`, `ctlookup-denied.1`, ...). The directory (default `target/man`) is created when
//! missing; the file names are printed, one a line. scripts/build-release.sh ships the pages in the
//! release archives.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

// src/cli.rs holds only the clap definitions and needs nothing else of the crate; its parsing helpers
// are not used here.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

const SEE_ALSO: &str = "The guide, the expression language and the performance figures: the docs/ directory of \
the source repository,";
const DOCS_URL: &str = "https://github.com/ctlookup/ctlookup/tree/main/docs";

/// The EXIT STATUS section of ctlookup.1: (code, meaning), as docs/guarantees.md gives it.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success, also when nothing matched, and when stdout was closed early (| head)."),
    (
        "1",
        "Runtime failure: API error, network, timeout, credentials, region, unreadable input file, \
         --jq runtime errors; also after a run that printed everything it could but had to skip data \
         (a truncated file, a bad line, a region that failed while others answered).",
    ),
    (
        "2",
        "Usage error: bad option, time, attribute key or value, expression, output format, --jq program. \
         Nothing was sent.",
    ),
    ("130", "Interrupted (Ctrl-C): the output was completed and the message says how to resume."),
    ("143, 129", "SIGTERM, SIGHUP: as Ctrl-C, the output completed and the resume token printed."),
];

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args_os().nth(1).unwrap_or_else(|| "target/man".into()));
    std::fs::create_dir_all(&dir)?;
    // As clap_mangen::generate_to does: no `help` subcommand, and display names such as ctlookup-sync.
    let mut command = cli::Cli::command().disable_help_subcommand(true);
    command.build();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_subcommand_pages(&dir, sub)?;
    }
    let path = write_page(&dir, &command, |w| {
        writeln!(w, ".SH \"EXIT STATUS\"")?;
        for (code, meaning) in EXIT_STATUS {
            writeln!(w, ".TP\n{}\n{}", roff_text(code), roff_text(meaning))?;
        }
        writeln!(w, ".PP\nEvery error is one line on stderr that says what to do.")?;
        writeln!(w, ".SH \"SEE ALSO\"")?;
        let subs: Vec<String> = command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("\\%\\fB{}\\fR(1)", roff_text(&format!("ctlookup-{}", s.get_name()))))
            .collect();
        writeln!(w, "{}", subs.join(", "))?;
        writeln!(w, ".PP\n{}\n.br\n\\%{}", roff_text(SEE_ALSO), roff_text(DOCS_URL))
    })?;
    println!("{}", path.display());
    Ok(())
}

/// Writes the page of a subcommand and of its own subcommands (`ctlookup-store-clear.1`).
fn write_subcommand_pages(dir: &Path, command: &clap::Command) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_subcommand_pages(dir, sub)?;
    }
    let path = write_page(dir, command, |_| Ok(()))?;
    println!("{}", path.display());
    Ok(())
}

/// Renders the page of `command` with clap_mangen, `extra` (roff) spliced in before the VERSION
/// section (at the end when there is none).
fn write_page(
    dir: &Path,
    command: &clap::Command,
    extra: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    let man = clap_mangen::Man::new(command.clone());
    let path = dir.join(man.get_filename());
    let mut rendered = Vec::new();
    man.render(&mut rendered)?;
    let rendered = String::from_utf8(rendered).map_err(std::io::Error::other)?;
    let mut more = Vec::new();
    extra(&mut more)?;
    let more = String::from_utf8(more).map_err(std::io::Error::other)?;
    let at = rendered.find("\n.SH VERSION\n").map_or(rendered.len(), |i| i + 1);
    let page = format!("{}{more}{}", &rendered[..at], &rendered[at..]);
    std::fs::write(&path, page)?;
    Ok(path)
}

/// Text as roff reads it literally: backslashes doubled, `-` as a real minus (so that options can be
/// searched and copied), a leading `.` or `'` protected.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
