//! The `aurora-migrate` command line: parse arguments, call the library, render the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use aurora_migrate::report::{check_dir, ListReport};
use aurora_migrate::source::hash_dir;

/// Versioned SQL migrations for Amazon Aurora MySQL through the RDS Data API.
///
/// Exit codes: 0 success; 1 the scripts have errors (check, list); 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "aurora-migrate", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  the scripts have errors (check, list)\n  2  usage or I/O error";

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
            let summary = aurora_migrate::layer::write_layer_zip(dir, output)?;
            match cli.format {
                Format::Text => writeln!(out, "{}: {} script(s), {}", output.display(), summary.files, summary.content_hash)?,
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { dir } => {
            let report = check_dir(dir)?;
            match cli.format {
                Format::Text => {
                    write!(out, "{}", ListReport(&report))?;
                    for d in report.diagnostics.iter().filter(|d| d.severity == aurora_migrate::Severity::Error) {
                        eprintln!("{d}");
                    }
                }
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(exit(report.ok()))
        }
    }
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
}
