# syntax=docker/dockerfile:1
#
# Cairn: a multi-stage build of the `cairn` binary.
#
#   docker build -t cairn .
#   docker run -p 4318:4318 -p 7070:7070 -v cairn-data:/var/lib/cairn cairn
#
# Only the workspace manifests, .cargo/ and crates/ are copied, so local build output never enters the
# build context's layers.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The build settings (how the bundled SQLite is compiled; see the file).
COPY .cargo ./.cargo
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cairn \
 && install -D -m 0755 target/release/cairn /out/cairn

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/cairn --no-create-home cairn \
 && install -d -o cairn -g cairn -m 0750 /var/lib/cairn /var/lib/cairn/jsonl \
 && install -d -m 0755 /etc/cairn
COPY --from=build /out/cairn /usr/local/bin/cairn
USER cairn
WORKDIR /var/lib/cairn
ENV CAIRN_DATA_DIR=/var/lib/cairn \
    CAIRN_OTLP_HTTP_ADDR=0.0.0.0:4318 \
    CAIRN_OTLP_GRPC_ADDR=0.0.0.0:4317 \
    CAIRN_API_ADDR=0.0.0.0:7070
VOLUME ["/var/lib/cairn"]
# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 7070 query API, UI and /metrics.
EXPOSE 4317 4318 7070
ENTRYPOINT ["cairn"]
CMD ["serve"]
