// Truffle configuration: compiles offline with the project's solc-js and deploys to Ganache by
// default. Any other EVM chain (a Besu QBFT consortium, a testnet) is the `external` network,
// configured entirely from the environment so that no code changes between deployments.
const path = require("path");

const ganachePort = Number(process.env.MEDLEDGER_GANACHE_PORT || 8545);

function externalProvider() {
  const url = process.env.MEDLEDGER_RPC_URL;
  if (!url) throw new Error("network external: set MEDLEDGER_RPC_URL (and MEDLEDGER_CHAIN_ID, and a key source)");
  const { SigningProvider, loadDeployerKey } = require("./scripts/signing-provider");
  return new SigningProvider(url, loadDeployerKey());
}

module.exports = {
  contracts_directory: path.join(__dirname, "contracts"),
  contracts_build_directory: path.join(__dirname, "build", "contracts"),
  migrations_directory: path.join(__dirname, "migrations"),
  test_directory: path.join(__dirname, "test"),

  networks: {
    development: {
      host: "127.0.0.1",
      port: ganachePort,
      network_id: 1337,
    },
    external: {
      provider: externalProvider,
      network_id: process.env.MEDLEDGER_CHAIN_ID ? Number(process.env.MEDLEDGER_CHAIN_ID) : "*",
      // QBFT finalises every block; on a proof-of-stake testnet set MEDLEDGER_CONFIRMATIONS=2 or more.
      confirmations: Number(process.env.MEDLEDGER_CONFIRMATIONS || 0),
      timeoutBlocks: 200,
      skipDryRun: true,
    },
  },

  mocha: {
    timeout: 60000,
  },

  compilers: {
    solc: {
      // The local solc-js: Truffle never downloads a compiler.
      version: require.resolve("solc/soljson.js"),
      settings: {
        optimizer: { enabled: true, runs: 200 },
        evmVersion: "shanghai",
      },
    },
  },
};
