#!/usr/bin/env bash
# Two API nodes behind nginx, pgBouncer in front of PostgreSQL, Redis, two Celery worker pools
# and beat, all on loopback (the topology is described in bench/cluster.py).
#
#   deploy/local-cluster.sh [--dir DIR] [--api-workers N]      Ctrl-C stops everything
#
# Needs Debian's nginx and pgbouncer (apt-get install nginx pgbouncer) and the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# Every held event stream is a socket in nginx (two) and in an API node: raise the file limit as
# far as allowed (bench/cluster.py raises it again, past the hard limit when run as root).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$PYTHON" bench/cluster.py "$@"
