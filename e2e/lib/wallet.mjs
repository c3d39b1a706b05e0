// A test wallet standing in for MetaMask in Playwright browsers (Chromium and Firefox ESR).
//
// In the page: `window.ethereum` (EIP-1193: request, on, removeListener, isMetaMask) and EIP-6963
// discovery (announces on injection and on every `eip6963:requestProvider`), injected with
// context.addInitScript before any page script, in every page and frame of the context. Every
// `request` goes through one context.exposeBinding to this Node process, where the keys are:
// accounts, signing (ethers v6 over Ganache's deterministic keys), sending (with its own nonce
// tracking), chain switching, and everything else forwarded to the chain's JSON-RPC.
//
// Like MetaMask: eth_accounts gives lower-case addresses; errors reach the page as Error objects
// with `code`, `message` and `data` (4001 user rejected, 4100 unauthorized, 4200 unsupported
// method, 4901 chain disconnected, 4902 unrecognised chain, 3 execution reverted with the revert
// bytes as `data`, -32602 invalid params, -32603 internal).
//
//   const wallet = await installWallet(context, { rpcUrl, chainId: 1337, keys });
//   wallet.useAccount(2); wallet.rejectNext("personal_sign"); wallet.lock(); wallet.switchChain(1);
import { PATIENCE_MS } from "./patience.mjs";
import { HDNodeWallet, JsonRpcProvider, Mnemonic, Wallet, getAddress, getBytes, isAddress, isHexString, toUtf8Bytes } from "ethers";

/** The mnemonic behind Ganache's `--wallet.deterministic` accounts. */
export const DEV_MNEMONIC = "myth like bonus scare over problem client lizard pioneer submit female collect";

/** Ganache's deterministic private keys, accounts 0..n-1 (account 0: 0x4f3edf98…3b1d). */
export function devKeys(n = 10) {
  const m = Mnemonic.fromPhrase(DEV_MNEMONIC);
  return Array.from({ length: n }, (_, i) => HDNodeWallet.fromMnemonic(m, `m/44'/60'/0'/0/${i}`).privateKey);
}

export const WALLET_INFO = {
  name: "medledger test wallet",
  rdns: "org.medledger.testwallet",
  icon:
    "data:image/svg+xml;base64," +
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1b6ef3"/><path d="M8 11h16v12H8z" fill="#fff"/><circle cx="20" cy="17" r="2" fill="#1b6ef3"/></svg>',
    ).toString("base64"),
};

/** An EIP-1193 error as the page receives it. */
export class ProviderError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    if (data !== undefined) this.data = data;
  }
  toJSON() {
    return { code: this.code, message: this.message, ...(this.data !== undefined ? { data: this.data } : {}) };
  }
}

// Methods that open a MetaMask prompt: the ones rejectNext("*") applies to.
const PROMPTING = new Set([
  "eth_requestAccounts",
  "wallet_requestPermissions",
  "personal_sign",
  "eth_signTypedData_v4",
  "eth_sendTransaction",
  "wallet_switchEthereumChain",
  "wallet_addEthereumChain",
]);

// Methods a dapp must not reach through the wallet (MetaMask does not offer them; Ganache would
// answer some of them with its unlocked accounts).
const UNSUPPORTED = /^(eth_sign|eth_signTransaction|eth_signTypedData|eth_signTypedData_v1|eth_signTypedData_v3|eth_coinbase|personal_(?!sign$).*|evm_.*|ganache_.*|miner_.*|debug_.*|txpool_.*|admin_.*)$/;

const USER_REJECTED = {
  personal_sign: "MetaMask Message Signature: User denied message signature.",
  eth_signTypedData_v4: "MetaMask Message Signature: User denied message signature.",
  eth_sendTransaction: "MetaMask Tx Signature: User denied transaction signature.",
};

const hexChain = (n) => `0x${Number(n).toString(16)}`;
// MetaMask accepts only 0x-prefixed lower-case hex without leading zeros ("0x539", not "0x0539" or 1337).
const parseChainId = (v) => (typeof v === "string" && /^0x[1-9a-f][0-9a-f]*$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : null);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The revert bytes inside an error from Ganache or ethers, or undefined. */
export function revertData(e) {
  const seen = new Set();
  const walk = (v, depth) => {
    if (v == null || depth > 6 || seen.has(v)) return undefined;
    if (typeof v === "string") return isHexString(v) && v.length >= 10 ? v : undefined;
    if (typeof v !== "object") return undefined;
    seen.add(v);
    // Ganache: error.data is the hex string (eth_call) or { result: "0x…" } (eth_estimateGas).
    for (const k of ["data", "result"]) {
      const found = walk(v[k], depth + 1);
      if (found) return found;
    }
    for (const k of ["info", "error", "originalError"]) {
      const found = walk(v[k], depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return walk(e, 0);
}

function isRevert(e) {
  const text = `${e?.message ?? ""} ${e?.shortMessage ?? ""} ${e?.info?.error?.message ?? ""}`;
  return e?.code === "CALL_EXCEPTION" || /revert/i.test(text);
}

/** An ethers or node error as a ProviderError, keeping the node's own code and message when there is one. */
function nodeError(e) {
  const inner = e?.info?.error ?? e?.error;
  const code = typeof inner?.code === "number" ? inner.code : -32603;
  return new ProviderError(code, inner?.message || e?.shortMessage || e?.message || String(e));
}

/** The error for a contract revert, as MetaMask's node (geth) reports it: code 3 with the bytes. */
function revertError(e) {
  const data = revertData(e);
  return new ProviderError(3, data && data !== "0x" ? "execution reverted" : "execution reverted (no data)", data ?? "0x");
}

// Only the types reachable from primaryType, without EIP712Domain (ethers derives the domain's
// type itself and refuses types it cannot place under one root).
function typesFor(types, primaryType) {
  const all = { ...types };
  delete all.EIP712Domain;
  if (!primaryType) return all;
  if (!all[primaryType]) throw new ProviderError(-32602, `primaryType ${primaryType} is not in types`);
  const out = {};
  const visit = (t) => {
    const base = t.replace(/(\[\d*\])+$/, "");
    if (out[base] || !all[base]) return;
    out[base] = all[base];
    for (const f of all[base]) visit(f.type);
  };
  visit(primaryType);
  return out;
}

/** Signs an eth_signTypedData_v4 payload (object or JSON text) as MetaMask does, with ethers. */
export async function signTypedDataV4(signer, typedData) {
  let data = typedData;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch {
      throw new ProviderError(-32602, "eth_signTypedData_v4: the typed data is not valid JSON");
    }
  }
  if (!data || typeof data !== "object" || !data.types || !data.message) {
    throw new ProviderError(-32602, "eth_signTypedData_v4: expected { types, primaryType, domain, message }");
  }
  return signer.signTypedData(data.domain || {}, typesFor(data.types, data.primaryType), data.message);
}

// The script injected into every page: the EIP-1193 provider and EIP-6963 announcement. It runs
// in the page, so it uses nothing from this module's scope.
function pageScript(cfg) {
  if (window.__medledgerTestWallet) return;
  const listeners = new Map();
  const state = { chainId: cfg.chainId, selectedAddress: null };
  // Looked up on each call: the binding Playwright installs need not exist yet when this runs.
  const call = (payload) => window[cfg.binding](payload);
  const makeError = (e) => {
    const err = new Error(e && e.message ? e.message : "wallet error");
    err.code = e && e.code;
    if (e && e.data !== undefined) err.data = e.data;
    return err;
  };
  const emit = (event, payload) => {
    if (event === "chainChanged") state.chainId = payload;
    if (event === "accountsChanged") state.selectedAddress = payload[0] || null;
    for (const fn of [...(listeners.get(event) || [])]) {
      try {
        fn(payload);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  };
  const provider = {
    isMetaMask: true,
    isMedledgerTestWallet: true,
    get chainId() {
      return state.chainId;
    },
    get selectedAddress() {
      return state.selectedAddress;
    },
    isConnected() {
      return true;
    },
    request(args) {
      if (!args || typeof args !== "object" || typeof args.method !== "string" || !args.method) {
        return Promise.reject(makeError({ code: -32600, message: "Expected a single, non-array, object argument with a method" }));
      }
      if (args.params !== undefined && (args.params === null || typeof args.params !== "object")) {
        return Promise.reject(makeError({ code: -32600, message: "'params' must be an object or array if provided" }));
      }
      let params;
      try {
        params = args.params === undefined ? [] : JSON.parse(JSON.stringify(args.params));
      } catch (e) {
        return Promise.reject(makeError({ code: -32602, message: `params cannot be serialised: ${e}` }));
      }
      return call({ method: args.method, params }).then((res) => {
        if (res && res.error) throw makeError(res.error);
        return res ? res.result : undefined;
      });
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(fn);
      return provider;
    },
    removeListener(event, fn) {
      const list = listeners.get(event) || [];
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
      return provider;
    },
    enable() {
      return provider.request({ method: "eth_requestAccounts" });
    },
  };
  provider.addListener = provider.on;
  provider.off = provider.removeListener;
  provider.removeAllListeners = (event) => {
    if (event === undefined) listeners.clear();
    else listeners.delete(event);
    return provider;
  };
  Object.defineProperty(window, "__medledgerTestWallet", { value: { emit }, configurable: false });
  window.ethereum = provider;
  const detail = Object.freeze({ info: Object.freeze({ ...cfg.info }), provider });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
  // The current account, for the deprecated selectedAddress (eth_accounts does not prompt).
  call({ method: "eth_accounts", params: [], internal: true }).then(
    (res) => {
      if (res && res.result && res.result[0] && state.selectedAddress === null) state.selectedAddress = res.result[0];
    },
    () => {},
  );
}

/**
 * Installs the test wallet into every page of `context` (call before opening pages).
 *   rpcUrl   the chain's JSON-RPC (Ganache)
 *   chainId  that chain's id (number)
 *   keys     hex private keys; the wallet's accounts, account 0 selected
 *   connected  whether the site starts connected (eth_accounts answers before eth_requestAccounts); default true
 * Returns the controller.
 */
export async function installWallet(context, { rpcUrl, chainId, keys, connected = true, binding = "__medledgerWalletRequest" }) {
  if (!rpcUrl || !chainId || !Array.isArray(keys) || keys.length === 0) throw new Error("installWallet: rpcUrl, chainId and keys are required");
  // cacheTimeout -1: ethers otherwise answers an identical request made within 250 ms from a cache,
  // so a second identical estimateGas (or a pending nonce count) right after a mined transaction
  // would see the state before it (a repeated registerPatient estimated fine, then reverted on chain).
  const provider = new JsonRpcProvider(rpcUrl, Number(chainId), { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  const signers = keys.map((k) => new Wallet(k, provider));
  const homeChain = Number(chainId);
  const st = {
    index: 0,
    locked: false,
    connected,
    chainId: homeChain,
    chains: new Map([[homeChain, { chainId: homeChain, rpcUrls: [rpcUrl], chainName: "medledger local" }]]),
    rejects: [],
    delays: new Map(),
    nextNonce: new Map(), // address -> next nonce this wallet will use
    queues: new Map(), // address -> tail of its send queue
    lastSent: new Map(), // address -> hash of its last transaction
  };
  const requests = [];
  const info = { uuid: crypto.randomUUID(), ...WALLET_INFO };
  let nextId = 1;

  const current = () => signers[st.index];
  const exposedAccounts = () => (st.locked || !st.connected ? [] : [current().address.toLowerCase()]);

  async function emit(event, payload) {
    const frames = context.pages().flatMap((p) => (p.isClosed() ? [] : p.frames()));
    await Promise.all(
      frames.map((f) =>
        f
          .evaluate(([e, p]) => window.__medledgerTestWallet && window.__medledgerTestWallet.emit(e, p), [event, payload])
          .catch(() => {}),
      ),
    );
  }

  function takeRejection(method) {
    for (const r of st.rejects) {
      if (r.count > 0 && (r.method === method || (r.method === "*" && PROMPTING.has(method)))) {
        r.count -= 1;
        st.rejects = st.rejects.filter((x) => x.count > 0);
        return true;
      }
    }
    return false;
  }

  const unauthorized = () => new ProviderError(4100, "The requested account and/or method has not been authorized by the user.");
  const onOtherChain = () => st.chainId !== homeChain;
  const disconnected = () => new ProviderError(4901, `The provider is disconnected from the chain ${hexChain(st.chainId)} (this test wallet only reaches chain ${hexChain(homeChain)}).`);

  function checkAccount(address) {
    if (st.locked || !st.connected) throw unauthorized();
    if (typeof address !== "string" || !isAddress(address)) throw new ProviderError(-32602, "Invalid parameters: must provide an Ethereum address.");
    if (address.toLowerCase() !== current().address.toLowerCase()) throw unauthorized();
    return current();
  }

  async function forward(method, params) {
    if (onOtherChain()) throw disconnected();
    let res;
    try {
      res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
        signal: AbortSignal.timeout(PATIENCE_MS),
      });
    } catch (e) {
      throw new ProviderError(4901, `the chain at ${rpcUrl} cannot be reached: ${e.message}`);
    }
    const body = await res.json();
    if (body.error) {
      if (/revert/i.test(body.error.message || "")) throw revertError(body.error);
      throw new ProviderError(body.error.code ?? -32603, body.error.message ?? "RPC error", body.error.data);
    }
    return body.result;
  }

  // Sends one transaction from `signer`, nonces tracked here: sends from one account are queued,
  // each takes max(our next nonce, the node's pending count), and the counter moves only when the
  // node accepted the transaction, so back-to-back sends never reuse or skip a nonce.
  //
  // And each waits until the account's previous transaction is mined before it is broadcast:
  // Ganache 7's pool parks a transaction that arrives while its predecessor is being mined in its
  // "future" queue, and promotes it only when the predecessor arrives — which never happens — so
  // it is never mined (seen here twice in two runs of 40 back-to-back pairs with 100 ms blocks; the
  // ganache #3794 family; none in 120 pairs with this wait). The caller still gets its hash at
  // once; only a second send waits, about one block.
  async function waitMined(hash) {
    const deadline = Date.now() + PATIENCE_MS;
    while (Date.now() < deadline) {
      try {
        if (await provider.getTransactionReceipt(hash)) return;
      } catch {}
      await sleep(50);
    }
    process.stderr.write(`# test wallet: ${hash} not mined after 30 s; sending the next transaction anyway\n`);
  }

  function send(signer, tx) {
    const addr = signer.address;
    const run = async () => {
      const previous = st.lastSent.get(addr);
      if (previous) await waitMined(previous);
      let gasLimit = tx.gasLimit;
      if (gasLimit === undefined) {
        try {
          gasLimit = await provider.estimateGas({ from: addr, to: tx.to, data: tx.data, value: tx.value });
        } catch (e) {
          if (isRevert(e)) throw revertError(e);
          throw nodeError(e);
        }
      }
      for (let attempt = 0; ; attempt++) {
        const pending = await provider.getTransactionCount(addr, "pending");
        const nonce = Math.max(st.nextNonce.get(addr) ?? 0, pending);
        try {
          const sent = await signer.sendTransaction({ ...tx, gasLimit, nonce, chainId: homeChain });
          st.nextNonce.set(addr, nonce + 1);
          st.lastSent.set(addr, sent.hash);
          return sent.hash;
        } catch (e) {
          const text = `${e.message} ${e.info?.error?.message ?? ""}`;
          if (/nonce/i.test(text) && attempt < 3) {
            // Ganache refused the nonce (its pool can lag): trust the node's count next time.
            st.nextNonce.delete(addr);
            await sleep(150);
            continue;
          }
          if (isRevert(e)) throw revertError(e);
          throw nodeError(e);
        }
      }
    };
    const result = (st.queues.get(addr) || Promise.resolve()).then(run, run);
    st.queues.set(
      addr,
      result.catch(() => {}),
    );
    return result;
  }

  function txFromParams(p) {
    if (!p || typeof p !== "object") throw new ProviderError(-32602, "eth_sendTransaction: expected a transaction object");
    const big = (v, name) => {
      if (v === undefined || v === null) return undefined;
      try {
        return BigInt(v);
      } catch {
        throw new ProviderError(-32602, `eth_sendTransaction: ${name} is not a quantity`);
      }
    };
    const tx = { to: p.to ?? null, data: p.data ?? p.input ?? "0x", value: big(p.value, "value") ?? 0n };
    if (tx.to !== null && !isAddress(tx.to)) throw new ProviderError(-32602, "eth_sendTransaction: 'to' is not an address");
    const gas = big(p.gas ?? p.gasLimit, "gas");
    if (gas !== undefined) tx.gasLimit = gas;
    for (const k of ["gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"]) {
      const v = big(p[k], k);
      if (v !== undefined) tx[k] = v;
    }
    return tx;
  }

  async function handle(method, params) {
    switch (method) {
      case "eth_accounts":
        return exposedAccounts();
      case "eth_requestAccounts":
      case "wallet_requestPermissions": {
        if (takeRejection(method)) throw new ProviderError(4001, "User rejected the request.");
        const changed = st.locked || !st.connected;
        st.locked = false;
        st.connected = true;
        if (changed) await emit("accountsChanged", exposedAccounts());
        return method === "eth_requestAccounts" ? exposedAccounts() : [{ parentCapability: "eth_accounts", caveats: [] }];
      }
      case "wallet_getPermissions":
        return st.connected ? [{ parentCapability: "eth_accounts", caveats: [{ type: "restrictReturnedAccounts", value: [current().address.toLowerCase()] }] }] : [];
      case "wallet_revokePermissions":
        st.connected = false;
        await emit("accountsChanged", []);
        return null;
      case "eth_chainId":
        return hexChain(st.chainId);
      case "net_version":
        return String(st.chainId);
      case "web3_clientVersion":
        return "MetaMask/v12-test (medledger test wallet)";
      case "personal_sign": {
        const [message, address] = params;
        const signer = checkAccount(address);
        if (typeof message !== "string") throw new ProviderError(-32602, "personal_sign: the message must be a string");
        if (takeRejection(method)) throw new ProviderError(4001, USER_REJECTED[method]);
        return signer.signMessage(isHexString(message) ? getBytes(message) : toUtf8Bytes(message));
      }
      case "eth_signTypedData_v4": {
        const [address, typed] = params;
        const signer = checkAccount(address);
        const data = typeof typed === "string" ? (() => {
          try {
            return JSON.parse(typed);
          } catch {
            throw new ProviderError(-32602, "eth_signTypedData_v4: the typed data is not valid JSON");
          }
        })() : typed;
        const domainChain = data?.domain?.chainId;
        if (domainChain !== undefined && Number(domainChain) !== st.chainId) {
          throw new ProviderError(-32603, `Provided chainId "${Number(domainChain)}" must match the active chainId "${st.chainId}"`);
        }
        if (takeRejection(method)) throw new ProviderError(4001, USER_REJECTED[method]);
        return signTypedDataV4(signer, data);
      }
      case "eth_sendTransaction": {
        const p = params[0];
        const signer = checkAccount(p?.from ?? current().address);
        const tx = txFromParams(p);
        if (onOtherChain()) throw disconnected();
        if (takeRejection(method)) throw new ProviderError(4001, USER_REJECTED[method]);
        return send(signer, tx);
      }
      case "wallet_switchEthereumChain": {
        const id = parseChainId(params?.[0]?.chainId);
        if (id === null) throw new ProviderError(-32602, `Invalid parameters: expected [{ chainId: "0x…" }] (0x-prefixed hex, no leading zeros), got ${JSON.stringify(params?.[0]?.chainId)}`);
        if (!st.chains.has(id)) throw new ProviderError(4902, `Unrecognized chain ID "${hexChain(id)}". Try adding the chain using wallet_addEthereumChain first.`);
        if (id === st.chainId) return null;
        if (takeRejection(method)) throw new ProviderError(4001, "User rejected the request.");
        st.chainId = id;
        await emit("chainChanged", hexChain(id));
        return null;
      }
      case "wallet_addEthereumChain": {
        const p = params?.[0];
        const id = parseChainId(p?.chainId);
        if (id === null) throw new ProviderError(-32602, `Invalid parameters: chainId must be 0x-prefixed hex without leading zeros, got ${JSON.stringify(p?.chainId)}`);
        if (!Array.isArray(p.rpcUrls) || p.rpcUrls.length === 0) throw new ProviderError(-32602, "wallet_addEthereumChain: rpcUrls must be a non-empty array");
        if (takeRejection(method)) throw new ProviderError(4001, "User rejected the request.");
        st.chains.set(id, { chainId: id, rpcUrls: p.rpcUrls, chainName: p.chainName });
        // MetaMask then asks to switch to the added chain; the test user agrees.
        if (id !== st.chainId) {
          st.chainId = id;
          await emit("chainChanged", hexChain(id));
        }
        return null;
      }
      default:
        if (UNSUPPORTED.test(method)) throw new ProviderError(4200, `The method "${method}" is not supported by this wallet.`);
        return forward(method, Array.isArray(params) ? params : [params]);
    }
  }

  await context.exposeBinding(binding, async (source, payload) => {
    const method = payload?.method;
    const params = payload?.params ?? [];
    if (!payload?.internal) requests.push({ method, params, at: Date.now(), url: source?.frame?.url?.() });
    try {
      const delay = st.delays.get(method) ?? st.delays.get("*");
      if (delay) await sleep(delay);
      return { result: (await handle(method, params)) ?? null };
    } catch (e) {
      const err = e instanceof ProviderError ? e : new ProviderError(-32603, e?.shortMessage || e?.message || String(e));
      return { error: err.toJSON() };
    }
  });
  await context.addInitScript({ content: `(${pageScript.toString()})(${JSON.stringify({ binding, chainId: hexChain(homeChain), info })});` });

  const controller = {
    info,
    /** The log of requests from pages: { method, params, at, url }. */
    requests,
    /** The selected account's checksummed address. */
    account: () => current().address,
    /** Every account's checksummed address. */
    accounts: () => signers.map((s) => s.address),
    /** The chain id the wallet is on (number). */
    chainId: () => st.chainId,
    locked: () => st.locked,
    /** Selects account i and tells every page (accountsChanged). */
    async useAccount(i) {
      if (!signers[i]) throw new Error(`useAccount: no account ${i} (${signers.length} keys)`);
      if (i === st.index) return;
      st.index = i;
      if (!st.locked && st.connected) await emit("accountsChanged", exposedAccounts());
    },
    /** The next `count` requests of `method` (or of any prompting method, "*") are rejected with 4001. */
    rejectNext(method, count = 1) {
      st.rejects.push({ method, count });
    },
    /** Locks the wallet: eth_accounts answers [], signing answers 4100; pages get accountsChanged([]). */
    async lock() {
      if (st.locked) return;
      st.locked = true;
      await emit("accountsChanged", []);
    },
    async unlock() {
      if (!st.locked) return;
      st.locked = false;
      await emit("accountsChanged", exposedAccounts());
    },
    /** Disconnects the site (as "Disconnect this site" in MetaMask): eth_accounts answers [] until eth_requestAccounts. */
    async disconnect() {
      st.connected = false;
      await emit("accountsChanged", []);
    },
    /** The user switches the wallet to chain `id` (added if unknown); pages get chainChanged. */
    async switchChain(id) {
      id = Number(id);
      if (!st.chains.has(id)) st.chains.set(id, { chainId: id, rpcUrls: [], chainName: `chain ${id}` });
      if (id === st.chainId) return;
      st.chainId = id;
      await emit("chainChanged", hexChain(id));
    },
    /** Forgets chain `id`, so wallet_switchEthereumChain to it answers 4902 until it is added again. */
    forgetChain(id) {
      st.chains.delete(Number(id));
    },
    /** Delays every answer to `method` ("*": all methods) by `ms` (0 removes the delay). */
    setDelay(method, ms) {
      if (ms) st.delays.set(method, ms);
      else st.delays.delete(method);
    },
    /** Sends `eventName` with `payload` to every page (for events the controller does not cover). */
    emit,
    /** Stops the wallet's chain provider. */
    close() {
      provider.destroy();
    },
  };
  context.once("close", () => provider.destroy());
  return controller;
}
