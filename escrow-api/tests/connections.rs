//! The connection bounds of `listen.rs` against the real server: an idle keep-alive connection is
//! closed by the escrow, and the largest request head the API accepts still fits the smaller read
//! buffer.

mod support;

use alloy_primitives::Address;
use medledger_escrow_api::records::MAX_WRAPS;
use medledger_protocol::contract::Category;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_by_the_escrow() {
    let w = World::new().await;
    let server = w.serve(|c| c.idle_connection_secs = 1).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    // The answer, then nothing more is sent: the escrow must end the connection by itself. The
    // wait is on the end of the stream (at most PATIENCE), not on a clock.
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut received)).await;
    let read = read.expect("the escrow closes an idle connection");
    read.expect("the stream ends cleanly");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// `n` wraps: the patient's own, then the same bytes for made-up readers (the escrow cannot tell
/// which key an HPKE wrap was made for; what is tested here is that the head gets through).
fn many_wraps(w: &World, patient: &User, r: &Record, n: usize) -> Vec<String> {
    let mut wraps = r.wraps(&w.d, &[patient]);
    let (_, own) = wraps[0].split_once('=').expect("reader=wrap");
    let own = own.to_string();
    for i in 1..n {
        let reader = Address::left_padding_from(&(i as u64).to_be_bytes());
        wraps.push(format!("{reader}={own}"));
    }
    // One header, comma-separated, as the API allows: about 210 bytes a wrap.
    vec![wraps.join(",")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_request_head_the_api_accepts_fits_the_read_buffer() {
    let (w, server, [patient], []) = World::signed_in([PATIENT], [], |_| {}).await;
    let r = w.record(&patient, Category::Vitals, b"heart rate 61".to_vec());
    let too_many = many_wraps(&w, &patient, &r, MAX_WRAPS + 1);
    let resp = r.upload(&server, &patient, &too_many).send().await;
    let resp = resp.expect("an answer, not a broken connection");
    assert_eq!(resp.status(), 400, "past the API's own limit");
    let most = many_wraps(&w, &patient, &r, MAX_WRAPS);
    assert!(most[0].len() > 50_000, "{} bytes", most[0].len());
    let resp = r.upload(&server, &patient, &most).send().await;
    let resp = resp.expect("an answer");
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
}
