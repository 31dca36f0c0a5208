# Stand-in for quay.io/minio/minio, built by scripts/install-docker.sh --offline-images: the Go-built
# `minio` and `mc` on the local Debian base. As upstream, mc's default configuration has a `local`
# alias (http://localhost:9000), which the compose health check `mc ready local` uses. docker-compose.yml
# gives the command (`server /data …`).
ARG BASE_IMAGE=handson-local/debian:bookworm
FROM ${BASE_IMAGE}
COPY minio mc /usr/bin/
ENTRYPOINT ["/usr/bin/minio"]
