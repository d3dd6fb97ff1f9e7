//! The function's configuration, read once from the environment. Reading never fails: a missing
//! value is reported in the answer to each event, so that CloudFormation always gets an answer.

use std::path::PathBuf;
use std::time::Duration;

use crate::apply::fleet::{DEFAULT_PARALLEL, MAX_PARALLEL};
use crate::apply::Selection;
use crate::names;

/// Milliseconds before the Lambda's deadline at which a run stops (default 10000). Tests shorten it.
pub const ENV_DEADLINE_MARGIN_MS: &str = "AURORA_MIGRATE_DEADLINE_MARGIN_MS";
/// Tests only: `1` makes the handler panic on every event (see the `lambda` module doc).
pub const ENV_TEST_PANIC: &str = "AURORA_MIGRATE_TEST_PANIC";
/// Set by Lambda: the function's name, recorded in the history as who applied a migration.
const ENV_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cluster ARN ([`names::ENV_RESOURCE_ARN`]).
    pub resource_arn: Option<String>,
    /// Secret ARN or name ([`names::ENV_SECRET_ARN`]).
    pub secret: Option<String>,
    /// Default database ([`names::ENV_DATABASE`]).
    pub database: Option<String>,
    /// Scripts folder ([`names::ENV_MIGRATIONS_DIR`], default `/opt/migrations`).
    pub migrations_dir: PathBuf,
    /// History table ([`names::ENV_HISTORY_TABLE`]).
    pub history_table: String,
    /// Database of the top-level scripts' history and lock tables ([`names::ENV_HISTORY_DATABASE`];
    /// unset: the default database).
    pub history_database: Option<String>,
    /// Data API endpoint override ([`names::ENV_ENDPOINT_URL`]).
    pub endpoint_url: Option<String>,
    /// Stop this long before the Lambda's deadline ([`ENV_DEADLINE_MARGIN_MS`]).
    pub margin: Duration,
    /// Recorded as `installed_by`.
    pub installed_by: String,
    /// Fleet: the databases, comma-separated, as set ([`names::ENV_DATABASES`]).
    pub databases: Option<String>,
    /// Fleet: a `LIKE` pattern, as set ([`names::ENV_DATABASE_PATTERN`]).
    pub database_pattern: Option<String>,
    /// Fleet: databases at once, as set ([`names::ENV_PARALLEL`]); checked when used.
    pub parallel: Option<String>,
    /// The state machine of deploys longer than one invocation ([`names::ENV_STATE_MACHINE_ARN`]).
    pub state_machine_arn: Option<String>,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Settings {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Settings {
            resource_arn: get(names::ENV_RESOURCE_ARN),
            secret: get(names::ENV_SECRET_ARN),
            database: get(names::ENV_DATABASE),
            migrations_dir: PathBuf::from(
                get(names::ENV_MIGRATIONS_DIR).unwrap_or_else(|| names::DEFAULT_MIGRATIONS_DIR.into()),
            ),
            history_table: get(names::ENV_HISTORY_TABLE)
                .unwrap_or_else(|| names::DEFAULT_HISTORY_TABLE.into()),
            history_database: get(names::ENV_HISTORY_DATABASE),
            endpoint_url: get(names::ENV_ENDPOINT_URL),
            margin: Duration::from_millis(
                get(ENV_DEADLINE_MARGIN_MS).and_then(|v| v.parse().ok()).unwrap_or(10_000),
            ),
            installed_by: format!(
                "aurora-migrate-lambda@{}",
                get(ENV_FUNCTION_NAME).unwrap_or_else(|| "local".into())
            ),
            databases: get(names::ENV_DATABASES),
            database_pattern: get(names::ENV_DATABASE_PATTERN),
            parallel: get(names::ENV_PARALLEL),
            state_machine_arn: get(names::ENV_STATE_MACHINE_ARN),
        }
    }

    /// The fleet the environment configures (`None`: one database), or what is wrong with it.
    pub fn fleet(&self) -> Result<Option<FleetChoice>, String> {
        let parallel = self.parallel()?;
        let list: Option<Vec<String>> = self.databases.as_ref().map(|d| split_list(d));
        FleetChoice::new(list, self.database_pattern.clone(), parallel).map_err(|why| {
            format!(
                "the function's environment ({} / {}): {why}",
                names::ENV_DATABASES,
                names::ENV_DATABASE_PATTERN
            )
        })
    }

    /// How many databases of a fleet run at once ([`names::ENV_PARALLEL`], default
    /// [`DEFAULT_PARALLEL`]), or what is wrong with the setting.
    pub fn parallel(&self) -> Result<usize, String> {
        let Some(text) = &self.parallel else { return Ok(DEFAULT_PARALLEL) };
        text.trim().parse().ok().filter(|n| (1..=MAX_PARALLEL).contains(n)).ok_or_else(|| {
            format!(
                "the function's environment sets {}={text:?}: give a whole number from 1 to {MAX_PARALLEL}",
                names::ENV_PARALLEL
            )
        })
    }
}

/// A comma-separated list of databases, trimmed, empty items dropped.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect()
}

/// Which databases a fleet runs on, and how many at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetChoice {
    pub selection: Selection,
    pub parallel: usize,
}

impl FleetChoice {
    /// From a list and a pattern (at most one of them), `None` when neither is given.
    pub fn new(
        list: Option<Vec<String>>,
        pattern: Option<String>,
        parallel: usize,
    ) -> Result<Option<FleetChoice>, String> {
        let Some(selection) = Selection::new(list, pattern).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        FleetChoice::new_parallel(FleetChoice { selection, parallel }, parallel).map(Some)
    }

    /// `choice` with `parallel` databases at once, if that is in range.
    pub fn new_parallel(choice: FleetChoice, parallel: usize) -> Result<FleetChoice, String> {
        if !(1..=MAX_PARALLEL).contains(&parallel) {
            return Err(format!("parallel must be from 1 to {MAX_PARALLEL} (got {parallel})"));
        }
        Ok(FleetChoice { parallel, ..choice })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_layer_folder_and_a_ten_second_margin() {
        let s = Settings::from_lookup(|_| None);
        assert_eq!(s.migrations_dir, PathBuf::from("/opt/migrations"));
        assert_eq!(s.history_table, "aurora_migrate_history");
        assert_eq!(s.margin, Duration::from_secs(10));
        assert_eq!(s.resource_arn, None);
        assert_eq!(s.history_database, None);
        assert_eq!(s.installed_by, "aurora-migrate-lambda@local");
    }

    #[test]
    fn settings_read_the_names_shared_with_the_cdk_code() {
        let s = Settings::from_lookup(|name| {
            Some(match name {
                "AURORA_MIGRATE_RESOURCE_ARN" => "arn:cluster".into(),
                "AURORA_MIGRATE_SECRET_ARN" => "secret".into(),
                "AURORA_MIGRATE_DATABASE" => "shop".into(),
                "AURORA_MIGRATE_MIGRATIONS_DIR" => "/tmp/m".into(),
                "AURORA_MIGRATE_HISTORY_DATABASE" => "migrations".into(),
                "AURORA_MIGRATE_DEADLINE_MARGIN_MS" => "1500".into(),
                "AWS_LAMBDA_FUNCTION_NAME" => "fn".into(),
                _ => return None,
            })
        });
        assert_eq!(s.resource_arn.as_deref(), Some("arn:cluster"));
        assert_eq!(s.database.as_deref(), Some("shop"));
        assert_eq!(s.migrations_dir, PathBuf::from("/tmp/m"));
        assert_eq!(s.history_database.as_deref(), Some("migrations"));
        assert_eq!(s.margin, Duration::from_millis(1500));
        assert_eq!(s.installed_by, "aurora-migrate-lambda@fn");
    }
}
