//! `data-api-emulator`: serves the RDS Data API on a local port over a MySQL/MariaDB server.
//!
//! Prints `listening on http://ADDR` on stdout once bound; logs go to stderr. Exit status: 0 after
//! a clean shutdown (SIGINT/SIGTERM), 1 on a configuration or runtime error, 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use data_api_emulator::{
    parse_secret, split_pair, Cluster, Config, ErrorFlavor, ErrorMessages, Timeouts, TransactionMode,
};

/// A local RDS Data API (restJson1) executing on a real MySQL or MariaDB server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to bind; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "DATA_API_EMULATOR_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// A cluster: `RESOURCE_ARN=mysql://[user[:pass]@]host[:port][/db]`. Repeatable.
    #[arg(long = "cluster", value_name = "ARN=URL", required = true)]
    clusters: Vec<String>,
    /// A secret: `ARN_OR_NAME=JSON` or `ARN_OR_NAME=@file.json`, JSON as RDS stores it in Secrets
    /// Manager (`username`, `password`, `host`, `port`, `dbname`, `engine`). Repeatable.
    #[arg(long = "secret", value_name = "ARN=JSON", required = true)]
    secrets: Vec<String>,
    /// Seconds before a call answers StatementTimeoutException.
    #[arg(long, default_value_t = 45.0)]
    call_timeout: f64,
    /// Seconds without a call after which a transaction is rolled back.
    #[arg(long, default_value_t = 180.0)]
    transaction_idle_timeout: f64,
    /// Seconds after which a transaction is rolled back in any case.
    #[arg(long, default_value_t = 86_400.0)]
    transaction_max_age: f64,
    /// Report SQL errors as Aurora Serverless v1 does (BadRequestException) instead of v2's
    /// DatabaseErrorException.
    #[arg(long)]
    v1_errors: bool,
    /// Word SQL error messages as `MESSAGE; Error code: N; SQLState: S` (the JDBC driver's form)
    /// instead of `Database error code: N. Message: MESSAGE`.
    #[arg(long)]
    sqlstate_errors: bool,
    /// Open transactions with `SET autocommit = 0` (as a JDBC-based service does) instead of
    /// `START TRANSACTION`: after a DDL statement's implicit commit, later calls are still inside a
    /// transaction.
    #[arg(long)]
    autocommit_off_transactions: bool,
    /// Serve the control endpoint (/_emulator/faults, /_emulator/counters).
    #[arg(long)]
    control: bool,
    /// Milliseconds added to every Data API call (a cost model: the real service takes several
    /// milliseconds a round trip).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The most MySQL connections the emulator holds at once, over all clusters and databases
    /// (idle, running a call, pinned by a transaction). Calls beyond it wait for a connection.
    #[arg(long, default_value_t = data_api_emulator::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.001))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("data-api-emulator: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

use std::error::Error;

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let clusters = args
        .clusters
        .iter()
        .map(|c| split_pair(c).map(|(arn, url)| Cluster { arn, url }))
        .collect::<Result<Vec<_>, _>>()?;
    let secrets = args.secrets.iter().map(|s| parse_secret(s)).collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        clusters,
        secrets,
        timeouts: Timeouts {
            call: seconds(args.call_timeout),
            transaction_idle: seconds(args.transaction_idle_timeout),
            transaction_max: seconds(args.transaction_max_age),
        },
        errors: if args.v1_errors { ErrorFlavor::V1 } else { ErrorFlavor::V2 },
        error_messages: if args.sqlstate_errors {
            ErrorMessages::SqlState
        } else {
            ErrorMessages::DatabaseErrorCode
        },
        transaction_mode: if args.autocommit_off_transactions {
            TransactionMode::AutocommitOff
        } else {
            TransactionMode::StartTransaction
        },
        control: args.control,
        latency: Duration::from_millis(args.latency_ms),
        max_connections: args.max_connections,
    };
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    data_api_emulator::serve(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
