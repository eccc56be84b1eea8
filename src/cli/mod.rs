//! Command line: parse, run, report, and the one place that turns an error
//! into an exit code.

pub mod args;
pub mod config;
pub mod pack;
pub mod policy_source;
pub mod progress;
pub mod registry_args;
pub mod report;
pub mod unpack;
pub mod verify;
pub mod verify_bundle;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, OutputFormat};

use crate::pipeline;
use crate::Error;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap: help/version exit 0, usage errors 2 (our usage code too).
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let name = command_name(&cli.command);
    let json = cli.output == OutputFormat::Json;
    // Set when a JSON report that already carries the error was printed.
    let mut reported = false;
    match run(cli, &mut reported) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json && !reported {
                println!("{}", report::error_json(name, &e));
            }
            eprintln!("airlock {name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Pack(_) => "pack",
        Command::Verify(_) => "verify",
        Command::Inspect(_) => "inspect",
        Command::VerifyBundle(_) => "verify-bundle",
        Command::Unpack(_) => "unpack",
    }
}

fn emit(json: bool, value: serde_json::Value, text: String) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let r = if json {
        writeln!(out, "{value:#}")
    } else {
        write!(out, "{text}")
    };
    match r {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is not a failure of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing report", e)),
    }
}

/// Print warnings on stderr, one line each.
fn warn(command: &str, warnings: &[String]) {
    for w in warnings {
        eprintln!("airlock {command}: warning: {w}");
    }
}

fn run(cli: Cli, reported: &mut bool) -> Result<(), Error> {
    let json = cli.output == OutputFormat::Json;
    match cli.command {
        Command::Pack(a) => pack::run(a, json, cli.quiet, reported),
        Command::Verify(a) => verify::run(a, json, cli.quiet, reported),
        Command::Inspect(a) => {
            let out = pipeline::inspect(&a.archive)?;
            emit(json, report::inspect_json(&out), report::inspect_text(&out))
        }
        Command::VerifyBundle(a) => verify_bundle::run(a),
        Command::Unpack(a) => unpack::run(a, json, cli.quiet),
    }
}
