//! A small Rekor v1-compatible transparency log for tests and demos (see
//! `airlock_testkit::rekor_server` and docs/rekor.md). Never a production log: it
//! keeps its entries in memory only.
//!
//! ```text
//! airlock-test-rekor --listen 127.0.0.1:0 [--key KEY.pem] [--host NAME]
//!                    [--trusted-root-out FILE]
//! airlock-test-rekor --print-trusted-root --key KEY.pem [--url URL]
//! airlock-test-rekor --generate-key KEY.pem
//! ```
//! With `--listen`, the first line on stdout is the bound address.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_testkit::rekor_server::{Log, RekorServer};
use clap::Parser;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

#[derive(Parser)]
#[command(name = "airlock-test-rekor", about = "A Rekor v1-compatible test log")]
struct Args {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// ECDSA P-256 private key (PKCS#8 or SEC1 PEM); generated when absent.
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// Log name used in checkpoints (origin `"<host> - <treeID>"`).
    #[arg(long, default_value = "rekor.airlock.test")]
    host: String,
    /// Print a trusted_root.json whose only Rekor log is this key, then exit.
    #[arg(long)]
    print_trusted_root: bool,
    /// When serving, also write that trusted_root.json to FILE.
    #[arg(long, value_name = "FILE")]
    trusted_root_out: Option<PathBuf>,
    /// baseUrl written into the trusted root (default: the listen URL).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Write a new PKCS#8 PEM private key to FILE and exit.
    #[arg(long, value_name = "FILE")]
    generate_key: Option<PathBuf>,
    /// Fixed integrated time (Unix seconds) for every entry, for reproducible runs.
    #[arg(long, value_name = "SECS")]
    integrated_time: Option<i64>,
}

fn load_key(path: &std::path::Path) -> Result<SigningKey, String> {
    airlock_testkit::signed::load_key(path).map_err(|e| e.to_string())
}

fn run(a: Args) -> Result<(), String> {
    if let Some(out) = &a.generate_key {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        std::fs::write(out, pem.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))?;
        return Ok(());
    }
    let key = match &a.key {
        Some(p) => load_key(p)?,
        None if a.print_trusted_root => {
            return Err("--print-trusted-root needs --key (a generated key would be lost)".into())
        }
        None => SigningKey::random(&mut rand_core::OsRng),
    };
    let mut log = Log::new(key, &a.host).map_err(|e| e.message)?;
    log.set_fixed_time(a.integrated_time);
    if a.print_trusted_root {
        let url = a.url.as_deref().unwrap_or("http://127.0.0.1");
        println!("{:#}", log.trusted_root(url));
        return Ok(());
    }
    let listen = a
        .listen
        .ok_or("give --listen ADDR, --print-trusted-root or --generate-key")?;
    let server = RekorServer::start(&listen, log).map_err(|e| format!("listen {listen}: {e}"))?;
    if let Some(out) = &a.trusted_root_out {
        let url = a.url.clone().unwrap_or_else(|| server.url());
        let root = format!("{:#}\n", server.log().trusted_root(&url));
        std::fs::write(out, root).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", server.addr());
    let _ = stdout.flush();
    drop(stdout);
    server.wait();
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock-test-rekor: {e}");
            ExitCode::from(1)
        }
    }
}
