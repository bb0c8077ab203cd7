-- Run once by the postgres image on an empty data directory, through
-- deploy/postgres/init.sh (docker-compose.yml), which passes each role's password
-- from the environment as a psql variable (<service>_password).
--
-- One database AND one role per service: a service's role owns its database and
-- nobody else may connect to it, so no service can read another's data
-- (architecture rule 1). The passwords come from <SERVICE>_DB_PASSWORD, the same
-- variable that docker-compose.yml puts into <SERVICE>_DATABASE_URL; production
-- databases get their own roles and secrets (see docs/operations.md).
--
-- A new service adds its block here, its variable in init.sh, its URL in
-- docker-compose.yml and deploy/k8s/secret.yaml; tests/deploy/test_compose.py fails until it does.

-- identity
CREATE ROLE identity LOGIN PASSWORD :'identity_password';
CREATE DATABASE identity OWNER identity;
REVOKE ALL ON DATABASE identity FROM PUBLIC;
GRANT ALL ON DATABASE identity TO identity;

-- programs
CREATE ROLE programs LOGIN PASSWORD :'programs_password';
CREATE DATABASE programs OWNER programs;
REVOKE ALL ON DATABASE programs FROM PUBLIC;
GRANT ALL ON DATABASE programs TO programs;

-- invitations
CREATE ROLE invitations LOGIN PASSWORD :'invitations_password';
CREATE DATABASE invitations OWNER invitations;
REVOKE ALL ON DATABASE invitations FROM PUBLIC;
GRANT ALL ON DATABASE invitations TO invitations;

-- reporting
CREATE ROLE reporting LOGIN PASSWORD :'reporting_password';
CREATE DATABASE reporting OWNER reporting;
REVOKE ALL ON DATABASE reporting FROM PUBLIC;
GRANT ALL ON DATABASE reporting TO reporting;

-- messaging
CREATE ROLE messaging LOGIN PASSWORD :'messaging_password';
CREATE DATABASE messaging OWNER messaging;
REVOKE ALL ON DATABASE messaging FROM PUBLIC;
GRANT ALL ON DATABASE messaging TO messaging;

-- skills
CREATE ROLE skills LOGIN PASSWORD :'skills_password';
CREATE DATABASE skills OWNER skills;
REVOKE ALL ON DATABASE skills FROM PUBLIC;
GRANT ALL ON DATABASE skills TO skills;
-- audit
CREATE ROLE audit LOGIN PASSWORD :'audit_password';
CREATE DATABASE audit OWNER audit;
REVOKE ALL ON DATABASE audit FROM PUBLIC;
GRANT ALL ON DATABASE audit TO audit;
