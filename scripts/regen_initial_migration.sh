#!/usr/bin/env bash
# Regenerates migrations/versions/0001 from the models against a throwaway embedded
# PostgreSQL. Only for use before the first release: after that, add new revisions.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
tmp=$(mktemp -d)
versions=src/knowrithm/migrations/versions
rm -f $versions/0001_*.py
uri=$($PY -c "import pgserver,sys; s=pgserver.get_server('$tmp', cleanup_mode=None); print(s.get_uri())" 2>/dev/null | tail -1)
export SQLALCHEMY_DATABASE_URI="$uri" FLASK_APP=knowrithm.app:create_app LOG_JSON=false
$PY -m flask db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
f=$(ls $versions/0001_*.py)
$PY - "$f" <<'PYEOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r"Create Date: .*\n", "", s)
s = s.replace("def upgrade():\n", "def upgrade():\n    op.execute(\"CREATE EXTENSION IF NOT EXISTS vector\")\n", 1)
tail = ("    # Inline vectors: TOASTed vectors made exact scans 6.5x slower (shared/retrieval-notes.md).\n"
        "    op.execute(\"ALTER TABLE document_chunks ALTER COLUMN embedding SET STORAGE PLAIN\")\n")
s = s.replace("    # ### end Alembic commands ###\n\n\ndef downgrade", "    # ### end Alembic commands ###\n" + tail + "\n\ndef downgrade", 1)
open(p, "w").write(s)
PYEOF
$PY -c "import pgserver; pgserver.get_server('$tmp', cleanup_mode=None).cleanup()" >/dev/null 2>&1 || true
rm -rf "$tmp"
echo "regenerated $f"
