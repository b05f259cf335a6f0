# The `seawall` binary in a small image: built in the Rust image, run on
# Debian slim as an unprivileged user (uid 65532) with the CA certificates
# `--ca`-less https:// clients trust. Debian slim rather than distroless so
# an operator can `kubectl exec ... -- cat` the bootstrap admin token's
# file (docs/scale-out.md#kubernetes).
#
#   docker build -t seawall:dev .
#
# Both stages are Debian bookworm: the binary links the glibc it was built
# against.
ARG RUST_VERSION=1.94

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p seawall --bin seawall \
    && cp target/release/seawall /usr/local/bin/seawall

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 seawall \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin seawall
COPY --from=build /usr/local/bin/seawall /usr/local/bin/seawall
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/seawall"]
CMD ["--help"]
