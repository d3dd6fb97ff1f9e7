//! What the function receives and answers: CloudFormation custom-resource requests and responses,
//! and the manual commands of `aws lambda invoke`. Pure data and parsing; no I/O.
//!
//! A payload is told apart by its keys: an object with `command` is a manual command; one with
//! `RequestType` or `ResponseURL` is a custom-resource request. A custom-resource request that does
//! not parse but carries a `ResponseURL` still gets a FAILED answer at that URL ([`Payload::Unusable`]);
//! anything else is an error returned to the invoker ([`Payload::Invalid`]).
//!
//! Formats (AWS): <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html>
//! and <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest response body CloudFormation accepts (AWS: "The size of the response body is
/// limited to 4096 bytes").
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// Which lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RequestType {
    /// The resource is created (first deploy, or a replacement).
    Create,
    /// A property changed (new scripts), or a stack rollback puts the old properties back.
    Update,
    /// The resource is removed (stack deletion, or cleanup after a replacement or a failed Create).
    Delete,
}

/// A CloudFormation custom-resource request. Unknown keys (`ServiceToken`, `ServiceTimeout`, keys
/// added later) are accepted: the format belongs to AWS, not to us.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    /// Create, Update or Delete.
    pub request_type: RequestType,
    /// Pre-signed S3 URL the answer is PUT to.
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    /// The stack's ARN; echoed in the answer.
    pub stack_id: String,
    /// Unique per request; echoed in the answer.
    pub request_id: String,
    /// `Custom::AuroraMigrations`.
    #[serde(default)]
    pub resource_type: String,
    /// The resource's logical ID in the template; echoed in the answer.
    pub logical_resource_id: String,
    /// Set on Update and Delete: the ID this function answered on Create.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    /// The resource's properties (on an Update during rollback: the old ones being restored).
    #[serde(default)]
    pub resource_properties: BTreeMap<String, Value>,
    /// Update only: the properties before this update.
    #[serde(default)]
    pub old_resource_properties: Option<BTreeMap<String, Value>>,
}

impl CustomResourceRequest {
    /// A string property of the new (`old = false`) or old properties.
    pub fn property(&self, name: &str, old: bool) -> Option<&str> {
        let props = if old { self.old_resource_properties.as_ref()? } else { &self.resource_properties };
        props.get(name).and_then(Value::as_str)
    }

    /// The PhysicalResourceId to answer: the one CloudFormation knows, or on Create one derived from
    /// the logical ID only, so that it never changes across updates (a new ID would make
    /// CloudFormation delete the "old" resource).
    pub fn physical_id(&self) -> String {
        match &self.physical_resource_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => physical_id_for(&self.logical_resource_id),
        }
    }
}

/// The PhysicalResourceId answered on Create.
pub fn physical_id_for(logical_resource_id: &str) -> String {
    format!("aurora-migrate-{logical_resource_id}")
}

/// SUCCESS or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The resource is in the state asked for.
    Success,
    /// It is not; `Reason` says why.
    Failed,
}

/// The answer PUT to the `ResponseURL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    /// SUCCESS or FAILED.
    pub status: Status,
    /// Why (required with FAILED; shown in the stack events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Constant for the resource.
    pub physical_resource_id: String,
    /// Echoed from the request.
    pub stack_id: String,
    /// Echoed from the request.
    pub request_id: String,
    /// Echoed from the request.
    pub logical_resource_id: String,
    /// Attributes for `Fn::GetAtt`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl CustomResourceResponse {
    /// An answer to `request`, without Reason or Data.
    pub fn to(request: &CustomResourceRequest, status: Status) -> CustomResourceResponse {
        CustomResourceResponse {
            status,
            reason: String::new(),
            physical_resource_id: request.physical_id(),
            stack_id: request.stack_id.clone(),
            request_id: request.request_id.clone(),
            logical_resource_id: request.logical_resource_id.clone(),
            data: BTreeMap::new(),
        }
    }

    /// The same, with a Reason.
    pub fn because(mut self, reason: impl Into<String>) -> CustomResourceResponse {
        self.reason = reason.into();
        self
    }

    /// The JSON body, at most [`MAX_RESPONSE_BYTES`]: the Reason is shortened first, down to 200
    /// characters (keeping its beginning, which names the migration and file:line, and its end,
    /// which is the database's error), then the longest Data values, then Data goes and the Reason
    /// keeps 100 characters.
    pub fn body(&self) -> Vec<u8> {
        let json =
            |r: &CustomResourceResponse| serde_json::to_vec(r).expect("a map of strings always serializes");
        let fits = |r: &CustomResourceResponse| json(r).len() <= MAX_RESPONSE_BYTES;
        let mut response = self.clone();
        if fits(&response) {
            return json(&response);
        }
        let reason = response.reason.clone();
        let chars = reason.chars().count();
        let with_reason = |r: &CustomResourceResponse, k: usize| CustomResourceResponse {
            reason: shorten(&reason, k),
            ..r.clone()
        };
        if let Some(k) = largest(chars.min(200), chars, |k| fits(&with_reason(&response, k))) {
            return json(&with_reason(&response, k));
        }
        response.reason = shorten(&reason, 200);
        let mut keys: Vec<String> = response.data.keys().cloned().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(response.data[k].len()));
        for key in keys {
            let value = response.data[&key].clone();
            let chars = value.chars().count();
            let with_value = |r: &CustomResourceResponse, k: usize| {
                let mut r = r.clone();
                r.data.insert(key.clone(), shorten(&value, k));
                r
            };
            if let Some(k) = largest(chars.min(16), chars, |k| fits(&with_value(&response, k))) {
                return json(&with_value(&response, k));
            }
            response = with_value(&response, chars.min(16));
        }
        response.data.clear();
        response.reason = shorten(&reason, 100);
        if !fits(&response) {
            // Only absurdly long echoed IDs get here; CloudFormation would refuse them anyway.
            response.reason.clear();
        }
        json(&response)
    }
}

/// The largest `k` in `lo..=hi` for which `ok(k)` holds, assuming it holds up to some point and no
/// further; `None` when not even `lo` does.
fn largest(lo: usize, hi: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    if !ok(lo) {
        return None;
    }
    let (mut good, mut bad) = (lo, hi + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if ok(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

/// `text` cut to at most `max` characters, with ` [...] ` in the middle standing for what was left
/// out (beginning and end both carry information: where it failed, and the database's error).
pub fn shorten(text: &str, max: usize) -> String {
    const MARK: &str = " [...] ";
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    if max <= MARK.len() + 2 {
        return text.chars().take(max).collect();
    }
    let room = max - MARK.len();
    let head = room * 2 / 3;
    let tail = room - head;
    let mut out: String = text.chars().take(head).collect();
    out.push_str(MARK);
    out.extend(text.chars().skip(count - tail));
    out
}

/// A manual command (`aws lambda invoke --payload '{"command": "status"}'`). Unknown commands and
/// unknown fields are rejected. `database` overrides the default database for this invocation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// Applies pending migrations.
    Migrate {
        /// Stop after this version.
        #[serde(default)]
        target: Option<String>,
        /// Only report what would run.
        #[serde(default)]
        dry_run: bool,
        /// Apply pending scripts older than the newest applied one instead of refusing.
        #[serde(default)]
        out_of_order: bool,
        /// Which database or databases.
        #[serde(flatten)]
        scope: Scope,
    },
    /// Every migration's state.
    Status(Scope),
    /// Checks the scripts and the history; `ok: false` on any problem.
    Validate(Scope),
    /// Removes failed records (after a manual fix); with `accept_checksums`, records the current
    /// checksums of changed applied scripts.
    Repair {
        /// Also accept changed checksums.
        #[serde(default)]
        accept_checksums: bool,
        /// Default database for this invocation.
        #[serde(default)]
        database: Option<String>,
    },
    /// Marks the database as being at `version`: scripts up to it never run.
    Baseline {
        /// The version the database is already at.
        version: String,
        /// Default database for this invocation.
        #[serde(default)]
        database: Option<String>,
    },
}

/// The databases a `migrate`, `status` or `validate` command acts on: the default one, another
/// one (`database`), or a fleet (`databases` or `database_pattern`, `parallel` at once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Default database for this invocation.
    #[serde(default)]
    pub database: Option<String>,
    /// Fleet: run on each of these databases instead of the default one.
    #[serde(default)]
    pub databases: Option<Vec<String>>,
    /// Fleet: run on every database matching this `LIKE` pattern.
    #[serde(default)]
    pub database_pattern: Option<String>,
    /// Fleet: databases at once.
    #[serde(default)]
    pub parallel: Option<usize>,
}

impl Command {
    /// The database override, if any.
    pub fn database(&self) -> Option<&str> {
        match self {
            Command::Migrate { scope, .. } | Command::Status(scope) | Command::Validate(scope) => {
                scope.database.as_deref()
            }
            Command::Repair { database, .. } | Command::Baseline { database, .. } => database.as_deref(),
        }
    }

    /// The fleet fields (the list, the pattern and the parallelism) of the commands that can run
    /// on a fleet; `None` for the others.
    pub fn fleet_fields(&self) -> Option<FleetFields<'_>> {
        match self {
            Command::Migrate { scope, .. } | Command::Status(scope) | Command::Validate(scope) => {
                Some((scope.databases.as_deref(), scope.database_pattern.as_deref(), scope.parallel))
            }
            Command::Repair { .. } | Command::Baseline { .. } => None,
        }
    }
}

/// A command's `databases`, `database_pattern` and `parallel`.
pub type FleetFields<'a> = (Option<&'a [String]>, Option<&'a str>, Option<usize>);

/// Which kind of payload arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A custom-resource request.
    CustomResource(Box<CustomResourceRequest>),
    /// A manual command.
    Command(Command),
    /// A step of a deploy's state machine.
    Step(crate::lambda::steps::Step),
    /// Looks like a custom-resource request but does not parse; answer FAILED to `answer`.
    Unusable {
        /// The answer to PUT, built from whatever IDs the payload had.
        answer: Box<CustomResourceResponse>,
        /// Where to PUT it.
        response_url: String,
    },
    /// Neither: an error for the invoker.
    Invalid(String),
}

/// The command names, for error messages.
const COMMANDS: &str = "migrate, status, validate, repair, baseline";

/// Tells what `payload` is and parses it.
pub fn classify(payload: &Value) -> Payload {
    let Some(object) = payload.as_object() else {
        return Payload::Invalid(format!(
            "the payload is {}, not a JSON object: send a command such as {{\"command\": \"status\"}} ({COMMANDS}), \
             or a CloudFormation custom-resource request",
            kind_of(payload)
        ));
    };
    if object.contains_key("step") {
        return match serde_json::from_value::<crate::lambda::steps::Step>(payload.clone()) {
            Ok(step) => Payload::Step(step),
            Err(e) => Payload::Invalid(format!(
                "invalid step of the deploy's state machine: {e} (steps: plan, work, answer; see the README's \
                 \"Long deploys\")"
            )),
        };
    }
    if object.contains_key("command") {
        return match serde_json::from_value::<Command>(payload.clone()) {
            Ok(command) => Payload::Command(command),
            Err(e) => Payload::Invalid(format!(
                "invalid command: {e} (commands: {COMMANDS}; options: see the README)"
            )),
        };
    }
    let response_url = object.get("ResponseURL").and_then(Value::as_str);
    if response_url.is_none() && !object.contains_key("RequestType") {
        let keys: Vec<&str> = object.keys().map(String::as_str).take(10).collect();
        return Payload::Invalid(format!(
            "the payload is neither a command (no \"command\" field; commands: {COMMANDS}) nor a CloudFormation \
             custom-resource request (no \"RequestType\"/\"ResponseURL\"); its fields: [{}]",
            keys.join(", ")
        ));
    }
    match serde_json::from_value::<CustomResourceRequest>(payload.clone()) {
        Ok(request) => Payload::CustomResource(Box::new(request)),
        Err(e) => match response_url {
            Some(url) => {
                let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
                let logical = text("LogicalResourceId");
                let physical = text("PhysicalResourceId");
                let answer = CustomResourceResponse {
                    status: Status::Failed,
                    reason: format!("aurora-migrate: the custom-resource request is malformed: {e}"),
                    physical_resource_id: if physical.is_empty() {
                        physical_id_for(&logical)
                    } else {
                        physical
                    },
                    stack_id: text("StackId"),
                    request_id: text("RequestId"),
                    logical_resource_id: logical,
                    data: BTreeMap::new(),
                };
                Payload::Unusable { answer: Box::new(answer), response_url: url.to_owned() }
            }
            None => Payload::Invalid(format!(
                "malformed custom-resource request without a ResponseURL to answer: {e}"
            )),
        },
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{DATA_APPLIED_VERSIONS, DATA_CURRENT_VERSION};
    use serde_json::json;

    fn create() -> Value {
        json!({
            "RequestType": "Create",
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:migrate",
            "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x?sig=1",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/abc",
            "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
            "LogicalResourceId": "MigrationsResource",
            "ResourceType": "Custom::AuroraMigrations",
            "ResourceProperties": {"ServiceToken": "arn:...", "ContentHash": "sha256:aa", "Database": "shop"}
        })
    }

    #[test]
    fn a_create_request_parses_with_its_properties_and_a_physical_id_from_the_logical_id() {
        let Payload::CustomResource(r) = classify(&create()) else { panic!("not a custom resource") };
        assert_eq!(r.request_type, RequestType::Create);
        assert_eq!(r.property("ContentHash", false), Some("sha256:aa"));
        assert_eq!(r.property("ContentHash", true), None);
        assert_eq!(r.physical_id(), "aurora-migrate-MigrationsResource");
    }

    #[test]
    fn an_update_keeps_the_physical_id_cloudformation_sent() {
        let mut v = create();
        v["RequestType"] = json!("Update");
        v["PhysicalResourceId"] = json!("aurora-migrate-Old");
        v["OldResourceProperties"] = json!({"ContentHash": "sha256:bb"});
        let Payload::CustomResource(r) = classify(&v) else { panic!("not a custom resource") };
        assert_eq!(r.physical_id(), "aurora-migrate-Old");
        assert_eq!(r.property("ContentHash", true), Some("sha256:bb"));
    }

    #[test]
    fn a_request_with_a_response_url_but_a_bad_request_type_gets_a_failed_answer() {
        let mut v = create();
        v["RequestType"] = json!("Upsert");
        let Payload::Unusable { answer, response_url } = classify(&v) else { panic!("not unusable") };
        assert!(response_url.starts_with("https://"));
        assert_eq!(answer.status, Status::Failed);
        assert!(answer.reason.contains("malformed") && answer.reason.contains("Upsert"), "{}", answer.reason);
        assert_eq!(answer.request_id, "5d478078-13e9-baf0-464a-7ef285ecc786");
        assert_eq!(answer.physical_resource_id, "aurora-migrate-MigrationsResource");
    }

    #[test]
    fn a_request_without_a_response_url_is_an_error_for_the_invoker() {
        let mut v = create();
        v.as_object_mut().expect("object").remove("ResponseURL");
        assert!(matches!(classify(&v), Payload::Invalid(m) if m.contains("ResponseURL")));
    }

    #[test]
    fn commands_parse_with_their_options() {
        assert_eq!(
            classify(&json!({"command": "migrate", "target": "3", "dry_run": true})),
            Payload::Command(Command::Migrate {
                target: Some("3".into()),
                dry_run: true,
                out_of_order: false,
                scope: Scope::default(),
            })
        );
        assert_eq!(
            classify(&json!({"command": "status"})),
            Payload::Command(Command::Status(Scope::default()))
        );
        assert_eq!(
            classify(&json!({"command": "baseline", "version": "7", "database": "shop"})),
            Payload::Command(Command::Baseline { version: "7".into(), database: Some("shop".into()) })
        );
        assert_eq!(
            classify(&json!({"command": "repair", "accept_checksums": true})),
            Payload::Command(Command::Repair { accept_checksums: true, database: None })
        );
    }

    #[test]
    fn unknown_commands_fields_and_missing_options_are_rejected_by_name() {
        let cases = [
            (json!({"command": "drop-everything"}), "drop-everything"),
            (json!({"command": "status", "dry_run": true}), "dry_run"),
            (json!({"command": "migrate", "targt": "3"}), "targt"),
            (json!({"command": "baseline"}), "version"),
        ];
        for (payload, named) in cases {
            match classify(&payload) {
                Payload::Invalid(message) => assert!(message.contains(named), "{payload}: {message}"),
                other => panic!("{payload} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn payloads_that_are_neither_are_errors_that_say_what_is_expected() {
        for payload in [json!("status"), json!([1]), json!({"cmd": "status"})] {
            match classify(&payload) {
                Payload::Invalid(message) => assert!(message.contains("command"), "{message}"),
                other => panic!("{payload} accepted: {other:?}"),
            }
        }
    }

    fn answer() -> CustomResourceResponse {
        let Payload::CustomResource(r) = classify(&create()) else { panic!("not a custom resource") };
        CustomResourceResponse::to(&r, Status::Failed)
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_4096_bytes_keeping_its_beginning_and_end() {
        let reason = format!(
            "V7__add_index.sql:12: migration 7 failed at statement 3 of 9: {} Duplicate key name 'ix'",
            "é\"x".repeat(3000)
        );
        let body = answer().because(reason).body();
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
        let parsed: CustomResourceResponse = serde_json::from_slice(&body).expect("valid JSON");
        assert!(parsed.reason.starts_with("V7__add_index.sql:12: migration 7"), "{}", parsed.reason);
        assert!(parsed.reason.ends_with("Duplicate key name 'ix'"), "{}", parsed.reason);
        assert!(parsed.reason.contains("[...]"));
        assert!(body.len() > MAX_RESPONSE_BYTES - 16, "cut more than needed: {} bytes", body.len());
    }

    #[test]
    fn long_data_values_are_cut_when_the_reason_cannot_make_room() {
        let mut a = answer();
        a.status = Status::Success;
        a.data.insert(DATA_CURRENT_VERSION.into(), "2024_01_15_1200".into());
        a.data.insert(
            DATA_APPLIED_VERSIONS.into(),
            (1..2000).map(|v| v.to_string()).collect::<Vec<_>>().join(","),
        );
        let body = a.body();
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
        let parsed: CustomResourceResponse = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(parsed.data[DATA_CURRENT_VERSION], "2024_01_15_1200");
        assert!(parsed.data[DATA_APPLIED_VERSIONS].starts_with("1,2,3,"));
    }

    #[test]
    fn a_short_answer_is_sent_as_is_with_cloudformation_field_names() {
        let body = answer().because("no").body();
        let v: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(v["Status"], "FAILED");
        assert_eq!(v["Reason"], "no");
        assert_eq!(v["PhysicalResourceId"], "aurora-migrate-MigrationsResource");
        assert_eq!(v["LogicalResourceId"], "MigrationsResource");
        assert!(v.get("Data").is_none());
    }

    #[test]
    fn shorten_counts_characters_not_bytes() {
        assert_eq!(shorten("ééééé", 5), "ééééé");
        let s = shorten(&"é".repeat(100), 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.contains(" [...] "));
    }
}
