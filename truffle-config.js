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
  // MEDLEDGER_BUILD_DIR: a copy of the build to migrate from (scripts/chain-template.js), so that
  // the migration's record of its addresses in the artifacts does not rewrite build/contracts.
  contracts_build_directory: process.env.MEDLEDGER_BUILD_DIR || path.join(__dirname, "build", "contracts"),
  migrations_directory: path.join(__dirname, "migrations"),
  test_directory: path.join(__dirname, "test"),

  networks: {
    development: {
      host: "127.0.0.1",
      port: ganachePort,
      network_id: 1337,
      // Truffle otherwise asks web3 for 24 confirmations of every transaction, and web3 polls
      // the node once a second per transaction until it sees them. Ganache mines only when
      // asked, and the tests revert to snapshots, so those pollers pile up: by the end of the
      // contract suite thousands of getBlockByNumber calls a second slowed every test threefold
      // (measured: insurance.test.js 41 s alone, 126 s after the other suites).
      disableConfirmationListener: true,
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
    // The slowest test takes about 4 s on an idle 2-core machine (bench: `make test-contracts`);
    // 120 s leaves a margin of 30 for a loaded or single-core run. A test that still times out
    // sends nothing more to the chain (test/helpers/isolation.js).
    timeout: 120000,
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
