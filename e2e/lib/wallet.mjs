// A test wallet standing in for MetaMask in Playwright browsers (Chromium and Firefox ESR).
//
// In the page: `window.ethereum` (EIP-1193: request, on, removeListener, isMetaMask) and EIP-6963
// discovery (announces on injection and on every `eip6963:requestProvider`), injected with
// context.addInitScript before any page script, in every page and frame of the context. Every
// `request` goes through one context.exposeBinding to this Node process, where the keys are:
// accounts, signing (ethers v6 over Ganache's deterministic keys), sending (with its own nonce
// tracking, each transaction watched until mined), chain switching, and everything else forwarded
// to the chain's JSON-RPC. With `log`, the wallet says in a file what became of each transaction
// it sent and which requests it answered with an error (the stack's wallet.log).
//
// Like MetaMask: eth_accounts gives lower-case addresses; errors reach the page as Error objects
// with `code`, `message` and `data` (4001 user rejected, 4100 unauthorized, 4200 unsupported
// method, 4901 chain disconnected, 4902 unrecognised chain, 3 execution reverted with the revert
// bytes as `data`, -32602 invalid params, -32603 internal).
//
//   const wallet = await installWallet(context, { rpcUrl, chainId: 1337, keys, log: stack.walletLogFile });
//   wallet.useAccount(2); wallet.rejectNext("personal_sign"); wallet.lock(); wallet.switchChain(1);
import { PATIENCE_MS } from "./patience.mjs";
import { appendFileSync } from "node:fs";
import { HDNodeWallet, Mnemonic, Wallet, getAddress, getBytes, isAddress, isHexString, keccak256, toUtf8Bytes } from "ethers";

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
// A pause that does not keep the process alive (the watchers of sent transactions poll with it).
const nap = (ms) => new Promise((r) => setTimeout(r, ms).unref());
// Numbers the wallets of this process in their log lines.
let walletsInstalled = 0;

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
 *   log      a file the wallet appends its log to (the stack's wallet.log, beside the escrow's):
 *            each transaction sent (from, to, function selector, nonce, hash), when it was mined
 *            or why not, and every request answered with an error. Addresses, hashes, nonces and
 *            error messages only: no key, signature, calldata or message text. Without it, only
 *            the warnings go to stderr.
 * Returns the controller.
 */
export async function installWallet(context, { rpcUrl, chainId, keys, connected = true, binding = "__medledgerWalletRequest", log: logFile }) {
  if (!rpcUrl || !chainId || !Array.isArray(keys) || keys.length === 0) throw new Error("installWallet: rpcUrl, chainId and keys are required");
  // The keys sign only: every request to the chain is the wallet's own (nodeCall, forward), with no
  // cache (an identical estimateGas or nonce count right after a mined transaction must see it).
  const signers = keys.map((k) => new Wallet(k));
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
    lastSent: new Map(), // address -> its last transaction: { hash, nonce, raw, from, block, at, outcome }
    closed: false,
    inFlight: new Map(), // request id -> { method, since } for requests from pages not answered yet
    answered: 0, // requests from pages answered so far
    maxLogRange: null, // capLogRange: eth_getLogs over more blocks is refused
  };
  const walletName = `wallet ${++walletsInstalled}`;
  /** One line in the wallet's log (`warn`: also on stderr when there is no log file). */
  function say(line, { warn = false } = {}) {
    if (logFile) {
      try {
        appendFileSync(logFile, `${new Date().toISOString()} ${walletName} ${line}\n`);
      } catch (e) {
        process.stderr.write(`# test wallet: cannot write ${logFile}: ${e.message}\n`);
      }
    } else if (warn) {
      process.stderr.write(`# test wallet: ${line}\n`);
    }
  }
  say(`installed on chain ${homeChain} (${rpcUrl}) with accounts ${signers.map((s) => s.address).join(", ")}`);
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

  // As a public RPC provider caps eth_getLogs (capLogRange): a query over more blocks than the cap
  // is refused with -32005, the code Infura and others give.
  async function refuseWideLogQuery(filter) {
    const block = async (tag) => {
      if (tag === undefined || tag === "latest" || tag === "pending") return Number(await nodeCall("eth_blockNumber", []));
      if (tag === "earliest") return 0;
      return Number(tag);
    };
    const from = await block(filter?.fromBlock ?? "latest");
    const to = await block(filter?.toBlock);
    if (to - from + 1 > st.maxLogRange) {
      say(`eth_getLogs ${from}..${to} refused: over the cap of ${st.maxLogRange} blocks`);
      throw new ProviderError(-32005, `query exceeds max block range ${st.maxLogRange}`);
    }
  }

  // The page's own requests, to the chain it is on: a revert comes back in the shape MetaMask
  // gives it (code 3 and the revert data). The page's eth_estimateGas (the app asks it before a
  // sponsored transaction) is asked again when Ganache leaves it unanswered, as the wallet's own
  // (estimateGas, below).
  async function forward(method, params) {
    if (onOtherChain()) throw disconnected();
    try {
      if (method === "eth_estimateGas") return quantity(await estimateGas(params?.[0], "the page's eth_estimateGas"));
      return await nodeCall(method, params);
    } catch (e) {
      if (!e.unanswered && /revert/i.test(e.message || "")) throw revertError(e);
      throw e;
    }
  }

  // One JSON-RPC call to the home chain for the wallet's own work (not the page's: it ignores which
  // chain the user has switched to), answered within `waitMs`. Throws a ProviderError carrying the
  // node's code, message and data; `unanswered` is set on one the node did not answer in time.
  async function nodeCall(method, params = [], waitMs = PATIENCE_MS) {
    let res;
    try {
      res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
        signal: AbortSignal.timeout(waitMs),
      });
    } catch (e) {
      const err = new ProviderError(4901, `the chain at ${rpcUrl} did not answer ${method}${e?.name === "TimeoutError" ? ` within ${waitMs / 1000} s` : `: ${e.message}`}`);
      err.unanswered = e?.name === "TimeoutError";
      throw err;
    }
    const body = await res.json();
    if (body.error) throw new ProviderError(body.error.code ?? -32603, body.error.message ?? "RPC error", body.error.data);
    return body.result;
  }

  // eth_estimateGas, asked again when the node leaves it unanswered. Ganache 7.9 never answers one
  // that meets the mining of a block holding a transaction (its estimator runs on the live state
  // and drops its own failure): measured here, 5 of 300 estimates went unanswered while another
  // account's transactions were being mined, none of 300 while none were; in the journeys the
  // escrow's own transactions are the other account's. The wait for each answer doubles (5 s,
  // 10 s, 20 s…), so a slow machine's slow answer is waited for; PATIENCE_MS bounds them all.
  async function estimateGas(call, what) {
    const started = Date.now();
    for (let waitMs = 5000; ; waitMs *= 2) {
      const left = PATIENCE_MS - (Date.now() - started);
      try {
        return BigInt(await nodeCall("eth_estimateGas", [call], Math.max(1, Math.min(waitMs, left))));
      } catch (e) {
        if (!e.unanswered || Date.now() - started >= PATIENCE_MS) throw e;
        say(`${what}: the node left eth_estimateGas unanswered for ${Math.round(Math.min(waitMs, left) / 1000)} s; asking again`, { warn: true });
      }
    }
  }

  const quantity = (v) => `0x${BigInt(v).toString(16)}`;

  // The fee fields a transaction without any gets, as MetaMask (and ethers) set them: EIP-1559 with
  // the node's suggested tip and twice the latest base fee on top, or the gas price before London.
  async function fees() {
    const [block, tip] = await Promise.all([
      nodeCall("eth_getBlockByNumber", ["latest", false]),
      nodeCall("eth_maxPriorityFeePerGas").catch(() => "0x3b9aca00"),
    ]);
    if (block?.baseFeePerGas == null) return { type: 0, gasPrice: BigInt(await nodeCall("eth_gasPrice")) };
    return { type: 2, maxPriorityFeePerGas: BigInt(tip), maxFeePerGas: 2n * BigInt(block.baseFeePerGas) + BigInt(tip) };
  }

  // Sends one transaction from `signer`, nonces tracked here: sends from one account are queued,
  // each takes max(our next nonce, the node's count), and the counter moves only when the node
  // accepted the transaction, so back-to-back sends never reuse or skip a nonce.
  //
  // Each waits until the account's previous transaction is mined before it is broadcast: Ganache
  // 7's pool parks a transaction that arrives while its predecessor is being mined in its "future"
  // queue, and promotes it only when the predecessor arrives — which never happens — so it is never
  // mined (seen here twice in two runs of 40 back-to-back pairs with 100 ms blocks; the ganache
  // #3794 family; none in 120 pairs with this wait). The caller still gets its hash at once; only a
  // second send waits, about one block. When the previous one is still not mined after PATIENCE_MS
  // the send is refused with an error naming it, rather than queued behind it where it would be
  // stuck as well.
  //
  // Every sent transaction is watched until it is mined (or the wallet closes), as MetaMask does:
  // one still missing STUCK_BLOCKS blocks after it was sent is looked up in the node's pool and
  // broadcast again when its nonce is the account's next (MetaMask rebroadcasts pending
  // transactions on new blocks too); a node that holds it normally refuses the copy as a
  // replacement, and one that parked it in its future queue takes the copy as executable (so it
  // went, 1 in 150 back-to-back pairs sent here without the wait above). It looks again after
  // twice as many blocks each time. Each step goes to the wallet's log (see `log` in
  // installWallet).
  const STUCK_BLOCKS = 10;

  function watch(rec) {
    rec.outcome = (async () => {
      let kicked = rec.block;
      let every = STUCK_BLOCKS; // blocks until the next look into the pool: doubles after each
      let lookErrors = 0;
      while (!st.closed) {
        try {
          const receipt = await nodeCall("eth_getTransactionReceipt", [rec.hash]);
          if (receipt) {
            const block = Number(receipt.blockNumber);
            say(`${rec.hash} mined in block ${block} (status ${receipt.status}), ${block - rec.block} block(s) and ${Date.now() - rec.at} ms after it was sent`);
            return "mined";
          }
          const head = Number(await nodeCall("eth_blockNumber"));
          // The block at sending was not known (the node did not answer then): count from now.
          if (!Number.isFinite(rec.block)) rec.block = head;
          if (!Number.isFinite(kicked)) kicked = head;
          if (head - kicked >= every) {
            kicked = head;
            every *= 2;
            const verdict = await unstick(rec, head);
            if (verdict) return verdict;
          }
        } catch (e) {
          // The node did not answer this look: say so (once in a while) and look again.
          if (lookErrors++ % 20 === 0) say(`${rec.hash}: looking for its receipt failed: ${e.message}`, { warn: true });
        }
        await nap(100);
      }
      say(`${rec.hash} (nonce ${rec.nonce}) was still not mined when the wallet closed`, { warn: true });
      return "pending at close";
    })();
    return rec;
  }

  // A transaction not mined STUCK_BLOCKS blocks after it was sent: where the node has it, and a
  // second broadcast when its nonce is the account's next. Returns "dropped" when its nonce was
  // used by another transaction, else undefined (keep watching).
  async function unstick(rec, head) {
    const [latest, pool] = await Promise.all([
      nodeCall("eth_getTransactionCount", [rec.from, "latest"]).then(Number),
      nodeCall("txpool_content").catch(() => null),
    ]);
    const held = (part) => {
      const byAccount = Object.entries(pool?.[part] ?? {}).find(([a]) => a.toLowerCase() === rec.from.toLowerCase())?.[1] ?? {};
      return Object.values(byAccount).some((t) => t?.hash === rec.hash);
    };
    const where = pool === null ? "unknown (no txpool_content)" : held("pending") ? "pending (executable)" : held("queued") ? "queued (future: the node waits for an earlier nonce)" : "not in the pool";
    const facts = `${head - rec.block} blocks after it was sent; the node holds it as ${where}; the account's nonce at the latest block is ${latest}, this transaction's ${rec.nonce}`;
    if (latest > rec.nonce) {
      // Its nonce was used, yet it has no receipt: another transaction took the nonce.
      if (await nodeCall("eth_getTransactionReceipt", [rec.hash])) return undefined;
      say(`${rec.hash} was dropped: ${facts}`, { warn: true });
      return "dropped";
    }
    if (latest < rec.nonce) {
      say(`${rec.hash} is not mined, ${facts}: an earlier nonce is missing`, { warn: true });
      return undefined;
    }
    try {
      await nodeCall("eth_sendRawTransaction", [rec.raw]);
      say(`${rec.hash} is not mined, ${facts}: broadcast again, and the node took it`, { warn: true });
    } catch (e) {
      say(`${rec.hash} is not mined, ${facts}: broadcast again, and the node refused the copy (${e.message})`, { warn: true });
    }
    return undefined;
  }

  // Resolves once `rec` (the account's previous transaction) is mined or dropped; throws when it
  // is still pending after PATIENCE_MS.
  async function afterPrevious(rec, what) {
    let timer;
    const patience = new Promise((resolve) => {
      timer = setTimeout(() => resolve("timeout"), PATIENCE_MS);
    });
    const outcome = await Promise.race([rec.outcome, patience]);
    clearTimeout(timer);
    if (outcome === "mined" || outcome === "dropped") return;
    const why = outcome === "timeout" ? `still not mined after ${PATIENCE_MS / 1000} s` : outcome;
    say(`${what}: refused, the account's previous transaction ${rec.hash} (nonce ${rec.nonce}) is ${why}`, { warn: true });
    throw new ProviderError(-32603, `the account's previous transaction ${rec.hash} (nonce ${rec.nonce}) is ${why}; this test wallet does not send another behind it`);
  }

  function send(signer, tx) {
    const addr = signer.address;
    const what = `send from ${addr} to ${tx.to ?? "(contract creation)"}${tx.data && tx.data.length >= 10 ? ` calling ${tx.data.slice(0, 10)}` : ""}`;
    const run = async () => {
      const began = Date.now();
      const previous = st.lastSent.get(addr);
      try {
        if (previous) await afterPrevious(previous, what);
        let gasLimit = tx.gasLimit;
        if (gasLimit === undefined) {
          const call = { from: addr, data: tx.data, value: quantity(tx.value) };
          if (tx.to !== null) call.to = tx.to;
          try {
            gasLimit = await estimateGas(call, what);
          } catch (e) {
            if (/revert/i.test(e.message)) throw revertError(e);
            throw e;
          }
        }
        const priced = ["gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"].some((k) => tx[k] !== undefined) ? {} : await fees();
        for (let attempt = 0; ; attempt++) {
          const counted = Number(await nodeCall("eth_getTransactionCount", [addr, "pending"]));
          const ours = st.nextNonce.get(addr);
          const nonce = Math.max(ours ?? 0, counted);
          const raw = await signer.signTransaction({ ...priced, ...tx, gasLimit, nonce, chainId: homeChain });
          const hash = keccak256(raw);
          try {
            const answered = await nodeCall("eth_sendRawTransaction", [raw]);
            if (answered !== hash) say(`${what}: the node answered hash ${answered} for ${hash}`, { warn: true });
          } catch (e) {
            if (/nonce/i.test(e.message) && attempt < 3) {
              // Ganache refused the nonce (its pool can lag): trust the node's count next time.
              say(`${what}: the node refused nonce ${nonce} (${e.message}); asking it again`, { warn: true });
              st.nextNonce.delete(addr);
              await sleep(150);
              continue;
            }
            if (/revert/i.test(e.message)) throw revertError(e);
            throw e;
          }
          st.nextNonce.set(addr, nonce + 1);
          const block = Number(await nodeCall("eth_blockNumber").catch(() => NaN));
          st.lastSent.set(addr, watch({ hash, nonce, raw, from: addr, block, at: Date.now() }));
          say(`${what}: sent ${hash} with nonce ${nonce} (wallet's next ${ours ?? "unknown"}, node's count ${counted}) at block ${block}, ${Date.now() - began} ms after the page asked`);
          return hash;
        }
      } catch (e) {
        const err = e instanceof ProviderError ? e : nodeError(e);
        say(`${what}: failed (${err.code}) ${err.message}`, { warn: true });
        throw err;
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
      case "eth_getLogs":
        if (st.maxLogRange) await refuseWideLogQuery(Array.isArray(params) ? params[0] : params);
        return forward(method, Array.isArray(params) ? params : [params]);
      default:
        if (UNSUPPORTED.test(method)) throw new ProviderError(4200, `The method "${method}" is not supported by this wallet.`);
        return forward(method, Array.isArray(params) ? params : [params]);
    }
  }

  let requestIds = 0;
  await context.exposeBinding(binding, async (source, payload) => {
    const method = payload?.method;
    const params = payload?.params ?? [];
    if (!payload?.internal) requests.push({ method, params, at: Date.now(), url: source?.frame?.url?.() });
    const id = ++requestIds;
    st.inFlight.set(id, { method, since: Date.now() });
    try {
      const delay = st.delays.get(method) ?? st.delays.get("*");
      if (delay) await sleep(delay);
      return { result: (await handle(method, params)) ?? null };
    } catch (e) {
      const err = e instanceof ProviderError ? e : new ProviderError(-32603, e?.shortMessage || e?.message || String(e));
      // eth_sendTransaction logs its own failures (with the transaction's facts).
      if (method !== "eth_sendTransaction") say(`${method} answered the page with error ${err.code}: ${err.message}`);
      return { error: err.toJSON() };
    } finally {
      st.inFlight.delete(id);
      st.answered += 1;
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
    /** Refuses eth_getLogs over more than `blocks` blocks, as capped providers do (0 lifts it). */
    capLogRange(blocks) {
      st.maxLogRange = blocks || null;
    },
    /** Delays every answer to `method` ("*": all methods) by `ms` (0 removes the delay). */
    setDelay(method, ms) {
      if (ms) st.delays.set(method, ms);
      else st.delays.delete(method);
    },
    /** Sends `eventName` with `payload` to every page (for events the controller does not cover). */
    emit,
    /**
     * What the wallet is doing for the pages: requests answered so far, those still unanswered
     * ({ method, ms } each) and the account's last transaction ({ hash, nonce } or null).
     */
    activity() {
      const now = Date.now();
      const last = st.lastSent.get(current().address);
      return {
        answered: st.answered,
        inFlight: [...st.inFlight.values()].map(({ method, since }) => ({ method, ms: now - since })),
        lastSent: last ? { hash: last.hash, nonce: last.nonce } : null,
      };
    },
    /** The file the wallet logs to (undefined: none). */
    logFile,
    /** Stops the wallet's watchers of sent transactions. */
    close() {
      st.closed = true;
    },
  };
  context.once("close", () => {
    st.closed = true;
  });
  return controller;
}
