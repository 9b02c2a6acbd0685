//! What evledger's fan-out is configured with and puts on the wire, with
//! no connections, so every parser here can be fuzzed without a broker:
//!
//! - [`alert`]: the gRPC alert sink's messages and the receiver's check;
//! - [`grpc`]: gRPC alert sink integration settings;
//! - [`kafka`]: Kafka integration settings;
//! - [`webhook`]: webhook settings, the URL policy, credential redaction and
//!   the delivery signature a receiver verifies.
//!
//! The sinks that connect live in `evledger-reconciler`.

pub mod alert;
pub mod grpc;
pub mod kafka;
pub mod webhook;
