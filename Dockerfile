# syntax=docker/dockerfile:1
#
# flare-plus: one image for every role (`run --role ingest|writer|features|all`).
#
#   docker build -t flare-plus:local .
#   docker run --rm flare-plus:local check-config
#
# Build stage: cargo in release mode. Runtime stage: distroless/cc (glibc + libgcc_s and CA
# certificates, no shell, no package manager), a non-root user, and only the binary, the
# health probe and config/. See docs/DEPLOY.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-trixie AS build
WORKDIR /src
# Drop the release profile's line tables from the image binary (~115 MB -> ~25 MB); symbols
# stay, so panics still name their functions.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never
COPY . .
# The registry and target directories are BuildKit caches: a rebuild after a source change
# recompiles the project, not its ~400 dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin flare-plus \
 && mkdir -p /out/data \
 && cp target/release/flare-plus /out/flare-plus
# The container healthcheck probe: std-only, a few hundred KiB (the runtime has no shell/curl).
RUN rustc --edition 2021 -O -C strip=symbols deploy/healthcheck/healthz.rs -o /out/healthz \
 && /out/flare-plus --version

FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
WORKDIR /app
COPY --from=build /out/flare-plus /out/healthz /usr/local/bin/
COPY config/ /app/config/
# Writable ./data for the embedded default (SQLite, local nats-server store); the compose
# stack uses PostgreSQL and the nats service instead.
COPY --from=build --chown=65532:65532 /out/data /app/data
# distroless's `nonroot` user, by number so runtimes can verify runAsNonRoot.
USER 65532:65532
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/healthz", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/usr/local/bin/flare-plus"]
CMD ["--config", "/app/config/docker.toml", "run", "--role", "all"]
