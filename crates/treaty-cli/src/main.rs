//! `treaty`: run a Treaty node and operate it.
//!
//! Server verbs (`init`, `serve`) act on a data directory. Client verbs reach the node named
//! by `--url` / `TREATY_URL` with the token from `--token` / `TREATY_TOKEN`. `verify` works
//! offline. Exit status: 0 success, 1 failure (the reason goes to stderr), 2 usage errors.

mod anchor;
mod card;
mod certs;
mod client;
mod federation;
mod tls;
mod verify;
mod witness;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use treaty_node::Node;
use treaty_node::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "treaty",
    version,
    about = "Federation layer for sovereign registries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory, config, ledger key and operator token.
    Init(NodeArgs),
    /// Run a node (initializing the data directory on first start).
    Serve(NodeArgs),
    /// Create, read, delete and list records on a running node.
    #[command(subcommand)]
    Record(RecordCmd),
    /// Print the node's newest signed checkpoint.
    Checkpoint(ClientArgs),
    /// Define and list collections.
    #[command(subcommand)]
    Collection(CollectionCmd),
    /// Issue, list and revoke write tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Search records (ranked full text with filters), following pages up to --max.
    Discover {
        #[command(flatten)]
        client: ClientArgs,
        /// Words to find (all must match).
        #[arg(default_value = "")]
        query: String,
        /// Only this collection.
        #[arg(long)]
        collection: Option<String>,
        /// Only records with this skill (id or name).
        #[arg(long)]
        skill: Option<String>,
        /// Only records with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Results to print.
        #[arg(long, default_value_t = 20)]
        max: usize,
    },
    /// Exact lookup: the record with its receipt.
    Resolve {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Key (for manifests, the fingerprint).
        key: String,
    },
    /// Federated anchoring: build, extract, stamp, upgrade, verify.
    #[command(subcommand)]
    Anchor(anchor::AnchorCmd),
    /// Registry cards.
    #[command(subcommand)]
    Card(CardCmd),
    /// The registry card signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Check a receipt and a record offline against a verifier key.
    Verify(verify::VerifyArgs),
    /// Development certificates for TLS and mTLS: a CA and node certificates.
    #[command(subcommand)]
    Certs(certs::CertsCmd),
    /// Federation peers: add (register both ways), list, show, suspend, resume, remove.
    ///
    /// A peer is another Treaty node whose registry card this node has fetched and
    /// verified. Peer statuses: PENDING_VERIFICATION, ACTIVE, SUSPENDED, INACTIVE, DRIFT
    /// (its card no longer matches what was verified) and REVOKED. All peer commands need
    /// the operator token.
    #[command(subcommand)]
    Peer(federation::PeerCmd),
    /// Propose a trust agreement to a registered peer (operator token).
    ///
    /// The node signs the offer and delivers it to the peer, whose operator accepts,
    /// rejects or counters it (`treaty proposals`). Terms not given take their defaults: no
    /// collections, daily verification, 365 days' retention, no jurisdiction, no audit
    /// rights. Trust levels: 0 isolated, 1 observe, 2 verify, 3 attest, 4 integrate.
    Propose(federation::ProposeArgs),
    /// Trust proposals sent and received: list, show, accept, reject, counter (operator
    /// token).
    ///
    /// Only the node a proposal is `awaiting` may answer its latest offer. Accepting
    /// establishes an agreement signed by both nodes (`treaty agreements`).
    #[command(subcommand)]
    Proposals(federation::ProposalsCmd),
    /// Trust agreements: list, show, revoke (operator token).
    #[command(subcommand)]
    Agreements(federation::AgreementsCmd),
    /// Admission licenses for peers: issue, list, suspend, resume, revoke (operator token).
    ///
    /// A node that requires licenses admits a registering peer only if it presents a key
    /// issued here (`treaty peer add --license <key>` on the peer's side).
    #[command(subcommand)]
    License(federation::LicenseCmd),
    /// Witnessing: history of cosignatures given and received, views of peers' logs and
    /// their comparison, cross-anchors.
    ///
    /// A node witnesses its peers at trust level 2 or higher (C2SP tlog-witness at
    /// `/witness/add-checkpoint`) and asks them to cosign each of its checkpoints.
    #[command(subcommand)]
    Witness(witness::WitnessCmd),
    /// Check fork evidence offline: two checkpoints signed by one log key that cannot both
    /// be honest (a `fed_discrepancy` entry, a discrepancy listing, or the evidence alone).
    VerifyDiscrepancy(verify::DiscrepancyArgs),
}

/// Where the node's state lives and how it is reached.
#[derive(Debug, Args)]
struct NodeArgs {
    /// Data directory (database, keys, config).
    #[arg(long, env = "TREATY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (default: <data dir>/treaty.toml).
    #[arg(long, env = "TREATY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "TREATY_LISTEN")]
    listen: Option<String>,
    /// Public base URL; the ledger origin is derived from it and fixed at init.
    #[arg(long, env = "TREATY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Entries per sequencer batch (default 256).
    #[arg(long, env = "TREATY_BATCH_MAX_ENTRIES")]
    batch_max_entries: Option<usize>,
    /// Longest a write waits for its batch to close, in ms (default 250).
    #[arg(long, env = "TREATY_BATCH_MAX_WAIT_MS")]
    batch_max_wait_ms: Option<u64>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first).
    #[arg(long, env = "TREATY_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "TREATY_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "TREATY_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Client certificates: off, optional or required (default off).
    #[arg(long, env = "TREATY_TLS_CLIENT_AUTH")]
    tls_client_auth: Option<treaty_node::config::ClientAuth>,
}

impl NodeArgs {
    fn config(&self) -> Result<Config> {
        Ok(self.config_with_tls()?.0)
    }

    fn config_with_tls(&self) -> Result<(Config, Option<treaty_node::config::TlsSettings>)> {
        Ok(Config::resolve_with_tls(&Overrides {
            data_dir: self.data_dir.clone(),
            config_file: self.config.clone(),
            listen: self.listen.clone(),
            public_url: self.public_url.clone(),
            batch_max_entries: self.batch_max_entries,
            batch_max_wait_ms: self.batch_max_wait_ms,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_client_ca: self.tls_client_ca.clone(),
            tls_client_auth: self.tls_client_auth,
        })?)
    }
}

/// How client verbs reach a node.
#[derive(Debug, Args, Clone)]
pub(crate) struct ClientArgs {
    /// Node base URL.
    #[arg(long, env = "TREATY_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token for writes and operator actions.
    #[arg(long, env = "TREATY_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// TLS: extra CA certificates and the mTLS client certificate.
    #[command(flatten)]
    tls: tls::TlsArgs,
}

#[derive(Debug, Subcommand)]
enum RecordCmd {
    /// Create or replace a record; the body comes from --data, --file or stdin.
    Put {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Key.
        key: String,
        /// JSON body inline.
        #[arg(long, conflicts_with = "file")]
        data: Option<String>,
        /// File holding the JSON body ("-" for stdin, the default).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print a record's current version as JSON.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Key.
        key: String,
    },
    /// Write a tombstone.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Key.
        key: String,
    },
    /// List a collection (tombstones included), following pages.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only records changed at or after this Unix time in ms.
        #[arg(long)]
        updated_since: Option<u64>,
        /// Stop after this many records (default: all).
        #[arg(long)]
        max: Option<usize>,
    },
    /// Print the tlog-proof receipt of a record's current version.
    Receipt {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        collection: String,
        /// Key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum CollectionCmd {
    /// Define a collection (operator token).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name: a-z, 0-9 and '-', starting with a letter.
        name: String,
        /// What it holds.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List collections with their schema versions and hashes.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set a collection's JSON Schema (operator token); later writes must satisfy it.
    SetSchema {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        name: String,
        /// The schema's version, published in the registry card.
        #[arg(long)]
        schema_version: String,
        /// File holding the JSON Schema ("-" for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Print a collection's schema, version and hash.
    GetSchema {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        name: String,
    },
    /// Remove the operator's schema (agent-card falls back to its built-in schema).
    DeleteSchema {
        #[command(flatten)]
        client: ClientArgs,
        /// Collection.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum CardCmd {
    /// Verify a registry card: signature and key (from the registry's own JWKS), URLs bound
    /// to the origin it was fetched from, and the ledger verifier key. Exit 0 or 1.
    Verify {
        /// A registry URL (or its card URL), or a card file (then --jwks is required).
        source: String,
        /// JWKS file to check a card file against.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// For a card file: the URL it was fetched from, to check its URLs against.
        #[arg(long)]
        fetched_from: Option<String>,
    },
    /// Print a registry's card.
    Show {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Rotate the card signing key (operator token). The old key stays published as retired.
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the JWKS.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Issue a token that may write the given collections (operator token). Printed once.
    Issue {
        #[command(flatten)]
        client: ClientArgs,
        /// Label.
        #[arg(long)]
        name: String,
        /// Comma-separated collections.
        #[arg(long, value_delimiter = ',', required = true)]
        collections: Vec<String>,
    },
    /// List tokens (no secrets).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init(args) => init(&args),
        Command::Serve(args) => serve(&args).await,
        Command::Record(cmd) => record(cmd).await,
        Command::Checkpoint(c) => {
            let text = client::Client::new(&c)?.checkpoint().await?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Collection(cmd) => collection(cmd).await,
        Command::Token(cmd) => token(cmd).await,
        Command::Verify(args) => Ok(verify::run(&args)),
        Command::Anchor(cmd) => anchor::run(cmd).await,
        Command::Certs(cmd) => certs::run(cmd),
        Command::Peer(cmd) => federation::peer(cmd).await,
        Command::Propose(args) => federation::propose(args).await,
        Command::Proposals(cmd) => federation::proposals(cmd).await,
        Command::Agreements(cmd) => federation::agreements(cmd).await,
        Command::License(cmd) => federation::license(cmd).await,
        Command::Witness(cmd) => witness::run(cmd).await,
        Command::VerifyDiscrepancy(args) => Ok(verify::run_discrepancy(&args)),
        Command::Card(CardCmd::Verify {
            source,
            jwks,
            fetched_from,
        }) => {
            let src = if source.starts_with("http://") || source.starts_with("https://") {
                card::Source::Url(source)
            } else {
                let Some(jwks) = jwks else {
                    anyhow::bail!("verifying a card file needs --jwks <file>");
                };
                card::Source::File {
                    card: PathBuf::from(source),
                    jwks,
                    origin: fetched_from,
                }
            };
            card::verify(src).await
        }
        Command::Card(CardCmd::Show { client }) => {
            print_json(&client::Client::new(&client)?.card().await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCmd::Rotate { client }) => {
            print_json(&client::Client::new(&client)?.rotate_keys().await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCmd::List { client }) => {
            print_json(&client::Client::new(&client)?.jwks().await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Discover {
            client,
            query,
            collection,
            skill,
            tag,
            max,
        } => {
            let c = client::Client::new(&client)?;
            let mut cursor: Option<String> = None;
            let mut shown = 0usize;
            'pages: loop {
                let page = c
                    .discover(
                        &query,
                        collection.as_deref(),
                        skill.as_deref(),
                        tag.as_deref(),
                        cursor.as_deref(),
                    )
                    .await?;
                for r in page["results"].as_array().into_iter().flatten() {
                    if shown >= max {
                        break 'pages;
                    }
                    println!("{r}");
                    shown += 1;
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve {
            client,
            collection,
            key,
        } => {
            print_json(
                &client::Client::new(&client)?
                    .resolve(&collection, &key)
                    .await?,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn admin_token_env() -> Option<String> {
    std::env::var("TREATY_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

fn init(args: &NodeArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let public_url = treaty_node::identity::public_url(&config, config.listen);
    let report = treaty_node::identity::init(
        &config,
        &public_url,
        admin_token_env().as_deref(),
        &treaty_node::clock::SystemClock,
    )?;
    let id = &report.identity;
    println!(
        "{} {}",
        if report.created {
            "initialized"
        } else {
            "already initialized"
        },
        config.data_dir.display()
    );
    println!("origin:       {}", id.origin);
    println!("node id:      {}", id.node_id);
    println!("verifier key: {}", id.ledger_key.verifier_key()?);
    if let Some(token) = report.new_operator_token {
        println!("operator token (shown once; only its hash is stored): {token}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: &NodeArgs) -> Result<ExitCode> {
    let (mut config, tls_settings) = args.config_with_tls()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr()?;
    // Load the certificates before touching the data directory: a bad file fails fast.
    let tls = tls_settings
        .as_ref()
        .map(treaty_node::tls::server_config)
        .transpose()?;
    // Over TLS the announced URL defaults to https://<bound>.
    if tls.is_some() && config.public_url.is_none() {
        config.public_url = Some(format!("https://{bound}"));
    }
    let node = Node::prepare(
        &config,
        bound,
        admin_token_env().as_deref(),
        Arc::new(treaty_node::clock::SystemClock),
    )?;
    if let Some(token) = &node.new_operator_token {
        eprintln!("operator token (shown once; only its hash is stored): {token}");
    }
    // One machine-readable line on stdout: scripts and tests wait for it.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "treaty listening on {scheme}://{bound} public_url={} origin={}",
        node.public_url(),
        node.origin()
    );
    tracing::info!(listen = %bound, scheme, public_url = node.public_url(), origin = node.origin(), "serving");
    match tls {
        Some(tls) => node.serve_tls(listener, tls, shutdown_signal()).await?,
        None => node.serve(listener, shutdown_signal()).await?,
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn record(cmd: RecordCmd) -> Result<ExitCode> {
    match cmd {
        RecordCmd::Put {
            client,
            collection,
            key,
            data,
            file,
        } => {
            let body = match (data, file) {
                (Some(d), _) => d,
                (None, Some(f)) if f.as_os_str() != "-" => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                _ => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
            };
            let body: serde_json::Value =
                serde_json::from_str(&body).context("the body is not valid JSON")?;
            print_json(
                &client::Client::new(&client)?
                    .put(&collection, &key, &body)
                    .await?,
            );
        }
        RecordCmd::Get {
            client,
            collection,
            key,
        } => {
            print_json(&client::Client::new(&client)?.get(&collection, &key).await?);
        }
        RecordCmd::Delete {
            client,
            collection,
            key,
        } => {
            print_json(
                &client::Client::new(&client)?
                    .delete(&collection, &key)
                    .await?,
            );
        }
        RecordCmd::List {
            client,
            collection,
            limit,
            updated_since,
            max,
        } => {
            let c = client::Client::new(&client)?;
            let mut cursor: Option<String> = None;
            let mut shown = 0usize;
            loop {
                let page = c
                    .list(&collection, cursor.as_deref(), limit, updated_since)
                    .await?;
                for r in page["records"].as_array().into_iter().flatten() {
                    if max.is_some_and(|m| shown >= m) {
                        return Ok(ExitCode::SUCCESS);
                    }
                    // One JSON object per line, so large listings stream into other tools.
                    println!("{r}");
                    shown += 1;
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
        }
        RecordCmd::Receipt {
            client,
            collection,
            key,
        } => {
            print!(
                "{}",
                client::Client::new(&client)?
                    .receipt(&collection, &key)
                    .await?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn collection(cmd: CollectionCmd) -> Result<ExitCode> {
    match cmd {
        CollectionCmd::Create {
            client,
            name,
            description,
        } => {
            print_json(
                &client::Client::new(&client)?
                    .create_collection(&name, &description)
                    .await?,
            );
        }
        CollectionCmd::List { client } => {
            print_json(&client::Client::new(&client)?.collections().await?);
        }
        CollectionCmd::SetSchema {
            client,
            name,
            schema_version,
            file,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let schema: serde_json::Value =
                serde_json::from_str(&text).context("the schema is not valid JSON")?;
            print_json(
                &client::Client::new(&client)?
                    .set_schema(&name, &schema_version, &schema)
                    .await?,
            );
        }
        CollectionCmd::GetSchema { client, name } => {
            print_json(&client::Client::new(&client)?.get_schema(&name).await?);
        }
        CollectionCmd::DeleteSchema { client, name } => {
            print_json(&client::Client::new(&client)?.delete_schema(&name).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Issue {
            client,
            name,
            collections,
        } => {
            print_json(
                &client::Client::new(&client)?
                    .issue_token(&name, &collections)
                    .await?,
            );
        }
        TokenCmd::List { client } => print_json(&client::Client::new(&client)?.tokens().await?),
        TokenCmd::Revoke { client, id } => {
            print_json(&client::Client::new(&client)?.revoke_token(&id).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Standard base64, as the node's JSON answers use.
pub(crate) fn client_b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
