//! HTTP to the server: line-protocol writes (v1 `/write` or v2 `/api/v2/write`) and InfluxQL
//! reads (`/query`), with timeouts, gzip and retries.
//!
//! Why the blocking reqwest client: the `Store` trait is synchronous (SQLite is), and every
//! caller of a store write is already a plain thread (the ingest writer, the outbox forwarder).
//! `reqwest::blocking` keeps one runtime thread of its own with a connection pool, so nothing
//! here nests runtimes or needs a tokio context, and async callers use `spawn_blocking` as for
//! any store. The client is built on a short-lived plain thread because building it inside a
//! tokio worker panics.
//!
//! Why rustls with ring (`rustls-no-provider` + the `ring` provider): no system OpenSSL headers
//! and no aws-lc build (cmake) are needed, so a fresh Debian with Rust and a C compiler builds
//! it; certificates are checked against the system's roots (rustls-platform-verifier).
//!
//! Retries: network errors, timeouts, 5xx and 429 are retried with exponential back-off (and
//! `Retry-After`) up to `max_attempts`; other 4xx answers are final and carry the server's
//! message, because repeating bad data or a wrong token cannot succeed.

use super::InfluxApi;
use crate::store::StoreError;
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;
use url::Url;

/// How to authenticate.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Token …` (2.x, 3.x; 1.8+ also takes `user:password`).
    Token(String),
    /// HTTP basic auth (InfluxDB 1.x users).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("none"),
            Auth::Token(_) => f.write_str("token"),
            Auth::Basic { user, .. } => write!(f, "basic({user})"),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server is unreachable, timed out, or answered 5xx/429 on every attempt.
    #[error("{0}")]
    Unavailable(String),
    /// The server rejected the data (400, 422): a bad line, a field type conflict.
    #[error("{0}")]
    Rejected(String),
    /// The body is too large (413): send smaller batches.
    #[error("{0}")]
    TooLarge(String),
    /// Any other refusal (401, 403, 404, …): configuration, not data.
    #[error("{0}")]
    Refused(String),
}

impl From<HttpError> for StoreError {
    fn from(e: HttpError) -> Self {
        StoreError::Other(e.to_string())
    }
}

/// One series of a query answer (one chunk of it when the answer is chunked).
#[derive(Debug, Default, Deserialize)]
pub struct SeriesChunk {
    /// Tag values of a `GROUP BY` tag.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Column names; `time` first.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Rows.
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

impl SeriesChunk {
    /// Index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    statement_id: usize,
    #[serde(default)]
    series: Vec<SeriesChunk>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryDoc {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

/// The HTTP side of the InfluxDB backend.
pub struct Http {
    client: Client,
    write_url: Url,
    query_url: Url,
    query_ns_url: Url,
    admin_url: Url,
    auth: Auth,
    gzip: bool,
    max_attempts: u32,
    /// Where, for messages.
    pub describe: String,
}

/// Connection settings for [`Http::new`].
pub struct HttpOptions<'a> {
    /// Base URL.
    pub url: &'a str,
    /// Write API.
    pub api: InfluxApi,
    /// Database or bucket.
    pub database: &'a str,
    /// Organisation (v2).
    pub org: &'a str,
    /// Retention policy (v1 writes and all reads); empty for the default.
    pub retention_policy: &'a str,
    /// Credentials.
    pub auth: Auth,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Compress request bodies.
    pub gzip: bool,
    /// Request timeout.
    pub timeout: Duration,
    /// Attempts on retryable failures.
    pub max_attempts: u32,
}

fn endpoint(base: &str, path: &str) -> Result<Url, StoreError> {
    // Keep a path prefix (a reverse proxy's `/influx`): join onto a base ending in `/`.
    let base = if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    };
    Url::parse(&base)
        .and_then(|u| u.join(path))
        .map_err(|e| StoreError::Other(format!("influx url `{base}`: {e}")))
}

impl Http {
    /// A client for one server and database.
    pub fn new(o: HttpOptions<'_>) -> Result<Self, StoreError> {
        // ring as rustls' process-wide provider; an error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut write_url = endpoint(
            o.url,
            match o.api {
                InfluxApi::V2 => "api/v2/write",
                InfluxApi::V1 => "write",
            },
        )?;
        {
            let mut q = write_url.query_pairs_mut();
            match o.api {
                InfluxApi::V2 => {
                    q.append_pair("org", o.org)
                        .append_pair("bucket", o.database);
                }
                InfluxApi::V1 => {
                    q.append_pair("db", o.database);
                    if !o.retention_policy.is_empty() {
                        q.append_pair("rp", o.retention_policy);
                    }
                }
            }
            q.append_pair("precision", "ns");
        }
        let query_url_with = |epoch: &str| -> Result<Url, StoreError> {
            let mut u = endpoint(o.url, "query")?;
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("db", o.database);
                if !o.retention_policy.is_empty() {
                    q.append_pair("rp", o.retention_policy);
                }
                q.append_pair("epoch", epoch)
                    .append_pair("chunked", "true")
                    .append_pair("chunk_size", "10000");
            }
            Ok(u)
        };
        let query_url = query_url_with("ms")?;
        let query_ns_url = query_url_with("ns")?;
        // Statements that change the server (CREATE DATABASE, DELETE): no database parameter
        // needed, no chunking.
        let admin_url = endpoint(o.url, "query")?;
        let timeout = o.timeout;
        let ca = o.ca_pem;
        let built = std::thread::spawn(move || {
            let mut b = Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .pool_idle_timeout(Duration::from_secs(50));
            if let Some(pem) = ca {
                for c in reqwest::Certificate::from_pem_bundle(&pem)? {
                    b = b.add_root_certificate(c);
                }
            }
            b.build()
        })
        .join()
        .map_err(|_| StoreError::Other("influx: building the HTTP client panicked".into()))?
        .map_err(|e| StoreError::Other(format!("influx: HTTP client: {e}")))?;
        Ok(Http {
            client: built,
            describe: format!("{} ({})", o.url, o.database),
            write_url,
            query_url,
            query_ns_url,
            admin_url,
            auth: o.auth,
            gzip: o.gzip,
            max_attempts: o.max_attempts.max(1),
        })
    }

    fn authorize(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => rb,
            Auth::Token(t) => rb.header("Authorization", format!("Token {t}")),
            Auth::Basic { user, password } => rb.basic_auth(user, Some(password)),
        }
    }

    /// Send one line-protocol body. 204 (or 200) is success.
    pub fn write(&self, body: &str) -> Result<(), HttpError> {
        let payload: Vec<u8> = if self.gzip {
            let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::fast());
            enc.write_all(body.as_bytes())
                .and_then(|_| enc.finish())
                .map_err(|e| HttpError::Unavailable(format!("gzip: {e}")))?
        } else {
            body.as_bytes().to_vec()
        };
        self.send_with_retries("write", || {
            let mut rb = self
                .client
                .post(self.write_url.clone())
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(payload.clone());
            if self.gzip {
                rb = rb.header("Content-Encoding", "gzip");
            }
            self.authorize(rb)
        })
        .map(|_| ())
    }

    /// Run InfluxQL statements (separated by `;`), calling `each` with the statement index and
    /// every series chunk as it is parsed, so large answers are never held whole.
    pub fn query(&self, q: &str, each: impl FnMut(usize, SeriesChunk)) -> Result<(), HttpError> {
        self.query_at(&self.query_url, q, each)
    }

    /// As [`Http::query`], with times in ns (the write markers need the server's resolution).
    pub fn query_ns(&self, q: &str, each: impl FnMut(usize, SeriesChunk)) -> Result<(), HttpError> {
        self.query_at(&self.query_ns_url, q, each)
    }

    /// Run a statement that changes the server (`CREATE DATABASE`, `DELETE`).
    pub fn execute(&self, q: &str) -> Result<(), HttpError> {
        let mut url = self.admin_url.clone();
        if let Some((_, db)) = self.query_url.query_pairs().find(|(k, _)| k == "db") {
            url.query_pairs_mut().append_pair("db", &db);
        }
        self.query_at(&url, q, |_, _| {})
    }

    fn query_at(
        &self,
        url: &Url,
        q: &str,
        mut each: impl FnMut(usize, SeriesChunk),
    ) -> Result<(), HttpError> {
        let resp = self.send_with_retries("query", || {
            // POST with a form body: no URL length limit for long statement lists; 1.x, the
            // 2.x compatibility API and 3.x all accept it for SELECT and SHOW.
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", q)
                .finish();
            self.authorize(
                self.client
                    .post(url.clone())
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body),
            )
        })?;
        // A chunked answer is a stream of JSON documents, one per chunk.
        let docs = serde_json::Deserializer::from_reader(std::io::BufReader::new(resp))
            .into_iter::<QueryDoc>();
        for doc in docs {
            let doc = doc.map_err(|e| {
                HttpError::Unavailable(format!("query {}: unreadable answer: {e}", self.describe))
            })?;
            if let Some(e) = doc.error {
                return Err(HttpError::Refused(format!(
                    "query failed: {e} (query: {q})"
                )));
            }
            for r in doc.results {
                if let Some(e) = r.error {
                    return Err(HttpError::Refused(format!(
                        "query failed: {e} (query: {q})"
                    )));
                }
                for s in r.series {
                    each(r.statement_id, s);
                }
            }
        }
        Ok(())
    }

    fn send_with_retries(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<reqwest::blocking::Response, HttpError> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let mut wait = delay;
            match build().send() {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let text = resp.text().unwrap_or_default();
                    let msg = format!("{what} {}: HTTP {status}: {}", self.describe, text.trim());
                    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        if let Some(s) = retry_after {
                            wait = Duration::from_secs(s.min(60));
                        }
                        last = msg;
                    } else if status == StatusCode::BAD_REQUEST
                        || status == StatusCode::UNPROCESSABLE_ENTITY
                    {
                        return Err(HttpError::Rejected(msg));
                    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
                        return Err(HttpError::TooLarge(msg));
                    } else {
                        return Err(HttpError::Refused(msg));
                    }
                }
                Err(e) => {
                    last = format!("{what} {}: {e}", self.describe);
                    if let Some(src) = std::error::Error::source(&e) {
                        last.push_str(&format!(": {src}"));
                    }
                }
            }
            metrics::counter!("heatkpi_influx_request_retries_total", "op" => what.to_string())
                .increment(1);
            if attempt < self.max_attempts {
                tracing::debug!(attempt, "influx {what} failed, retrying: {last}");
                std::thread::sleep(wait);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
        Err(HttpError::Unavailable(last))
    }
}
