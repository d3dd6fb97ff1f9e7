//! The answer to CloudFormation: one `PUT` of the JSON body to the pre-signed S3 `ResponseURL`,
//! retried a few times when it does not get through.
//!
//! The URL is signed for an empty `Content-Type` (AWS: "the request must not have a Content-Type
//! header" beyond the empty one the examples send), so the header is sent empty. The HTTP client is
//! the AWS SDK's own connector (hyper + rustls), so the binary carries one HTTP and one TLS stack;
//! it speaks `https` to S3 and plain `http` to a local stand-in in tests.

use std::time::Duration;

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;

/// Attempts before giving up.
pub const ATTEMPTS: u32 = 4;
/// Time allowed to one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the answer could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The URL is not one we can send to.
    #[error("cannot PUT to the ResponseURL: {0}")]
    Url(String),
    /// Every attempt failed; the last failure.
    #[error("the answer to CloudFormation was not accepted after {attempts} attempt(s); last: {last}")]
    GaveUp {
        /// How many attempts.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// Sends answers. Build one per process: it keeps connections and the TLS configuration.
#[derive(Debug)]
pub struct Responder {
    /// Built on the first answer: manual commands never pay for loading the TLS roots.
    connector: std::sync::OnceLock<Connector>,
    /// Pause before the second attempt; doubled after each failure.
    first_backoff: Duration,
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new()
    }
}

impl Responder {
    /// A responder with the SDK's rustls connector.
    pub fn new() -> Responder {
        Responder { connector: std::sync::OnceLock::new(), first_backoff: Duration::from_millis(500) }
    }

    fn connector(&self) -> &Connector {
        self.connector
            .get_or_init(|| Connector::builder().tls_provider(Provider::Rustls(CryptoMode::AwsLc)).build())
    }

    /// PUTs `body` to `url`, up to [`ATTEMPTS`] times until a 2xx answer. Returns the attempts used.
    pub async fn put(&self, url: &str, body: &[u8]) -> Result<u32, ResponseError> {
        let mut backoff = self.first_backoff;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let request = http::Request::builder()
                .method("PUT")
                .uri(url)
                .header("content-type", "")
                .header("content-length", body.len())
                .body(SdkBody::from(body.to_vec()))
                .map_err(|e| ResponseError::Url(e.to_string()))?;
            let request = HttpRequest::try_from(request).map_err(|e| ResponseError::Url(e.to_string()))?;
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.connector().call(request)).await {
                Ok(Ok(response)) if response.status().is_success() => {
                    tracing::info!(
                        attempt,
                        status = response.status().as_u16(),
                        "answer delivered to CloudFormation"
                    );
                    return Ok(attempt);
                }
                Ok(Ok(response)) => last = format!("HTTP {}", response.status().as_u16()),
                Ok(Err(e)) => last = format!("{e}"),
                Err(_) => last = format!("no answer within {ATTEMPT_TIMEOUT:?}"),
            }
            tracing::warn!(attempt, error = %last, "the answer to CloudFormation did not get through");
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(ResponseError::GaveUp { attempts: ATTEMPTS, last })
    }
}
