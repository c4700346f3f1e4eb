# Multi-stage build: compile in the Rust image, run on a slim Debian with only libpq.
# In a container set DATABASE_URL: the image has no PostgreSQL server for the embedded mode.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin retail-crm

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/retail-crm /usr/local/bin/retail-crm
ENV CRM_BIND=0.0.0.0:8080 \
    CRM_DATA_DIR=/var/lib/retail-crm \
    RUST_LOG=info
RUN mkdir -p /var/lib/retail-crm && chown 65534:65534 /var/lib/retail-crm
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["retail-crm"]
CMD ["serve"]
