# Sourced by scripts/test and scripts/serve: a .venv with graphwire and its test extra.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
