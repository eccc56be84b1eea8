//! Command line: parse, run, report, and the one place that turns an error
//! into an exit code.

pub mod about;
pub mod args;
pub mod config;
pub mod interrupt;
pub mod pack;
pub mod policy_source;
pub mod progress;
pub mod registry_args;
pub mod report;
pub mod serve;
pub mod unpack;
pub mod verify;
pub mod verify_bundle;
pub mod warnings;

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
            let code = e.exit_code();
            // An argument error under `--output json` is one JSON error
            // document too (docs/cli.md); help and --version stay text.
            if code != 0 && wants_json(std::env::args()) {
                let (name, message) = usage_error(&e);
                println!("{}", report::error_json(name, &Error::Usage(message)));
            }
            let _ = e.print();
            // clap: help/version exit 0, usage errors 2 (our usage code too).
            return ExitCode::from(u8::try_from(code).unwrap_or(2));
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

/// Whether the raw arguments ask for JSON (they did not parse, so the
/// parsed `--output` is not there to ask).
fn wants_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// The subcommand a clap error is about, and its first line.
fn usage_error(e: &clap::Error) -> (&'static str, String) {
    let name = std::env::args()
        .skip(1)
        .find_map(|a| {
            [
                "pack",
                "verify",
                "inspect",
                "verify-bundle",
                "unpack",
                "serve",
                "completions",
                "man",
                "version",
            ]
            .into_iter()
            .find(|c| *c == a)
        })
        .unwrap_or("airlock");
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    (name, first.trim_start_matches("error: ").to_string())
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Pack(_) => "pack",
        Command::Verify(_) => "verify",
        Command::Inspect(_) => "inspect",
        Command::VerifyBundle(_) => "verify-bundle",
        Command::Unpack(_) => "unpack",
        Command::Serve(_) => "serve",
        Command::Completions(_) => "completions",
        Command::Man => "man",
        Command::Version => "version",
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
        Command::Serve(a) => serve::run(a, json, cli.quiet),
        Command::Completions(a) => about::completions(&a),
        Command::Man => about::man(),
        Command::Version => about::version(json),
    }
}
