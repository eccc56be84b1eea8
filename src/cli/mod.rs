//! Command line: parse, run, report, and the one place that turns an error
//! into an exit code.

pub mod args;
pub mod progress;
pub mod report;
pub mod unpack;
pub mod verify_bundle;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, OutputFormat};

use crate::pipeline::{self, PackRequest};
use crate::source::PlatformFilter;
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
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

fn run(cli: Cli) -> Result<(), Error> {
    let json = cli.output == OutputFormat::Json;
    match cli.command {
        Command::Pack(a) => {
            let req = PackRequest {
                layouts: a.from_oci_layout,
                refs: a.refs,
                platforms: PlatformFilter {
                    architectures: a.arch,
                    os: Some(a.os),
                    variant: a.variant,
                },
                output: a.out,
                zstd: a.zstd,
            };
            let set = pipeline::resolve(&req)?;
            let total = set.blobs.values().map(|b| b.record.size).sum();
            let bar = progress::bytes(Some(total), "pack", cli.quiet);
            let result = pipeline::pack(&req, &set, &bar)?;
            bar.finish_and_clear();
            eprintln!("airlock pack: warning: no policy given, so no signature was checked (integrity only)");
            emit(json, report::pack_json(&result), report::pack_text(&result))
        }
        Command::Verify(a) => {
            let bar = progress::bytes(pipeline::input_len(&a.archive), "verify", cli.quiet);
            let out = pipeline::verify(&a.archive, &bar)?;
            bar.finish_and_clear();
            emit(json, report::verify_json(&out), report::verify_text(&out))
        }
        Command::Inspect(a) => {
            let out = pipeline::inspect(&a.archive)?;
            emit(json, report::inspect_json(&out), report::inspect_text(&out))
        }
        Command::VerifyBundle(a) => verify_bundle::run(a),
        Command::Unpack(a) => unpack::run(a, json, cli.quiet),
    }
}
