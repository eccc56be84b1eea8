//! Command line: parse, run, report, and the one place that turns an error
//! into an exit code.

pub mod args;
pub mod config;
pub mod progress;
pub mod registry_args;
pub mod report;
pub mod unpack;
pub mod verify_bundle;
pub mod warnings;

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

/// Fetch (or, with `--no-rekor`, record the omission of) the Rekor
/// inclusion proofs of signatures that carry only a SET.
fn rekor_step(set: &mut crate::source::ImageSet, no_rekor: bool, url: &str) -> Result<(), Error> {
    use crate::source::rekor;
    if no_rekor {
        let s = rekor::omit_rekor_proofs(set)?;
        if s.signatures > 0 {
            eprintln!(
                "airlock pack: warning: --no-rekor: {} signature(s) carry only a SET; their inclusion proofs were not fetched",
                s.signatures
            );
        }
        return Ok(());
    }
    let client = rekor::RekorClient::new(url)?;
    let s = rekor::attach_rekor_proofs(set, &client)?;
    if s.proofs > 0 {
        eprintln!(
            "airlock pack: stored {} Rekor inclusion proof(s) from {}",
            s.proofs,
            client.url()
        );
    }
    Ok(())
}

fn run(cli: Cli, reported: &mut bool) -> Result<(), Error> {
    let json = cli.output == OutputFormat::Json;
    match cli.command {
        Command::Pack(a) => {
            // The policy is validated before the layout is read.
            let gate_cfg = config::gate_config(&a.policy, config::For::Pack)?;
            let (images, registry) = a.registry.resolve(cli.quiet)?;
            let all = a.registry.all_platforms;
            let req = PackRequest {
                layouts: a.from_oci_layout,
                refs: a.refs,
                images,
                registry,
                platforms: PlatformFilter {
                    architectures: a.arch,
                    os: (!all).then_some(a.os),
                    variant: a.variant,
                },
                output: a.out,
                zstd: a.zstd,
                trust: crate::source::trust::PackTrust {
                    trusted_root: a.policy.trusted_root.clone(),
                    tuf_metadata: a.tuf_metadata,
                    tuf_root: a.policy.tuf_root.clone(),
                },
            };
            let mut set = pipeline::resolve(&req)?;
            let unsigned = warnings::no_evidence(&set.images);
            warnings::print("pack", &unsigned);
            rekor_step(&mut set, a.no_rekor, &a.rekor_url)?;
            let gate_report = match &gate_cfg {
                Some(_) if a.no_verify => {
                    eprintln!("airlock pack: warning: --no-verify: the policy was NOT checked; the archive may hold unsigned or untrusted images");
                    None
                }
                Some(cfg) => {
                    let metadata = crate::gate::metadata_of_set(&set);
                    let evidence = set.trust.as_ref().map(|t| t.records()).unwrap_or_default();
                    let mut g = crate::gate::run(&set.images, &metadata, &evidence, cfg)?;
                    warnings::print_texts("pack", &g.warnings);
                    if let Some(e) = g.take_error() {
                        *reported = json;
                        emit(
                            json,
                            report::pack_refused_json(&g, &e),
                            report::pack_refused_text(&g),
                        )?;
                        return Err(e);
                    }
                    Some(g)
                }
                None => None,
            };
            let total = set.blobs.values().map(|b| b.record.size).sum();
            let bar = progress::bytes(Some(total), "pack", cli.quiet);
            let result = pipeline::pack(&req, &set, &bar)?;
            bar.finish_and_clear();
            match &gate_report {
                Some(g) => {
                    let mut v = report::pack_json(&result);
                    v["warnings"] = serde_json::json!(g.warnings);
                    warnings::add_to_json(&mut v, &unsigned);
                    v["trust"] = report::gate_json(g);
                    let text = format!("{}{}", report::pack_text(&result), report::gate_text(g));
                    emit(json, v, text)
                }
                None => {
                    if gate_cfg.is_none() {
                        eprintln!("airlock pack: warning: no policy given, so no signature was checked (integrity only)");
                    }
                    let mut v = report::pack_json(&result);
                    warnings::add_to_json(&mut v, &unsigned);
                    emit(json, v, report::pack_text(&result))
                }
            }
        }
        Command::Verify(a) => {
            // The policy is validated before the archive is read.
            let gate_cfg = config::gate_config(&a.policy, config::For::Verify)?;
            let bar = progress::bytes(pipeline::input_len(&a.archive), "verify", cli.quiet);
            let out = pipeline::verify(&a.archive, &bar)?;
            bar.finish_and_clear();
            let Some(cfg) = gate_cfg else {
                return emit(json, report::verify_json(&out), report::verify_text(&out));
            };
            let mut g = crate::gate::run(
                &out.manifest.images,
                &out.metadata,
                &out.manifest.evidence,
                &cfg,
            )?;
            warnings::print_texts("verify", &g.warnings);
            let err = g.take_error();
            if err.is_none() {
                // Rollback marks only after every check of every image passed.
                crate::gate::state::commit(&g.pending)?;
            }
            *reported = json;
            emit(
                json,
                report::verify_gate_json(&out, &g, err.as_ref()),
                report::verify_gate_text(&out, &g),
            )?;
            match err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        Command::Inspect(a) => {
            let out = pipeline::inspect(&a.archive)?;
            emit(json, report::inspect_json(&out), report::inspect_text(&out))
        }
        Command::VerifyBundle(a) => verify_bundle::run(a),
        Command::Unpack(a) => unpack::run(a, json, cli.quiet),
    }
}
