#!/usr/bin/env bash
# Run ruff and the test suite against the newest releases of every dependency, WITHOUT constraints.txt, in a
# throw-away virtual environment, so that the next upstream break is found here before users find it.
#
#   bash scripts/check_latest.sh [--torch SPEC] [PYTEST ARGS...]
#
# --torch SPEC: the torch requirement to install (default "torch==2.13.0", the CPU wheel the constraints name; a bare
#   "torch" on a CPU machine pulls a multi-GB CUDA build). Everything else is upgraded to the newest release.
# Prints the versions it resolved (diff them against constraints.txt) and exits with pytest's status.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_spec="torch==2.13.0"
if [ "${1:-}" = "--torch" ]; then
  torch_spec="$2"
  shift 2
fi

venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q --upgrade --upgrade-strategy eager -e ".[test]" "$torch_spec"

echo "check_latest: versions that differ from constraints.txt:"
"$venv/bin/pip" freeze --exclude-editable | sed 's/+cpu//' | sort > "$(dirname "$venv")/latest.txt"
grep -v '^#' constraints.txt | sort | comm -13 - "$(dirname "$venv")/latest.txt" | sed 's/^/  /'

"$venv/bin/ruff" check .
"$venv/bin/python" -m pytest -q -n logical --dist loadfile -p no:cacheprovider "$@"
