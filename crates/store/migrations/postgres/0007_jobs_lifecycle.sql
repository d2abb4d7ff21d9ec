-- Job lifecycle (issue 12).
--
-- `failed`: a permanent error (the remote said no; retrying cannot help until someone fixes
-- something), as opposed to `dead`: transient errors until max_attempts ran out. `discarded`:
-- an admin gave up on the job. An admin may re-queue failed, dead and discarded jobs.
ALTER TABLE jobs DROP CONSTRAINT ck_jobs_status;
ALTER TABLE jobs ADD CONSTRAINT ck_jobs_status
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'discarded'));
-- When the job reached a final state (succeeded, failed, dead, discarded).
ALTER TABLE jobs ADD COLUMN finished_at TIMESTAMPTZ;
-- Last lease renewal by the worker running it (a long call keeps its lease this way).
ALTER TABLE jobs ADD COLUMN heartbeat_at TIMESTAMPTZ;
-- Expired leases are looked up on every claim.
CREATE INDEX ix_jobs_running_lease ON jobs (locked_until) WHERE status = 'running';

-- What an integration learnt about a request and must find again on a later job or a retry:
-- the GitHub PR comment id to edit in place, the CircleCI approval already sent. The primary
-- key makes "first writer wins" atomic when two workers race.
CREATE TABLE integration_refs (
    deploy_approval_request_id BIGINT NOT NULL REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    name                       TEXT NOT NULL,
    value                      TEXT NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_integration_refs PRIMARY KEY (deploy_approval_request_id, name)
);
