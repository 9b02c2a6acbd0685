//! The sink framework against a real ledger: a sink that fails sometimes
//! still gets every entry, first arrivals in log order, and the cursor in
//! the ledger's database ends past the last entry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evledger_fanout::{BoxFuture, EntryEvent, FanOut, Filter, Sink, SinkFailure, StartAt};
use evledger_ledger::{BatchPolicy, Ledger, LedgerConfig, LogSigner};

fn open(dir: &std::path::Path) -> Ledger {
    let (signer, _) = LogSigner::generate("example.com/sink-test").expect("key");
    Ledger::open(LedgerConfig {
        data_dir: dir.to_path_buf(),
        signer,
        batch: BatchPolicy::default(),
    })
    .expect("open ledger")
}

/// On its first `flaky` calls of more than one event, acknowledges the
/// first and fails the rest; then acknowledges everything.
struct Flaky {
    flaky: Mutex<usize>,
    seen: Mutex<Vec<EntryEvent>>,
}

impl Flaky {
    fn new(flaky: usize) -> Arc<Self> {
        Arc::new(Self {
            flaky: Mutex::new(flaky),
            seen: Mutex::new(Vec::new()),
        })
    }
}

impl Sink for Flaky {
    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>> {
        Box::pin(async move {
            let mut flaky = self.flaky.lock().unwrap();
            if *flaky > 0 && events.len() > 1 {
                *flaky -= 1;
                self.seen.lock().unwrap().push(events[0].clone());
                return Err(SinkFailure::at(1, "broker said no"));
            }
            self.seen.lock().unwrap().extend(events.iter().cloned());
            Ok(())
        })
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_gets_every_entry_in_order_and_its_cursor_moves() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for i in 0..20 {
        ledger
            .append(format!("entry {i}").into_bytes())
            .await
            .unwrap();
    }
    let fanout = FanOut::new(ledger.clone());
    assert_eq!(fanout.create_cursor("s", StartAt::Index(0)).unwrap(), 0);
    let sink = Flaky::new(3);
    fanout.start("s", sink.clone(), Filter::default());
    for i in 20..30 {
        ledger
            .append(format!("entry {i}").into_bytes())
            .await
            .unwrap();
    }
    wait_for("the cursor to reach 30", || {
        fanout.cursor("s").unwrap() == Some(30)
    })
    .await;
    let seen = sink.seen.lock().unwrap().clone();
    let mut first = Vec::new();
    for event in &seen {
        if !first.contains(&event.log_index) {
            first.push(event.log_index);
        }
        let (leaf, proof) = ledger
            .proven_entry(event.log_index, event.proof.tree_size)
            .unwrap();
        assert_eq!(leaf, event.leaf);
        assert_eq!(proof, event.proof);
        assert!(event.checkpoint.contains("example.com/sink-test"));
    }
    assert_eq!(
        first,
        (0..30).collect::<Vec<u64>>(),
        "every entry, first arrivals in order"
    );
    assert_eq!(
        seen.len(),
        30,
        "what a failed round acknowledged is not sent again"
    );
    fanout.stop("s", true).await.unwrap();
    assert_eq!(
        fanout.cursor("s").unwrap(),
        None,
        "a forgotten sink has no cursor"
    );
    assert!(fanout.names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sink_starts_now_and_keeps_its_cursor_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for i in 0..5 {
        ledger
            .append(format!("old {i}").into_bytes())
            .await
            .unwrap();
    }
    let fanout = FanOut::new(ledger.clone());
    assert_eq!(fanout.create_cursor("s", StartAt::Now).unwrap(), 5);
    assert_eq!(
        fanout.create_cursor("s", StartAt::Index(0)).unwrap(),
        5,
        "an existing cursor stays"
    );
    let sink = Flaky::new(0);
    fanout.start("s", sink.clone(), Filter::default());
    ledger.append(b"new".to_vec()).await.unwrap();
    wait_for("the new entry", || fanout.cursor("s").unwrap() == Some(6)).await;
    let seen: Vec<u64> = sink
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.log_index)
        .collect();
    assert_eq!(seen, vec![5]);
    fanout.shutdown().await;
    drop(fanout);
    drop(ledger);
    let ledger = open(dir.path());
    assert_eq!(ledger.cursor("s").unwrap(), Some(6));
}
