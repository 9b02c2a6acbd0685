//! Compiles the gRPC definitions with protox (no protoc binary needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../fanout-wire/proto/evledger/alert/v1/alert.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["../fanout-wire/proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
