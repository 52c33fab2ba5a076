#!/bin/sh
# The region's PostgreSQL, once, when its data folder is new (the official image runs /docker-entrypoint-initdb.d/*
# then; README "Production"): one database and role for HAPI FHIR, and for the service a database owned by its
# schema owner (ks_owner: `kansrijk db upgrade` migrates as it) with the service's own role (ks_service: what the
# instances run as; granted by the migrations only what they need, on the audit log SELECT and INSERT alone:
# service/db/migrate.py). Passwords come from the environment, passed to psql as variables (never in the SQL text).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v hapi_password="$HAPI_DB_PASSWORD" \
  -v owner_password="$KS_OWNER_DB_PASSWORD" \
  -v service_password="$KS_SERVICE_DB_PASSWORD" <<'SQL'
CREATE ROLE hapi LOGIN PASSWORD :'hapi_password';
CREATE DATABASE hapi OWNER hapi;
REVOKE ALL ON DATABASE hapi FROM PUBLIC;
CREATE ROLE ks_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE ks_service LOGIN PASSWORD :'service_password';
CREATE DATABASE kansrijk OWNER ks_owner;
REVOKE ALL ON DATABASE kansrijk FROM PUBLIC;
GRANT CONNECT ON DATABASE kansrijk TO ks_service;
SQL
