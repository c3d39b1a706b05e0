//! The escrow's one typed configuration. Values come, lowest precedence first, from the built-in
//! defaults (which work on one machine against `make up`), a TOML file (`--config` or
//! `MEDLEDGER_CONFIG`), the environment (`MEDLEDGER_*`, and `DATABASE_URL`) and command-line flags.
//! Paths that are not given are placed in the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("config file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The escrow's configuration, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the index, blobs and key files live by default.
    pub data_dir: PathBuf,
    /// Listen address.
    pub bind: SocketAddr,
    /// The chain's JSON-RPC endpoint the escrow uses.
    pub rpc_url: String,
    /// The RPC URL the wallet is told in `/config.json` (defaults to `rpc_url`).
    pub public_rpc_url: Option<String>,
    /// `deployments/<network>.json` written by the Truffle migration.
    pub deployment: PathBuf,
    /// sqlx URL of the index; default `sqlite://<data_dir>/index.sqlite`.
    pub database_url: Option<String>,
    /// Blob store location: a directory path, a `file://` URL or `s3://bucket[/prefix]` (settings
    /// from the `AWS_*` environment); default `<data_dir>/blobs`.
    pub blob_url: Option<String>,
    /// The master-key file (0600, created on first start); default `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// The escrow account's secp256k1 key file (0600): hex, or a Web3 Secret Storage v3 JSON
    /// keystore; default `<data_dir>/escrow.key`.
    pub escrow_key_file: Option<PathBuf>,
    /// The password file (0600) of an encrypted JSON keystore escrow key.
    pub escrow_key_password_file: Option<PathBuf>,
    /// The escrow's break-glass X25519 key file (0600, created on first start); default
    /// `<data_dir>/break-glass.key`.
    pub break_glass_key_file: Option<PathBuf>,
    /// The escrow's public URL, as browsers reach it (`https://records.example`; TLS may end in
    /// front of the escrow); default `http://<bind>`. Its origin is the one state-changing requests
    /// and SIWE URIs must name, its host the default SIWE domain, its scheme the default of
    /// `cookie_secure`.
    pub public_url: Option<String>,
    /// Origins besides the public URL's that may send state-changing requests (`Origin`).
    pub allowed_origins: Vec<String>,
    /// The reverse proxies (IP addresses) whose `client_ip_header` names the real client: behind
    /// one, every request comes from the proxy's address, and the per-address rate limits would
    /// put every client in one bucket. Empty: the connection's address is the client's.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy appends the client's address to (`x-forwarded-for`).
    pub client_ip_header: String,
    /// The SIWE domain the escrow accepts; default the public URL's host and port
    /// (`127.0.0.1:8080` by default).
    pub siwe_domain: Option<String>,
    /// The exact SIWE URI the escrow accepts; default: any URI of the public URL's origin.
    pub siwe_uri: Option<String>,
    /// How long a sign-in nonce is valid, seconds.
    pub nonce_ttl_secs: i64,
    /// How long a session lasts, seconds (also the longest accepted SIWE age).
    pub session_ttl_secs: i64,
    /// Whether the session cookie carries `Secure`; default: whether the public URL is https.
    /// `false` with an https public URL is refused.
    pub cookie_secure: Option<bool>,
    /// Largest accepted upload (the C1 body), bytes.
    pub max_upload_bytes: u64,
    /// Most uploads received at once; one more is answered 503 `busy` with `Retry-After` before
    /// its body is read. Each holds up to about 20 MiB of buffered parts, so this bounds the
    /// memory uploads take.
    pub max_concurrent_uploads: u32,
    /// A connection waiting this long for its next request is closed (each open connection keeps
    /// a read buffer of up to 128 KiB; `listen.rs`).
    pub idle_connection_secs: u64,
    /// Most bytes one account may hold in uploads not yet anchored on chain (they are kept for
    /// `pending_ttl_secs` either way); an upload past it is refused with 413 `pending-quota`.
    pub pending_quota_bytes: u64,
    /// Tier-2 chunk size, bytes.
    pub tier2_chunk_size: u32,
    /// Blocks the follower stays behind the head.
    pub confirmations: u64,
    /// Follower poll interval, milliseconds.
    pub poll_interval_ms: u64,
    /// Most blocks asked for in one `eth_getLogs`.
    pub log_block_batch: u64,
    /// Whether reads are decided by the consent index (`crate::consent`) when it holds the
    /// chain's head; `false`: every decision is asked of the node by `eth_call`.
    pub consent_index: bool,
    /// How long a read waits for the consent index to confirm the head before asking the node
    /// instead, milliseconds.
    pub consent_wait_ms: u64,
    /// Pending uploads with no on-chain anchor are removed after this many seconds.
    pub pending_ttl_secs: i64,
    /// Access-log entries are anchored every this many seconds (0: never automatically).
    pub anchor_interval_secs: u64,
    /// Most entries in one anchored batch.
    pub anchor_batch_max: u64,
    /// Directory of the built app's files, served at `/`.
    pub app_dir: PathBuf,
    /// Sustained requests per minute per signed-in address, and per IP for sign-in (0: off).
    pub rate_limit_per_minute: u32,
    /// Burst allowance of the rate limit.
    pub rate_limit_burst: u32,
    /// Most distinct accounts that may sign in from one client address within an hour (0: no
    /// bound). Each account has its own rate-limit bucket; this keeps one client from multiplying
    /// its allowance with fresh wallets.
    pub sign_in_accounts_per_client: u32,
    /// Whether read attempts are scored by the access-risk model (docs/risk.md). Off: every entry
    /// is unscored (`scoreMilli` 0, never flagged) and nothing is held; the console says so. For
    /// measuring what scoring costs (`bench/consent.sh`), or running without the model.
    pub risk_scoring: bool,
    /// Whether a reader's clearance may answer their next score without a neighbour search
    /// (docs/risk.md, "Clearances"; the same scores either way). Off: every score searches. For
    /// measuring what the search costs a read (`bench/consent.sh`).
    pub risk_clearances: bool,
    /// The access-risk model's neighbour count (docs/risk.md).
    pub risk_k: u32,
    /// The deployment's local time, seconds east of UTC: the risk features' hours of day are
    /// local ("off hours" at a hospital in UTC+1 are not those in UTC).
    pub risk_utc_offset_secs: i64,
    /// Most of the deployment's own accesses in the risk model's reference set.
    pub risk_reference_size: u32,
    /// Own unflagged accesses the deployment needs before they replace the synthetic reference.
    pub risk_deployment_min: u32,
    /// How long a held read waits for the patient's decision (seconds, at most a year; default
    /// a week). Unanswered by then it expires: the patient's app no longer offers it, and the
    /// reader's next read is scored, and held if it must be, anew. 0 expires holds at once (a
    /// held read is only refused and shown to the patient); the tests use it.
    pub hold_expiry_secs: u64,
    /// A directory of the licence agreement's versions, `v1.md`, `v2.md`, … (the highest is
    /// current; docs/licensing.md "The agreement"). Unset: the texts of docs/eula/ built into the
    /// binary.
    pub agreement_dir: Option<PathBuf>,
    /// Transactions the relayer pays for per account per [`Config::relay_window_secs`]
    /// (docs/api.md "Sponsored transactions"); 0: the escrow relays nothing.
    pub relay_quota: u32,
    /// The relayer's window, seconds.
    pub relay_window_secs: u64,
    /// Transactions the relayer pays for across all accounts per window: what bounds the escrow's
    /// spending when many new accounts each use their own quota (0: no bound besides theirs).
    pub relay_total_quota: u32,
    /// Recovery requests (`requestRecovery`) the relayer pays for across all accounts per window.
    /// Anyone with a fresh wallet may ask to take any patient over, and fresh wallets cost
    /// nothing, so without this a flood of such requests could spend all of `relay_total_quota`
    /// and leave none for patients' own transactions (0: no bound besides the others).
    pub relay_recovery_quota: u32,
    /// The most gas one relayed request may forward to its call (the default fits the core's
    /// largest batch, 100 records); the relayer refuses, unsent, a transaction estimated above
    /// this plus `relay::EXECUTE_OVERHEAD`.
    pub relay_max_gas: u64,
    /// The ether (in gwei) the escrow's account keeps for its own transactions (anchoring,
    /// shredding receipts): below it the relayer relays nothing (503 `relay-unfunded`).
    pub relay_reserve_gwei: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rpc_url: "http://127.0.0.1:8545".into(),
            public_rpc_url: None,
            deployment: PathBuf::from("deployments/development.json"),
            database_url: None,
            blob_url: None,
            master_key_file: None,
            escrow_key_file: None,
            escrow_key_password_file: None,
            break_glass_key_file: None,
            public_url: None,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
            siwe_domain: None,
            siwe_uri: None,
            nonce_ttl_secs: 300,
            session_ttl_secs: 8 * 3600,
            cookie_secure: None,
            max_upload_bytes: 256 * 1024 * 1024,
            max_concurrent_uploads: 16,
            idle_connection_secs: 30,
            pending_quota_bytes: 512 * 1024 * 1024,
            tier2_chunk_size: medledger_protocol::tier2::DEFAULT_CHUNK_SIZE,
            confirmations: 0,
            poll_interval_ms: 1000,
            log_block_batch: 2000,
            consent_index: true,
            consent_wait_ms: 1000,
            pending_ttl_secs: 24 * 3600,
            anchor_interval_secs: 60,
            anchor_batch_max: 10_000,
            app_dir: PathBuf::from("app/dist"),
            rate_limit_per_minute: 600,
            rate_limit_burst: 120,
            sign_in_accounts_per_client: 50,
            risk_scoring: true,
            risk_clearances: true,
            risk_k: 10,
            risk_utc_offset_secs: 0,
            risk_reference_size: 100_000,
            risk_deployment_min: 5_000,
            hold_expiry_secs: 7 * 86_400,
            agreement_dir: None,
            relay_quota: 50,
            relay_window_secs: 86_400,
            relay_total_quota: 5_000,
            relay_recovery_quota: 100,
            relay_max_gas: 10_000_000,
            relay_reserve_gwei: 100_000_000,
        }
    }
}

/// Values from the environment and flags that override the file (clap reads both: a flag beats
/// its environment variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "MEDLEDGER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (index, blobs, key files).
    #[arg(long, env = "MEDLEDGER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address.
    #[arg(long, env = "MEDLEDGER_BIND")]
    pub bind: Option<SocketAddr>,
    /// Chain JSON-RPC URL.
    #[arg(long, env = "MEDLEDGER_RPC_URL")]
    pub rpc_url: Option<String>,
    /// RPC URL given to the wallet in /config.json.
    #[arg(long, env = "MEDLEDGER_PUBLIC_RPC_URL")]
    pub public_rpc_url: Option<String>,
    /// Deployment file written by the migration.
    #[arg(long, env = "MEDLEDGER_DEPLOYMENT")]
    pub deployment: Option<PathBuf>,
    /// Index database URL (sqlite://… or postgres://…).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Blob store directory, file:// URL or s3://bucket[/prefix].
    #[arg(long, env = "MEDLEDGER_BLOB_URL")]
    pub blob_url: Option<String>,
    /// Master-key file.
    #[arg(long, env = "MEDLEDGER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Escrow account key file.
    #[arg(long, env = "MEDLEDGER_ESCROW_KEY_FILE")]
    pub escrow_key_file: Option<PathBuf>,
    /// Password file of an encrypted JSON keystore escrow key.
    #[arg(long, env = "MEDLEDGER_ESCROW_KEY_PASSWORD_FILE")]
    pub escrow_key_password_file: Option<PathBuf>,
    /// The escrow's public URL (origin for SIWE and state-changing requests).
    #[arg(long, env = "MEDLEDGER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SIWE domain.
    #[arg(long, env = "MEDLEDGER_SIWE_DOMAIN")]
    pub siwe_domain: Option<String>,
    /// Follower confirmation depth.
    #[arg(long, env = "MEDLEDGER_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
    /// App files directory.
    #[arg(long, env = "MEDLEDGER_APP_DIR")]
    pub app_dir: Option<PathBuf>,
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses TOML text over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<text>".into(),
            source: Box::new(e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Defaults, then the file named in `o` (if any), then `o`'s values.
    pub fn resolve(o: &Overrides) -> Result<Config, ConfigError> {
        let mut c = match &o.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = &o.$field {
                    c.$field = v.clone();
                }
            };
            (opt $field:ident) => {
                if let Some(v) = &o.$field {
                    c.$field = Some(v.clone());
                }
            };
        }
        set!(data_dir);
        set!(bind);
        set!(rpc_url);
        set!(opt public_rpc_url);
        set!(deployment);
        set!(opt database_url);
        set!(opt blob_url);
        set!(opt master_key_file);
        set!(opt escrow_key_file);
        set!(opt escrow_key_password_file);
        set!(opt public_url);
        set!(opt siwe_domain);
        set!(confirmations);
        set!(app_dir);
        c.validate()?;
        Ok(c)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use medledger_protocol::stream::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.tier2_chunk_size) {
            return Err(ConfigError::Invalid(format!(
                "tier2_chunk_size must be {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            )));
        }
        if self.nonce_ttl_secs <= 0 || self.session_ttl_secs <= 0 || self.pending_ttl_secs <= 0 {
            return Err(ConfigError::Invalid(
                "nonce_ttl_secs, session_ttl_secs and pending_ttl_secs must be positive".into(),
            ));
        }
        if self.max_concurrent_uploads == 0 || self.idle_connection_secs == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_uploads and idle_connection_secs must be positive".into(),
            ));
        }
        if self.relay_quota > 0 && (self.relay_window_secs == 0 || self.relay_max_gas == 0) {
            return Err(ConfigError::Invalid(
                "relay_window_secs and relay_max_gas must be positive when relay_quota is".into(),
            ));
        }
        if self.log_block_batch == 0 || self.anchor_batch_max == 0 || self.poll_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "log_block_batch, anchor_batch_max and poll_interval_ms must be positive".into(),
            ));
        }
        // The synthetic reference a new deployment starts with holds about 30,000 accesses: k
        // stays far below it, and the deployment's own reference must be able to reach the size
        // at which it replaces the synthetic one.
        if !(1..=1_000).contains(&self.risk_k)
            || self.risk_deployment_min <= self.risk_k
            || self.risk_reference_size < self.risk_deployment_min
        {
            return Err(ConfigError::Invalid(
                "risk_k must be 1..=1000, risk_deployment_min larger than risk_k, and \
                 risk_reference_size at least risk_deployment_min"
                    .into(),
            ));
        }
        if self.risk_utc_offset_secs.abs() > 14 * 3_600 {
            return Err(ConfigError::Invalid(
                "risk_utc_offset_secs must be within ±14 hours".into(),
            ));
        }
        if self.hold_expiry_secs > 365 * 86_400 {
            return Err(ConfigError::Invalid(
                "hold_expiry_secs must be at most a year (31536000)".into(),
            ));
        }
        let public = self.public_url()?;
        if public.scheme() == "https" && self.cookie_secure == Some(false) {
            return Err(ConfigError::Invalid(format!(
                "cookie_secure = false with the https public_url {public}: the session cookie \
                 would also be sent over plain HTTP; remove cookie_secure (it follows the public \
                 URL) or set it to true"
            )));
        }
        crate::web::WebPolicy::new(self)?;
        self.trusted_proxy_ips()?;
        Ok(())
    }

    /// The access-risk engine's settings.
    pub fn risk_settings(&self) -> crate::risk::RiskSettings {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        crate::risk::RiskSettings {
            scoring: self.risk_scoring,
            clearances: self.risk_clearances,
            k: size(self.risk_k),
            utc_offset_secs: self.risk_utc_offset_secs,
            reference_size: size(self.risk_reference_size),
            deployment_min: size(self.risk_deployment_min),
        }
    }

    /// `trusted_proxies` as addresses.
    pub fn trusted_proxy_ips(&self) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse().map_err(|_| {
                    ConfigError::Invalid(format!("trusted_proxies: {p:?} is not an IP address"))
                })
            })
            .collect()
    }

    /// The public URL: `public_url`, or `http://<bind>`. Only an origin (http or https, a host,
    /// an optional port; no path, query, fragment or credentials) is accepted.
    pub fn public_url(&self) -> Result<reqwest::Url, ConfigError> {
        let text = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind));
        let bad = |why: &str| ConfigError::Invalid(format!("public_url {text:?}: {why}"));
        let url = reqwest::Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("must be an http or https URL with a host"));
        }
        let extra = url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some();
        if extra {
            return Err(bad("must be an origin: scheme, host and port only"));
        }
        Ok(url)
    }

    /// The public URL's origin (`scheme://host[:port]`), as browsers send it in `Origin`.
    pub fn public_origin(&self) -> Result<String, ConfigError> {
        Ok(self.public_url()?.origin().ascii_serialization())
    }

    /// The SIWE domain: `siwe_domain`, or the public URL's host and (non-default) port.
    pub fn siwe_domain(&self) -> Result<String, ConfigError> {
        if let Some(d) = &self.siwe_domain {
            return Ok(d.clone());
        }
        let url = self.public_url()?;
        let host = url.host_str().unwrap_or_default();
        Ok(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
    }

    /// The URI a SIWE message from this escrow names: `siwe_uri`, or the public origin.
    pub fn siwe_uri(&self) -> Result<String, ConfigError> {
        match &self.siwe_uri {
            Some(uri) => Ok(uri.clone()),
            None => self.public_origin(),
        }
    }

    /// Whether the session cookie carries `Secure`: `cookie_secure`, or whether the public URL
    /// is https.
    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure
            .unwrap_or_else(|| self.public_url().is_ok_and(|u| u.scheme() == "https"))
    }

    /// The index URL.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("index.sqlite").display()
            )
        })
    }

    /// The blob store location.
    pub fn blob_url(&self) -> String {
        self.blob_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs").display().to_string())
    }

    /// The master-key file.
    pub fn master_key_file(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The break-glass key file.
    pub fn break_glass_key_file(&self) -> PathBuf {
        self.break_glass_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("break-glass.key"))
    }

    /// The escrow key file.
    pub fn escrow_key_file(&self) -> PathBuf {
        self.escrow_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("escrow.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_one_machine() {
        let c = Config::default();
        c.validate().expect("defaults are valid");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(
            c.database_url(),
            "sqlite://./data/index.sqlite?mode=rwc".to_string()
        );
        assert_eq!(c.blob_url(), "./data/blobs");
        assert_eq!(c.master_key_file(), PathBuf::from("./data/master.key"));
    }

    #[test]
    fn file_then_overrides() {
        let c = Config::from_toml("data_dir = \"/srv/ml\"\nconfirmations = 3\n").expect("toml");
        assert_eq!(c.data_dir, PathBuf::from("/srv/ml"));
        assert_eq!(c.confirmations, 3);
        assert_eq!(c.master_key_file(), PathBuf::from("/srv/ml/master.key"));

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("escrow.toml");
        std::fs::write(
            &file,
            "confirmations = 3\nrpc_url = \"http://10.0.0.1:8545\"\n",
        )
        .expect("write");
        let o = Overrides {
            config: Some(file),
            confirmations: Some(5),
            ..Default::default()
        };
        let c = Config::resolve(&o).expect("resolve");
        assert_eq!(c.confirmations, 5, "a flag or env value beats the file");
        assert_eq!(
            c.rpc_url, "http://10.0.0.1:8545",
            "the file beats the default"
        );
    }

    #[test]
    fn the_public_url_sets_the_siwe_defaults_and_the_cookie() {
        let c = Config::default();
        assert_eq!(c.public_origin().expect("origin"), "http://127.0.0.1:8080");
        assert_eq!(c.siwe_domain().expect("domain"), "127.0.0.1:8080");
        assert_eq!(c.siwe_uri().expect("uri"), "http://127.0.0.1:8080");
        assert!(!c.cookie_secure(), "plain HTTP on loopback: no Secure");

        let c = Config::from_toml("public_url = \"https://records.example\"\n").expect("toml");
        assert_eq!(
            c.public_origin().expect("origin"),
            "https://records.example"
        );
        assert_eq!(c.siwe_domain().expect("domain"), "records.example");
        assert!(
            c.cookie_secure(),
            "an https public URL makes the cookie Secure"
        );

        let c = Config::from_toml("public_url = \"https://records.example:8443\"\n").expect("toml");
        assert_eq!(c.siwe_domain().expect("domain"), "records.example:8443");
        let c = Config::from_toml("public_url = \"http://10.0.0.5:8080\"\ncookie_secure = true\n")
            .expect("toml");
        assert!(c.cookie_secure(), "an explicit true stands");
    }

    #[test]
    fn an_https_public_url_with_insecure_cookies_is_refused() {
        let err =
            Config::from_toml("public_url = \"https://records.example\"\ncookie_secure = false\n")
                .expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Invalid(_)), "{text}");
        assert!(
            text.contains("cookie_secure = false") && text.contains("https://records.example"),
            "the message names the setting and the URL: {text}"
        );
    }

    #[test]
    fn a_public_url_that_is_not_an_origin_is_refused() {
        for bad in [
            "records.example",
            "ftp://records.example",
            "https://records.example/app",
            "https://records.example/?x=1",
            "https://user:pw@records.example",
        ] {
            assert!(
                matches!(
                    Config::from_toml(&format!("public_url = {bad:?}\n")),
                    Err(ConfigError::Invalid(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Config::from_toml("allowed_origins = [\"null\"]\n"),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_refused() {
        assert!(matches!(
            Config::from_toml("no_such_key = 1"),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::from_toml("tier2_chunk_size = 8"),
            Err(ConfigError::Invalid(_))
        ));
        // The risk model: k beyond what the synthetic reference holds, a deployment minimum the
        // reference can never reach, an offset beyond any time zone.
        for bad in [
            "risk_k = 0",
            "risk_k = 40000",
            "risk_deployment_min = 200000",
            "risk_k = 50\nrisk_deployment_min = 50",
            "risk_utc_offset_secs = 90000",
            "hold_expiry_secs = 40000000",
        ] {
            assert!(
                matches!(Config::from_toml(bad), Err(ConfigError::Invalid(_))),
                "{bad}"
            );
        }
        Config::from_toml("risk_k = 20\nrisk_utc_offset_secs = -18000").expect("valid");
    }
}
