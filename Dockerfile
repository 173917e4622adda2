# Build and run Sluice (used by docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin sluice

FROM debian:bookworm-slim
# ca-certificates: the aws-kms key provider (and any https peer) verifies AWS's certificates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sluice sluice \
    && mkdir -p /var/lib/sluice /keys \
    && chown sluice /var/lib/sluice /keys
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
USER sluice
EXPOSE 9324
ENTRYPOINT ["/usr/local/bin/sluice", "serve"]
