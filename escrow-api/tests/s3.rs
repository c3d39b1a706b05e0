//! Blobs on an S3-compatible store through the same code path as the local directory: upload
//! (a small record, and a 12 MiB one streamed in 5 MiB multipart parts), read, Range read,
//! erasure deleting the objects. Needs an S3 server, so the test is ignored unless run by
//! `escrow-api/scripts/test-s3.sh`, which starts moto on loopback, creates the bucket and sets
//! `MEDLEDGER_TEST_S3_URL` (`s3://bucket`) and the `AWS_*` variables.

mod support;

use medledger_escrow_api::blobs::Blobs;
use medledger_protocol::contract::Category;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3-compatible server: run escrow-api/scripts/test-s3.sh"]
async fn blobs_on_s3_upload_read_range_and_erase() {
    let bucket = std::env::var("MEDLEDGER_TEST_S3_URL")
        .expect("MEDLEDGER_TEST_S3_URL=s3://bucket (escrow-api/scripts/test-s3.sh sets it)");
    let url = format!("{bucket}/escrow-{}", &record_id(0).to_string()[4..16]);
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], |config| {
        config.blob_url = Some(url.clone());
        config.max_upload_bytes = 32 * 1024 * 1024;
        config.tier2_chunk_size = 65536;
    })
    .await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Imaging], false)
        .await;
    let small = w.record(&patient, Category::Imaging, vec![9; 4096]);
    let large_body: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let large = w.record(&patient, Category::Imaging, large_body);
    for r in [&small, &large] {
        w.commit(&server, &patient, &[&patient, &doctor], r).await;
    }
    // The objects are in the bucket under the prefix, one per record.
    let store = Blobs::open(&url).expect("the same store");
    let objects = store.list("c2").await.expect("list");
    assert_eq!(objects.len(), 2, "{objects:?}");

    for (r, who) in [(&small, &patient), (&large, &doctor)] {
        let resp = server.read(who, r.id).await;
        assert_eq!(resp.status(), 200);
        let wrap = resp.headers()["x-medledger-wrapped-dek"]
            .to_str()
            .expect("ascii")
            .to_string();
        let c1 = resp.bytes().await.expect("body");
        assert_eq!(c1.to_vec(), r.c1);
        assert_eq!(r.open_release(&w.d, who, &wrap, &c1), r.body);
    }
    // A range across a 5 MiB part boundary.
    let (a, b) = (5 * 1024 * 1024 - 100, 5 * 1024 * 1024 + 100);
    let resp = server
        .read_range(&doctor, large.id, &format!("bytes={a}-{b}"))
        .await;
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.bytes().await.expect("body").to_vec(),
        large.c1[a..=b].to_vec()
    );

    // Erasure deletes the object from the bucket.
    w.erase(&patient, large.id).await;
    eventually("the large record's object deleted", || async {
        let left = store.list("c2").await.ok()?;
        (left.len() == 1).then_some(())
    })
    .await;
    assert_eq!(server.read(&doctor, large.id).await.status(), 410);
    server.stop().await;
}
