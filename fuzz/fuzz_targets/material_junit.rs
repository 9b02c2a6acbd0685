//! JUnit XML report validation (`evledger_contract::materials`,
//! `JUNIT_XML`), whose rule is: well-formed XML whose root element is
//! `testsuites` or `testsuite`.
//!
//! Properties: an accepted report's first element is `testsuites` or
//! `testsuite`, every element it opens is closed (checked here with a
//! separate reading of the quick-xml events that tracks open tags), and
//! appending white space after it keeps it accepted.
#![no_main]

use evledger_contract::materials::validate_blob;
use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;

fuzz_target!(|data: &[u8]| {
    let kind = MaterialType::JunitXml;
    if validate_blob(kind, data).is_err() {
        return;
    }
    let mut reader = quick_xml::Reader::from_reader(data);
    let mut buf = Vec::new();
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut first = None;
    let mut roots = 0;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .expect("an accepted report reads");
        match event {
            Event::Start(e) => {
                if open.is_empty() {
                    roots += 1;
                }
                first.get_or_insert_with(|| e.name().as_ref().to_vec());
                open.push(e.name().as_ref().to_vec());
            }
            Event::Empty(e) => {
                if open.is_empty() {
                    roots += 1;
                }
                first.get_or_insert_with(|| e.name().as_ref().to_vec());
            }
            Event::End(e) => {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(e.name().as_ref()),
                    "mismatched end tag"
                );
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let root = first.expect("accepted a report without elements");
    assert!(root == b"testsuites" || root == b"testsuite");
    assert!(
        open.is_empty(),
        "accepted a report with unclosed elements: {:?}",
        String::from_utf8_lossy(data)
    );
    assert_eq!(roots, 1, "accepted a report with {roots} root elements");
    let mut padded = data.to_vec();
    padded.extend_from_slice(b"\n  \n");
    assert!(
        validate_blob(kind, &padded).is_ok(),
        "trailing white space refused"
    );
});
