-- pg-exporter's login role (compose/postgres/entrypoint.sh runs this at every start): what the
-- built-in pg_monitor role grants (pg_read_all_settings, pg_read_all_stats, pg_stat_scan_tables)
-- and nothing else; the password is the secret postgres_monitor_password.
\set ON_ERROR_STOP on
\set monitor_password `cat /run/secrets/postgres_monitor_password`
SELECT 'CREATE ROLE clustermon_monitor'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clustermon_monitor')
\gexec
ALTER ROLE clustermon_monitor WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  NOBYPASSRLS CONNECTION LIMIT 10 PASSWORD :'monitor_password';
GRANT pg_monitor TO clustermon_monitor;
