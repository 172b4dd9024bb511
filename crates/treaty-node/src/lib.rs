//! The Treaty node: configuration, identity, the sequencer and the HTTP API.
//!
//! [`Node::prepare`] opens (and if needed initializes) a data directory and starts the
//! sequencer; [`Node::serve`] serves the API on a listener the caller bound, until the
//! caller's shutdown future completes. Tests bind `127.0.0.1:0` and run several nodes.

pub mod api;
pub mod card;
pub mod clock;
pub mod config;
pub mod federation;
pub mod identity;
pub mod ledger;
pub mod ratelimit;
pub mod sequencer;
pub mod telemetry;
pub mod tls;

use api::{AppState, ReadPool, Shared, TokenTable};
use clock::Clock;
use config::Config;
use identity::{DB_FILE_NAME, IdentityError};
use sequencer::{BatchSettings, Sequencer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use treaty_store::Writer;

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Identity or initialization.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] treaty_store::StoreError),
    /// Sockets and threads.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Note formats.
    #[error(transparent)]
    Note(#[from] treaty_note::NoteError),
    /// The registry card.
    #[error(transparent)]
    Card(#[from] card::CardServiceError),
    /// TLS certificates and keys.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Federation settings (peer-call TLS material) or state.
    #[error("federation: {0}")]
    Federation(String),
}

/// A node ready to serve.
#[derive(Debug)]
pub struct Node {
    state: AppState,
    sequencer: std::thread::JoinHandle<()>,
    /// The operator token, if this start generated it (show it once).
    pub new_operator_token: Option<String>,
    /// Whether this start created the ledger.
    pub created: bool,
}

impl Node {
    /// Opens the data directory (initializing it on first start), checks the stored ledger
    /// and starts the sequencer. `bound` is the listener's address, used for the public URL
    /// when none is configured.
    ///
    /// # Errors
    /// [`NodeError`].
    pub fn prepare(
        config: &Config,
        bound: SocketAddr,
        admin_token: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, NodeError> {
        // Install the metrics recorder before anything records.
        let _ = telemetry::handle();
        let public_url = identity::public_url(config, bound);
        let report = identity::init(config, &public_url, admin_token, clock.as_ref())?;
        let id = report.identity;
        let db = config.data_dir.join(DB_FILE_NAME);
        let verifier_key = id.ledger_key.verifier_key()?.to_string();

        let writer = Writer::open(&db)?;
        let (witness, witness_join) = federation::witness::WitnessService::start(
            config.witness.clone(),
            &db,
            &id.origin,
            id.ledger_key.signing_key().clone(),
            clock.clone(),
        )
        .map_err(NodeError::Federation)?;
        // The committer thread stops by itself once the service (its queue) is dropped.
        drop(witness_join);
        let (seq, head) = Sequencer::new(
            writer,
            id.ledger_key,
            id.origin.clone(),
            clock.clone(),
            BatchSettings {
                max_entries: config.batch_max_entries,
                max_wait: Duration::from_millis(config.batch_max_wait_ms),
            },
        )?;
        let head_changed = Arc::new(tokio::sync::Notify::new());
        let seq = seq
            .with_notify(head_changed.clone())
            .with_notify(witness.head_changed.clone());
        let (handle, join) = seq.spawn(treaty_types::limits::SEQUENCER_QUEUE_MAX)?;

        let mut admin = Writer::open(&db)?;
        let collections = api::load_collections(&admin)?;
        let card = card::CardService::open(
            config,
            card::CardIdentity {
                node_id: id.node_id.clone(),
                base_url: id.public_url.clone(),
                origin: id.origin.clone(),
                verifier_key: verifier_key.clone(),
                settings: config.card.clone(),
                trust_policy: config.trust_policy,
            },
            &mut admin,
            &card::card_collections(&collections),
            clock.now_ms(),
        )?;
        let tokens = TokenTable::from_rows(&admin.tokens()?);
        let mut federation =
            federation::Federation::open(config.federation.clone(), &admin, clock.now_ms())
                .map_err(NodeError::Federation)?;
        federation.head_changed = head_changed;
        let state = AppState(Arc::new(Shared {
            node_id: id.node_id.into(),
            origin: id.origin.into(),
            public_url: id.public_url.into(),
            verifier_key: verifier_key.into(),
            head,
            sequencer: handle,
            readers: Arc::new(ReadPool::open(&db, api::READ_CONNECTIONS)?),
            admin: Arc::new(Mutex::new(admin)),
            tokens: Arc::new(RwLock::new(tokens)),
            collections: Arc::new(RwLock::new(collections)),
            clock,
            card: Arc::new(card),
            limiter: Arc::new(ratelimit::RateLimiter::new(&config.rate_limits)),
            federation: Arc::new(federation),
            witness: Arc::new(witness),
        }));
        Ok(Self {
            state,
            sequencer: join,
            new_operator_token: report.new_operator_token,
            created: report.created,
        })
    }

    /// The public base URL.
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The ledger origin.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.state.origin
    }

    /// The ledger's verifier key text.
    #[must_use]
    pub fn verifier_key(&self) -> &str {
        &self.state.verifier_key
    }

    /// Serves the API over HTTPS (see [`tls`]) until `shutdown` completes, then drains
    /// in-flight requests, lets the sequencer finish its batch and returns. Requests from
    /// clients that presented a verified certificate carry a [`tls::PeerCertificate`].
    ///
    /// # Errors
    /// None today; the signature matches [`Node::serve`].
    pub async fn serve_tls(
        self,
        listener: tokio::net::TcpListener,
        tls_config: Arc<rustls::ServerConfig>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let background = federation::start_background(&self.state);
        let app = api::router(self.state).layer(tower_http::trace::TraceLayer::new_for_http());
        tls::serve(listener, tls_config, app, shutdown).await;
        federation::stop_background(background).await;
        let join = self.sequencer;
        tokio::task::spawn_blocking(move || join.join()).await.ok();
        Ok(())
    }

    /// Serves the API until `shutdown` completes, then drains in-flight requests, lets the
    /// sequencer finish its batch and returns.
    ///
    /// # Errors
    /// Socket errors.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let background = federation::start_background(&self.state);
        let app = api::router(self.state).layer(tower_http::trace::TraceLayer::new_for_http());
        // The peer address keys anonymous callers' rate limits.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // The federation tasks hold the state (and the sequencer's queue): stop them first.
        federation::stop_background(background).await;
        // The router (and with it every sequencer handle) is gone: the sequencer drains and
        // stops. Join it off the async threads.
        let join = self.sequencer;
        tokio::task::spawn_blocking(move || join.join()).await.ok();
        Ok(())
    }
}
