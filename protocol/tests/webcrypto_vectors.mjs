// An independent implementation of docs/formats.md on WebCrypto (Node's `crypto.subtle`, the same API
// the browser has) plus ethers for EIP-712/EIP-191, checked against protocol/tests/vectors/*.json.
// It shares no code with the Rust crate: if both agree, the spec and the vectors are implementable as
// written, and the browser's WebCrypto path produces the same bytes as the native aes-gcm path.
//
// Run from the repository root: node protocol/tests/webcrypto_vectors.mjs
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ethers } from "ethers";

const subtle = globalThis.crypto.subtle;
const dir = join(dirname(fileURLToPath(import.meta.url)), "vectors");
const load = (n) => JSON.parse(readFileSync(join(dir, n), "utf8"));

let passed = 0;
let failed = 0;
function check(name, cond) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL ${name}`);
  }
}

const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ""), "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const u8 = (n) => Uint8Array.of(n);
const u16 = (n) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; };
const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
const ascii = (s) => new TextEncoder().encode(s);
const sha256 = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));

async function aesKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
async function gcmOpen(key, iv, aad, sealed) {
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 128 }, key, sealed));
}
async function gcmSeal(key, iv, aad, pt) {
  return new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 128 }, key, pt));
}
const nonce = (prefix, counter, last) => cat(prefix, u32(((last ? 0x80000000 : 0) | counter) >>> 0));

// ---- envelope v1 (section 2) ---------------------------------------------------------------------
async function checkEnvelope() {
  const v = load("envelope.json");
  for (const c of v.cases) {
    if (!c.envelope) continue; // long cases are pinned by hash only
    const env = hex(c.envelope);
    const header = env.slice(0, 56);
    const dv = new DataView(header.buffer, header.byteOffset);
    check(`${c.name}: magic`, ascii("MLE1").every((b, i) => header[i] === b));
    check(`${c.name}: version/alg/flags`, header[4] === 1 && header[5] === 1 && dv.getUint16(6) === 0);
    const chunkSize = dv.getUint32(8);
    check(`${c.name}: chunk size`, chunkSize === c.chunk_size);
    check(`${c.name}: record id`, toHex(header.slice(12, 44)) === c.context.record_id);
    const prefix = header.slice(44, 52);
    const metaLen = dv.getUint32(52);
    const ctx = cat(u64(c.context.chain_id), hex(c.context.contract), hex(c.context.patient));
    const key = await aesKey(hex(c.dek));

    const metaBlock = env.slice(56, 56 + metaLen);
    const metaAad = cat(header, ctx, u8(0), u32(0x7fffffff), u8(1));
    check(`${c.name}: metadata aad`, toHex(metaAad) === c.metadata_aad);
    const meta = await gcmOpen(key, nonce(prefix, 0x7fffffff, true), metaAad, metaBlock);
    const mdv = new DataView(meta.buffer);
    const mtLen = mdv.getUint16(9);
    const mediaType = new TextDecoder().decode(meta.slice(11, 11 + mtLen));
    const fnLen = mdv.getUint16(11 + mtLen);
    const fileName = new TextDecoder().decode(meta.slice(13 + mtLen, 13 + mtLen + fnLen));
    check(`${c.name}: metadata`, meta[0] === c.metadata.kind && Number(mdv.getBigUint64(1)) === c.metadata.created
      && mediaType === c.metadata.media_type && fileName === c.metadata.file_name && meta.length % 64 === 0);

    // Body: split into chunk_size + 16 pieces, the last one final.
    const bodyCt = env.slice(56 + metaLen);
    const pieces = [];
    for (let o = 0; o < bodyCt.length; o += chunkSize + 16) pieces.push(bodyCt.slice(o, o + chunkSize + 16));
    const plain = [];
    const digests = [await sha256(env.slice(0, 56 + metaLen))];
    const reSealed = [];
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      const aad = cat(header, ctx, u8(1), u32(i), u8(last ? 1 : 0));
      const pt = await gcmOpen(key, nonce(prefix, i, last), aad, pieces[i]);
      plain.push(pt);
      digests.push(await sha256(pieces[i]));
      reSealed.push(await gcmSeal(key, nonce(prefix, i, last), aad, pt));
    }
    check(`${c.name}: body`, toHex(cat(...plain)) === c.body);
    check(`${c.name}: WebCrypto re-encryption equals the envelope`, toHex(cat(...reSealed)) === toHex(bodyCt));
    check(`${c.name}: h1`, toHex(await sha256(cat(...digests))) === c.h1);
    // A chunk presented as final when it is not must fail.
    if (pieces.length > 1) {
      let rejected = false;
      try {
        await gcmOpen(key, nonce(prefix, 0, true), cat(header, ctx, u8(1), u32(0), u8(1)), pieces[0]);
      } catch { rejected = true; }
      check(`${c.name}: last flag is bound`, rejected);
    }
  }
}

// ---- tier 2 (section 4) --------------------------------------------------------------------------
async function checkTier2() {
  const v = load("tier2.json");
  const c2 = hex(v.c2);
  const header = c2.slice(0, 52);
  const prefix = header.slice(44, 52);
  const cs = new DataView(header.buffer, header.byteOffset).getUint32(8);
  const key = await aesKey(hex(v.k2));
  const body = c2.slice(52);
  const out = [];
  const n = Math.ceil(body.length / (cs + 16));
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const piece = body.slice(i * (cs + 16), (i + 1) * (cs + 16));
    out.push(await gcmOpen(key, nonce(prefix, i, last), cat(header, u32(i), u8(last ? 1 : 0)), piece));
  }
  check("tier2: c1", toHex(cat(...out)) === v.c1);
  const w = hex(v.wrapped_k2);
  const keyId = new DataView(w.buffer, w.byteOffset).getUint32(1);
  check("tier2: key id", w[0] === 1 && keyId === v.master_key_id);
  const mk = await aesKey(hex(v.master_key));
  const k2 = await gcmOpen(mk, w.slice(5, 17), cat(ascii("medledger/v1/k2-wrap"), hex(v.record_id), u32(keyId)), w.slice(17));
  check("tier2: wrapped k2", toHex(k2) === v.k2);
}

// ---- HPKE (RFC 9180) on WebCrypto, section 3 ------------------------------------------------------
async function hmac(key, data) {
  const k = await subtle.importKey("raw", key.length ? key : new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}
const labeledExtract = (suite, salt, label, ikm) => hmac(salt, cat(ascii("HPKE-v1"), suite, ascii(label), ikm));
async function labeledExpand(suite, prk, label, info, len) {
  const t = await hmac(prk, cat(u16(len), ascii("HPKE-v1"), suite, ascii(label), info, u8(1)));
  return t.slice(0, len); // every length used here is <= 32
}
const KEM_SUITE = cat(ascii("KEM"), u16(0x0020));
const HPKE_SUITE = cat(ascii("HPKE"), u16(0x0020), u16(0x0001), u16(0x0002));
const PKCS8_X25519 = hex("302e020100300506032b656e04220420");

async function deriveKeyPair(ikm) {
  const prk = await labeledExtract(KEM_SUITE, new Uint8Array(), "dkp_prk", ikm);
  const sk = await labeledExpand(KEM_SUITE, prk, "sk", new Uint8Array(), 32);
  const priv = await subtle.importKey("pkcs8", cat(PKCS8_X25519, sk), { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await subtle.exportKey("jwk", priv);
  return { sk, priv, pk: Uint8Array.from(Buffer.from(jwk.x, "base64url")) };
}

async function hpkeOpen(kp, enc, info, aad, ct) {
  const pubE = await subtle.importKey("raw", enc, { name: "X25519" }, false, []);
  const dh = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pubE }, kp.priv, 256));
  const eaePrk = await labeledExtract(KEM_SUITE, new Uint8Array(), "eae_prk", dh);
  const shared = await labeledExpand(KEM_SUITE, eaePrk, "shared_secret", cat(enc, kp.pk), 32);
  const pskIdHash = await labeledExtract(HPKE_SUITE, new Uint8Array(), "psk_id_hash", new Uint8Array());
  const infoHash = await labeledExtract(HPKE_SUITE, new Uint8Array(), "info_hash", info);
  const ksContext = cat(u8(0), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, shared, "secret", new Uint8Array());
  const key = await labeledExpand(HPKE_SUITE, secret, "key", ksContext, 32);
  const baseNonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", ksContext, 12);
  return gcmOpen(await aesKey(key), baseNonce, aad, ct);
}

async function checkWrap() {
  const v = load("wrap.json");
  for (const c of v.cases) {
    const kp = await deriveKeyPair(hex(c.ikm_r));
    // The vector lists sk as the clamped X25519 scalar (what the Rust crate stores); X25519 clamps
    // anyway, so both forms are the same private key.
    const clamped = Uint8Array.from(kp.sk);
    clamped[0] &= 248;
    clamped[31] = (clamped[31] & 127) | 64;
    check(`wrap ${c.purpose}: DeriveKeyPair sk`, toHex(clamped) === c.sk_r);
    check(`wrap ${c.purpose}: DeriveKeyPair pk`, toHex(kp.pk) === c.pk_r);
    const info = cat(ascii("medledger/v1/dek-wrap"), u8(0), u8(c.purpose.length), ascii(c.purpose));
    const aad = cat(u64(c.chain_id), hex(c.contract), hex(c.record_id), hex(c.reader));
    check(`wrap ${c.purpose}: info`, toHex(info) === c.info);
    check(`wrap ${c.purpose}: aad`, toHex(aad) === c.aad);
    const w = hex(c.wrapped);
    const eph = await deriveKeyPair(hex(c.ikm_e));
    check(`wrap ${c.purpose}: enc = pk(DeriveKeyPair(ikm_e))`, w[0] === 1 && toHex(w.slice(1, 33)) === toHex(eph.pk));
    const dek = await hpkeOpen(kp, w.slice(1, 33), info, aad, w.slice(33));
    check(`wrap ${c.purpose}: dek`, toHex(dek) === c.dek);
  }
}

// ---- identity (section 6) -------------------------------------------------------------------------
async function checkIdentity() {
  const v = load("identity.json");
  const kd = v.key_derivation;
  const { EIP712Domain, ...types } = kd.typed_data.types;
  const hash = ethers.TypedDataEncoder.hash(kd.typed_data.domain, types, kd.typed_data.message);
  check("identity: EIP-712 hash of the key message", hash.slice(2) === kd.signing_hash);
  check("identity: key message signer", ethers.recoverAddress(hash, "0x" + kd.signature) === v.signer);
  const wallet = new ethers.Wallet("0x" + v.signer_private_key);
  check("identity: wallet signs deterministically", (await wallet.signTypedData(kd.typed_data.domain, types, kd.typed_data.message)).slice(2) === kd.signature);
  const sig = hex(kd.signature);
  const info = cat(ascii("medledger/v1/x25519"), u64(v.chain_id), hex(v.contract), hex(v.signer), u32(1));
  const ikm = await subtle.importKey("raw", sig.slice(0, 64), "HKDF", false, ["deriveBits"]);
  const okm = new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: ascii("medledger/v1/x25519-salt"), info }, ikm, 256));
  check("identity: HKDF seed", toHex(okm) === kd.hkdf_output);
  check("identity: X25519 public key", toHex((await deriveKeyPair(okm)).pk) === kd.x25519_public);

  check("identity: SIWE signer", ethers.verifyMessage(v.siwe.message, "0x" + v.siwe.signature) === v.signer);
  check("identity: SIWE wallet signature", (await wallet.signMessage(v.siwe.message)).slice(2) === v.siwe.signature);

  const e = v.escrow_request;
  const domain = { name: "medledger", version: "1", chainId: v.chain_id, verifyingContract: v.contract };
  const reqTypes = { EscrowRequest: [
    { name: "action", type: "string" }, { name: "recordId", type: "bytes32" }, { name: "requester", type: "address" },
    { name: "nonce", type: "uint256" }, { name: "expiry", type: "uint64" }] };
  const msg = { action: e.action, recordId: "0x" + e.recordId, requester: e.requester, nonce: e.nonce, expiry: e.expiry };
  const reqHash = ethers.TypedDataEncoder.hash(domain, reqTypes, msg);
  check("identity: escrow request hash", reqHash.slice(2) === e.signing_hash);
  check("identity: escrow request signer", ethers.recoverAddress(reqHash, "0x" + e.signature) === e.requester);
}

for (const [name, f] of [["envelope", checkEnvelope], ["tier2", checkTier2], ["wrap", checkWrap], ["identity", checkIdentity]]) {
  try {
    await f();
  } catch (err) {
    failed++;
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
}
console.log(`webcrypto vectors: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
