//! `deployments/<network>.json`: where the MedLedger contract lives on a chain. Written by the
//! Truffle migration; read by the escrow (which serves it to the app as part of `/config.json`).
//! The ABI hash lets a reader refuse a contract deployed from other sources than its bindings.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// One deployment of MedLedger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The Truffle network name (`development`, `external`).
    pub network: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The contract's address.
    pub address: Address,
    /// The block the contract was deployed in: where event following starts.
    pub deploy_block: u64,
    /// The deployment transaction.
    pub deploy_tx: B256,
    /// `0x`-prefixed SHA-256 of the canonical ABI the contract was compiled with.
    pub abi_hash: String,
    /// The first admin.
    pub admin: Address,
    /// The escrow API's account.
    pub escrow: Address,
}

/// Why a deployment file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// Not the JSON this module writes (a field missing, a malformed address).
    #[error("deployment file is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// Could not be read from disk.
    #[error("cannot read deployment file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The contract was compiled from sources whose ABI differs from these bindings.
    #[error("the deployed contract's ABI ({deployed}) is not the one these bindings were built from ({bindings}); rebuild from the same sources")]
    AbiMismatch {
        /// The hash in the deployment file.
        deployed: String,
        /// The hash of [`crate::contract::ABI_JSON`].
        bindings: String,
    },
}

impl Deployment {
    /// Parse a deployment file's text and check it matches these bindings.
    pub fn from_json(text: &str) -> Result<Deployment, DeploymentError> {
        let deployment: Deployment = serde_json::from_str(text)?;
        deployment.check_abi()?;
        Ok(deployment)
    }

    /// Read and check a deployment file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &std::path::Path) -> Result<Deployment, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Deployment::from_json(&text)
    }

    /// Fail unless the deployed contract's ABI is the one the bindings were generated from.
    pub fn check_abi(&self) -> Result<(), DeploymentError> {
        let bindings = crate::contract::abi_hash();
        if self.abi_hash.eq_ignore_ascii_case(&bindings) {
            Ok(())
        } else {
            Err(DeploymentError::AbiMismatch {
                deployed: self.abi_hash.clone(),
                bindings,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(abi_hash: &str) -> String {
        format!(
            r#"{{"network":"development","chainId":1337,
            "address":"0xe78A0F7E598Cc8b0Bb87894B0F60dD2a88d6a8Ab","deployBlock":1,
            "deployTx":"0x475f606dc692e659e302b031cfdb1e193a8c64e192bb98b07af0bb30518d5c43",
            "abiHash":"{abi_hash}","admin":"0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1",
            "escrow":"0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0"}}"#
        )
    }

    #[test]
    fn parses_a_file_with_the_bindings_abi_hash() {
        let d =
            Deployment::from_json(&sample(&crate::contract::abi_hash())).expect("valid deployment");
        assert_eq!(d.chain_id, 1337);
        assert_eq!(d.deploy_block, 1);
        assert_eq!(
            d.address.to_string(),
            "0xe78A0F7E598Cc8b0Bb87894B0F60dD2a88d6a8Ab"
        );
    }

    #[test]
    fn refuses_another_abi() {
        let other = format!("0x{}", "ab".repeat(32));
        match Deployment::from_json(&sample(&other)) {
            Err(DeploymentError::AbiMismatch { deployed, .. }) => assert_eq!(deployed, other),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_malformed_files() {
        assert!(matches!(
            Deployment::from_json("{}"),
            Err(DeploymentError::Invalid(_))
        ));
        let bad_address = sample(&crate::contract::abi_hash()).replace("0xe78A0F", "0xZZ8A0F");
        assert!(matches!(
            Deployment::from_json(&bad_address),
            Err(DeploymentError::Invalid(_))
        ));
    }
}
