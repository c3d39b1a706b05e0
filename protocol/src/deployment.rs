//! `deployments/<network>.json`: where the MedLedger contracts live on a chain — the core, the
//! insurance and licensing contracts deployed beside it, the ERC-2771 forwarder the core
//! trusts, and the recovery contract the core created. Written by the Truffle migration; read by the escrow
//! (which serves both addresses to the app as part of `/config.json`). Each contract's ABI hash lets
//! a reader refuse a contract deployed from other sources than its bindings.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// One deployment of MedLedger: the core's fields at the top level (as before the insurance
/// contract moved out), the insurance contract's in [`Deployment::insurance`].
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
    /// The insurance contract (policies, claims, payouts), deployed after the core with its address.
    pub insurance: ContractDeployment,
    /// The licensing contract (organisations, seats, subscriptions), deployed after the core with
    /// its address and named in it (`setLicensing`).
    pub licensing: ContractDeployment,
    /// The ERC-2771 forwarder (`MedLedgerForwarder`), deployed before the core, which trusts it for
    /// good (`trustedForwarder()`): a relayer submits the core's transactions signed by accounts
    /// without ether through it (EIP-712 domain `MedLedgerForwarder`, version `1`, this chain, this
    /// address). The insurance and licensing contracts do not trust it.
    pub forwarder: ContractDeployment,
    /// The recovery contract (`MedLedgerRecovery`: guardians, recovery requests), which the core's
    /// constructor created (its block and transaction are the core's). It trusts the forwarder.
    pub recovery: ContractDeployment,
}

/// Where one further contract of the deployment lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractDeployment {
    /// The contract's address.
    pub address: Address,
    /// The block it was deployed in.
    pub deploy_block: u64,
    /// The deployment transaction.
    pub deploy_tx: B256,
    /// `0x`-prefixed SHA-256 of the canonical ABI it was compiled with.
    pub abi_hash: String,
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
    /// A contract was compiled from sources whose ABI differs from these bindings.
    #[error("the deployed {contract} contract's ABI ({deployed}) is not the one these bindings were built from ({bindings}); rebuild from the same sources")]
    AbiMismatch {
        /// Which contract: `MedLedger`, `MedLedgerInsurance`, `MedLedgerLicensing`,
        /// `MedLedgerForwarder` or `MedLedgerRecovery`.
        contract: &'static str,
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

    /// Fail unless each deployed contract's ABI is the one the bindings were generated from.
    pub fn check_abi(&self) -> Result<(), DeploymentError> {
        same_abi("MedLedger", &self.abi_hash, crate::contract::abi_hash())?;
        same_abi(
            "MedLedgerInsurance",
            &self.insurance.abi_hash,
            crate::contract::insurance_abi_hash(),
        )?;
        same_abi(
            "MedLedgerLicensing",
            &self.licensing.abi_hash,
            crate::contract::licensing_abi_hash(),
        )?;
        same_abi(
            "MedLedgerForwarder",
            &self.forwarder.abi_hash,
            crate::contract::forwarder_abi_hash(),
        )?;
        same_abi(
            "MedLedgerRecovery",
            &self.recovery.abi_hash,
            crate::contract::recovery_abi_hash(),
        )
    }
}

fn same_abi(
    contract: &'static str,
    deployed: &str,
    bindings: String,
) -> Result<(), DeploymentError> {
    if deployed.eq_ignore_ascii_case(&bindings) {
        Ok(())
    } else {
        Err(DeploymentError::AbiMismatch {
            contract,
            deployed: deployed.to_string(),
            bindings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(abi_hash: &str) -> String {
        sample_with(abi_hash, &crate::contract::insurance_abi_hash())
    }

    fn sample_with(abi_hash: &str, insurance_abi_hash: &str) -> String {
        medledger_test_support::deployment_json(
            1337,
            abi_hash,
            insurance_abi_hash,
            &crate::contract::licensing_abi_hash(),
            &crate::contract::forwarder_abi_hash(),
            &crate::contract::recovery_abi_hash(),
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
        assert_eq!(
            d.insurance.address.to_string(),
            "0x5b1869D9A4C187F2EAa108f3062412ecf0526b24"
        );
        assert_eq!(d.insurance.deploy_block, 2);
    }

    #[test]
    fn refuses_another_abi() {
        let other = format!("0x{}", "ab".repeat(32));
        match Deployment::from_json(&sample(&other)) {
            Err(DeploymentError::AbiMismatch {
                contract, deployed, ..
            }) => assert_eq!((contract, deployed), ("MedLedger", other)),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_another_insurance_abi() {
        let other = format!("0x{}", "cd".repeat(32));
        let text = sample_with(&crate::contract::abi_hash(), &other);
        match Deployment::from_json(&text) {
            Err(DeploymentError::AbiMismatch {
                contract, deployed, ..
            }) => assert_eq!((contract, deployed), ("MedLedgerInsurance", other)),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_another_licensing_abi() {
        let other = format!("0x{}", "ef".repeat(32));
        let text = medledger_test_support::deployment_json(
            1337,
            &crate::contract::abi_hash(),
            &crate::contract::insurance_abi_hash(),
            &other,
            &crate::contract::forwarder_abi_hash(),
            &crate::contract::recovery_abi_hash(),
        );
        match Deployment::from_json(&text) {
            Err(DeploymentError::AbiMismatch {
                contract, deployed, ..
            }) => assert_eq!((contract, deployed), ("MedLedgerLicensing", other)),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_another_forwarder_abi() {
        let other = format!("0x{}", "f0".repeat(32));
        let text = medledger_test_support::deployment_json(
            1337,
            &crate::contract::abi_hash(),
            &crate::contract::insurance_abi_hash(),
            &crate::contract::licensing_abi_hash(),
            &other,
            &crate::contract::recovery_abi_hash(),
        );
        match Deployment::from_json(&text) {
            Err(DeploymentError::AbiMismatch {
                contract, deployed, ..
            }) => assert_eq!((contract, deployed), ("MedLedgerForwarder", other)),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_another_recovery_abi() {
        let other = format!("0x{}", "4e".repeat(32));
        let text = medledger_test_support::deployment_json(
            1337,
            &crate::contract::abi_hash(),
            &crate::contract::insurance_abi_hash(),
            &crate::contract::licensing_abi_hash(),
            &crate::contract::forwarder_abi_hash(),
            &other,
        );
        match Deployment::from_json(&text) {
            Err(DeploymentError::AbiMismatch {
                contract, deployed, ..
            }) => assert_eq!((contract, deployed), ("MedLedgerRecovery", other)),
            other => panic!("expected an ABI mismatch, got {other:?}"),
        }
    }

    #[test]
    fn refuses_a_file_without_the_forwarder() {
        // A file written before sponsored transactions: its core trusts no forwarder.
        let mut old: serde_json::Value =
            serde_json::from_str(&sample(&crate::contract::abi_hash())).expect("json");
        old.as_object_mut().expect("an object").remove("forwarder");
        assert!(matches!(
            Deployment::from_json(&old.to_string()),
            Err(DeploymentError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_a_file_without_the_licensing_contract() {
        // A file written before licensing existed: its core names no licensing contract.
        let mut old: serde_json::Value =
            serde_json::from_str(&sample(&crate::contract::abi_hash())).expect("json");
        old.as_object_mut().expect("an object").remove("licensing");
        assert!(matches!(
            Deployment::from_json(&old.to_string()),
            Err(DeploymentError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_a_file_without_the_insurance_contract() {
        // A file written before insurance moved out names one contract: it is not this deployment.
        let mut old: serde_json::Value =
            serde_json::from_str(&sample(&crate::contract::abi_hash())).expect("json");
        old.as_object_mut().expect("an object").remove("insurance");
        assert!(matches!(
            Deployment::from_json(&old.to_string()),
            Err(DeploymentError::Invalid(_))
        ));
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
