# Sourced by scripts/sample and scripts/test: a local venv with the pinned Python packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import migrator, ijson, msgspec, tree_sitter, pytest" 2>/dev/null; then
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
fi
export PATH="$PWD/.venv/bin:$PATH"
