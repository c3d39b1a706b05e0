// Isolation between tests that share one Ganache: a test or hook that has ended (passed, failed
// or timed out) sends nothing more to the chain, and the next one starts only once the requests
// it left in flight have been answered.
//
// Why: mocha moves on when a test times out, but the test's async code keeps running. Its later
// transactions then land in the middle of the next suite (after that suite's evm_revert) and meet
// Ganache's nonce race ("the tx doesn't have the correct nonce"), so one slow test turned into a
// cascade of unrelated failures. Every JSON-RPC request is tagged, through AsyncLocalStorage, with
// the mocha runnable whose code sent it; once that runnable has ended, its requests are refused
// with an error naming it.
const { AsyncLocalStorage } = require("async_hooks");

// One state for the whole run: Truffle loads each test file with its own module cache, so this
// file is evaluated once per test file, and every copy must share the same tags and patches.
const PATCHED = Symbol.for("medledger.isolation");
const state = (globalThis[PATCHED] ||= {
  current: new AsyncLocalStorage(),
  ended: new Set(), // runnables that ended with requests still in flight
});
const { current, ended } = state;

/** The tag of one test or hook: its title, whether it has ended, its requests in flight. */
function newTag(runnable) {
  return { title: runnable.fullTitle(), ended: false, inFlight: 0, sent: 0, refused: 0, wake: null };
}

function settle(tag) {
  tag.inFlight -= 1;
  if (tag.inFlight === 0 && tag.wake) tag.wake();
}

/**
 * Guard the global fetch, which every JSON-RPC request of the suite goes through (web3's
 * HttpProvider looks it up on each request). Truffle hands web3 and each contract abstraction a
 * provider of its own, so the transport is the one place that sees them all. A request counts as
 * answered once the node has sent its response's head.
 */
function guardTransport() {
  if (globalThis.fetch[PATCHED]) return;
  const inner = globalThis.fetch;
  const guarded = function (...args) {
    const tag = current.getStore();
    if (tag && tag.ended) {
      tag.refused += 1;
      if (tag.refused === 1) console.warn(`    isolation: "${tag.title}" has ended; its late JSON-RPC requests are refused`);
      return Promise.reject(new Error(`"${tag.title}" has ended; its late JSON-RPC request was not sent`));
    }
    if (!tag) return inner.apply(this, args);
    tag.sent += 1;
    tag.inFlight += 1;
    return inner.apply(this, args).finally(() => settle(tag));
  };
  guarded[PATCHED] = true;
  globalThis.fetch = guarded;
}

/** Resolve once every ended runnable's requests have been answered. */
async function drainEnded() {
  for (const tag of [...ended]) {
    if (tag.inFlight > 0) await new Promise((resolve) => (tag.wake = resolve));
    ended.delete(tag);
  }
}

/**
 * Patch mocha's Runnable#run (the class of every test and hook) once: each runnable waits for the
 * ended ones to drain, runs inside its own tag, and marks the tag ended when mocha settles it —
 * which on a timeout is before the runnable's own code has finished.
 */
function install(runnableProto) {
  if (runnableProto[PATCHED]) return;
  runnableProto[PATCHED] = true;
  const run = runnableProto.run;
  runnableProto.run = function (fn) {
    const tag = newTag(this);
    const body = this.fn;
    if (typeof body === "function" && !body[PATCHED]) {
      const wrapped = function (...args) {
        return current.run(tag, () => body.apply(this, args));
      };
      wrapped[PATCHED] = true;
      // mocha decides sync/async/done-style from fn.length: keep it.
      Object.defineProperty(wrapped, "length", { value: body.length });
      this.fn = wrapped;
    }
    const finish = (...res) => {
      tag.ended = true;
      if (tag.inFlight > 0) ended.add(tag);
      this.fn = body;
      fn(...res);
    };
    drainEnded().then(
      () => run.call(this, finish),
      (err) => fn(err)
    );
  };
}

if (typeof before === "function") {
  before("isolate tests that share the chain", function () {
    guardTransport();
    install(Object.getPrototypeOf(Object.getPrototypeOf(this.runnable())));
  });
}

module.exports = { current };
