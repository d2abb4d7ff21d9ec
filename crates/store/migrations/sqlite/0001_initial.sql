-- rack-gateway initial schema (SQLite). Keep in step with migrations/postgres/0001_initial.sql:
-- same tables, columns, constraint names and trigger messages.
-- Types: UUID -> BLOB (16 bytes), TIMESTAMPTZ -> TEXT (UTC, fixed-width RFC 3339 with microseconds,
-- written by the application so that text order is time order), JSONB -> TEXT, BYTEA -> BLOB.
-- Unique indexes are named uq_<table>_<columns> (see StoreError mapping in src/error.rs).

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id            BLOB NOT NULL,
    email                TEXT NOT NULL CONSTRAINT ck_users_email_lower CHECK (email = lower(email) AND email <> ''),
    name                 TEXT NOT NULL DEFAULT '',
    role                 TEXT NOT NULL CONSTRAINT ck_users_role CHECK (role IN ('viewer', 'ops', 'deployer', 'admin')),
    password_hash        TEXT,
    is_service           BOOLEAN NOT NULL DEFAULT FALSE,
    suspended_at         TEXT,
    locked_at            TEXT,
    lock_reason          TEXT,
    failed_login_count   INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at TEXT,
    login_locked_until   TEXT,
    mfa_enforced         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    deleted_at           TEXT
);
CREATE UNIQUE INDEX uq_users_public_id ON users (public_id);
CREATE UNIQUE INDEX uq_users_email ON users (email);

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id           BLOB NOT NULL,
    token_hash          BLOB NOT NULL,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    channel             TEXT NOT NULL CONSTRAINT ck_sessions_channel CHECK (channel IN ('web', 'cli')),
    created_at          TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    idle_expires_at     TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    mfa_verified_at     TEXT,
    mfa_method          TEXT,
    ip                  TEXT,
    user_agent          TEXT,
    revoked_at          TEXT,
    revoked_by_user_id  INTEGER REFERENCES users (id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX uq_sessions_public_id ON sessions (public_id);
CREATE UNIQUE INDEX uq_sessions_token_hash ON sessions (token_hash);
CREATE INDEX ix_sessions_user_id ON sessions (user_id);

CREATE TABLE login_flows (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id                BLOB NOT NULL,
    state                    TEXT NOT NULL,
    kind                     TEXT NOT NULL CONSTRAINT ck_login_flows_kind CHECK (kind IN ('web', 'cli')),
    nonce                    TEXT NOT NULL,
    pkce_verifier_ciphertext BLOB,
    redirect_to              TEXT,
    user_id                  INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    session_id               INTEGER REFERENCES sessions (id) ON DELETE RESTRICT,
    status                   TEXT NOT NULL DEFAULT 'started'
                             CONSTRAINT ck_login_flows_status CHECK (status IN ('started', 'completed', 'consumed', 'failed')),
    created_at               TEXT NOT NULL,
    expires_at               TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_login_flows_public_id ON login_flows (public_id);
CREATE UNIQUE INDEX uq_login_flows_state ON login_flows (state);

CREATE TABLE auth_throttle (
    key               TEXT PRIMARY KEY NOT NULL,
    failures          INTEGER NOT NULL DEFAULT 0,
    window_started_at TEXT NOT NULL,
    locked_until      TEXT
);

CREATE TABLE api_tokens (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id          BLOB NOT NULL,
    name               TEXT NOT NULL,
    token_hash         BLOB NOT NULL,
    owner_user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_by_user_id INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    role               TEXT CONSTRAINT ck_api_tokens_role CHECK (role IN ('viewer', 'ops', 'deployer', 'admin', 'cicd')),
    permissions        TEXT NOT NULL DEFAULT '[]',
    expires_at         TEXT,
    last_used_at       TEXT,
    revoked_at         TEXT,
    created_at         TEXT NOT NULL,
    CONSTRAINT ck_api_tokens_scope CHECK (
        json_valid(permissions) AND json_type(permissions) = 'array'
        AND (role IS NOT NULL OR json_array_length(permissions) > 0)
    )
);
CREATE UNIQUE INDEX uq_api_tokens_public_id ON api_tokens (public_id);
CREATE UNIQUE INDEX uq_api_tokens_name ON api_tokens (name);
CREATE UNIQUE INDEX uq_api_tokens_token_hash ON api_tokens (token_hash);
CREATE INDEX ix_api_tokens_owner_user_id ON api_tokens (owner_user_id);

CREATE TABLE totp_credentials (
    user_id           INTEGER PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    secret_ciphertext BLOB NOT NULL,
    secret_nonce      BLOB NOT NULL,
    confirmed_at      TEXT,
    last_used_step    INTEGER,
    created_at        TEXT NOT NULL
);

CREATE TABLE webauthn_credentials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     BLOB NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name          TEXT NOT NULL,
    credential_id BLOB NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE UNIQUE INDEX uq_webauthn_credentials_public_id ON webauthn_credentials (public_id);
CREATE UNIQUE INDEX uq_webauthn_credentials_credential_id ON webauthn_credentials (credential_id);
CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind       TEXT NOT NULL CONSTRAINT ck_webauthn_ceremonies_kind CHECK (kind IN ('register', 'authenticate')),
    state      TEXT NOT NULL,
    binding    TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE TABLE backup_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    code_hash  BLOB NOT NULL,
    generation INTEGER NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_backup_codes_user_id_code_hash ON backup_codes (user_id, code_hash);

CREATE TABLE mfa_attempts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    method  TEXT NOT NULL CONSTRAINT ck_mfa_attempts_method CHECK (method IN ('totp', 'webauthn', 'backup_code')),
    success BOOLEAN NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX ix_mfa_attempts_user_id_at ON mfa_attempts (user_id, at);

CREATE TABLE deploy_approval_requests (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id               BLOB NOT NULL,
    app                     TEXT NOT NULL CONSTRAINT ck_deploy_approval_requests_app CHECK (app <> ''),
    git_commit_hash         TEXT NOT NULL
                            CONSTRAINT ck_deploy_approval_requests_git_commit_hash
                            CHECK (length(git_commit_hash) = 40 AND git_commit_hash NOT GLOB '*[^0-9a-f]*'),
    git_branch              TEXT,
    pr_url                  TEXT,
    ci_metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(ci_metadata)),
    message                 TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'pending'
                            CONSTRAINT ck_deploy_approval_requests_status
                            CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'deployed')),
    target_api_token_id     INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE RESTRICT,
    created_by_user_id      INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    created_by_api_token_id INTEGER REFERENCES api_tokens (id) ON DELETE RESTRICT,
    required_approvals      INTEGER NOT NULL DEFAULT 1
                            CONSTRAINT ck_deploy_approval_requests_required_approvals CHECK (required_approvals >= 1),
    approved_at             TEXT,
    approval_expires_at     TEXT,
    rejected_by_user_id     INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    rejected_at             TEXT,
    rejection_notes         TEXT,
    expired_at              TEXT,
    deployed_at             TEXT,
    object_url              TEXT CONSTRAINT ck_deploy_approval_requests_object_url CHECK (object_url <> ''),
    build_id                TEXT CONSTRAINT ck_deploy_approval_requests_build_id CHECK (build_id <> ''),
    release_id              TEXT CONSTRAINT ck_deploy_approval_requests_release_id CHECK (release_id <> ''),
    process_ids             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(process_ids)),
    exec_commands           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(exec_commands)),
    pending_expires_at      TEXT NOT NULL,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    CONSTRAINT ck_deploy_approval_requests_deployed_release CHECK (status <> 'deployed' OR release_id IS NOT NULL)
);
CREATE UNIQUE INDEX uq_deploy_approval_requests_public_id ON deploy_approval_requests (public_id);
CREATE UNIQUE INDEX uq_deploy_approval_requests_open
    ON deploy_approval_requests (app, git_commit_hash, target_api_token_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX ix_deploy_approval_requests_status ON deploy_approval_requests (status);
CREATE INDEX ix_deploy_approval_requests_git_commit_hash ON deploy_approval_requests (git_commit_hash);
CREATE INDEX ix_deploy_approval_requests_target_api_token_id ON deploy_approval_requests (target_api_token_id);
CREATE INDEX ix_deploy_approval_requests_created_at ON deploy_approval_requests (created_at);

CREATE TABLE deploy_approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  INTEGER NOT NULL REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    notes       TEXT,
    mfa_method  TEXT NOT NULL CONSTRAINT ck_deploy_approvals_mfa_method CHECK (mfa_method IN ('totp', 'webauthn', 'backup_code')),
    approved_at TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_deploy_approvals_request_id_user_id ON deploy_approvals (request_id, user_id);

-- The lifecycle rules of a deploy approval request, enforced for every writer. One trigger with an
-- ordered CASE so that the first failing rule names the problem (same order as PostgreSQL).
CREATE TRIGGER trg_deploy_approval_requests_before_update
BEFORE UPDATE ON deploy_approval_requests
FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN OLD.status = 'rejected' THEN RAISE(ABORT, 'deploy approval request is rejected and can no longer change')
        WHEN OLD.status = 'expired' THEN RAISE(ABORT, 'deploy approval request is expired and can no longer change')
        WHEN OLD.status = 'deployed' THEN RAISE(ABORT, 'deploy approval request is deployed and can no longer change')
        WHEN NEW.id IS NOT OLD.id OR NEW.public_id IS NOT OLD.public_id OR NEW.app IS NOT OLD.app
             OR NEW.git_commit_hash IS NOT OLD.git_commit_hash OR NEW.target_api_token_id IS NOT OLD.target_api_token_id
             OR NEW.required_approvals IS NOT OLD.required_approvals OR NEW.created_at IS NOT OLD.created_at
             OR NEW.created_by_user_id IS NOT OLD.created_by_user_id
             OR NEW.created_by_api_token_id IS NOT OLD.created_by_api_token_id
            THEN RAISE(ABORT, 'the identity of a deploy approval request (public_id, app, git_commit_hash, target_api_token_id, creator, required_approvals, created_at) cannot change')
        WHEN OLD.status = 'pending' AND NEW.status NOT IN ('pending', 'approved', 'rejected', 'expired')
            THEN RAISE(ABORT, 'a pending request can only become approved, rejected or expired')
        WHEN OLD.status = 'approved' AND NEW.status NOT IN ('approved', 'rejected', 'expired', 'deployed')
            THEN RAISE(ABORT, 'an approved request can only become rejected, expired or deployed')
        WHEN NEW.status = 'approved' AND OLD.status = 'pending'
             AND (SELECT count(*) FROM deploy_approvals WHERE request_id = NEW.id) < NEW.required_approvals
            THEN RAISE(ABORT, 'status can only become approved once enough approvals are recorded')
        WHEN NEW.status = 'deployed' AND NEW.release_id IS NULL
            THEN RAISE(ABORT, 'status can only become deployed after release_id is set')
        WHEN NEW.object_url IS NOT OLD.object_url AND OLD.object_url IS NOT NULL
            THEN RAISE(ABORT, 'object_url is already set')
        WHEN NEW.object_url IS NOT OLD.object_url AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'object_url can only be set while the request is approved')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.build_id IS NOT NULL
            THEN RAISE(ABORT, 'build_id is already set')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'build_id can only be set while the request is approved')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.object_url IS NULL
            THEN RAISE(ABORT, 'build_id can only be set after object_url')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.release_id IS NOT NULL
            THEN RAISE(ABORT, 'release_id is already set')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'release_id can only be set while the request is approved')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.build_id IS NULL
            THEN RAISE(ABORT, 'release_id can only be set after build_id')
    END;
END;

CREATE TRIGGER trg_deploy_approval_requests_before_insert
BEFORE INSERT ON deploy_approval_requests
FOR EACH ROW
WHEN NEW.status <> 'pending' OR NEW.object_url IS NOT NULL OR NEW.build_id IS NOT NULL
     OR NEW.release_id IS NOT NULL OR NEW.approved_at IS NOT NULL OR NEW.deployed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a deploy approval request must be created pending, without approvals or artefacts');
END;

CREATE TRIGGER trg_deploy_approval_requests_before_delete
BEFORE DELETE ON deploy_approval_requests
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'deploy approval requests cannot be deleted');
END;

CREATE TRIGGER trg_deploy_approvals_before_insert
BEFORE INSERT ON deploy_approvals
FOR EACH ROW
BEGIN
    SELECT CASE
        WHEN (SELECT status FROM deploy_approval_requests WHERE id = NEW.request_id) IS NOT 'pending'
            THEN RAISE(ABORT, 'only a pending deploy approval request can be approved')
        WHEN (SELECT created_by_user_id FROM deploy_approval_requests WHERE id = NEW.request_id) = NEW.user_id
            THEN RAISE(ABORT, 'the creator of a deploy approval request cannot approve it')
    END;
END;

CREATE TRIGGER trg_deploy_approvals_no_update
BEFORE UPDATE ON deploy_approvals
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'deploy approvals cannot be changed or deleted');
END;

CREATE TRIGGER trg_deploy_approvals_no_delete
BEFORE DELETE ON deploy_approvals
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'deploy approvals cannot be changed or deleted');
END;

CREATE TABLE settings (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    scope              TEXT NOT NULL DEFAULT '',
    key                TEXT NOT NULL CONSTRAINT ck_settings_key CHECK (key <> ''),
    value              TEXT NOT NULL CHECK (json_valid(value)),
    updated_by_user_id INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    updated_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_settings_scope_key ON settings (scope, key);

-- Append-only, hash-chained audit log. No foreign keys: rows must outlive what they describe.
CREATE TABLE audit_events (
    seq                        INTEGER PRIMARY KEY NOT NULL CONSTRAINT ck_audit_events_seq CHECK (seq >= 1),
    event_id                   BLOB NOT NULL,
    occurred_at                TEXT NOT NULL,
    actor_type                 TEXT NOT NULL
                               CONSTRAINT ck_audit_events_actor_type CHECK (actor_type IN ('user', 'token', 'system', 'anonymous')),
    actor_user_id              INTEGER,
    actor_email                TEXT,
    actor_token_id             BLOB,
    actor_token_name           TEXT,
    ip                         TEXT,
    user_agent                 TEXT,
    request_id                 TEXT,
    action                     TEXT NOT NULL,
    resource                   TEXT,
    app                        TEXT,
    outcome                    TEXT NOT NULL
                               CONSTRAINT ck_audit_events_outcome CHECK (outcome IN ('success', 'denied', 'failed', 'error')),
    http_status                INTEGER,
    latency_ms                 INTEGER,
    deploy_approval_request_id BLOB,
    details                    TEXT NOT NULL DEFAULT '{}',
    prev_mac                   BLOB NOT NULL,
    mac                        BLOB NOT NULL
);
CREATE UNIQUE INDEX uq_audit_events_event_id ON audit_events (event_id);
CREATE INDEX ix_audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX ix_audit_events_action ON audit_events (action);
CREATE INDEX ix_audit_events_actor_email ON audit_events (actor_email);
CREATE INDEX ix_audit_events_app ON audit_events (app);
CREATE INDEX ix_audit_events_request_id ON audit_events (request_id);
CREATE INDEX ix_audit_events_deploy_approval_request_id ON audit_events (deploy_approval_request_id);

CREATE TRIGGER trg_audit_events_no_update
BEFORE UPDATE ON audit_events
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- A trigger on the table also disables SQLite's truncate optimisation for DELETE without WHERE.
CREATE TRIGGER trg_audit_events_no_delete
BEFORE DELETE ON audit_events
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE audit_chain_head (
    id  INTEGER PRIMARY KEY NOT NULL CONSTRAINT ck_audit_chain_head_id CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac BLOB NOT NULL
);
INSERT INTO audit_chain_head (id, seq, mac) VALUES (1, 0, zeroblob(32));

CREATE TRIGGER trg_audit_chain_head_no_delete
BEFORE DELETE ON audit_chain_head
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'the audit chain head cannot be deleted');
END;

-- Durable outbox for outbound calls, enqueued in the same transaction as the state change.
CREATE TABLE jobs (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id                  BLOB NOT NULL,
    kind                       TEXT NOT NULL,
    payload                    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    idempotency_key            TEXT,
    status                     TEXT NOT NULL DEFAULT 'queued'
                               CONSTRAINT ck_jobs_status CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
    attempts                   INTEGER NOT NULL DEFAULT 0,
    max_attempts               INTEGER NOT NULL CONSTRAINT ck_jobs_max_attempts CHECK (max_attempts >= 1),
    run_at                     TEXT NOT NULL,
    locked_by                  TEXT,
    locked_until               TEXT,
    last_error                 TEXT,
    deploy_approval_request_id INTEGER REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_jobs_public_id ON jobs (public_id);
CREATE UNIQUE INDEX uq_jobs_idempotency_key ON jobs (idempotency_key);
CREATE INDEX ix_jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX ix_jobs_deploy_approval_request_id ON jobs (deploy_approval_request_id);
