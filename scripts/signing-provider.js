// A web3-style provider for Truffle's `external` network: signs transactions locally with one
// deployer key and forwards everything else to the chain's JSON-RPC URL. It stands in for
// @truffle/hdwallet-provider with what the project already has (ethers), so that a consortium
// (Besu QBFT) or testnet deployment needs only environment variables.
const fs = require("fs");
const { JsonRpcProvider, Wallet } = require("ethers");

// MEDLEDGER_DEPLOYER_KEY (0x-hex private key) or MEDLEDGER_DEPLOYER_KEYSTORE (an encrypted JSON
// keystore) with its password in MEDLEDGER_DEPLOYER_PASSWORD_FILE.
function loadDeployerKey() {
  const key = process.env.MEDLEDGER_DEPLOYER_KEY;
  const keystore = process.env.MEDLEDGER_DEPLOYER_KEYSTORE;
  if (key && keystore) throw new Error("set either MEDLEDGER_DEPLOYER_KEY or MEDLEDGER_DEPLOYER_KEYSTORE, not both");
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new Error("MEDLEDGER_DEPLOYER_KEY must be 0x followed by 64 hex digits");
    return key;
  }
  if (keystore) {
    const passwordFile = process.env.MEDLEDGER_DEPLOYER_PASSWORD_FILE;
    if (!passwordFile) throw new Error("MEDLEDGER_DEPLOYER_KEYSTORE needs MEDLEDGER_DEPLOYER_PASSWORD_FILE");
    const password = fs.readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
    return Wallet.fromEncryptedJsonSync(fs.readFileSync(keystore, "utf8"), password).privateKey;
  }
  throw new Error("network external: set MEDLEDGER_DEPLOYER_KEY or MEDLEDGER_DEPLOYER_KEYSTORE");
}

class SigningProvider {
  constructor(url, privateKey) {
    this.rpc = new JsonRpcProvider(url, undefined, { staticNetwork: false, batchMaxCount: 1 });
    this.wallet = new Wallet(privateKey, this.rpc);
  }

  async handle(method, params) {
    switch (method) {
      case "eth_accounts":
      case "eth_requestAccounts":
        return [this.wallet.address];
      case "eth_sendTransaction": {
        const [tx] = params;
        if (tx.from && tx.from.toLowerCase() !== this.wallet.address.toLowerCase()) {
          throw new Error(`cannot sign for ${tx.from}: the deployer key is ${this.wallet.address}`);
        }
        const request = { to: tx.to, data: tx.data, value: tx.value, gasLimit: tx.gas };
        if (tx.gasPrice) request.gasPrice = tx.gasPrice;
        // The nonce straight from the node: ethers would ask through its provider, which answers a
        // request repeated within 250 ms from a cache, so a second transaction sent right after
        // the first was mined (the core, then the insurance contract) got the first one's nonce
        // and the node refused it.
        request.nonce =
          tx.nonce !== undefined ? Number(tx.nonce) : Number(await this.rpc.send("eth_getTransactionCount", [this.wallet.address, "pending"]));
        const sent = await this.wallet.sendTransaction(request);
        return sent.hash;
      }
      default:
        return this.rpc.send(method, params || []);
    }
  }

  sendAsync(payload, callback) {
    if (Array.isArray(payload)) {
      Promise.all(payload.map((p) => this.answer(p))).then((r) => callback(null, r), callback);
      return;
    }
    this.answer(payload).then((r) => callback(null, r), callback);
  }

  send(payload, callback) {
    this.sendAsync(payload, callback);
  }

  async answer(payload) {
    try {
      const result = await this.handle(payload.method, payload.params);
      return { jsonrpc: "2.0", id: payload.id, result };
    } catch (err) {
      return { jsonrpc: "2.0", id: payload.id, error: { code: err.code || -32000, message: err.shortMessage || err.message } };
    }
  }
}

module.exports = { SigningProvider, loadDeployerKey };
