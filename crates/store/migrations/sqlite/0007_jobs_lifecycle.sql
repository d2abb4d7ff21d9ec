-- Job lifecycle (issue 12).
--
-- `failed`: a permanent error (the remote said no; retrying cannot help until someone fixes
-- something), as opposed to `dead`: transient errors until max_attempts ran out. `discarded`:
-- an admin gave up on the job. An admin may re-queue failed, dead and discarded jobs.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (nothing references jobs).
CREATE TABLE jobs_new (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id                  BLOB NOT NULL,
    kind                       TEXT NOT NULL,
    payload                    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    idempotency_key            TEXT,
    status                     TEXT NOT NULL DEFAULT 'queued'
                               CONSTRAINT ck_jobs_status
                               CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'discarded')),
    attempts                   INTEGER NOT NULL DEFAULT 0,
    max_attempts               INTEGER NOT NULL CONSTRAINT ck_jobs_max_attempts CHECK (max_attempts >= 1),
    run_at                     TEXT NOT NULL,
    locked_by                  TEXT,
    locked_until               TEXT,
    last_error                 TEXT,
    deploy_approval_request_id INTEGER REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL,
    -- When the job reached a final state (succeeded, failed, dead, discarded).
    finished_at                TEXT,
    -- Last lease renewal by the worker running it (a long call keeps its lease this way).
    heartbeat_at               TEXT
);
INSERT INTO jobs_new (id, public_id, kind, payload, idempotency_key, status, attempts, max_attempts,
                      run_at, locked_by, locked_until, last_error, deploy_approval_request_id,
                      created_at, updated_at)
    SELECT id, public_id, kind, payload, idempotency_key, status, attempts, max_attempts,
           run_at, locked_by, locked_until, last_error, deploy_approval_request_id,
           created_at, updated_at
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE UNIQUE INDEX uq_jobs_public_id ON jobs (public_id);
CREATE UNIQUE INDEX uq_jobs_idempotency_key ON jobs (idempotency_key);
CREATE INDEX ix_jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX ix_jobs_deploy_approval_request_id ON jobs (deploy_approval_request_id);
CREATE INDEX ix_jobs_running_lease ON jobs (locked_until) WHERE status = 'running';

-- What an integration learnt about a request and must find again on a later job or a retry:
-- the GitHub PR comment id to edit in place, the CircleCI approval already sent. The primary
-- key makes "first writer wins" atomic when two workers race.
CREATE TABLE integration_refs (
    deploy_approval_request_id INTEGER NOT NULL REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    name                       TEXT NOT NULL,
    value                      TEXT NOT NULL,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL,
    PRIMARY KEY (deploy_approval_request_id, name)
);
