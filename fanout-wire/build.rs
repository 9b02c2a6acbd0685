//! Compiles the alert sink's protobuf messages with protox (no protoc
//! binary needed). The gRPC stubs are generated in `evledger-api`, over
//! these messages.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/evledger/alert/v1/alert.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
