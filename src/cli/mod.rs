//! Command line: parse, run, report, and the one place that turns an error
//! into an exit code.

pub mod about;
pub mod args;
pub mod config;
pub mod diff;
pub mod interrupt;
pub mod inventory;
pub mod merge;
pub mod pack;
pub mod policy_source;
pub mod progress;
pub mod registry_args;
pub mod report;
pub mod serve;
pub mod set_file;
pub mod unpack;
pub mod verify;
pub mod verify_bundle;
pub mod verify_local;
pub mod volumes;
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
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = diff::exit_code(name, &e);
            if json && !reported {
                let mut v = report::error_json(name, &e);
                v["error"]["exitCode"] = code.into();
                println!("{v}");
            }
            eprintln!("airlock {name}: {e}");
            ExitCode::from(code)
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
                "verify-local",
                "diff",
                "repair",
                "merge",
                "inventory",
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
        Command::VerifyLocal(_) => "verify-local",
        Command::Diff(_) => "diff",
        Command::Repair(_) => "repair",
        Command::Merge(_) => "merge",
        Command::Inventory(_) => "inventory",
        Command::Serve(_) => "serve",
        Command::Completions(_) => "completions",
        Command::Man => "man",
        Command::Version => "version",
    }
}

fn emit(json: bool, value: serde_json::Value, text: String) -> Result<(), Error> {
    emit_to(&mut std::io::stdout().lock(), json, value, text)
}

/// [`emit`] to another stream (stderr, when stdout carries the archive).
fn emit_to(
    out: &mut dyn Write,
    json: bool,
    value: serde_json::Value,
    text: String,
) -> Result<(), Error> {
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

/// Runs the command; `Ok` carries the exit code of a completed command
/// (0, or 1 when `diff` found differences).
fn run(cli: Cli, reported: &mut bool) -> Result<u8, Error> {
    let json = cli.output == OutputFormat::Json;
    let done = match cli.command {
        Command::Pack(a) => pack::run(a, json, cli.quiet, reported),
        Command::Verify(a) => verify::run(a, json, cli.quiet, reported),
        Command::Inspect(a) => {
            let input = pipeline::input::ArchiveInput::open(&a.archive)?;
            warnings::print_texts("inspect", input.warnings());
            let opts = crate::archive::ReadOptions {
                manifest_only: true,
                ..Default::default()
            };
            let out = input.read(&opts, &crate::model::progress::NoProgress)?;
            let (mut doc, mut text) = (report::inspect_json(&out), report::inspect_text(&out));
            if let Some(set) = input.volumes() {
                doc["volumes"] = volumes::set_json(&set.index_path, &set.index);
                text.push_str(&volumes::set_text(&set.index_path, &set.index));
            }
            emit(json, doc, text)
        }
        Command::Repair(a) => volumes::repair(a, json),
        Command::Merge(a) => merge::run(a, json, cli.quiet),
        Command::Inventory(a) => inventory::run(a, json),
        Command::VerifyBundle(a) => verify_bundle::run(a),
        Command::Unpack(a) => unpack::run(a, json, cli.quiet),
        Command::VerifyLocal(a) => verify_local::run(a, json, reported),
        Command::Diff(a) => return diff::run(a, json),
        Command::Serve(a) => serve::run(a, json, cli.quiet),
        Command::Completions(a) => about::completions(&a),
        Command::Man => about::man(),
        Command::Version => about::version(json),
    };
    done.map(|()| 0)
}
