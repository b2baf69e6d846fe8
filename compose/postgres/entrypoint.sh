#!/bin/sh
# Entry point of cluster-postgres (compose/docker-compose.yml): the image's own entry point
# (official or offline, both /usr/local/bin/docker-entrypoint.sh) in the background, then, once the
# server answers on its socket, monitor-role.sql makes pg-exporter's role clustermon_monitor if it
# is missing (a member of pg_monitor, not a superuser, its password from the secret
# postgres_monitor_password); run at every start, so a volume made before the role existed gets
# it too. Signals are passed on to the server, and its exit status is this script's.
set -u

/usr/local/bin/docker-entrypoint.sh "$@" &
server=$!
trap 'kill -INT "$server" 2>/dev/null' INT
trap 'kill -TERM "$server" 2>/dev/null' TERM

# The official image runs a temporary server while it initialises a new volume: the role may be
# made there (it persists) or, if that server stops under psql, on the next try.
tries=0
while kill -0 "$server" 2>/dev/null; do
  if pg_isready -q -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-postgres}" 2>/dev/null &&
    psql -q -X -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-postgres}" \
      -f /etc/clustermon/postgres/monitor-role.sql >/dev/null; then
    echo "postgres: role clustermon_monitor (pg_monitor) is ready"
    break
  fi
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "postgres: could not make the role clustermon_monitor; pg-exporter will not log in" >&2
    break
  fi
  sleep 1
done

# `wait` returns early when a signal is trapped: wait until the server has really exited.
status=0
while kill -0 "$server" 2>/dev/null; do
  wait "$server"
  status=$?
done
exit "$status"
