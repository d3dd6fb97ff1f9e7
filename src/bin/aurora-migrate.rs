//! The `aurora-migrate` command line: parse arguments, call the library, render the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use aurora_migrate::fleet::SelectionError;
use aurora_migrate::names;
use aurora_migrate::{check_dir, list_statements, ListReport};
use aurora_migrate::{discover, hash_dir, Version};
use aurora_migrate::{fleet, Event, Fleet, Operation, RunConfig, RunError, Runner, Selection};
use aurora_migrate::{DataApi, Target};

/// Versioned SQL migrations for Amazon Aurora MySQL through the RDS Data API.
///
/// Exit codes: 0 success; 1 the scripts have errors, a migration failed or the plan was refused (with
/// a fleet: any database not ok), or `--max-time` stopped the run with work left; 2 usage, I/O or
/// connection error; 3 another run holds the migration lock; 4 a statement still runs on the server.
#[derive(Debug, Parser)]
#[command(name = "aurora-migrate", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes:\n  0  success (with --databases or --database-pattern: every database)\n  1  the scripts have errors, a migration failed, or the plan was refused (in a fleet: any database\n     failed, was locked or could not be reached); or --max-time stopped the run between statements\n     with migrations left (the next run resumes)\n  2  usage, I/O or connection error\n  3  another run holds the migration lock\n  4  a statement still runs on the server (a deadline came while it ran): run again later";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks every migration in DIR without AWS: names, versions, split, parse, Data API limits.
    Check {
        /// Scripts folder.
        dir: PathBuf,
    },
    /// Prints the content hash of DIR (the value the CDK custom resource carries).
    Hash {
        /// Scripts folder.
        dir: PathBuf,
    },
    /// Lists the migrations of DIR in the order they apply.
    List {
        /// Scripts folder.
        dir: PathBuf,
        /// List every Data API call that would be sent instead, full text, with file:line (offline).
        #[arg(long)]
        statements: bool,
    },
    /// Applies pending migrations through the Data API, printing a line per migration as it goes.
    Migrate {
        /// Scripts folder.
        dir: PathBuf,
        /// Stop after this version.
        #[arg(long)]
        target: Option<String>,
        /// Print what would run, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply pending scripts older than the newest applied one instead of refusing.
        #[arg(long)]
        out_of_order: bool,
        /// Stop at the next statement boundary once this much time has passed since the command
        /// started (`90`, `90s`, `10m`, `2h`); waiting for the lock and retries end by then too. What
        /// was applied is recorded and the next run resumes there; a statement still running on the
        /// server then is waited for by the next run (exit 4).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_time: Option<std::time::Duration>,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        tenants: Tenants,
    },
    /// Shows every migration's state in each database.
    Status {
        /// Scripts folder.
        dir: PathBuf,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        tenants: Tenants,
    },
    /// Checks the scripts offline and against the history; exits 1 on any problem.
    Validate {
        /// Scripts folder.
        dir: PathBuf,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        tenants: Tenants,
    },
    /// Removes failed records after a manual fix (and with --accept-checksums records the current
    /// checksums of changed applied scripts).
    Repair {
        /// Scripts folder.
        dir: PathBuf,
        /// Also accept changed checksums of applied migrations.
        #[arg(long)]
        accept_checksums: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Marks an existing database as being at VERSION: scripts up to it never run.
    Baseline {
        /// Scripts folder.
        dir: PathBuf,
        /// The version the database is already at.
        #[arg(long = "to", value_name = "VERSION")]
        version: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Writes a Lambda layer zip holding DIR's scripts under `migrations/` (byte-identical for the
    /// same scripts: sorted entries, fixed timestamps and modes), for Terraform or SAM deployments.
    Layer {
        /// Scripts folder.
        dir: PathBuf,
        /// The zip file to write.
        #[arg(long, short)]
        output: PathBuf,
    },
}

/// Where and how to reach the database.
#[derive(Debug, Args)]
struct Connection {
    /// Aurora cluster ARN.
    #[arg(long, env = names::ENV_RESOURCE_ARN)]
    resource_arn: String,
    /// Secrets Manager secret with the database credentials: ARN or name.
    #[arg(long, env = names::ENV_SECRET_ARN)]
    secret_arn: String,
    /// Default database (else the secret's `dbname`).
    #[arg(long, env = names::ENV_DATABASE)]
    database: Option<String>,
    /// Data API endpoint, e.g. the local emulator's http://127.0.0.1:PORT.
    #[arg(long, env = names::ENV_ENDPOINT_URL)]
    endpoint_url: Option<String>,
    /// History table name (the lock table adds `_lock`).
    #[arg(long, env = names::ENV_HISTORY_TABLE, default_value = names::DEFAULT_HISTORY_TABLE)]
    history_table: String,
    /// Database holding the history and lock tables of the top-level scripts (else the default
    /// database); for scripts that drop and re-create their own database.
    #[arg(long, env = names::ENV_HISTORY_DATABASE)]
    history_database: Option<String>,
    /// Seconds to wait for another run's lock.
    #[arg(long, default_value_t = 120)]
    lock_wait: u64,
    /// Seconds the migration lock lasts without renewal (it is renewed every third of that while the
    /// run goes on; a crashed run's lock frees itself after this).
    #[arg(long, default_value_t = 60)]
    lease: u64,
    /// SQL run at the start of every segment, like the mysql client's --init-command (repeatable).
    #[arg(long)]
    init_sql: Vec<String>,
}

/// A fleet: the top-level scripts applied to many databases, each with its own history and lock.
/// Scripts in per-database folders still run once, in their own database.
#[derive(Debug, Args)]
struct Tenants {
    /// Apply the top-level scripts to each of these databases (comma-separated) instead of the
    /// default database.
    #[arg(long, env = names::ENV_DATABASES, value_delimiter = ',', conflicts_with = "database_pattern")]
    databases: Vec<String>,
    /// Apply the top-level scripts to every database whose name matches this LIKE pattern (`%` any
    /// run, `_` one character, `\` escapes; system schemas never match), read from the server when
    /// the command runs.
    #[arg(long, env = names::ENV_DATABASE_PATTERN, value_name = "PATTERN")]
    database_pattern: Option<String>,
    /// How many databases of a fleet are migrated at once.
    #[arg(long, env = names::ENV_PARALLEL, default_value_t = fleet::DEFAULT_PARALLEL as u64,
          value_parser = clap::value_parser!(u64).range(1..=fleet::MAX_PARALLEL as u64))]
    parallel: u64,
}

impl Tenants {
    /// The fleet these options ask for, if any, by the rules every front end shares
    /// ([`Selection::new`]). An empty value (`AURORA_MIGRATE_DATABASES=` in the environment) is no
    /// value, as in the function's environment.
    fn selection(&self) -> Result<Option<Selection>, SelectionError> {
        let list = Some(self.databases.clone()).filter(|l| l.iter().any(|d| !d.trim().is_empty()));
        let pattern = self.database_pattern.clone().filter(|p| !p.is_empty());
        Selection::new(list, pattern)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let mut message = format!("aurora-migrate: error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Migrate { dir, connection, .. }
        | Command::Status { dir, connection, .. }
        | Command::Validate { dir, connection, .. }
        | Command::Repair { dir, connection, .. }
        | Command::Baseline { dir, connection, .. } => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
                )
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(online(cli, dir, connection))
        }
        Command::Hash { dir } => {
            let hash = hash_dir(dir)?;
            match cli.format {
                Format::Text => writeln!(out, "{hash}")?,
                Format::Json => writeln!(out, "{}", serde_json::json!({ "content_hash": hash }))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { dir } => {
            let report = check_dir(dir)?;
            match cli.format {
                Format::Text => writeln!(out, "{report}")?,
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(exit(report.ok()))
        }
        Command::Layer { dir, output } => {
            let summary = aurora_migrate::write_layer_zip(dir, output)?;
            match cli.format {
                Format::Text => writeln!(
                    out,
                    "{}: {} script(s), {}",
                    output.display(),
                    summary.files,
                    summary.content_hash
                )?,
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { dir, statements: true } => {
            let report = list_statements(dir)?;
            match cli.format {
                Format::Text => writeln!(out, "{report}")?,
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(exit(report.ok()))
        }
        Command::List { dir, statements: false } => {
            let report = check_dir(dir)?;
            match cli.format {
                Format::Text => {
                    write!(out, "{}", ListReport(&report))?;
                    for d in
                        report.diagnostics.iter().filter(|d| d.severity == aurora_migrate::Severity::Error)
                    {
                        eprintln!("{d}");
                    }
                }
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(exit(report.ok()))
        }
    }
}

async fn online(
    cli: &Cli,
    dir: &std::path::Path,
    c: &Connection,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // The limit counts from the command's start, connecting included.
    let started = std::time::Instant::now();
    let scripts = match discover(dir) {
        Ok(scripts) => scripts,
        Err(aurora_migrate::SourceError::Invalid(problems)) => {
            for p in problems {
                eprintln!("{}: error: {}", dir.join(&p.script).display(), p.message);
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let target = Target {
        resource_arn: c.resource_arn.clone(),
        secret: c.secret_arn.clone(),
        endpoint_url: c.endpoint_url.clone(),
    };
    let (api, dbname) = DataApi::connect(&target, c.database.is_none()).await?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let mut config = RunConfig {
        default_database: c.database.clone().or(dbname),
        history_table: c.history_table.clone(),
        history_database: c.history_database.clone(),
        installed_by: format!("aurora-migrate@{host}"),
        lock_wait: std::time::Duration::from_secs(c.lock_wait),
        lease: std::time::Duration::from_secs(c.lease.max(1)),
        init_sql: c.init_sql.clone(),
        ..RunConfig::default()
    };
    let operation = match &cli.command {
        Command::Migrate { target, dry_run, out_of_order, max_time, .. } => {
            config.plan.out_of_order = *out_of_order;
            if let Some(max_time) = max_time {
                config = config.until(started + *max_time);
            }
            config.plan.target = match target {
                Some(t) => Some(Version::parse(t).ok_or_else(|| format!("--target {t:?} is not a version"))?),
                None => None,
            };
            Operation::Migrate { dry_run: *dry_run }
        }
        Command::Status { .. } => Operation::Status,
        Command::Validate { .. } => Operation::Validate,
        Command::Repair { accept_checksums, .. } => Operation::Repair { accept_checksums: *accept_checksums },
        Command::Baseline { version, .. } => Operation::Baseline {
            version: Version::parse(version).ok_or_else(|| format!("{version:?} is not a version"))?,
            database: None,
        },
        _ => unreachable!("offline commands are handled in run()"),
    };
    let tenants = match &cli.command {
        Command::Migrate { tenants, .. }
        | Command::Status { tenants, .. }
        | Command::Validate { tenants, .. } => Some(tenants),
        _ => None,
    };
    let selection = match tenants {
        Some(t) => t.selection().map_err(|e| format!("--databases / --database-pattern: {e}"))?,
        None => None,
    };
    if let (Some(tenants), Some(selection)) = (tenants, selection) {
        let parallel = usize::try_from(tenants.parallel)?;
        let fleet = Fleet::new(std::sync::Arc::new(api), config, parallel)?;
        let report = fleet.run(&operation, &selection, &scripts, dir, std::sync::Arc::new(progress)).await?;
        let mut out = std::io::stdout().lock();
        match cli.format {
            Format::Text => writeln!(out, "{report}")?,
            Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        }
        if report.only_still_running() {
            // As for one database: nothing failed, statements still run on the server.
            return Ok(ExitCode::from(4));
        }
        return Ok(exit(report.ok));
    }
    let runner = Runner::new(std::sync::Arc::new(api), config)?;
    let result = runner.run(&operation, &scripts, dir, &mut progress).await;
    let report = match result {
        Ok(report) => report,
        Err(e @ RunError::Locked { .. }) => {
            eprintln!("aurora-migrate: error: {e}");
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    match cli.format {
        Format::Text => writeln!(out, "{}", aurora_migrate::RunText(&report))?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    if report.still_running {
        // Not a failure: a statement still runs on the server; the next run waits for it.
        return Ok(ExitCode::from(4));
    }
    Ok(exit(report.ok))
}

/// A line on stderr per migration as it goes.
fn progress(event: &Event) {
    match event {
        Event::Started { database, script, from, total, .. } if *from > 0 => {
            eprintln!("{database}: {script}: resuming at statement {} of {total}", from + 1)
        }
        Event::Applied { database, script, statements, duration, .. } => {
            eprintln!(
                "{database}: {script}: applied {statements} statement(s) in {:.2}s",
                duration.as_secs_f64()
            )
        }
        Event::Failed { database, at, statement, error, .. } => {
            eprintln!("{database}: {at}: statement {statement} failed: {error}")
        }
        _ => {}
    }
}

/// A duration as a number of seconds, or a number with the unit `s`, `m` or `h`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: give seconds, or a number with s, m or h (90, 90s, 10m, 2h)")),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: give a whole number of seconds, minutes or hours (90s, 10m, 2h)"))?;
    if value == 0 {
        return Err(format!("{text:?}: the limit must be more than zero"));
    }
    Ok(std::time::Duration::from_secs(value.saturating_mul(seconds)))
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn max_time_takes_seconds_or_a_unit() {
        use std::time::Duration;
        let parse = super::parse_duration;
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "0", "m", "10 m", "1.5h", "10d", "-5"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
