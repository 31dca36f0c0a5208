#!/bin/bash
# Entrypoint of the offline mysql:8.4 stand-in (MariaDB). What it keeps of the mysql image's contract:
#  - arguments starting with '-' are server flags (mariadbd gets them);
#  - on an empty data directory: MYSQL_ROOT_PASSWORD (root, local and '%'), MYSQL_DATABASE, MYSQL_USER
#    with MYSQL_PASSWORD (all rights on that database), then /docker-entrypoint-initdb.d/*.sql run once
#    as root, all on a server that listens on its socket only;
#  - then the real server on TCP 3306, so a TCP `mysqladmin ping` answers only once it is up.
set -euo pipefail

if [ "$#" = 0 ] || [ "${1:0:1}" = "-" ]; then
  set -- mariadbd "$@"
fi
if [ "$1" != "mariadbd" ] && [ "$1" != "mysqld" ]; then
  exec "$@"
fi
shift

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld
chown mysql:mysql "$DATADIR" /run/mysqld

sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }
sql_name() { printf '`%s`' "$(printf '%s' "$1" | sed 's/`/``/g')"; }

if [ ! -d "$DATADIR/mysql" ]; then
  : "${MYSQL_ROOT_PASSWORD:?the mysql stand-in needs MYSQL_ROOT_PASSWORD}"
  echo "[entrypoint] initialising an empty data directory"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal \
    >/dev/null
  mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCKET" --skip-networking "$@" &
  init_pid=$!
  for _ in $(seq 60); do
    mariadb-admin --socket="$SOCKET" -uroot ping --silent 2>/dev/null && break
    sleep 1
  done
  root_pw="$(sql_string "$MYSQL_ROOT_PASSWORD")"
  {
    # No anonymous accounts, and root only as created below (install-db also makes root@127.0.0.1, ::1 and the
    # host name without a password, which would shadow root@'%' on TCP).
    echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host<>'localhost');"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_pw;"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$SOCKET" -uroot
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "[entrypoint] running $f"
             mariadb --socket="$SOCKET" -uroot --password="$MYSQL_ROOT_PASSWORD" ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} <"$f" ;;
      *.sh)  echo "[entrypoint] running $f"; . "$f" ;;
      *)     [ -e "$f" ] && echo "[entrypoint] ignoring $f" ;;
    esac
  done
  mariadb-admin --socket="$SOCKET" -uroot --password="$MYSQL_ROOT_PASSWORD" shutdown
  wait "$init_pid" || true
  echo "[entrypoint] initialised; starting the server"
fi

exec mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCKET" --bind-address=0.0.0.0 --port=3306 \
  --skip-name-resolve "$@"
