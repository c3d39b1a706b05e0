//! The `escrow-api` binary: `serve` runs the escrow (HTTP API, event follower, anchoring);
//! `migrate` applies the index migrations; `check-config` prints the resolved configuration;
//! `verify-log` checks the access log's hash chain and its anchors against the chain.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use medledger_escrow_api::config::{Config, Overrides};
use medledger_escrow_api::server::App;

#[derive(Debug, Parser)]
#[command(name = "escrow-api", version, about = "The medledger escrow API")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, follow the chain and anchor the access log.
    Serve,
    /// Apply the index migrations and exit.
    Migrate,
    /// Print the resolved configuration (TOML) and exit.
    CheckConfig,
    /// Check the access log's hash chain and every anchored batch against the chain.
    VerifyLog,
    /// Development only: write Ganache's deterministic account 1 key (the development escrow) to
    /// the escrow key file (0600). Refused unless the deployment is on chain 1337 and names that
    /// account as its escrow.
    InitDevKey,
    /// Re-wrap every K2 under a new master key, then drop the old keys (the server must be stopped).
    RotateMasterKey,
    /// Snapshot the (SQLite) index and copy the master-key and break-glass key files into a new
    /// directory.
    Backup {
        /// The new backup directory.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Put a backup back into a data directory that has no index (the server must be stopped).
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Encrypt a hex key file into a Web3 Secret Storage v3 JSON keystore (written 0600), for
    /// `escrow_key_file` or `admin --key-file`.
    EncryptKey {
        /// The hex key file (0600).
        #[arg(long)]
        key_file: std::path::PathBuf,
        /// The password file (0600).
        #[arg(long)]
        password_file: std::path::PathBuf,
        /// The keystore to write (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Headless admin actions on the contract, signed with an admin's key file (0600: hex, or an
    /// encrypted JSON keystore with `--password-file`).
    Admin {
        /// The admin account's key file.
        #[arg(long)]
        key_file: std::path::PathBuf,
        /// The password file (0600) when the key file is an encrypted JSON keystore.
        #[arg(long, env = "MEDLEDGER_ADMIN_KEY_PASSWORD_FILE")]
        password_file: Option<std::path::PathBuf>,
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// `verifyAccount`: a pending practitioner or insurer becomes active.
    Verify {
        /// The account.
        #[arg(long)]
        account: alloy_primitives::Address,
    },
    /// `suspendAccount`: an active practitioner or insurer is suspended.
    Suspend {
        /// The account.
        #[arg(long)]
        account: alloy_primitives::Address,
        /// Hash of the off-chain reason document.
        #[arg(long)]
        reason_hash: alloy_primitives::B256,
    },
    /// `reinstateAccount`: a suspended account is active again.
    Reinstate {
        /// The account.
        #[arg(long)]
        account: alloy_primitives::Address,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDLEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let config = Config::resolve(&cli.overrides).context("resolving the configuration")?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open_index(&config).await?;
            println!("index migrated");
            Ok(())
        }
        Command::CheckConfig => {
            println!(
                "{}",
                toml::to_string(&config).context("rendering the configuration")?
            );
            Ok(())
        }
        Command::VerifyLog => verify_log(config).await,
        Command::InitDevKey => init_dev_key(&config),
        Command::Admin {
            key_file,
            password_file,
            action,
        } => admin(&config, &key_file, password_file.as_deref(), action).await,
        Command::EncryptKey {
            key_file,
            password_file,
            out,
        } => {
            let address =
                medledger_escrow_api::keys::write_keystore(&key_file, &password_file, &out)
                    .context("writing the keystore")?;
            println!(
                "wrote the keystore of {address} to {} (0600)",
                out.display()
            );
            Ok(())
        }
        Command::Backup { to } => backup(&config, &to).await,
        Command::Restore { from } => restore(&config, &from).await,
        Command::RotateMasterKey => {
            let index = open_index(&config).await?;
            let report = medledger_escrow_api::maintenance::rotate_master_key(
                &config.master_key_file(),
                &index,
            )
            .await
            .context("rotating the master key")?;
            println!("{report}");
            Ok(())
        }
    }
}

/// The configured index, migrated.
async fn open_index(config: &Config) -> anyhow::Result<medledger_escrow_api::db::Index> {
    let index = medledger_escrow_api::db::Index::connect(&config.database_url())
        .await
        .context("opening the index")?;
    index.migrate().await.context("migrating the index")?;
    Ok(index)
}

/// `escrow-api backup --to DIR`.
async fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<()> {
    let (master, break_glass) = (config.master_key_file(), config.break_glass_key_file());
    let keys = medledger_escrow_api::maintenance::KeyFiles {
        master: &master,
        break_glass: &break_glass,
    };
    let files = medledger_escrow_api::maintenance::backup(&config.database_url(), keys, to)
        .await
        .context("backing up")?;
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// `escrow-api restore --from DIR`.
async fn restore(config: &Config, from: &std::path::Path) -> anyhow::Result<()> {
    use medledger_escrow_api::maintenance::{self, BreakGlassRestore, KeyFiles};
    let (master, break_glass) = (config.master_key_file(), config.break_glass_key_file());
    let keys = KeyFiles {
        master: &master,
        break_glass: &break_glass,
    };
    let bg = maintenance::restore(&config.database_url(), keys, from)
        .await
        .context("restoring")?;
    println!("restored the index and key files from {}", from.display());
    if bg == BreakGlassRestore::NotInBackup {
        eprintln!(
            "note: the backup holds no break-glass key (made by an older escrow); {} is kept as it is, and a start refuses to make a new one while the index holds break-glass wraps",
            break_glass.display()
        );
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let bound = listener.local_addr().context("bound address")?;
    let mut config = config;
    if config.siwe_domain.is_none() {
        config.siwe_domain = Some(bound.to_string());
    }
    let app = App::build(config).await.context("starting the escrow")?;
    tracing::info!(%bound, "escrow API listening");
    println!("escrow API listening on http://{bound}");
    app.serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("serving")?;
    Ok(())
}

async fn verify_log(config: Config) -> anyhow::Result<()> {
    // Read-only: runs beside a serving escrow (no data-directory lock, no escrow key).
    let deployment = medledger_protocol::deployment::Deployment::load(&config.deployment)
        .context("reading the deployment")?;
    let index = medledger_escrow_api::db::Index::connect(&config.database_url())
        .await
        .context("opening the index")?;
    let chain =
        medledger_escrow_api::chain::RpcChain::for_deployment(&config.rpc_url, &deployment, None)
            .context("the chain client")?;
    let ledger = medledger_escrow_api::chain::Ledger::new(std::sync::Arc::new(chain));
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger)
        .await
        .context("verifying the access log")?;
    println!("{report}");
    if !report.ok() {
        bail!("the access log does not verify");
    }
    Ok(())
}

fn init_dev_key(config: &Config) -> anyhow::Result<()> {
    let deployment = medledger_protocol::deployment::Deployment::load(&config.deployment)
        .context("reading the deployment")?;
    let path = config.escrow_key_file();
    let written = medledger_escrow_api::keys::init_dev_escrow_key(&path, &deployment)
        .context("writing the development escrow key")?;
    if written {
        println!(
            "wrote the development escrow key to {} (0600)",
            path.display()
        );
    } else {
        println!("{} already exists; left as it is", path.display());
    }
    Ok(())
}

async fn admin(
    config: &Config,
    key_file: &std::path::Path,
    password_file: Option<&std::path::Path>,
    action: AdminAction,
) -> anyhow::Result<()> {
    use alloy_sol_types::SolCall;
    use medledger_protocol::contract::MedLedger;
    let deployment = medledger_protocol::deployment::Deployment::load(&config.deployment)
        .context("reading the deployment")?;
    let signer = medledger_escrow_api::keys::load_signer(key_file, password_file)
        .context("reading the admin key file")?;
    let from = signer.address();
    let chain = medledger_escrow_api::chain::RpcChain::for_deployment(
        &config.rpc_url,
        &deployment,
        Some(signer),
    )
    .context("the chain client")?;
    let ledger = medledger_escrow_api::chain::Ledger::new(std::sync::Arc::new(chain));
    if !ledger.is_admin(from).await.context("asking the chain")? {
        bail!("{from} does not hold the contract's ADMIN role");
    }
    let (what, data) = match action {
        AdminAction::Verify { account } => (
            "verifyAccount",
            MedLedger::verifyAccountCall { account }.abi_encode(),
        ),
        AdminAction::Suspend {
            account,
            reason_hash,
        } => (
            "suspendAccount",
            MedLedger::suspendAccountCall {
                account,
                reasonHash: reason_hash,
            }
            .abi_encode(),
        ),
        AdminAction::Reinstate { account } => (
            "reinstateAccount",
            MedLedger::reinstateAccountCall { account }.abi_encode(),
        ),
    };
    let tx = ledger.chain().send(data).await.map_err(|e| {
        anyhow::anyhow!(
            "{what}: {}",
            medledger_escrow_api::chain::describe_revert(&e)
        )
    })?;
    println!("{what} sent by {from}: transaction {tx}");
    Ok(())
}
