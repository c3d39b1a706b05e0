// Forward requests for MedLedgerForwarder (OpenZeppelin 5.4's ERC2771Forwarder): the EIP-712 type
// a wallet signs, and a request signed by a key Ganache never funded, in the struct `execute`
// takes (ForwardRequestData: the signed fields but the nonce, which the forwarder keeps).
const { latestTimestamp } = require("./chain");

const ForwardRequest = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "gas", type: "uint256" },
  { name: "nonce", type: "uint256" },
  { name: "deadline", type: "uint48" },
  { name: "data", type: "bytes" },
];

/**
 * `wallet`'s (an ethers Wallet) EIP-712 signature over a request to `forwarder` (a Truffle
 * instance) calling `to` with `data`. `nonce` defaults to the forwarder's next for `from`,
 * `deadline` to an hour of chain time away; `from` may differ from the signer (a forged request).
 */
async function signForwardRequest(forwarder, wallet, { from = wallet.address, to, value = 0, gas = 300000, nonce, deadline, data }) {
  if (nonce === undefined) nonce = (await forwarder.nonces(from)).toString();
  if (deadline === undefined) deadline = (await latestTimestamp()) + 3600;
  const chainId = Number(await web3.eth.getChainId());
  const domain = { name: "MedLedgerForwarder", version: "1", chainId, verifyingContract: forwarder.address };
  const message = { from, to, value: String(value), gas: String(gas), nonce: String(nonce), deadline: String(deadline), data };
  const signature = await wallet.signTypedData(domain, { ForwardRequest }, message);
  return { from, to, value: String(value), gas: String(gas), deadline: String(deadline), data, signature };
}

module.exports = { ForwardRequest, signForwardRequest };
