# evledger: one static-ish binary on a distroless base, run as non-root.
#   docker build -t evledger .
#   docker run --read-only -v evledger-data:/data -p 8080:8080 evledger
# The root filesystem can be read-only: everything written lives in /data.

FROM rust:1.95-bookworm AS build
# RocksDB is compiled from source by the rocksdb crate; bindgen needs libclang.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY tlog tlog
COPY entry entry
COPY contract contract
COPY index-keys index-keys
COPY fanout-wire fanout-wire
COPY ledger ledger
COPY witness witness
COPY indexer indexer
COPY reconciler reconciler
COPY fanout fanout
COPY sigstore sigstore
COPY pack pack
COPY console console
COPY evidence evidence
COPY api api
COPY cli cli
COPY tests tests
RUN cargo build --release --locked -p evledger --bins \
 && install -D -m 0755 target/release/evledger /out/evledger \
 && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/evledger /usr/local/bin/evledger
COPY --from=build --chown=65532:65532 /out/data /data
# 65532 is the nonroot user of the distroless image.
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/evledger"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
