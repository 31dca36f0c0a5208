# Stand-in for mysql:8.4, built by scripts/install-docker.sh --offline-images: MariaDB from Debian
# behind an entrypoint that keeps the parts of the mysql image's contract docker-compose.yml relies on
# (see mysql-entrypoint.sh).
ARG BASE_IMAGE=handson-local/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server mariadb-client \
    && rm -rf /var/lib/apt/lists/* /var/lib/mysql \
    && mkdir -p /var/lib/mysql /run/mysqld /docker-entrypoint-initdb.d \
    && chown mysql:mysql /var/lib/mysql /run/mysqld
# Few instructions on purpose: with the vfs storage driver each one copies the whole file system.
COPY mysql-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
