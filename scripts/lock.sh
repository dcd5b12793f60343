#!/usr/bin/env bash
# Rewrite requirements.lock: gitbot's runtime dependencies (no test extras) as a fresh venv resolves
# them from pyproject.toml, pinned. The Action installs from it and keys its cache on its hash.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet .
{
  sed -n '1,3p' requirements.lock
  "$venv/bin/pip" freeze --exclude gitbot
} > requirements.lock.new
mv requirements.lock.new requirements.lock
rm -rf "$(dirname "$venv")"
