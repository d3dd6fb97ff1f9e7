//! What the emulator's tests with the official Rust client share: a throwaway MariaDB, an emulator
//! in front of it, an `aws-sdk-rdsdata` client with retries off (each test sees exactly what the
//! emulator answered), and the calls every test makes.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use aws_sdk_rdsdata::config::retry::RetryConfig;
use aws_sdk_rdsdata::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rdsdata::operation::execute_statement::builders::ExecuteStatementFluentBuilder;
use aws_sdk_rdsdata::Client;
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

pub struct Env {
    pub db: MariaDb,
    pub emu: TestEmulator,
    pub client: Client,
}

pub fn start(options: Options) -> Env {
    let db = MariaDb::start().expect("a throwaway MariaDB starts");
    let emu = TestEmulator::start(&db, options).expect("the emulator starts");
    let config = aws_sdk_rdsdata::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(&emu.endpoint)
        .retry_config(RetryConfig::disabled())
        .build();
    Env { db, emu, client: Client::from_conf(config) }
}

impl Env {
    /// `ExecuteStatement` of `sql` in database `app`.
    pub fn exec(&self, sql: &str) -> ExecuteStatementFluentBuilder {
        self.client
            .execute_statement()
            .resource_arn(&self.emu.cluster_arn)
            .secret_arn(&self.emu.secret_arn)
            .database("app")
            .sql(sql)
    }

    /// `BeginTransaction` in database `app`; the transaction id.
    pub async fn begin(&self) -> String {
        let begun = self
            .client
            .begin_transaction()
            .resource_arn(&self.emu.cluster_arn)
            .secret_arn(&self.emu.secret_arn)
            .database("app")
            .send()
            .await
            .expect("begins");
        begun.transaction_id.expect("has an id")
    }

    /// `CommitTransaction`; panics unless it commits.
    pub async fn commit(
        &self,
        tx: &str,
    ) -> aws_sdk_rdsdata::operation::commit_transaction::CommitTransactionOutput {
        self.client
            .commit_transaction()
            .resource_arn(&self.emu.cluster_arn)
            .secret_arn(&self.emu.secret_arn)
            .transaction_id(tx)
            .send()
            .await
            .expect("commits")
    }

    /// `RollbackTransaction`.
    pub async fn rollback(&self, tx: &str) {
        self.client
            .rollback_transaction()
            .resource_arn(&self.emu.cluster_arn)
            .secret_arn(&self.emu.secret_arn)
            .transaction_id(tx)
            .send()
            .await
            .expect("rolls back");
    }
}
