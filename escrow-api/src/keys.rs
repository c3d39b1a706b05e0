//! Key files the escrow owns, outside the index: the master-key file (tier-2 K2s are wrapped under
//! its keys; created with mode 0600 on first start, refused when its mode is looser) and the escrow
//! account's secp256k1 key file (signs `confirmShredded`, `anchorAccessLog` and shred receipts).
//! Key bytes are never logged or printed.
//!
//! Master-key file format: one line per key, `<key id> <64 hex digits>`; the highest id is the
//! current key (the one that wraps), the others only unwrap until rotation removes them.

use std::io::Write;
use std::path::{Path, PathBuf};

use alloy_primitives::hex;
use alloy_signer_local::PrivateKeySigner;
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::tier2::MasterKeyRing;
use zeroize::Zeroize;

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Group or others may read or write the file.
    #[error(
        "key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)"
    )]
    LooseMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not in the expected format (the content itself is never shown).
    #[error("key file {path} is malformed: {what}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The key file is an encrypted JSON keystore and no password file was configured.
    #[error("key file {path} is an encrypted JSON keystore: configure its password file (a 0600 file holding the password)")]
    PasswordFileNeeded {
        /// The keystore.
        path: PathBuf,
    },
    /// The keystore could not be opened (wrong password, or not a Web3 Secret Storage v3 file).
    #[error("keystore {path} cannot be opened: {reason}")]
    Keystore {
        /// The keystore.
        path: PathBuf,
        /// Why (never the password or the key).
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("{path} is locked: another escrow process uses this master-key file (stop it first)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The key is not the one the deployment names.
    #[error("the escrow key file {path} holds the key of {found}, but the deployment's escrow is {expected}")]
    WrongAccount {
        /// The file.
        path: PathBuf,
        /// The deployment's escrow account.
        expected: alloy_primitives::Address,
        /// The key's account.
        found: alloy_primitives::Address,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fails when group or others have any permission on `path`.
pub fn check_mode(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::LooseMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates the data directory (and any missing parent) with mode 0700: it holds the key files and
/// the index. An existing directory is left as it is (it may be shared or a mount point), with a
/// warning when group or others may enter it.
pub fn create_private_dir(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if path.exists() {
        let mode = std::fs::metadata(path)
            .map_err(io(path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %path.display(), mode = format!("{mode:o}"), "the data directory is open to group or others; chmod 700 it");
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io(path))
}

/// Creates `path` with mode 0600 (failing if it exists) and writes `text`.
pub fn write_new_private(path: &Path, text: &str) -> Result<(), KeyFileError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            create_private_dir(dir)?;
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(())
}

/// The master keys read from their file.
pub struct MasterKeys {
    /// The ring (current key wraps, all unwrap).
    pub ring: MasterKeyRing,
    /// Every key id in the file, ascending.
    pub ids: Vec<u32>,
}

impl core::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("ids", &self.ids)
            .finish()
    }
}

/// Loads the master-key file, creating it with one fresh key (id 1) when it does not exist.
/// Returns the keys and whether the file was created.
pub fn load_or_create_master_keys(path: &Path) -> Result<(MasterKeys, bool), KeyFileError> {
    let created = if path.exists() {
        false
    } else {
        let key = SecretKey::generate().map_err(|_| KeyFileError::Malformed {
            path: path.to_path_buf(),
            what: "no system randomness to create a key",
        })?;
        let mut line = format!("1 {}\n", hex::encode(key.expose_secret()));
        let res = write_new_private(path, &line);
        line.zeroize();
        res?;
        true
    };
    Ok((load_master_keys(path)?, created))
}

/// Loads the master-key file (mode checked).
pub fn load_master_keys(path: &Path) -> Result<MasterKeys, KeyFileError> {
    let mut keys = read_master_key_list(path)?;
    let Some((current_id, current)) = keys.pop() else {
        return Err(KeyFileError::Malformed {
            path: path.to_path_buf(),
            what: "no key",
        });
    };
    let mut ring = MasterKeyRing::new(current_id, &current);
    let mut ids = Vec::with_capacity(keys.len() + 1);
    for (id, key) in &keys {
        ring.add_retired(*id, key)
            .map_err(|_| KeyFileError::Malformed {
                path: path.to_path_buf(),
                what: "duplicate key id",
            })?;
        ids.push(*id);
    }
    ids.push(current_id);
    Ok(MasterKeys { ring, ids })
}

fn parse_master_keys(text: &str) -> Result<Vec<(u32, SecretKey)>, &'static str> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (id, key_hex) = line.split_once(' ').ok_or("a line is not `<id> <hex>`")?;
        let id: u32 = id.parse().map_err(|_| "a key id is not a number")?;
        let mut bytes = hex::decode(key_hex.trim()).map_err(|_| "a key is not hex")?;
        let key = SecretKey::from_slice(&bytes);
        bytes.zeroize();
        out.push((id, key.ok_or("a key is not 32 bytes")?));
    }
    Ok(out)
}

/// Loads the escrow account's key from a hex key file (mode checked); see [`load_signer`] for
/// keystores.
pub fn load_escrow_signer(path: &Path) -> Result<PrivateKeySigner, KeyFileError> {
    load_signer(path, None)
}

/// Reads a password file (0600): its content without one trailing line break.
fn read_password(path: &Path) -> Result<zeroize::Zeroizing<String>, KeyFileError> {
    check_mode(path)?;
    let mut text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io(path))?);
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    Ok(text)
}

/// Loads a secp256k1 signing key (the escrow's, or an admin's for the CLI). `path` (0600) holds
/// either one hex private key or a Web3 Secret Storage v3 JSON keystore (scrypt or pbkdf2, as
/// geth, Truffle and ethers write them), which is opened with the password in `password_file`
/// (0600; one trailing line break is ignored).
pub fn load_signer(
    path: &Path,
    password_file: Option<&Path>,
) -> Result<PrivateKeySigner, KeyFileError> {
    check_mode(path)?;
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    if text.trim_start().starts_with('{') {
        text.zeroize();
        let Some(password_file) = password_file else {
            return Err(KeyFileError::PasswordFileNeeded {
                path: path.to_path_buf(),
            });
        };
        let password = read_password(password_file)?;
        return PrivateKeySigner::decrypt_keystore(path, password.as_bytes()).map_err(|e| {
            KeyFileError::Keystore {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        });
    }
    let trimmed = text.trim();
    let mut bytes = hex::decode(trimmed.strip_prefix("0x").unwrap_or(trimmed)).map_err(|_| {
        KeyFileError::Malformed {
            path: path.to_path_buf(),
            what: "not a hex private key",
        }
    });
    text.zeroize();
    let signer = match &bytes {
        Ok(b) if b.len() == 32 => PrivateKeySigner::from_slice(b).ok(),
        _ => None,
    };
    if let Ok(b) = bytes.as_mut() {
        b.zeroize();
    }
    signer.ok_or(KeyFileError::Malformed {
        path: path.to_path_buf(),
        what: "not a 32-byte secp256k1 private key",
    })
}

/// Writes the key of the hex key file `key_file` as a Web3 Secret Storage v3 JSON keystore
/// encrypted with the password in `password_file`, to the new file `out` (0600). Returns the
/// key's address.
pub fn write_keystore(
    key_file: &Path,
    password_file: &Path,
    out: &Path,
) -> Result<alloy_primitives::Address, KeyFileError> {
    let signer = load_signer(key_file, None)?;
    let password = read_password(password_file)?;
    if out.exists() {
        return Err(KeyFileError::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file exists"),
        });
    }
    // Encrypted in a private (0700) directory beside `out`, then copied to `out` created 0600.
    let dir = out.with_extension("keystore-tmp");
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
    }
    let written = (|| {
        let mut secret = signer.to_bytes();
        let made = PrivateKeySigner::encrypt_keystore(
            &dir,
            &mut rand::rngs::OsRng,
            secret.0,
            password.as_bytes(),
            Some("keystore.json"),
        );
        secret.0.zeroize();
        made.map_err(|e| KeyFileError::Keystore {
            path: out.to_path_buf(),
            reason: e.to_string(),
        })?;
        let json = std::fs::read_to_string(dir.join("keystore.json")).map_err(io(&dir))?;
        write_new_private(out, &json)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    written.map(|()| signer.address())
}

/// Ganache's deterministic account 1 (`--wallet.deterministic`), the escrow of a development
/// deployment. Its key is published by Ganache: it protects nothing and is only ever written for
/// a deployment on chain 1337 that names this account as its escrow.
pub const GANACHE_DEV_ESCROW_KEY: &str =
    "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";

/// Writes the development escrow key to `path` (0600) when `deployment` is a development
/// deployment whose escrow is Ganache's account 1. Returns false when the file already exists.
pub fn init_dev_escrow_key(
    path: &Path,
    deployment: &medledger_protocol::deployment::Deployment,
) -> Result<bool, KeyFileError> {
    let signer: PrivateKeySigner =
        GANACHE_DEV_ESCROW_KEY
            .parse()
            .map_err(|_| KeyFileError::Malformed {
                path: path.to_path_buf(),
                what: "built-in development key",
            })?;
    if deployment.chain_id != 1337 || deployment.escrow != signer.address() {
        return Err(KeyFileError::WrongAccount {
            path: path.to_path_buf(),
            expected: deployment.escrow,
            found: signer.address(),
        });
    }
    if path.exists() {
        return Ok(false);
    }
    write_new_private(path, GANACHE_DEV_ESCROW_KEY)?;
    Ok(true)
}

/// Loads the escrow's break-glass X25519 key pair (a file holding the 32-byte secret in hex,
/// mode checked), creating it (0600) on first start. Returns the pair and whether it was created.
pub fn load_or_create_break_glass(
    path: &Path,
) -> Result<(medledger_protocol::wrap::KeyPair, bool), KeyFileError> {
    use medledger_protocol::wrap::KeyPair;
    let malformed = |what| KeyFileError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let created = if path.exists() {
        false
    } else {
        let pair =
            KeyPair::generate().map_err(|_| malformed("no system randomness to create a key"))?;
        let mut text = hex::encode(pair.expose_secret());
        let res = write_new_private(path, &text);
        text.zeroize();
        res?;
        true
    };
    check_mode(path)?;
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut bytes = hex::decode(text.trim()).map_err(|_| malformed("not hex"));
    text.zeroize();
    let secret: Option<[u8; 32]> = bytes
        .as_ref()
        .ok()
        .and_then(|b| b.as_slice().try_into().ok());
    if let Ok(b) = bytes.as_mut() {
        b.zeroize();
    }
    let pair = secret
        .ok_or_else(|| malformed("not a 32-byte X25519 secret"))
        .and_then(|s| {
            KeyPair::from_secret_bytes(s).map_err(|_| malformed("not an X25519 secret"))
        })?;
    Ok((pair, created))
}

/// Holds the data directory's exclusive lock while alive: one server (or one maintenance
/// command) per master-key file at a time.
#[derive(Debug)]
pub struct DataLock {
    _file: std::fs::File,
}

impl DataLock {
    /// Takes the lock beside `master_key_file`, or fails at once when another process holds it.
    pub fn acquire(master_key_file: &Path) -> Result<DataLock, KeyFileError> {
        let mut path = master_key_file.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                create_private_dir(dir)?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(KeyFileError::Locked { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(KeyFileError::Io { path, source }),
        }
    }
}

/// Writes the master-key file anew (0600, through a temporary file and a rename).
pub fn write_master_keys(path: &Path, keys: &[(u32, &SecretKey)]) -> Result<(), KeyFileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut text = String::new();
    for (id, key) in keys {
        text.push_str(&format!("{id} {}\n", hex::encode(key.expose_secret())));
    }
    let res = write_new_private(&tmp, &text);
    text.zeroize();
    res?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Reads the raw keys of the master-key file (mode checked), ascending by id.
pub fn read_master_key_list(path: &Path) -> Result<Vec<(u32, SecretKey)>, KeyFileError> {
    check_mode(path)?;
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    let parsed = parse_master_keys(&text);
    text.zeroize();
    let mut keys = parsed.map_err(|what| KeyFileError::Malformed {
        path: path.to_path_buf(),
        what,
    })?;
    keys.sort_by_key(|(id, _)| *id);
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn master_key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/master.key");
        let (keys, created) = load_or_create_master_keys(&path).expect("create");
        assert!(created);
        assert_eq!(keys.ids, vec![1]);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = load_or_create_master_keys(&path).expect("reload");
        assert!(!created);
        // The same key: a K2 wrapped before the restart opens after it.
        let rid = alloy_primitives::B256::repeat_byte(9);
        let k2 = SecretKey::generate().expect("k2");
        let wrapped = medledger_protocol::tier2::wrap_k2(&keys.ring, &rid, &k2).expect("wrap");
        let opened =
            medledger_protocol::tier2::unwrap_k2(&again.ring, &rid, &wrapped).expect("unwrap");
        assert_eq!(opened.expose_secret(), k2.expose_secret());
    }

    #[test]
    fn loose_modes_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        load_or_create_master_keys(&path).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        match load_or_create_master_keys(&path) {
            Err(KeyFileError::LooseMode { mode, .. }) => assert_eq!(mode, 0o640),
            other => panic!("expected a loose-mode refusal, got {other:?}"),
        }
        let key = dir.path().join("escrow.key");
        std::fs::write(&key, format!("0x{}\n", "11".repeat(32))).expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load_escrow_signer(&key),
            Err(KeyFileError::LooseMode { .. })
        ));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        load_escrow_signer(&key).expect("a 0600 key file loads");
    }

    #[test]
    fn malformed_files_do_not_echo_their_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        write_new_private(&path, "1 zz-secret-zz\n").expect("write");
        let err = load_master_keys(&path).expect_err("malformed");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
