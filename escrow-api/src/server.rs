//! Start-up and routing: [`App::build`] reads the deployment (refusing an ABI mismatch), opens
//! the index (and migrates it), the blob store, the master-key file (created 0600 on first start)
//! and the escrow key, and refuses a node that serves another chain; [`App::serve`] runs the
//! HTTP API, the event follower and the anchoring task until shutdown. Also the public routes:
//! `/config.json`, `/health`, `/metrics` and the app's static files.
//!
//! The escrow may start while its node is down. Until it has reached the node once (checked the
//! chain id and continued the access log after the chain's anchored entries, see
//! [`AccessLog::continue_after_anchors`]) it is not *ready*: every route but `/health` and
//! `/metrics` answers 503 `not-ready`, nothing is logged, and the follower has not started.

use std::path::PathBuf;
use std::sync::Arc;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use medledger_protocol::deployment::{Deployment, DeploymentError};
use medledger_protocol::tier2::MasterKeyRing;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

use crate::access_log::AccessLog;
use crate::blobs::{BlobError, Blobs};
use crate::chain::{Chain, ChainError, Ledger, RpcChain};
use crate::config::Config;
use crate::db::{DbError, Index};
use crate::keys::KeyFileError;
use crate::metrics::Metrics;

/// Why the escrow cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The deployment file.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The index.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The blob store.
    #[error(transparent)]
    Blobs(#[from] BlobError),
    /// A key file.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The licence agreement's texts.
    #[error(transparent)]
    Agreement(#[from] crate::agreement::AgreementError),
    /// The chain.
    #[error("chain at the configured RPC URL: {0}")]
    Chain(#[from] ChainError),
    /// The access log could not be continued after the chain's anchors.
    #[error("access log: {0}")]
    Log(#[from] crate::access_log::AppendError),
    /// A key file is missing although the index holds what only that key opens: making a new
    /// one would silently orphan them (a restore that left the file out, a wrong path).
    #[error("{path} is missing, but the index holds {count} {what} that only it opens: restore the file from the backup (escrow-api restore) or point the configuration at it; a new key would open none of them")]
    KeyFileLost {
        /// The key file.
        path: PathBuf,
        /// How many items depend on it.
        count: i64,
        /// What they are.
        what: &'static str,
    },
    /// The node serves another chain than the deployment's.
    #[error("the node serves chain id {node}, but the deployment is on chain id {deployment}")]
    WrongChain {
        /// The node's chain id.
        node: u64,
        /// The deployment's.
        deployment: u64,
    },
    /// The configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The access-risk engine's history could not be rebuilt.
    #[error("access risk: {0}")]
    Risk(#[from] crate::risk::RiskError),
    /// Metrics registration.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Listening or serving.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything a request handler or background task needs.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Where the contract is.
    pub deployment: Arc<Deployment>,
    /// The index.
    pub index: Index,
    /// The blob store.
    pub blobs: Blobs,
    /// The contract over the chain seam.
    pub ledger: Ledger,
    /// Consent decisions at the chain's head, from memory when it can (`crate::consent`).
    pub consent: Arc<crate::consent::ConsentIndex>,
    /// One permit per upload being received (`max_concurrent_uploads`).
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// Master keys (wrap and unwrap K2).
    pub master: Arc<MasterKeyRing>,
    /// The escrow account's key (signs shred receipts; the chain seam signs transactions).
    pub signer: Option<Arc<PrivateKeySigner>>,
    /// The access log.
    pub log: Arc<AccessLog>,
    /// Metrics.
    pub metrics: Metrics,
    /// The SIWE domain accepted.
    pub siwe_domain: String,
    /// The SIWE URI this escrow's messages name (`siwe_uri`, or the public origin).
    pub siwe_uri: String,
    /// The origin rule and content-security policies for browsers.
    pub web: Arc<crate::web::WebPolicy>,
    /// Rate limits.
    pub limits: Arc<crate::limits::RateLimiter>,
    /// The reverse proxies whose client-address header is believed (`trusted_proxies`).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// The break-glass key pair (opens DEKs wrapped for emergencies, inside on-chain windows).
    pub break_glass: Arc<medledger_protocol::wrap::KeyPair>,
    /// The data directory's lock, held while the server runs.
    pub lock: Arc<crate::keys::DataLock>,
    /// Whether the start-up checks against the chain have passed (see the module doc).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// The access-risk engine (scores reads, holds the policy).
    pub risk: Arc<crate::risk::RiskEngine>,
    /// The licence agreement's versions (the last is current).
    pub agreements: Arc<crate::agreement::Agreements>,
    /// Serialises the relayer's requests (crate::relay).
    pub relay_lock: Arc<crate::relay::RelayLock>,
}

impl core::fmt::Debug for AppState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppState")
            .field("deployment", &self.deployment.address)
            .field("siwe_domain", &self.siwe_domain)
            .finish()
    }
}

impl AppState {
    /// The client's address for the per-address limits (see [`crate::limits::client_ip`]).
    pub fn client_ip(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        crate::limits::client_ip(
            peer.ip(),
            headers,
            &self.config.client_ip_header,
            &self.trusted_proxies,
        )
    }

    /// The escrow account (the deployment's).
    pub fn escrow_address(&self) -> Address {
        self.deployment.escrow
    }
}

/// Loads the master keys and the break-glass key, creating a file only on a first start: when the
/// index already holds K2s (or break-glass wraps) and the file is missing, the start stops.
async fn open_key_files(
    config: &Config,
    index: &Index,
    escrow: Address,
) -> Result<(crate::keys::MasterKeys, medledger_protocol::wrap::KeyPair), StartError> {
    let master_file = config.master_key_file();
    if !master_file.exists() {
        refuse_lost_key(
            master_file.clone(),
            index.count_wrapped_k2().await?,
            "tier-2 keys (K2)",
        )?;
    }
    let (master, created) = crate::keys::load_or_create_master_keys(&master_file)?;
    if created {
        tracing::info!(file = %master_file.display(), "created a new master-key file (0600)");
    }
    let bg_file = config.break_glass_key_file();
    if !bg_file.exists() {
        let wraps = index.count_wraps_for(escrow).await?;
        refuse_lost_key(bg_file.clone(), wraps, "break-glass wraps")?;
    }
    let (break_glass, created) = crate::keys::load_or_create_break_glass(&bg_file)?;
    if created {
        tracing::info!(file = %bg_file.display(), "created a new break-glass key file (0600)");
    }
    Ok((master, break_glass))
}

fn refuse_lost_key(path: PathBuf, count: i64, what: &'static str) -> Result<(), StartError> {
    if count > 0 {
        return Err(StartError::KeyFileLost { path, count, what });
    }
    Ok(())
}

/// The configured node, as the escrow's chain: another chain is refused now; a node that does not
/// answer yet is waited for (the escrow starts, and answers 503 until it does).
async fn rpc_chain(
    config: &Config,
    deployment: &Deployment,
    signer: Option<PrivateKeySigner>,
) -> Result<Arc<dyn Chain>, StartError> {
    let chain = RpcChain::for_deployment(&config.rpc_url, deployment, signer)?;
    match chain.chain_id().await {
        Ok(node) if node != deployment.chain_id => Err(StartError::WrongChain {
            node,
            deployment: deployment.chain_id,
        }),
        Ok(_) => Ok(Arc::new(chain)),
        Err(e) => {
            tracing::warn!(error = %e, "the chain node does not answer: the escrow starts, and answers 503 until it does");
            Ok(Arc::new(chain))
        }
    }
}

/// A started escrow, ready to serve.
#[derive(Debug)]
pub struct App {
    /// Shared state.
    pub state: AppState,
}

impl App {
    /// Opens everything the escrow needs and checks it is consistent. `siwe_domain` defaults to
    /// the public URL's host (the bound address when no public URL is configured).
    pub async fn build(config: Config) -> Result<App, StartError> {
        App::build_on(config, None).await
    }

    /// [`App::build`] on a given chain instead of the configured node (the unit tests' scripted
    /// chain), or on the node when `chain` is `None`.
    pub async fn build_on(
        config: Config,
        chain: Option<Arc<dyn Chain>>,
    ) -> Result<App, StartError> {
        config.validate()?;
        let siwe_domain = config.siwe_domain()?;
        let siwe_uri = config.siwe_uri()?;
        let web = Arc::new(crate::web::WebPolicy::new(&config)?);
        let deployment = Deployment::load(&config.deployment)?;
        crate::keys::create_private_dir(&config.data_dir)?;
        let index = Index::connect(&config.database_url()).await?;
        index.migrate().await?;
        index
            .bind_to(
                deployment.chain_id,
                deployment.address,
                &deployment.insurance,
            )
            .await?;
        let lock = crate::keys::DataLock::acquire(&config.master_key_file())?;
        let blobs = Blobs::open(&config.blob_url())?;
        let (master, break_glass) = open_key_files(&config, &index, deployment.escrow).await?;
        let key_file: PathBuf = config.escrow_key_file();
        let signer = if key_file.exists() {
            let signer =
                crate::keys::load_signer(&key_file, config.escrow_key_password_file.as_deref())?;
            if signer.address() != deployment.escrow {
                return Err(KeyFileError::WrongAccount {
                    path: key_file,
                    expected: deployment.escrow,
                    found: signer.address(),
                }
                .into());
            }
            Some(signer)
        } else {
            tracing::warn!(file = %key_file.display(), "no escrow key file: shredding is done but not confirmed on chain, and the access log is not anchored");
            None
        };
        let chain = match chain {
            Some(chain) => chain,
            None => rpc_chain(&config, &deployment, signer.clone()).await?,
        };
        let log = Arc::new(AccessLog::new(index.clone()));
        let limits =
            crate::limits::RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst)
                .with_accounts_per_client(config.sign_in_accounts_per_client);
        let trusted_proxies = config.trusted_proxy_ips()?;
        let deployment = Arc::new(deployment);
        let ledger = Ledger::new(chain);
        let metrics = Metrics::new()?;
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(config.max_concurrent_uploads).unwrap_or(usize::MAX),
        ));
        let consent = crate::consent::ConsentIndex::new(
            ledger.clone(),
            deployment.clone(),
            &config,
            metrics.consent_answers.clone(),
        );
        let risk = crate::risk::RiskEngine::start(&index, config.risk_settings()).await?;
        let agreements = crate::agreement::Agreements::load(config.agreement_dir.as_deref())?;
        agreements.check_unedited(&index.accepted_texts().await?)?;
        Ok(App {
            state: AppState {
                config: Arc::new(config),
                deployment,
                index,
                blobs,
                ledger,
                consent: Arc::new(consent),
                upload_slots,
                master: Arc::new(master.ring),
                signer: signer.map(Arc::new),
                log,
                metrics,
                siwe_domain,
                siwe_uri,
                web,
                lock: Arc::new(lock),
                break_glass: Arc::new(break_glass),
                limits: Arc::new(limits),
                trusted_proxies: Arc::new(trusted_proxies),
                ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                risk,
                agreements: Arc::new(agreements),
                relay_lock: Arc::new(crate::relay::RelayLock::default()),
            },
        })
    }

    /// Serves on `listener` with the follower and anchoring tasks until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // One attempt before the first connection, so that an escrow whose node is up is ready
        // from its first request; otherwise the background task keeps trying.
        if let Err(e) = become_ready(&self.state).await {
            tracing::warn!(error = %e, "not ready: waiting for the chain node");
        }
        let background = tokio::spawn(run_background(self.state.clone(), stop_rx));
        let idle = std::time::Duration::from_secs(self.state.config.idle_connection_secs);
        let router = router(self.state);
        let result = crate::listen::serve(listener, router, idle, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = background.await;
        result.map_err(StartError::from)
    }
}

/// The start-up checks that need the chain: the node serves the deployment's chain, and the
/// access log continues after the chain's anchored entries (declaring a gap when the index was
/// restored from a backup older than them). Marks the escrow ready when they pass.
pub async fn become_ready(st: &AppState) -> Result<(), StartError> {
    use std::sync::atomic::Ordering;
    if st.ready.load(Ordering::Acquire) {
        return Ok(());
    }
    let node = st.ledger.chain().chain_id().await?;
    if node != st.deployment.chain_id {
        return Err(StartError::WrongChain {
            node,
            deployment: st.deployment.chain_id,
        });
    }
    let next = st.ledger.next_log_seq().await?;
    if let Some(gap) = st
        .log
        .continue_after_anchors(next, st.escrow_address())
        .await?
    {
        tracing::warn!(
            seq = gap.seq,
            lost = %gap.reason,
            "the index lacks access-log entries the chain has anchored (restored from an older backup): declared lost in the log"
        );
    }
    st.ready.store(true, Ordering::Release);
    tracing::info!("ready: the chain node answers and the access log is continued");
    Ok(())
}

/// Waits until the escrow is ready (or `stop`), then runs the follower, the confirmer, the
/// anchoring task and (unless configured off) the consent index until `stop`.
async fn run_background(st: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut delay = std::time::Duration::from_millis(st.config.poll_interval_ms);
    while let Err(e) = become_ready(&st).await {
        tracing::warn!(error = %e, "not ready: waiting for the chain node");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
    let consent = st
        .config
        .consent_index
        .then(|| st.consent.spawn(stop.clone()));
    let follower = tokio::spawn(crate::follower::run(st.clone(), stop.clone()));
    let confirmer = tokio::spawn(crate::follower::run_confirmations(st.clone(), stop.clone()));
    let anchorer = tokio::spawn(crate::follower::run_anchoring(st, stop));
    let _ = follower.await;
    let _ = confirmer.await;
    let _ = anchorer.await;
    if let Some(consent) = consent {
        let _ = consent.await;
    }
}

/// Before the escrow is ready only `/health` and `/metrics` answer; the rest is 503 `not-ready`.
async fn require_ready(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let open = matches!(req.uri().path(), "/health" | "/metrics");
    if open || st.ready.load(std::sync::atomic::Ordering::Acquire) {
        return next.run(req).await;
    }
    crate::error::ApiError::unavailable(
        "not-ready",
        "the escrow has not reached its chain node since it started; try again shortly",
    )
    .into_response()
}

/// The HTTP routes. Every response carries the security headers (`crate::web`); every
/// state-changing request passes the origin check; the app's files carry the app's policy.
pub fn router(state: AppState) -> Router {
    let app_files = Router::new()
        .fallback_service(ServeDir::new(state.config.app_dir.clone()))
        .layer(from_fn_with_state(state.clone(), crate::web::app_policy));
    Router::new()
        .route("/api/auth/nonce", get(crate::auth::nonce))
        .route("/api/auth/verify", post(crate::auth::verify))
        .route("/api/auth/message", get(crate::auth::message))
        .route("/api/auth/signout", post(crate::auth::sign_out))
        .route("/api/auth/session", get(crate::auth::session))
        .route(
            "/api/agreement",
            get(crate::agreement::text).post(crate::agreement::accept),
        )
        .route(
            "/api/relay",
            get(crate::relay::status).post(crate::relay::relay),
        )
        .route("/api/recovery/kit", put(crate::recovery::put_kit))
        .route(
            "/api/recovery/kit/{identity}",
            get(crate::recovery::get_kit),
        )
        .route(
            "/api/recovery/kit/{identity}/releases",
            post(crate::recovery::release),
        )
        .route("/api/recovery/released", get(crate::recovery::released))
        .route("/api/records", get(crate::records::list))
        .route(
            "/api/records/{id}",
            get(crate::records::read)
                .put(crate::records::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/api/records/{id}/receipt", get(crate::records::receipt))
        .route("/api/records/{id}/wraps", post(crate::records::add_wraps))
        .route("/api/wraps/missing", get(crate::records::missing_wraps))
        .route(
            "/api/wraps/mine",
            get(crate::records::my_wraps).put(crate::records::move_my_wraps),
        )
        .route("/api/access-log", get(crate::records::access_log))
        .route("/api/grants", get(crate::indexed::grants))
        .route("/api/claims", get(crate::indexed::claims))
        .route("/api/directory", get(crate::indexed::directory))
        .route("/api/holds", get(crate::holds::list))
        .route("/api/holds/{id}", post(crate::holds::decide))
        .route(
            "/api/console/risk",
            get(crate::console::risk_status).put(crate::console::put_risk_policy),
        )
        .route("/api/console/summary", get(crate::console::summary))
        .route("/api/console/log", get(crate::console::log))
        .route(
            "/api/console/applications",
            get(crate::console::applications),
        )
        .route("/api/organisations", get(crate::licensing::names))
        .route(
            "/api/console/organisations",
            get(crate::licensing::organisations),
        )
        .route("/api/console/licensing/audit", get(crate::licensing::audit))
        .route(
            "/api/profile",
            axum::routing::put(crate::console::put_profile),
        )
        .route("/config.json", get(config_json))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/console", get(console_page))
        .fallback_service(app_files)
        .layer(from_fn_with_state(
            state.clone(),
            crate::web::same_origin_writes,
        ))
        .layer(from_fn_with_state(state.clone(), require_ready))
        .layer(axum::middleware::from_fn(crate::web::security_headers))
        .with_state(state)
}

async fn config_json(State(st): State<AppState>) -> Json<serde_json::Value> {
    let rpc = st
        .config
        .public_rpc_url
        .clone()
        .unwrap_or_else(|| st.config.rpc_url.clone());
    Json(json!({
        "chainId": st.deployment.chain_id,
        "rpcUrl": rpc,
        "contract": st.deployment.address.to_checksum(None),
        "insurance": st.deployment.insurance.address.to_checksum(None),
        "licensing": st.deployment.licensing.address.to_checksum(None),
        "forwarder": st.deployment.forwarder.address.to_checksum(None),
        "deployBlock": st.deployment.deploy_block,
        "escrow": st.deployment.escrow.to_checksum(None),
        "network": st.deployment.network,
        "siweDomain": st.siwe_domain,
        "breakGlassKey": alloy_primitives::B256::from(st.break_glass.public().0),
        "breakGlassReader": st.deployment.escrow.to_checksum(None),
        // The per-account rate limit, so that the app paces itself below it (app/src/pace.rs).
        "rateLimitPerMinute": st.config.rate_limit_per_minute,
        "rateLimitBurst": st.config.rate_limit_burst,
    }))
}

async fn health(State(st): State<AppState>) -> Response {
    let index = st.index.ping().await.is_ok();
    let chain = st.ledger.chain().block_number().await;
    let cursor = st.index.cursor().await.ok().flatten();
    // An escrow whose blob store takes no write can take no upload: not healthy.
    let blobs = match st.blobs.probe().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = e.kind(), "the blob store refused the health probe");
            false
        }
    };
    let ready = st.ready.load(std::sync::atomic::Ordering::Acquire);
    let ok = index && chain.is_ok() && blobs && ready;
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "ready": ready,
        "index": index,
        "blobs": blobs,
        "chainHead": chain.as_ref().ok(),
        "followerNextBlock": cursor,
        "escrowKey": st.signer.is_some(),
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The OpenAPI description of these routes as written by hand (`escrow-api/api/openapi.json`):
/// the paths, their parameters and status codes. The schemas of the bodies are not in it: they
/// are generated from `protocol::api`'s types by [`openapi_document`].
pub const OPENAPI: &str = include_str!("../api/openapi.json");

/// The OpenAPI document served at `/openapi.json`: [`OPENAPI`]'s paths with the JSON Schema of
/// every request and response body generated from the types both ends use, so the description
/// cannot drift from what is sent. A type is added here when a route starts returning it.
pub fn openapi_document() -> Result<serde_json::Value, serde_json::Error> {
    use medledger_protocol::api;
    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI)?;
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    macro_rules! register {
        ($($ty:ty),+ $(,)?) => {
            $(generator.subschema_for::<$ty>();)+
        };
    }
    register!(
        api::ErrorBody,
        api::SessionInfo,
        api::RecordList,
        api::StoredRecord,
        api::AddWraps,
        api::WrapsAdded,
        api::MissingWraps,
        api::MyWraps,
        api::MoveWrapsBody,
        api::WrapsMoved,
        api::AccessLog,
        api::LogEntry,
        api::Grants,
        api::ClaimList,
        api::Directory,
        api::AccountHistoryEntry,
        api::Holds,
        api::Hold,
        api::HoldDecisionBody,
        api::RiskPolicy,
        api::RiskStatus,
        api::licensing::Organisations,
        api::licensing::OrganisationNames,
        api::licensing::LicenceAudit,
        api::agreement::AgreementText,
        api::agreement::AcceptAgreementBody,
        api::agreement::AgreementAcceptance,
        api::relay::RelayStatus,
        api::relay::RelayBody,
        api::relay::Relayed,
        api::recovery::RecoveryKit,
        api::recovery::KitView,
        api::recovery::ReleaseShareBody,
        api::recovery::ShareReleased,
        api::recovery::ReleasedShares,
    );
    let generated = generator.take_definitions(true);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    {
        schemas.extend(generated);
    }
    Ok(doc)
}

/// Every route the router serves (besides the app's files), as the OpenAPI description names it.
pub const ROUTES: &[&str] = &[
    "/api/auth/nonce",
    "/api/auth/verify",
    "/api/auth/message",
    "/api/auth/signout",
    "/api/auth/session",
    "/api/agreement",
    "/api/relay",
    "/api/recovery/kit",
    "/api/recovery/kit/{identity}",
    "/api/recovery/kit/{identity}/releases",
    "/api/recovery/released",
    "/api/records",
    "/api/records/{id}",
    "/api/records/{id}/receipt",
    "/api/records/{id}/wraps",
    "/api/wraps/missing",
    "/api/wraps/mine",
    "/api/access-log",
    "/api/grants",
    "/api/claims",
    "/api/directory",
    "/api/holds",
    "/api/holds/{id}",
    "/api/console/risk",
    "/api/console/summary",
    "/api/console/log",
    "/api/console/applications",
    "/api/organisations",
    "/api/console/organisations",
    "/api/console/licensing/audit",
    "/api/profile",
    "/config.json",
    "/health",
    "/metrics",
    "/openapi.json",
    "/console",
];

/// The console page (`escrow-api/api/console.html`): signs in with the admin's wallet and shows
/// the console data.
pub const CONSOLE_HTML: &str = include_str!("../api/console.html");

async fn console_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, crate::web::CONSOLE_CSP),
        ],
        CONSOLE_HTML,
    )
        .into_response()
}

/// The generated document, made once: it depends on nothing but the binary.
static OPENAPI_DOCUMENT: std::sync::LazyLock<Result<String, String>> =
    std::sync::LazyLock::new(|| {
        let doc = openapi_document().map_err(|e| e.to_string())?;
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())
    });

async fn openapi() -> Response {
    match &*OPENAPI_DOCUMENT {
        Ok(doc) => ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response(),
        Err(e) => crate::error::ApiError::internal("openapi", e).into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    // Read off the slots, not counted by the handler: an upload whose client hangs up is dropped
    // mid-way, and its slot (not a decrement) is what is sure to be given back.
    let slots = usize::try_from(st.config.max_concurrent_uploads).unwrap_or(usize::MAX);
    let busy = slots.saturating_sub(st.upload_slots.available_permits());
    st.metrics
        .uploads_in_progress
        .set(i64::try_from(busy).unwrap_or(i64::MAX));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_description_names_every_route_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for r in ROUTES {
            assert!(paths.contains_key(*r), "{r} is not described");
        }
        for p in paths.keys() {
            assert!(
                ROUTES.contains(&p.as_str()),
                "{p} is described but not served"
            );
        }
    }

    /// Every `$ref` in `value`.
    fn references(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_string()),
                        _ => references(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_in_the_generated_document_resolves() {
        let doc = openapi_document().expect("the document");
        let mut refs = Vec::new();
        references(&doc, &mut refs);
        assert!(refs.len() > 40, "only {} references", refs.len());
        for r in &refs {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
        }
    }

    #[test]
    fn the_generated_schemas_are_the_types_on_the_wire() {
        let doc = openapi_document().expect("the document");
        let schemas = &doc["components"]["schemas"];
        let summary = &schemas["RecordSummary"]["properties"];
        for field in [
            "recordId",
            "patient",
            "h1",
            "state",
            "wrappedToYou",
            "label",
        ] {
            assert!(summary.get(field).is_some(), "RecordSummary lacks {field}");
        }
        let states: Vec<&str> = schemas["RecordState"]["oneOf"]
            .as_array()
            .expect("one schema per state")
            .iter()
            .filter_map(|v| v["const"].as_str())
            .collect();
        assert_eq!(states, ["pending", "committed", "shredded"]);
        let error = &schemas["ErrorBody"]["required"];
        assert_eq!(error, &serde_json::json!(["error", "message"]));
        // A body the escrow sends is one its schema names every field of.
        let sent =
            serde_json::to_value(medledger_protocol::api::WrapsAdded { added: 2 }).expect("json");
        let described = schemas["WrapsAdded"]["properties"]
            .as_object()
            .expect("props");
        for field in sent.as_object().expect("object").keys() {
            assert!(
                described.contains_key(field),
                "WrapsAdded.{field} undescribed"
            );
        }
    }

    /// The console encodes its transactions by hand: each selector it names must be the one of the
    /// signature beside it, and that function must be in the contract's ABI.
    #[test]
    fn the_consoles_selectors_are_the_contracts() {
        use medledger_protocol::contract::{MedLedgerCalls, MedLedgerLicensingCalls};
        let mut checked = 0;
        for line in CONSOLE_HTML.lines() {
            let Some((entry, signature)) = line.split_once("// ") else {
                continue;
            };
            let Some((name, selector)) = entry.trim().trim_end_matches(',').split_once(": \"0x")
            else {
                continue;
            };
            let selector = selector.trim_end_matches('"');
            let signature = signature.trim();
            assert!(
                signature.starts_with(&format!("{name}(")),
                "{name} is commented {signature}"
            );
            let hash = alloy_primitives::keccak256(signature.as_bytes());
            assert_eq!(
                alloy_primitives::hex::encode(&hash[..4]),
                selector,
                "{signature}"
            );
            let bytes: [u8; 4] = hash[..4].try_into().expect("four bytes");
            assert!(
                MedLedgerLicensingCalls::SELECTORS.contains(&bytes),
                "{signature} is not in the licensing contract's ABI"
            );
            checked += 1;
        }
        assert_eq!(
            checked, 11,
            "every licensing call of the console is checked"
        );
        // The refusals it puts in words: "0x…": ["Name(types)", "words"].
        let mut refusals = 0;
        for line in CONSOLE_HTML.lines() {
            let Some(rest) = line.trim().strip_prefix("\"0x") else {
                continue;
            };
            let Some((selector, rest)) = rest.split_once("\": [\"") else {
                continue;
            };
            let signature = rest.split('"').next().expect("a signature");
            let hash = alloy_primitives::keccak256(signature.as_bytes());
            assert_eq!(
                alloy_primitives::hex::encode(&hash[..4]),
                selector,
                "{signature}"
            );
            refusals += 1;
        }
        assert_eq!(refusals, 18, "every refusal the console words is checked");
        for (signature, selector) in [
            ("verifyAccount(address)", "f16dfbe9"),
            ("suspendAccount(address,bytes32)", "697b6598"),
            ("reinstateAccount(address)", "959c569a"),
        ] {
            assert!(CONSOLE_HTML.contains(&format!("\"0x{selector}\"")));
            let hash = alloy_primitives::keccak256(signature.as_bytes());
            let bytes: [u8; 4] = hash[..4].try_into().expect("four bytes");
            assert_eq!(alloy_primitives::hex::encode(bytes), selector);
            assert!(MedLedgerCalls::SELECTORS.contains(&bytes), "{signature}");
        }
    }

    #[test]
    fn every_listed_route_is_in_the_router_source() {
        let src: String = include_str!("server.rs").split_whitespace().collect();
        for r in ROUTES {
            assert!(
                src.contains(&format!(".route(\"{r}\"")),
                "{r} is not routed"
            );
        }
    }
}
