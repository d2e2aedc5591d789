//! `gongji`: the ledger service and its operator and auditor tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc instead of the system allocator: the ledger allocates small, short-lived strings
/// and vectors for every request and event, where glibc's malloc spent about a tenth of the
/// time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "gongji",
    version,
    about = "Gongji (共济): the family mutual-aid ledger of employee medical-insurance personal accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Run the ledger service (HTTP API).
    Serve(server::serve::ServeArgs),
    /// Check the hash chain and every stored invariant offline; exit 0 only if all hold.
    Verify {
        /// The sled directory.
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// Verify an export (JSON lines) instead of a data directory.
        #[arg(long)]
        from_export: Option<PathBuf>,
    },
    /// Rebuild state as it was at a time or after an event; print balances and bindings as JSON lines.
    Replay {
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// An RFC 3339 time.
        #[arg(long, conflicts_with = "as_of_seq", required_unless_present = "as_of_seq")]
        as_of: Option<String>,
        /// A sequence number.
        #[arg(long)]
        as_of_seq: Option<u64>,
        /// Replay an export (JSON lines) instead of a data directory.
        #[arg(long)]
        from_export: Option<PathBuf>,
    },
    /// The benchmark: a realistic population and mix through the engine, with figures.
    Bench(server::bench::BenchArgs),
    /// Rebuild what is derived from the log (projections snapshot, idempotency index), with progress.
    Rebuild {
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// all, balances, bindings, settlements or requests.
        #[arg(long, default_value = "all")]
        projection: String,
    },
    /// Read the settlement stream and check it against the ledger; exit 0 only when they agree.
    Reconcile {
        /// The NATS server.
        #[arg(long, env = "GONGJI_NATS")]
        nats: String,
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// Republish what is missing.
        #[arg(long)]
        repair: bool,
    },
    /// Re-record a stopped ledger's log in a newer format and prove the replayed state equal.
    Migrate {
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// The format the log is in (1: one JSON envelope per event).
        #[arg(long)]
        from: u32,
        /// The format to write (2: binary events, one segment per group commit).
        #[arg(long)]
        to: u32,
    },
    /// Print the raw event log as JSON lines, in order.
    Export {
        #[arg(long, env = "GONGJI_DATA", default_value = "./data")]
        data: PathBuf,
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
    },
}

fn origin<'a>(data: &'a std::path::Path, export: Option<&'a std::path::Path>) -> server::tools::Origin<'a> {
    match export {
        Some(file) => server::tools::Origin::Export(file),
        None => server::tools::Origin::Data(data),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Tool::Serve(args) => server::serve::run(args),
        Tool::Verify { data, from_export } => server::tools::verify(origin(&data, from_export.as_deref())),
        Tool::Replay { data, as_of, as_of_seq, from_export } => {
            server::tools::replay(origin(&data, from_export.as_deref()), as_of.as_deref(), as_of_seq)
        }
        Tool::Export { data, from_seq } => server::tools::export(&data, from_seq),
        Tool::Migrate { data, from, to } => server::tools::migrate(&data, from, to),
        Tool::Bench(args) => server::bench::run(args),
        Tool::Rebuild { data, projection } => server::tools::rebuild(&data, &projection),
        Tool::Reconcile { nats, data, repair } => server::reconcile::run(&nats, &data, repair),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gongji: {error:#}");
            ExitCode::from(2)
        }
    }
}
