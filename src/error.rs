//! The errors a caller must tell apart, and the one place that turns any error into a message and an exit code.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// Bad input from the user (option, time, attribute…): exit 2, nothing was sent.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a usage error from a function that returns `anyhow::Result`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Ctrl-C (or SIGTERM, SIGHUP) stopped the run; the output was completed. The message says how to
/// resume, where possible.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// Prints the error as one line on stderr (unless it is a closed stdout, which is not an error) and
/// chooses the exit status.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let code = if err.chain().any(|e| e.is::<UsageError>()) {
        EXIT_USAGE
    } else if err.chain().any(|e| e.is::<Interrupted>()) {
        crate::interrupt::exit_code()
    } else {
        EXIT_FAILURE
    };
    say(format_args!("{err:#}"));
    ExitCode::from(code)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().filter_map(|e| e.downcast_ref::<io::Error>()).any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints a warning line on stderr; data problems are warned about, counted, and never end the run.
pub fn warn(message: impl fmt::Display) {
    say(format_args!("warning: {message}"));
}

/// Prints one line on stderr, `ctlookup: ` first. Text from outside (API messages, file names, event
/// fields) is shown escaped, as in the table, so that it can never drive the terminal; a stderr that
/// is closed or full loses the line rather than ending the run with a panic.
pub fn say(message: impl fmt::Display) {
    let line = crate::text::escape(&message.to_string().replace('\n', " "));
    let _ = writeln!(io::stderr().lock(), "ctlookup: {line}");
}

/// Help and version go to stdout as usual; a command-line mistake becomes one line (with clap's tip,
/// which carries its "did you mean") and exit 2.
pub fn report_clap(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let mut parts = rendered
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("error:") || l.starts_with("tip:") || l.starts_with("[possible values"))
        .map(|l| l.trim_start_matches("error:").trim());
    let mut message = parts.next().unwrap_or("invalid command line").to_owned();
    for extra in parts {
        message.push_str(&format!(" ({extra})"));
    }
    say(format_args!("{message}; see ctlookup --help"));
    ExitCode::from(EXIT_USAGE)
}
