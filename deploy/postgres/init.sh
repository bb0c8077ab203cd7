#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-compose.yml mounts
# it into /docker-entrypoint-initdb.d): deploy/postgres/init.sql with each service
# role's password from the environment (<SERVICE>_DB_PASSWORD; compose refuses to
# start without them).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v identity_password="$IDENTITY_DB_PASSWORD" \
  -v programs_password="$PROGRAMS_DB_PASSWORD" \
  -v invitations_password="$INVITATIONS_DB_PASSWORD" \
  -v messaging_password="$MESSAGING_DB_PASSWORD" \
  -v reporting_password="$REPORTING_DB_PASSWORD" \
  -v skills_password="$SKILLS_DB_PASSWORD" \
  -v audit_password="$AUDIT_DB_PASSWORD" \
  -f /learnadmin/init.sql
