#!/usr/bin/env bash
# Starts a local MariaDB for the test suite if none is running, and makes sure the test account exists.
# Idempotent. No systemd here: mariadbd is started in the background with its own pid file.
set -euo pipefail
SOCK=/run/mysqld/mysqld.sock
TEST_USER=${KVMSTACK_TEST_MARIADB_USER:-kvmstack_test}
TEST_PASS=${KVMSTACK_TEST_MARIADB_PASSWORD:-kvmstack_test}

if ! command -v mariadbd >/dev/null 2>&1; then
  echo "mariadb.sh: mariadbd is not installed (apt-get install mariadb-server)" >&2
  exit 1
fi
if ! mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    echo "==> initialising the MariaDB data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  echo "==> starting MariaDB"
  start-stop-daemon --start --background --chuid mysql:mysql --pidfile /run/mysqld/mysqld.pid \
    --exec /usr/sbin/mariadbd -- --pid-file=/run/mysqld/mysqld.pid --socket="$SOCK" \
    --bind-address=127.0.0.1 --port=3306 --innodb-flush-log-at-trx-commit=2 --max-connections=500
  for _ in $(seq 1 100); do
    mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb-admin --socket="$SOCK" ping >/dev/null
fi
mariadb --socket="$SOCK" -uroot <<SQL
CREATE USER IF NOT EXISTS '${TEST_USER}'@'localhost' IDENTIFIED BY '${TEST_PASS}';
CREATE USER IF NOT EXISTS '${TEST_USER}'@'127.0.0.1' IDENTIFIED BY '${TEST_PASS}';
GRANT ALL PRIVILEGES ON \`kvmstack%\`.* TO '${TEST_USER}'@'localhost';
GRANT ALL PRIVILEGES ON \`kvmstack%\`.* TO '${TEST_USER}'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
echo "==> MariaDB is up (socket $SOCK, test user $TEST_USER)"
