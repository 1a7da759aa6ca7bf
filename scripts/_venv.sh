# Sourced by scripts/test and scripts/serve: a .venv with graphwire and its test
# extra, installed again only when pyproject.toml changed (the install is
# editable: source changes need none).
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "graphwire needs Python 3.11 or newer as python3 (found $(python3 --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
_stamp=.venv/.graphwire-installed
_want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
  echo "$_want" > "$_stamp"
fi
