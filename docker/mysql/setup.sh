#!/bin/sh
# mysql-setup (docker-compose.yml): one-shot and idempotent, after mysql is healthy.
#
# The official image's entrypoint already created the user (MYSQL_USER) with ALL on bankdb and ran
# mysql-init/*.sql; what is left are the global privileges Debezium's MySQL connector needs for its
# snapshot and the binlog, the same list `make up` grants (stack/services.py, MariaDB.after_start).
set -eu

# A MySQL string literal: backslashes and single quotes escaped (the values come from the environment).
sql_str() {
    printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}
user=$(sql_str "$CDC_MYSQL_USER")

MYSQL_PWD="$CDC_MYSQL_ROOT_PASSWORD" mysql --protocol=TCP -h "$CDC_MYSQL_HOST" -P "${CDC_MYSQL_PORT:-3306}" -uroot <<SQL
CREATE USER IF NOT EXISTS $user@'%' IDENTIFIED BY $(sql_str "$CDC_MYSQL_PASSWORD");
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES ON *.* TO $user@'%';
GRANT ALL PRIVILEGES ON bankdb.* TO $user@'%';
SQL
echo "mysql: $CDC_MYSQL_USER has the Debezium grants"
