-- The backend's database role: what the application needs, with the audit trail only appended to and read.
-- (README "Audit trail"; MLPS 2.0 / 等保2.0: audit records kept at least 6 months and protected from being
-- changed or deleted.)
--
-- Run it as the owner of the tables (the role that runs `flask db upgrade`), after every migration run; it can be
-- run again any time:
--
--     psql -v ON_ERROR_STOP=1 -v app_role=cagj_app -d cagj -f deploy/audit_role.sql
--
-- then let the login role the backend connects as (DATABASE_URL) act as it:   GRANT cagj_app TO cagj_web;
-- The backend must never connect as the owner (an owner may do anything to its own tables) nor as a superuser.
--
-- The result: SELECT, INSERT, UPDATE, DELETE on every table; on audit_logs only SELECT and INSERT (no UPDATE,
-- DELETE, TRUNCATE, REFERENCES or TRIGGER). Independently, migration 0010's trigger refuses UPDATE and DELETE on
-- audit_logs for everyone, the owner included.

SELECT format('CREATE ROLE %I NOLOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- the audit trail: appended to and read, never changed, deleted or emptied
REVOKE ALL ON audit_logs FROM :"app_role";
GRANT SELECT, INSERT ON audit_logs TO :"app_role";

-- tables and sequences the owner creates later (new migrations) get the ordinary privileges; run this file again
-- after each migration run all the same, so that audit_logs stays as above whatever a migration did
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
