//! `gongji`: the ledger service and its operator and auditor tools, in one binary. This crate
//! puts the service together (`serve`: engine, HTTP listener, publisher, signals) and holds the
//! offline tools (`tools`); the HTTP API is the `server` crate's, the publisher and reconcile
//! the `outbox` crate's, and the benchmark the `bench` crate's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outbox::reconcile::Missing;

mod serve;
mod tools;

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

/// The ledger's directory, as every command that reads or writes one names it.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDir {
    /// The sled directory.
    #[arg(long = "data", env = "GONGJI_DATA", default_value = "./data")]
    pub data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Run the ledger service (HTTP API).
    Serve(serve::ServeArgs),
    /// Run the service as a follower of the log replicated through JetStream (`serve
    /// --replicate`): it serves reads, answers writes `not_primary`, and leads once the
    /// primary's lease lapses.
    Follow(serve::ServeArgs),
    /// Check the hash chain and every stored invariant offline; exit 0 only if all hold.
    Verify {
        #[command(flatten)]
        data: DataDir,
        /// Verify an export (JSON lines) instead of a data directory.
        #[arg(long)]
        from_export: Option<PathBuf>,
    },
    /// Rebuild state as it was at a time or after an event; print balances and bindings as JSON lines.
    Replay {
        #[command(flatten)]
        data: DataDir,
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
    #[cfg(feature = "bench")]
    Bench(bench::BenchArgs),
    /// Rebuild what is derived from the log (projections snapshot, idempotency index), with progress.
    Rebuild {
        #[command(flatten)]
        data: DataDir,
        /// What to rebuild.
        #[arg(long, value_enum, default_value_t = tools::Rebuilt::All)]
        projection: tools::Rebuilt,
    },
    /// Read the settlement stream and check it against the ledger; exit 0 only when they agree.
    Reconcile {
        /// The NATS server.
        #[arg(long, env = "GONGJI_NATS")]
        nats: String,
        #[command(flatten)]
        data: DataDir,
        /// Republish what is missing.
        #[arg(long)]
        repair: bool,
    },
    /// Re-record a stopped ledger's log in a newer format and prove the replayed state equal.
    Migrate {
        #[command(flatten)]
        data: DataDir,
        /// The format the log is in (1: one JSON envelope per event).
        #[arg(long)]
        from: u32,
        /// The format to write (2: binary events, one segment per group commit).
        #[arg(long)]
        to: u32,
    },
    /// Print the raw event log as JSON lines, in order.
    Export {
        #[command(flatten)]
        data: DataDir,
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
    },
}

fn origin<'a>(data: &'a DataDir, export: Option<&'a std::path::Path>) -> tools::Origin<'a> {
    match export {
        Some(file) => tools::Origin::Export(file),
        None => tools::Origin::Data(&data.data),
    }
}

/// The replica of `gongji bench --replicate URL`: the log's stream on that server, one replica.
#[cfg(feature = "bench")]
fn bench_replica(args: &bench::BenchArgs) -> anyhow::Result<Option<std::sync::Arc<dyn engine::Replica>>> {
    let Some(url) = &args.replicate else { return Ok(None) };
    let replica = outbox::replicate::JetStreamReplica::connect(url, 1)?;
    Ok(Some(std::sync::Arc::new(replica)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Tool::Serve(args) => serve::run(args),
        Tool::Follow(args) => serve::run(serve::ServeArgs { replicate: true, ..args }),
        Tool::Verify { data, from_export } => tools::verify(origin(&data, from_export.as_deref())),
        Tool::Replay { data, as_of, as_of_seq, from_export } => {
            tools::replay(origin(&data, from_export.as_deref()), as_of.as_deref(), as_of_seq)
        }
        Tool::Export { data, from_seq } => tools::export(&data.data, from_seq),
        Tool::Migrate { data, from, to } => tools::migrate(&data.data, from, to),
        #[cfg(feature = "bench")]
        Tool::Bench(args) => bench_replica(&args).and_then(|replica| bench::run(args, replica)),
        Tool::Rebuild { data, projection } => tools::rebuild(&data.data, projection),
        Tool::Reconcile { nats, data, repair } => {
            let missing = if repair { Missing::Republish } else { Missing::Report };
            outbox::reconcile::run(&nats, &data.data, missing)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gongji: {error:#}");
            ExitCode::from(2)
        }
    }
}
