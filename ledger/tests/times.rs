//! Entry times: each batch's commit time is kept with the batch, so an
//! entry's time is its batch's and the per-minute counts add up to the log.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{append_in_chunks, open_ledger};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

#[tokio::test]
async fn every_entry_has_its_batch_time_and_every_minute_counts_its_entries() {
    let (ledger, _dir) = open_ledger();
    let before = now_ms();
    let leaves: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("timed-{i}").into_bytes())
        .collect();
    append_in_chunks(&ledger, &leaves, &[1, 7, 100, 192]).await;
    let after = now_ms();

    let mut last = 0;
    for index in 0..300 {
        let time = ledger
            .entry_time(index)
            .expect("read")
            .unwrap_or_else(|| panic!("entry {index} has no time"));
        assert!((before..=after).contains(&time), "entry {index} at {time}");
        assert!(
            time >= last,
            "entry {index} is older than the entry before it"
        );
        last = time;
    }
    assert_eq!(
        ledger.entry_time(300).expect("read"),
        None,
        "beyond the tree"
    );

    let minutes = ledger
        .entries_per_minute(before / 60_000, after / 60_000 + 1)
        .expect("read");
    let counted: u64 = minutes.iter().map(|(_, n)| n).sum();
    assert_eq!(counted, 300, "{minutes:?}");
    assert!(ledger
        .entries_per_minute(0, before / 60_000)
        .expect("read")
        .is_empty());

    // Every batch signed a checkpoint; the console lists the newest sizes.
    let sizes = ledger.signed_sizes_before(u64::MAX, 3).expect("read");
    assert_eq!(sizes.first(), Some(&300), "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    let below = ledger.signed_sizes_before(300, 10).expect("read");
    assert!(below.iter().all(|s| *s < 300), "{below:?}");
}
