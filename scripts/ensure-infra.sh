#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ (with its management plugin) are up.
# Safe to run any number of times; used by `make run`, `make test` and .ci/run.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 60); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# Every service process keeps a connection pool: a `make run` suite and the
# tests' suites side by side need more than PostgreSQL's default 100.
WANT_CONNECTIONS=400
have=$(psql -h 127.0.0.1 -U postgres -Atc "show max_connections" 2>/dev/null || echo "$WANT_CONNECTIONS")
if [ "$have" -lt "$WANT_CONNECTIONS" ]; then
  echo "raising PostgreSQL max_connections from $have to $WANT_CONNECTIONS (restart)"
  psql -h 127.0.0.1 -U postgres -qc "ALTER SYSTEM SET max_connections = $WANT_CONNECTIONS"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart
  for _ in $(seq 60); do pg_up && break; sleep 1; done
fi

rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! rabbit_up; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 90); do rabbit_up && break; sleep 1; done
fi
rabbit_up || { echo "RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
rabbitmqctl await_startup >/dev/null 2>&1 || true

mgmt_up() { curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; }
if ! mgmt_up; then
  rabbitmq-plugins enable rabbitmq_management >/dev/null
  for _ in $(seq 60); do mgmt_up && break; sleep 1; done
fi
mgmt_up || { echo "RabbitMQ management API is not reachable on 127.0.0.1:15672" >&2; exit 1; }

# Queue depth and consumers for Prometheus (port 15692; the alert rules use them).
prom_up() { curl -fsS http://127.0.0.1:15692/metrics/detailed?family=queue_consumer_count >/dev/null 2>&1; }
if ! prom_up; then
  rabbitmq-plugins enable rabbitmq_prometheus >/dev/null
  for _ in $(seq 60); do prom_up && break; sleep 1; done
fi
prom_up || { echo "RabbitMQ's Prometheus endpoint is not reachable on 127.0.0.1:15692" >&2; exit 1; }

# Least privilege on the broker: one RabbitMQ user per process, with only the
# permissions it needs (servicekit.broker_users; development passwords under
# APP_ENV=development, else <SERVICE>_BROKER_PASSWORD). The test suite does the
# same in each of its private vhosts.
PYTHON=${PYTHON:-.venv/bin/python}
if [ -x "$PYTHON" ]; then
  PYTHONWARNINGS=ignore "$PYTHON" -m servicekit.broker_users >/dev/null \
    || { echo "could not set up the broker users (python -m servicekit.broker_users)" >&2; exit 1; }
else
  echo "no $PYTHON yet: run 'python -m servicekit.broker_users' once it is installed" >&2
fi

# Debian's prometheus (promtool) and prometheus-alertmanager (amtool) check and run the
# alert rules and the alert routing in the tests (tests/deploy/test_monitoring.py, test_alerting.py).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null || ! command -v amtool >/dev/null; then
  echo "installing Debian's prometheus and prometheus-alertmanager packages"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager >/dev/null \
    || echo "could not install prometheus: tests/deploy/test_monitoring.py and test_alerting.py will fail" >&2
fi
# Debian's Chromium: the console's real-browser tests (tests/browser) drive it headless through
# Playwright, by its executable path (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq chromium >/dev/null \
    || echo "could not install chromium: tests/browser will fail" >&2
fi
# Debian's xmlsec1: pysaml2 (identity's SAML single sign-on) verifies and decrypts assertions
# with it (tests/e2e/test_sso_saml.py; the image installs it too: deploy/Dockerfile).
if ! command -v xmlsec1 >/dev/null; then
  echo "installing Debian's xmlsec1"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends xmlsec1 >/dev/null \
    || echo "could not install xmlsec1: SAML sign-in and tests/e2e/test_sso_saml.py will fail" >&2
fi
echo "infrastructure ready: PostgreSQL 127.0.0.1:5432, RabbitMQ 127.0.0.1:5672 (management :15672, metrics :15692; a broker user per process)"
