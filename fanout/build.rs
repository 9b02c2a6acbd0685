//! Generates the alert sink's gRPC stubs with protox (no protoc binary
//! needed), over the protobuf messages `evledger-fanout-wire` holds.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../fanout-wire/proto/evledger/alert/v1/alert.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["../fanout-wire/proto"])?;
    tonic_prost_build::configure()
        .extern_path(".evledger.alert.v1", "::evledger_fanout_wire::alert::proto")
        .compile_fds(descriptors)?;
    Ok(())
}
