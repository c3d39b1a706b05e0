//! The exports the harness page calls (`wasm-bindgen`).

use alloy_primitives::{hex, Address, B256, U256};
use js_sys::Uint8Array;
use medledger_protocol::cipher::{AesGcm256, SecretKey, TAG_LEN};
use medledger_protocol::envelope::{
    self, Decryptor, Encryptor, Metadata, RecordContext, RecordKind,
};
use medledger_protocol::identity::{
    verify_siwe, EscrowRequest, KeyDerivation, SiweExpectations, SiweMessage,
};
use medledger_protocol::recovery::{self, Manifest, RecoverySet, Share};
use medledger_protocol::stream::StreamError;
use medledger_protocol::tier2::{self, MasterKeyRing};
use medledger_protocol::webcrypto::{chunk_views, WebCryptoError, WebDecryptor, WebEncryptor};
use medledger_protocol::wrap::{
    unwrap_dek, wrap_dek_with_rng, FixedIkm, KeyPair, Purpose, WrapContext,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Collects check outcomes; a check that cannot even read its input counts as failed.
#[derive(Default)]
struct Report {
    passed: u32,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(name.to_owned());
        }
    }

    fn outcome<T, E: std::fmt::Debug>(&mut self, name: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => {
                self.passed += 1;
                Some(v)
            }
            Err(e) => {
                self.failures.push(format!("{name}: {e:?}"));
                None
            }
        }
    }
}

fn h(v: &Value) -> Result<Vec<u8>, String> {
    let s = v.as_str().ok_or_else(|| format!("not a hex string: {v}"))?;
    hex::decode(s).map_err(|e| format!("{s}: {e}"))
}

fn arr<const N: usize>(v: &Value) -> Result<[u8; N], String> {
    h(v)?.try_into().map_err(|_| format!("not {N} bytes: {v}"))
}

fn num(v: &Value) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| format!("not a number: {v}"))
}

fn text(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("not a string: {v}"))
}

fn addr(v: &Value) -> Result<Address, String> {
    text(v)?.parse().map_err(|e| format!("{v}: {e}"))
}

/// The body of vectors too long to inline: byte i = i mod 251.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn context(v: &Value) -> Result<RecordContext, String> {
    Ok(RecordContext {
        chain_id: num(&v["chain_id"])?,
        contract: addr(&v["contract"])?,
        record_id: B256::from(arr::<32>(&v["record_id"])?),
        patient: addr(&v["patient"])?,
    })
}

fn to_vec(chunks: &[Uint8Array]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&c.to_vec());
    }
    out
}

/// Opens an envelope pushed as `frames` (through `push_frame` when `as_frames`, else through
/// `push` with each frame copied into WASM first); the plaintext and what `finish` reported.
async fn open_in_frames(
    dek: &SecretKey,
    ctx: &RecordContext,
    frames: &[Uint8Array],
    as_frames: bool,
) -> Result<(Vec<u8>, medledger_protocol::envelope::Opened), String> {
    let mut dec = WebDecryptor::new(dek, ctx);
    let mut plain = Vec::new();
    for frame in frames {
        let out = if as_frames {
            dec.push_frame(frame).await
        } else {
            dec.push(&frame.to_vec()).await
        };
        plain.extend_from_slice(&to_vec(&out.map_err(|e| e.to_string())?));
    }
    let (rest, opened) = dec.finish().await.map_err(|e| e.to_string())?;
    plain.extend_from_slice(&to_vec(&rest));
    Ok((plain, opened))
}

async fn check_envelope_case(c: &Value, report: &mut Report) -> Result<(), String> {
    let name = text(&c["name"])?.to_owned();
    let dek = SecretKey::from_bytes(arr::<32>(&c["dek"])?);
    let ctx = context(&c["context"])?;
    let body = match c.get("body") {
        Some(b) => h(b)?,
        None => pattern(num(&c["body_len"])? as usize),
    };
    let meta = Metadata {
        kind: RecordKind::from_byte(num(&c["metadata"]["kind"])? as u8),
        created: num(&c["metadata"]["created"])?,
        media_type: text(&c["metadata"]["media_type"])?.into(),
        file_name: text(&c["metadata"]["file_name"])?.into(),
    };
    let chunk_size = num(&c["chunk_size"])? as u32;
    let prefix = arr::<8>(&c["nonce_prefix"])?;
    let want_sha = text(&c["envelope_sha256"])?.to_owned();
    let want_h1 = B256::from(arr::<32>(&c["h1"])?);

    // The aes-gcm path, compiled to WASM.
    let (mut enc, mut c1) =
        Encryptor::with_cipher(AesGcm256::new(&dek), &ctx, &meta, chunk_size, prefix)
            .map_err(|e| format!("{name}: start: {e}"))?;
    enc.push(&body, &mut c1)
        .map_err(|e| format!("{name}: push: {e}"))?;
    let h1 = enc
        .finish(&mut c1)
        .map_err(|e| format!("{name}: finish: {e}"))?;
    report.check(
        &format!("{name}: wasm aes-gcm envelope bytes"),
        hex::encode(Sha256::digest(&c1)) == want_sha,
    );
    report.check(&format!("{name}: wasm aes-gcm h1"), h1 == want_h1);
    if let Some(opened) = report.outcome(
        &format!("{name}: wasm aes-gcm open"),
        envelope::open(&dek, &ctx, &c1),
    ) {
        report.check(
            &format!("{name}: wasm aes-gcm plaintext"),
            opened.0 == body && opened.1.h1 == want_h1,
        );
    }

    // The WebCrypto path: the same bytes, chunk by chunk.
    let (mut web, mut web_c1) =
        WebEncryptor::start_with_prefix(&dek, &ctx, &meta, chunk_size, prefix)
            .await
            .map_err(|e| format!("{name}: webcrypto start: {e}"))?;
    let size = chunk_size as usize;
    let mut pieces: Vec<&[u8]> = body.chunks(size).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    let n = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let sealed = web
            .seal_chunk(&Uint8Array::from(piece), i + 1 == n)
            .await
            .map_err(|e| format!("{name}: webcrypto seal {i}: {e}"))?;
        web_c1.extend_from_slice(&sealed.to_vec());
    }
    let web_h1 = web
        .finish()
        .await
        .map_err(|e| format!("{name}: webcrypto h1: {e}"))?;
    report.check(&format!("{name}: webcrypto envelope bytes"), web_c1 == c1);
    report.check(&format!("{name}: webcrypto h1"), web_h1 == want_h1);

    // The same through the batched call, three chunks in flight at a time.
    let (mut batched, mut batched_c1) =
        WebEncryptor::start_with_prefix(&dek, &ctx, &meta, chunk_size, prefix)
            .await
            .map_err(|e| format!("{name}: webcrypto start: {e}"))?;
    let all: Vec<Uint8Array> = if body.is_empty() {
        vec![Uint8Array::new_with_length(0)]
    } else {
        body.chunks(size).map(Uint8Array::from).collect()
    };
    let groups: Vec<&[Uint8Array]> = all.chunks(3).collect();
    let last_group = groups.len() - 1;
    for (g, group) in groups.into_iter().enumerate() {
        for sealed in batched
            .seal_chunks(group, g == last_group)
            .await
            .map_err(|e| format!("{name}: webcrypto seal_chunks: {e}"))?
        {
            batched_c1.extend_from_slice(&sealed.to_vec());
        }
    }
    let batched_h1 = batched
        .finish()
        .await
        .map_err(|e| format!("{name}: webcrypto batched h1: {e}"))?;
    report.check(
        &format!("{name}: webcrypto batched envelope bytes and h1"),
        batched_c1 == c1 && batched_h1 == want_h1,
    );

    // WebCrypto decryption, fed in awkward pieces: 7 bytes then 1000-byte frames through `push`
    // (chunks assembled across frames), and the whole envelope as one frame through `push_frame`
    // (every chunk a view of it).
    let (first, rest) = c1.split_at(7.min(c1.len()));
    let awkward: Vec<Uint8Array> = std::iter::once(first)
        .chain(rest.chunks(1000))
        .map(Uint8Array::from)
        .collect();
    for (how, frames) in [
        ("7 then 1000-byte frames", awkward),
        ("one frame", vec![Uint8Array::from(&c1[..])]),
    ] {
        let (plain, opened) = open_in_frames(&dek, &ctx, &frames, how == "one frame")
            .await
            .map_err(|e| format!("{name}: webcrypto open, {how}: {e}"))?;
        report.check(
            &format!("{name}: webcrypto plaintext, {how}"),
            plain == body,
        );
        report.check(
            &format!("{name}: webcrypto open h1 and metadata, {how}"),
            opened.h1 == want_h1 && opened.metadata == meta,
        );
    }

    // A flipped bit in the last byte (a tag) must be refused by WebCrypto, naming the chunk.
    let mut tampered = c1.clone();
    if let Some(b) = tampered.last_mut() {
        *b ^= 1;
    }
    let mut dec = WebDecryptor::new(&dek, &ctx);
    let refused = match dec.push(&tampered).await {
        Err(_) => true,
        Ok(_) => dec.finish().await.is_err(),
    };
    report.check(
        &format!("{name}: webcrypto refuses a tampered tag"),
        refused,
    );

    // And the native decryptor (wasm aes-gcm) agrees with the WebCrypto output.
    let mut native = Decryptor::new(&dek, &ctx);
    let mut out = Vec::new();
    let ok =
        native.push(&web_c1, &mut out).is_ok() && native.finish(&mut out).is_ok() && out == body;
    report.check(
        &format!("{name}: wasm aes-gcm opens the webcrypto envelope"),
        ok,
    );
    Ok(())
}

fn check_wrap(v: &Value, report: &mut Report) -> Result<(), String> {
    for c in v["cases"].as_array().ok_or("wrap: no cases")? {
        let label = text(&c["purpose"])?;
        let purpose = match label {
            "reader" => Purpose::Reader,
            "break-glass" => Purpose::BreakGlass,
            other => return Err(format!("unknown purpose {other}")),
        };
        let reader = KeyPair::derive(&arr::<32>(&c["ikm_r"])?);
        report.check(
            &format!("wrap {label}: reader key from ikm"),
            hex::encode(reader.public().0) == text(&c["pk_r"])?,
        );
        let wctx = WrapContext {
            chain_id: num(&c["chain_id"])?,
            contract: addr(&c["contract"])?,
            record_id: B256::from(arr::<32>(&c["record_id"])?),
            reader: addr(&c["reader"])?,
            purpose,
        };
        let wrapped = h(&c["wrapped"])?;
        if let Some(dek) = report.outcome(
            &format!("wrap {label}: unwrap"),
            unwrap_dek(&wrapped, &reader, &wctx),
        ) {
            report.check(
                &format!("wrap {label}: DEK"),
                dek.expose_secret().as_slice() == h(&c["dek"])?.as_slice(),
            );
        }
        let again = wrap_dek_with_rng(
            &SecretKey::from_bytes(arr::<32>(&c["dek"])?),
            &reader.public(),
            &wctx,
            &mut FixedIkm::new(arr::<32>(&c["ikm_e"])?),
        );
        if let Some(again) = report.outcome(&format!("wrap {label}: deterministic wrap"), again) {
            report.check(
                &format!("wrap {label}: same bytes"),
                again.as_slice() == wrapped.as_slice(),
            );
        }
    }
    Ok(())
}

fn check_identity(v: &Value, report: &mut Report) -> Result<(), String> {
    let signer = addr(&v["signer"])?;
    let chain = num(&v["chain_id"])?;
    let contract = addr(&v["contract"])?;
    let kd = KeyDerivation::new(chain, contract, signer);
    let k = &v["key_derivation"];
    report.check(
        "identity: EIP-712 signing hash",
        hex::encode(kd.signing_hash()) == text(&k["signing_hash"])?,
    );
    if let Some(kp) = report.outcome(
        "identity: derive key pair",
        kd.derive_keypair(&h(&k["signature"])?),
    ) {
        report.check(
            "identity: X25519 public key",
            hex::encode(kp.public().0) == text(&k["x25519_public"])?,
        );
    }
    // A moved identity's key, signed by the wallet it moved to (formats.md 6.1).
    let m = &v["moved_key_derivation"];
    let moved = KeyDerivation {
        key_version: u32::try_from(num(&m["key_version"])?).map_err(|e| e.to_string())?,
        ..kd
    }
    .by_wallet(addr(&m["wallet"])?);
    report.check(
        "identity: a moved identity's signing hash",
        hex::encode(moved.signing_hash()) == text(&m["signing_hash"])?,
    );
    let moved_key = moved.derive_keypair(&h(&m["signature"])?);
    report.check(
        "identity: a moved identity's key, by its new wallet",
        moved_key.map(|kp| hex::encode(kp.public().0)).as_deref() == Ok(text(&m["x25519_public"])?),
    );
    let s = &v["siwe"];
    let message = text(&s["message"])?;
    if let Some(msg) = report.outcome("siwe: parse", SiweMessage::parse(message)) {
        let expect = SiweExpectations {
            domain: &msg.domain,
            uri: Some(&msg.uri),
            chain_id: chain,
            nonce: &msg.nonce,
            max_age: Some(3600),
            clock_skew: 0,
        };
        let now = s["now"].as_i64().ok_or("siwe: now")?;
        if let Some((_, who)) = report.outcome(
            "siwe: verify",
            verify_siwe(message, &h(&s["signature"])?, &expect, now),
        ) {
            report.check("siwe: signer", who == signer);
        }
    }
    let e = &v["escrow_request"];
    let req = EscrowRequest {
        action: text(&e["action"])?.into(),
        recordId: B256::from(arr::<32>(&e["recordId"])?),
        requester: addr(&e["requester"])?,
        nonce: text(&e["nonce"])?
            .parse::<U256>()
            .map_err(|e| e.to_string())?,
        expiry: num(&e["expiry"])?,
    };
    report.check(
        "escrow request: signing hash",
        hex::encode(req.signing_hash(chain, contract)) == text(&e["signing_hash"])?,
    );
    report.check(
        "escrow request: verify",
        req.verify(chain, contract, &h(&e["signature"])?, 1_795_593_360) == Ok(signer),
    );
    Ok(())
}

fn check_tier2(v: &Value, report: &mut Report) -> Result<(), String> {
    let k2 = SecretKey::from_bytes(arr::<32>(&v["k2"])?);
    let record = B256::from(arr::<32>(&v["record_id"])?);
    if let Some(c1) = report.outcome("tier2: open", tier2::open(&k2, record, &h(&v["c2"])?)) {
        report.check("tier2: C1", c1 == h(&v["c1"])?);
    }
    let ring = MasterKeyRing::new(
        num(&v["master_key_id"])? as u32,
        &SecretKey::from_bytes(arr::<32>(&v["master_key"])?),
    );
    if let Some(unwrapped) = report.outcome(
        "tier2: unwrap K2",
        tier2::unwrap_k2(&ring, &record, &h(&v["wrapped_k2"])?),
    ) {
        report.check("tier2: K2", unwrapped == k2);
    }
    Ok(())
}

fn parse(name: &str, json: &str) -> Result<Value, JsError> {
    serde_json::from_str(json).map_err(|e| JsError::new(&format!("{name}: {e}")))
}

/// Recovery shares (formats.md 9): the set's id; every pair of the three shares recovers the seed
/// (its commitments checked, the key it gives checked); a share with one bit changed is named;
/// share 1 opens, sealed to guardian 1, and not as share 2; share 1 re-sealed for the recovering
/// wallet opens for it and not as a guardian. Seven checks.
fn check_recovery(v: &Value, report: &mut Report) -> Result<(), String> {
    let addr = |x: &Value| -> Result<Address, String> {
        x.as_str()
            .ok_or("not an address")?
            .parse()
            .map_err(|e| format!("{e}"))
    };
    let set = RecoverySet {
        chain_id: v["chain_id"].as_u64().ok_or("chain_id")?,
        contract: addr(&v["contract"])?,
        account: addr(&v["account"])?,
        key_version: u32::try_from(v["key_version"].as_u64().ok_or("key_version")?)
            .map_err(|e| e.to_string())?,
        threshold: u8::try_from(v["threshold"].as_u64().ok_or("threshold")?)
            .map_err(|e| e.to_string())?,
        guardians: v["guardians"]
            .as_array()
            .ok_or("guardians")?
            .iter()
            .map(addr)
            .collect::<Result<_, _>>()?,
    };
    report.check(
        "recovery: set id",
        v["set_id"].as_str() == Some(set.id().to_string().as_str()),
    );
    let shares = v["shares"]
        .as_array()
        .ok_or("shares")?
        .iter()
        .map(|s| {
            Ok(Share {
                index: u8::try_from(s["index"].as_u64().ok_or("index")?)
                    .map_err(|e| e.to_string())?,
                value: arr::<32>(&s["value"])?,
            })
        })
        .collect::<Result<Vec<Share>, String>>()?;
    let manifest = Manifest {
        set: set.clone(),
        commitments: v["commitments"]
            .as_array()
            .ok_or("commitments")?
            .iter()
            .map(|c| Ok(B256::from(arr::<32>(c)?)))
            .collect::<Result<_, String>>()?,
    };
    let key = medledger_protocol::wrap::PublicKey(arr::<32>(&v["public_key"])?);
    let seed = h(&v["seed"])?;
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        let given = [shares[a].clone(), shares[b].clone()];
        let got = recovery::recover(&manifest, &given, &key).map(|s| s.to_vec());
        report.check(
            &format!("recovery: shares {} and {}", a + 1, b + 1),
            got.as_deref() == Ok(seed.as_slice()),
        );
    }
    let mut bad = shares[1].clone();
    bad.value[0] ^= 1;
    report.check(
        "recovery: a corrupted share is named",
        recovery::recover(&manifest, &[shares[0].clone(), bad], &key)
            == Err(recovery::RecoveryError::CorruptShare(2)),
    );
    let guardian = KeyPair::derive(&arr::<32>(&v["guardian_ikm"])?);
    let sealed = h(&v["sealed_share_1"])?;
    let opened = Share::open(&sealed, &set, 1, &guardian);
    report.check(
        "recovery: sealed share opens for its guardian and place only",
        opened.as_ref() == Ok(&shares[0]) && Share::open(&sealed, &set, 2, &guardian).is_err(),
    );
    let transport = KeyPair::derive(&arr::<32>(&v["transport_ikm"])?);
    let new_wallet = addr(&v["new_wallet"])?;
    let moved = h(&v["moved_share_1"])?;
    let received = Share::open_transported(&moved, &set, 1, new_wallet, &transport);
    report.check(
        "recovery: a share in transport opens for the new wallet only",
        received.as_ref() == Ok(&shares[0])
            && Share::open_transported(&moved, &set, 1, set.guardians[0], &transport).is_err(),
    );
    Ok(())
}

/// Checks every committed vector file (passed in as text) in this browser. Returns
/// `{"passed": n, "failed": n, "failures": [..]}` as JSON.
#[wasm_bindgen]
pub async fn check_vectors(
    envelope: String,
    wrap: String,
    identity: String,
    tier2: String,
    recovery: String,
) -> Result<String, JsError> {
    let mut report = Report::default();
    let env = parse("envelope.json", &envelope)?;
    for case in env["cases"]
        .as_array()
        .ok_or_else(|| JsError::new("envelope.json: no cases"))?
    {
        if let Err(e) = check_envelope_case(case, &mut report).await {
            report.failures.push(e);
        }
    }
    if let Err(e) = check_many_chunks_in_flight(&mut report).await {
        report.failures.push(format!("many chunks: {e}"));
    }
    check_chunk_views(&mut report);
    for (name, json, check) in [
        (
            "wrap.json",
            &wrap,
            check_wrap as fn(&Value, &mut Report) -> Result<(), String>,
        ),
        ("identity.json", &identity, check_identity),
        ("tier2.json", &tier2, check_tier2),
        ("recovery.json", &recovery, check_recovery),
    ] {
        let value = parse(name, json)?;
        if let Err(e) = check(&value, &mut report) {
            report.failures.push(format!("{name}: {e}"));
        }
    }
    Ok(json!({
        "passed": report.passed,
        "failed": report.failures.len(),
        "failures": report.failures,
    })
    .to_string())
}

/// A body of 50 chunks and a bit, more than `IN_FLIGHT` at once, so the decryptor settles its
/// oldest chunks while starting new ones: opened in 37-byte frames and as one frame it gives the
/// body and `h1` back, and a tampered chunk in the middle is named by its index.
async fn check_many_chunks_in_flight(report: &mut Report) -> Result<(), String> {
    const CHUNK: u32 = 16;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let dek = SecretKey::generate().map_err(|x| e(&x))?;
    let ctx = bench_context();
    let body = pattern(CHUNK as usize * 50 + 5);
    let (mut enc, mut c1) =
        Encryptor::new(&dek, &ctx, &bench_metadata(), CHUNK).map_err(|x| e(&x))?;
    let head_len = c1.len();
    let pieces: Vec<&[u8]> = body.chunks(CHUNK as usize).collect();
    for (i, piece) in pieces.iter().enumerate() {
        enc.seal_chunk(piece, i + 1 == pieces.len(), &mut c1)
            .map_err(|x| e(&x))?;
    }
    let h1 = enc.h1().map_err(|x| e(&x))?;
    let small: Vec<Uint8Array> = c1.chunks(37).map(Uint8Array::from).collect();
    for (how, frames) in [
        ("37-byte frames", small),
        ("one frame", vec![Uint8Array::from(&c1[..])]),
    ] {
        let (plain, opened) = open_in_frames(&dek, &ctx, &frames, true).await?;
        report.check(
            &format!("51 chunks, {how}: plaintext and h1"),
            plain == body && opened.h1 == h1,
        );
    }
    let mut tampered = c1.clone();
    tampered[head_len + 30 * (CHUNK as usize + TAG_LEN) + 3] ^= 1;
    let refused = open_in_frames(&dek, &ctx, &[Uint8Array::from(&tampered[..])], true).await;
    let named = WebCryptoError::from(StreamError::ChunkTampered(30)).to_string();
    report.check(
        "51 chunks: a tampered chunk 30 is refused by its index",
        matches!(&refused, Err(msg) if *msg == named),
    );
    Ok(())
}

/// [`chunk_views`] cuts a read into views of the chunk size: a remainder is a short last view,
/// an exact multiple has none, and nothing read is one empty chunk.
fn check_chunk_views(report: &mut Report) {
    let lengths = |len: usize| -> Vec<u32> {
        let read = Uint8Array::from(&pattern(len)[..]);
        chunk_views(&read, 4)
            .iter()
            .map(Uint8Array::length)
            .collect()
    };
    report.check("chunk views of 10 bytes by 4", lengths(10) == [4, 4, 2]);
    report.check("chunk views of 8 bytes by 4", lengths(8) == [4, 4]);
    report.check("chunk views of nothing", lengths(0) == [0]);
    let read = Uint8Array::from(&pattern(10)[..]);
    let views = chunk_views(&read, 4);
    let rejoined: Vec<u8> = views.iter().flat_map(|v| v.to_vec()).collect();
    report.check(
        "chunk views are the read's bytes, in order",
        rejoined == pattern(10),
    );
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn bench_context() -> RecordContext {
    RecordContext {
        chain_id: 1337,
        contract: Address::repeat_byte(0x5f),
        record_id: B256::repeat_byte(0xa1),
        patient: Address::repeat_byte(0xf3),
    }
}

fn bench_metadata() -> Metadata {
    Metadata {
        kind: RecordKind::Document,
        created: 0,
        media_type: "application/octet-stream".into(),
        file_name: "bench.bin".into(),
    }
}

/// Encrypts a body of `total` bytes through the WebCrypto path, reusing one plaintext chunk so that
/// memory stays flat, nothing kept. Chunks are handed over `batch` at a time. Returns
/// `{"encrypt_ms", "chunks", "h1"}`.
#[wasm_bindgen]
pub async fn bench_webcrypto(
    plaintext_chunk: Uint8Array,
    total: f64,
    batch: u32,
) -> Result<String, JsError> {
    let start = now_ms();
    let sealed = seal_body(&plaintext_chunk, total, batch, false).await?;
    let encrypt_ms = now_ms() - start;
    Ok(
        json!({ "encrypt_ms": encrypt_ms, "chunks": sealed.chunks, "h1": sealed.h1.to_string() })
            .to_string(),
    )
}

/// Seals `blob` as the app seals a chosen file (`seal` in `app/src/web/records.rs`): `batch`
/// chunks of `chunk_size` handed to WebCrypto together, read with `slice().arrayBuffer()` either
/// once for the whole batch, cut into views (`one_read`, as the app does now), or once per
/// chunk (as it did before). Nothing is kept. Returns `{"encrypt_ms", "chunks"}`.
#[wasm_bindgen]
pub async fn bench_seal_blob(
    blob: web_sys::Blob,
    chunk_size: u32,
    batch: u32,
    one_read: bool,
) -> Result<String, JsError> {
    let err = |e: WebCryptoError| JsError::new(&e.to_string());
    let start = now_ms();
    let (_, mut enc, _prelude) = bench_encryptor(chunk_size).await?;
    let (total, chunk, batch) = (blob.size(), f64::from(chunk_size), batch.max(1));
    let (mut offset, mut chunks) = (0.0, 0u64);
    loop {
        let pieces = if one_read {
            let end = (offset + chunk * f64::from(batch)).min(total);
            let read = read_blob(&blob, offset, end).await?;
            offset = end;
            chunk_views(&read, chunk_size)
        } else {
            let mut pieces = Vec::with_capacity(batch as usize);
            while pieces.len() < batch as usize && (offset < total || pieces.is_empty()) {
                let end = (offset + chunk).min(total);
                pieces.push(read_blob(&blob, offset, end).await?);
                offset = end;
            }
            pieces
        };
        chunks += pieces.len() as u64;
        let ends = offset >= total;
        enc.seal_chunks(&pieces, ends).await.map_err(err)?;
        if ends {
            break;
        }
    }
    enc.finish().await.map_err(err)?;
    let encrypt_ms = now_ms() - start;
    Ok(json!({ "encrypt_ms": encrypt_ms, "chunks": chunks }).to_string())
}

/// A fresh key and a WebCrypto encryptor of the bench's record under it, with its first bytes.
async fn bench_encryptor(chunk_size: u32) -> Result<(SecretKey, WebEncryptor, Vec<u8>), JsError> {
    let dek = SecretKey::generate().map_err(|e| JsError::new(&e.to_string()))?;
    let (enc, prelude) = WebEncryptor::start(&dek, &bench_context(), &bench_metadata(), chunk_size)
        .await
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok((dek, enc, prelude))
}

/// Bytes `start..end` of `blob`.
async fn read_blob(blob: &web_sys::Blob, start: f64, end: f64) -> Result<Uint8Array, JsError> {
    let slice = blob
        .slice_with_f64_and_f64(start, end)
        .map_err(|_| JsError::new("the blob could not be sliced"))?;
    let buffer = JsFuture::from(slice.array_buffer())
        .await
        .map_err(|_| JsError::new("the blob could not be read"))?;
    Ok(Uint8Array::new(&buffer))
}

/// A body sealed through the WebCrypto path and kept as the network would deliver it, for
/// [`bench_open_body`] to decrypt. Made outside the timed decryption, as the anchor's sealed chunks
/// are, so that both timed phases start from the same kind of page: inputs resident, nothing
/// else allocated.
#[wasm_bindgen]
pub struct BenchBody {
    dek: SecretKey,
    prelude: Vec<u8>,
    frames: Vec<Uint8Array>,
    h1: B256,
    chunks: u64,
    chunk_size: u32,
}

/// Seals a body of `total` bytes (one plaintext chunk repeated, 16 chunks handed over at a time)
/// and cuts the sealed chunks into 1 MiB frames: a frame is a JavaScript buffer the sealed chunks
/// are joined into (as `fetch` hands over its own), so chunk boundaries fall anywhere in a frame.
#[wasm_bindgen]
pub async fn bench_seal_body(
    plaintext_chunk: Uint8Array,
    total: f64,
) -> Result<BenchBody, JsError> {
    seal_body(&plaintext_chunk, total, 16, true).await
}

/// Decrypts a [`BenchBody`] through the WebCrypto decryptor, pushed frame by frame as a streamed
/// download arrives; checks that the plaintext's length and `h1` are what was sealed. Returns the
/// milliseconds taken.
#[wasm_bindgen]
pub async fn bench_open_body(body: &BenchBody) -> Result<f64, JsError> {
    let err = |e: WebCryptoError| JsError::new(&e.to_string());
    let start = now_ms();
    let mut dec = WebDecryptor::new(&body.dek, &bench_context());
    dec.push(&body.prelude).await.map_err(err)?;
    let mut plain_bytes = 0u64;
    for frame in &body.frames {
        for p in dec.push_frame(frame).await.map_err(err)? {
            plain_bytes += u64::from(p.length());
        }
    }
    let (rest, opened) = dec.finish().await.map_err(err)?;
    plain_bytes += rest.iter().map(|p| u64::from(p.length())).sum::<u64>();
    if opened.h1 != body.h1 || plain_bytes != body.chunks * u64::from(body.chunk_size) {
        return Err(JsError::new(
            "decryption did not give back what was encrypted",
        ));
    }
    Ok(now_ms() - start)
}

/// Seals `total` bytes of repeated `plaintext_chunk`, `batch` chunks at a time; with `keep`, the
/// sealed chunks are joined into 1 MiB frames (so only for bodies that fit in memory).
async fn seal_body(
    plaintext_chunk: &Uint8Array,
    total: f64,
    batch: u32,
    keep: bool,
) -> Result<BenchBody, JsError> {
    let err = |e: WebCryptoError| JsError::new(&e.to_string());
    let chunk_size = plaintext_chunk.length();
    let chunks = (total / f64::from(chunk_size)).ceil().max(1.0) as u64;
    let (dek, mut enc, prelude) = bench_encryptor(chunk_size).await?;
    let mut kept: Vec<Uint8Array> = Vec::new();
    let batch = u64::from(batch.max(1));
    let mut done = 0u64;
    while done < chunks {
        let n = batch.min(chunks - done);
        let pieces: Vec<Uint8Array> = (0..n).map(|_| plaintext_chunk.clone()).collect();
        let sealed = enc
            .seal_chunks(&pieces, done + n == chunks)
            .await
            .map_err(err)?;
        if keep {
            kept.extend(sealed);
        }
        done += n;
    }
    let h1 = enc.finish().await.map_err(err)?;
    let frames = if keep {
        join_into_frames(&kept, 1 << 20)
    } else {
        Vec::new()
    };
    Ok(BenchBody {
        dek,
        prelude,
        frames,
        h1,
        chunks,
        chunk_size,
    })
}

/// The bytes of `pieces` joined and cut again into frames of `frame_len` (the last shorter).
fn join_into_frames(pieces: &[Uint8Array], frame_len: u32) -> Vec<Uint8Array> {
    let total: u32 = pieces.iter().map(Uint8Array::length).sum();
    let joined = Uint8Array::new_with_length(total);
    let mut at = 0;
    for p in pieces {
        joined.set(p, at);
        at += p.length();
    }
    (0..total)
        .step_by(frame_len as usize)
        .map(|start| joined.slice(start, (start + frame_len).min(total)))
        .collect()
}

/// The same body through `aes-gcm` and `sha2` compiled to WASM (the slow path, for comparison).
#[wasm_bindgen]
pub fn bench_wasm_aes(plaintext_chunk: &[u8], total: f64) -> Result<String, JsError> {
    let dek = SecretKey::generate().map_err(|e| JsError::new(&e.to_string()))?;
    let chunk_size = plaintext_chunk.len() as u32;
    let chunks = (total / f64::from(chunk_size)).ceil().max(1.0) as u64;
    let start = now_ms();
    let (mut enc, mut out) = Encryptor::new(&dek, &bench_context(), &bench_metadata(), chunk_size)
        .map_err(|e| JsError::new(&e.to_string()))?;
    for i in 0..chunks {
        out.clear();
        enc.seal_chunk(plaintext_chunk, i + 1 == chunks, &mut out)
            .map_err(|e| JsError::new(&e.to_string()))?;
    }
    let h1 = enc.h1().map_err(|e| JsError::new(&e.to_string()))?;
    Ok(
        json!({ "encrypt_ms": now_ms() - start, "chunks": chunks, "h1": h1.to_string() })
            .to_string(),
    )
}

/// Size of this module's WASM linear memory in bytes (it only ever grows: its peak).
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|m| {
            f64::from(
                m.buffer()
                    .dyn_into::<js_sys::ArrayBuffer>()
                    .map(|b| b.byte_length())
                    .unwrap_or(0),
            )
        })
        .unwrap_or(0.0)
}
