//! Native throughput of envelope v1 and tier 2 (bench/README.md): streams a body of N MiB through
//! the encryptor and the decryptor in 1 MiB pushes, discarding the output, and reports MB/s and the
//! process's peak resident memory, which stays flat whatever N is. Also times the bare aes-gcm seal
//! of the same chunks (no framing, no hashing) with ring and with the portable crate, as the ceiling
//! the format can reach.
//!
//! `cargo run --release -p medledger-protocol --example envelope_bench -- [MiB] [chunk KiB]`

use std::time::Instant;

use alloy_primitives::{Address, B256};
use medledger_protocol::cipher::{AesGcm256, ChunkCipher, PortableAesGcm256, SecretKey};
use medledger_protocol::envelope::{
    Decryptor, Encryptor, H1Hasher, Metadata, RecordContext, RecordKind,
};
use medledger_protocol::tier2::{Tier2Decryptor, Tier2Encryptor};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let chunk_kib: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let total = mib * 1024 * 1024;
    let chunk = chunk_kib * 1024;
    let ctx = RecordContext {
        chain_id: 1337,
        contract: Address::repeat_byte(1),
        record_id: B256::repeat_byte(2),
        patient: Address::repeat_byte(3),
    };
    let meta = Metadata {
        kind: RecordKind::Image,
        created: 0,
        media_type: "application/octet-stream".into(),
        file_name: "bench.bin".into(),
    };
    let dek = SecretKey::generate()?;
    let piece: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let rss_start = peak_rss_kib();

    // Encrypt, discarding C1 as it comes so memory stays flat.
    let t = Instant::now();
    let (mut enc, prelude) = Encryptor::new(&dek, &ctx, &meta, chunk)?;
    let mut out = Vec::with_capacity(2 * 1024 * 1024);
    let mut c1_len = prelude.len() as u64;
    let mut sent = 0u64;
    while sent < total {
        enc.push(&piece, &mut out)?;
        c1_len += out.len() as u64;
        out.clear();
        sent += piece.len() as u64;
    }
    let h1 = enc.finish(&mut out)?;
    c1_len += out.len() as u64;
    let enc_secs = t.elapsed().as_secs_f64();
    let rss_after_encrypt = peak_rss_kib();

    // Decrypt without holding C1: encrypt and decrypt in lockstep, timing only the decryptor (and,
    // separately, the keyless h1 hasher the escrow runs on uploads).
    let (mut enc2, prelude2) = Encryptor::new(&dek, &ctx, &meta, chunk)?;
    let mut dec = Decryptor::new(&dek, &ctx);
    let mut plain = Vec::with_capacity(2 * 1024 * 1024);
    let mut dec_time = 0f64;
    let mut hash_time = 0f64;
    let t0 = Instant::now();
    dec.push(&prelude2, &mut plain)?;
    let mut hasher = H1Hasher::new();
    hasher.push(&prelude2)?;
    dec_time += t0.elapsed().as_secs_f64();
    let mut sent = 0u64;
    let mut ct = Vec::with_capacity(2 * 1024 * 1024);
    let mut check = false;
    while sent < total {
        enc2.push(&piece, &mut ct)?;
        let t = Instant::now();
        dec.push(&ct, &mut plain)?;
        dec_time += t.elapsed().as_secs_f64();
        let t = Instant::now();
        hasher.push(&ct)?;
        hash_time += t.elapsed().as_secs_f64();
        if sent == 0 {
            // The first push releases all but the held-back last chunk of the first piece.
            check = !plain.is_empty() && plain[..] == piece[..plain.len()];
        }
        ct.clear();
        plain.clear();
        sent += piece.len() as u64;
    }
    let h1b = enc2.finish(&mut ct)?;
    let t = Instant::now();
    dec.push(&ct, &mut plain)?;
    let opened = dec.finish(&mut plain)?;
    dec_time += t.elapsed().as_secs_f64();
    hasher.push(&ct)?;
    let h1c = hasher.finish()?;
    assert!(check && opened.h1 == h1b && h1c == h1b && h1 != h1b);

    // Tier 2 over C1-sized input (the escrow's per-request work).
    let k2 = SecretKey::generate()?;
    let (mut t2e, t2h) = Tier2Encryptor::new(&k2, ctx.record_id, chunk)?;
    let mut t2d = Tier2Decryptor::new(&k2, ctx.record_id);
    let mut t2_plain = Vec::new();
    t2d.push(&t2h, &mut t2_plain)?;
    let (mut t2e_time, mut t2d_time) = (0f64, 0f64);
    let mut c2 = Vec::with_capacity(2 * 1024 * 1024);
    let mut sent = 0u64;
    while sent < total {
        let t = Instant::now();
        t2e.push(&piece, &mut c2)?;
        t2e_time += t.elapsed().as_secs_f64();
        let t = Instant::now();
        t2d.push(&c2, &mut t2_plain)?;
        t2d_time += t.elapsed().as_secs_f64();
        c2.clear();
        t2_plain.clear();
        sent += piece.len() as u64;
    }
    t2e.finish(&mut c2)?;
    t2d.push(&c2, &mut t2_plain)?;
    t2d.finish(&mut t2_plain)?;

    // Bare AES-256-GCM over the same chunks, no framing or hashing: the build's cipher (ring
    // natively) and the portable crate the app falls back to.
    let raw_secs = bare_seal_secs(&AesGcm256::new(&dek), &piece[..chunk as usize], total)?;
    let portable_secs = bare_seal_secs(
        &PortableAesGcm256::new(&dek),
        &piece[..chunk as usize],
        total,
    )?;

    println!("body: {mib} MiB, chunk: {chunk_kib} KiB, C1: {c1_len} bytes");
    println!(
        "raw aes-256-gcm seal (ring):          {:8.1} MB/s",
        mbps(total, raw_secs)
    );
    println!(
        "raw aes-256-gcm seal (aes-gcm crate): {:8.1} MB/s",
        mbps(total, portable_secs)
    );
    println!(
        "envelope encrypt + h1:                {:8.1} MB/s",
        mbps(total, enc_secs)
    );
    println!(
        "envelope decrypt + h1:                {:8.1} MB/s",
        mbps(total, dec_time)
    );
    println!(
        "h1 only (escrow, keyless):            {:8.1} MB/s",
        mbps(total, hash_time)
    );
    println!(
        "tier-2 encrypt:                       {:8.1} MB/s",
        mbps(total, t2e_time)
    );
    println!(
        "tier-2 decrypt:                       {:8.1} MB/s",
        mbps(total, t2d_time)
    );
    println!(
        "peak RSS: start {} KiB, after encrypting {mib} MiB {} KiB, at end {} KiB",
        rss_start.unwrap_or(0),
        rss_after_encrypt.unwrap_or(0),
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}

/// Seconds to seal `total` bytes as chunks the size of `chunk`, one nonce each.
fn bare_seal_secs<C: ChunkCipher>(
    cipher: &C,
    chunk: &[u8],
    total: u64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut buf = chunk.to_vec();
    let t = Instant::now();
    let (mut done, mut ctr) = (0u64, 0u32);
    while done < total {
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&ctr.to_be_bytes());
        let tag = cipher.seal_in_place(&nonce, b"aad", &mut buf)?;
        std::hint::black_box(tag);
        done += buf.len() as u64;
        ctr += 1;
    }
    Ok(t.elapsed().as_secs_f64())
}
