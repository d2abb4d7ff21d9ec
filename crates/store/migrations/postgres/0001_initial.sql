-- rack-gateway initial schema (PostgreSQL). Keep in step with migrations/sqlite/0001_initial.sql:
-- same tables, columns, constraint names and trigger messages.
-- Timestamps are always bound from the application (never now()), in UTC, microsecond precision.
-- Unique constraints are named uq_<table>_<columns> (see StoreError mapping in src/error.rs).

CREATE TABLE users (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id            UUID NOT NULL CONSTRAINT uq_users_public_id UNIQUE,
    email                TEXT NOT NULL CONSTRAINT uq_users_email UNIQUE
                         CONSTRAINT ck_users_email_lower CHECK (email = lower(email) AND email <> ''),
    name                 TEXT NOT NULL DEFAULT '',
    role                 TEXT NOT NULL CONSTRAINT ck_users_role CHECK (role IN ('viewer', 'ops', 'deployer', 'admin')),
    password_hash        TEXT,
    is_service           BOOLEAN NOT NULL DEFAULT FALSE,
    suspended_at         TIMESTAMPTZ,
    locked_at            TIMESTAMPTZ,
    lock_reason          TEXT,
    failed_login_count   BIGINT NOT NULL DEFAULT 0,
    last_failed_login_at TIMESTAMPTZ,
    login_locked_until   TIMESTAMPTZ,
    mfa_enforced         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    deleted_at           TIMESTAMPTZ
);

CREATE TABLE sessions (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id           UUID NOT NULL CONSTRAINT uq_sessions_public_id UNIQUE,
    token_hash          BYTEA NOT NULL CONSTRAINT uq_sessions_token_hash UNIQUE,
    user_id             BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    channel             TEXT NOT NULL CONSTRAINT ck_sessions_channel CHECK (channel IN ('web', 'cli')),
    created_at          TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    mfa_verified_at     TIMESTAMPTZ,
    mfa_method          TEXT,
    ip                  TEXT,
    user_agent          TEXT,
    revoked_at          TIMESTAMPTZ,
    revoked_by_user_id  BIGINT REFERENCES users (id) ON DELETE RESTRICT
);
CREATE INDEX ix_sessions_user_id ON sessions (user_id);

CREATE TABLE login_flows (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id                UUID NOT NULL CONSTRAINT uq_login_flows_public_id UNIQUE,
    state                    TEXT NOT NULL CONSTRAINT uq_login_flows_state UNIQUE,
    kind                     TEXT NOT NULL CONSTRAINT ck_login_flows_kind CHECK (kind IN ('web', 'cli')),
    nonce                    TEXT NOT NULL,
    pkce_verifier_ciphertext BYTEA,
    redirect_to              TEXT,
    user_id                  BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    session_id               BIGINT REFERENCES sessions (id) ON DELETE RESTRICT,
    status                   TEXT NOT NULL DEFAULT 'started'
                             CONSTRAINT ck_login_flows_status CHECK (status IN ('started', 'completed', 'consumed', 'failed')),
    created_at               TIMESTAMPTZ NOT NULL,
    expires_at               TIMESTAMPTZ NOT NULL
);

CREATE TABLE auth_throttle (
    key               TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL DEFAULT 0,
    window_started_at TIMESTAMPTZ NOT NULL,
    locked_until      TIMESTAMPTZ
);

CREATE TABLE api_tokens (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id          UUID NOT NULL CONSTRAINT uq_api_tokens_public_id UNIQUE,
    name               TEXT NOT NULL CONSTRAINT uq_api_tokens_name UNIQUE,
    token_hash         BYTEA NOT NULL CONSTRAINT uq_api_tokens_token_hash UNIQUE,
    owner_user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_by_user_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    role               TEXT CONSTRAINT ck_api_tokens_role CHECK (role IN ('viewer', 'ops', 'deployer', 'admin', 'cicd')),
    permissions        JSONB NOT NULL DEFAULT '[]',
    expires_at         TIMESTAMPTZ,
    last_used_at       TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT ck_api_tokens_scope CHECK (
        jsonb_typeof(permissions) = 'array' AND (role IS NOT NULL OR jsonb_array_length(permissions) > 0)
    )
);
CREATE INDEX ix_api_tokens_owner_user_id ON api_tokens (owner_user_id);

CREATE TABLE totp_credentials (
    user_id           BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE RESTRICT,
    secret_ciphertext BYTEA NOT NULL,
    secret_nonce      BYTEA NOT NULL,
    confirmed_at      TIMESTAMPTZ,
    last_used_step    BIGINT,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE webauthn_credentials (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id     UUID NOT NULL CONSTRAINT uq_webauthn_credentials_public_id UNIQUE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name          TEXT NOT NULL,
    credential_id BYTEA NOT NULL CONSTRAINT uq_webauthn_credentials_credential_id UNIQUE,
    passkey       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);
CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    id         UUID PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind       TEXT NOT NULL CONSTRAINT ck_webauthn_ceremonies_kind CHECK (kind IN ('register', 'authenticate')),
    state      JSONB NOT NULL,
    binding    JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);

CREATE TABLE backup_codes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    code_hash  BYTEA NOT NULL,
    generation BIGINT NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_backup_codes_user_id_code_hash UNIQUE (user_id, code_hash)
);

CREATE TABLE mfa_attempts (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    method  TEXT NOT NULL CONSTRAINT ck_mfa_attempts_method CHECK (method IN ('totp', 'webauthn', 'backup_code')),
    success BOOLEAN NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_mfa_attempts_user_id_at ON mfa_attempts (user_id, at);

CREATE TABLE deploy_approval_requests (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id               UUID NOT NULL CONSTRAINT uq_deploy_approval_requests_public_id UNIQUE,
    app                     TEXT NOT NULL CONSTRAINT ck_deploy_approval_requests_app CHECK (app <> ''),
    git_commit_hash         TEXT NOT NULL
                            CONSTRAINT ck_deploy_approval_requests_git_commit_hash CHECK (git_commit_hash ~ '^[0-9a-f]{40}$'),
    git_branch              TEXT,
    pr_url                  TEXT,
    ci_metadata             JSONB NOT NULL DEFAULT '{}',
    message                 TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'pending'
                            CONSTRAINT ck_deploy_approval_requests_status
                            CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'deployed')),
    target_api_token_id     BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE RESTRICT,
    created_by_user_id      BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    created_by_api_token_id BIGINT REFERENCES api_tokens (id) ON DELETE RESTRICT,
    required_approvals      BIGINT NOT NULL DEFAULT 1
                            CONSTRAINT ck_deploy_approval_requests_required_approvals CHECK (required_approvals >= 1),
    approved_at             TIMESTAMPTZ,
    approval_expires_at     TIMESTAMPTZ,
    rejected_by_user_id     BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    rejected_at             TIMESTAMPTZ,
    rejection_notes         TEXT,
    expired_at              TIMESTAMPTZ,
    deployed_at             TIMESTAMPTZ,
    object_url              TEXT CONSTRAINT ck_deploy_approval_requests_object_url CHECK (object_url <> ''),
    build_id                TEXT CONSTRAINT ck_deploy_approval_requests_build_id CHECK (build_id <> ''),
    release_id              TEXT CONSTRAINT ck_deploy_approval_requests_release_id CHECK (release_id <> ''),
    process_ids             JSONB NOT NULL DEFAULT '[]',
    exec_commands           JSONB NOT NULL DEFAULT '{}',
    pending_expires_at      TIMESTAMPTZ NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    CONSTRAINT ck_deploy_approval_requests_deployed_release CHECK (status <> 'deployed' OR release_id IS NOT NULL)
);
CREATE UNIQUE INDEX uq_deploy_approval_requests_open
    ON deploy_approval_requests (app, git_commit_hash, target_api_token_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX ix_deploy_approval_requests_status ON deploy_approval_requests (status);
CREATE INDEX ix_deploy_approval_requests_git_commit_hash ON deploy_approval_requests (git_commit_hash);
CREATE INDEX ix_deploy_approval_requests_target_api_token_id ON deploy_approval_requests (target_api_token_id);
CREATE INDEX ix_deploy_approval_requests_created_at ON deploy_approval_requests (created_at);

CREATE TABLE deploy_approvals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  BIGINT NOT NULL REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    notes       TEXT,
    mfa_method  TEXT NOT NULL CONSTRAINT ck_deploy_approvals_mfa_method CHECK (mfa_method IN ('totp', 'webauthn', 'backup_code')),
    approved_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_deploy_approvals_request_id_user_id UNIQUE (request_id, user_id)
);

-- The lifecycle rules of a deploy approval request, enforced for every writer.
-- Order matters: the first failing rule names the problem. Same order as the SQLite trigger.
CREATE FUNCTION rgw_deploy_approval_requests_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Messages are literals so that they match SQLite, where RAISE takes only a literal.
    IF OLD.status = 'rejected' THEN
        RAISE EXCEPTION 'deploy approval request is rejected and can no longer change' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'expired' THEN
        RAISE EXCEPTION 'deploy approval request is expired and can no longer change' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'deployed' THEN
        RAISE EXCEPTION 'deploy approval request is deployed and can no longer change' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.public_id <> OLD.public_id OR NEW.app <> OLD.app
       OR NEW.git_commit_hash <> OLD.git_commit_hash OR NEW.target_api_token_id <> OLD.target_api_token_id
       OR NEW.required_approvals <> OLD.required_approvals OR NEW.created_at <> OLD.created_at
       OR NEW.created_by_user_id IS DISTINCT FROM OLD.created_by_user_id
       OR NEW.created_by_api_token_id IS DISTINCT FROM OLD.created_by_api_token_id THEN
        RAISE EXCEPTION 'the identity of a deploy approval request (public_id, app, git_commit_hash, target_api_token_id, creator, required_approvals, created_at) cannot change'
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'pending' AND NEW.status NOT IN ('pending', 'approved', 'rejected', 'expired') THEN
        RAISE EXCEPTION 'a pending request can only become approved, rejected or expired' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'approved' AND NEW.status NOT IN ('approved', 'rejected', 'expired', 'deployed') THEN
        RAISE EXCEPTION 'an approved request can only become rejected, expired or deployed' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'approved' AND OLD.status = 'pending'
       AND (SELECT count(*) FROM deploy_approvals WHERE request_id = NEW.id) < NEW.required_approvals THEN
        RAISE EXCEPTION 'status can only become approved once enough approvals are recorded'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'deployed' AND NEW.release_id IS NULL THEN
        RAISE EXCEPTION 'status can only become deployed after release_id is set'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.object_url IS DISTINCT FROM OLD.object_url THEN
        IF OLD.object_url IS NOT NULL THEN
            RAISE EXCEPTION 'object_url is already set' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status <> 'approved' THEN
            RAISE EXCEPTION 'object_url can only be set while the request is approved' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.build_id IS DISTINCT FROM OLD.build_id THEN
        IF OLD.build_id IS NOT NULL THEN
            RAISE EXCEPTION 'build_id is already set' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status <> 'approved' THEN
            RAISE EXCEPTION 'build_id can only be set while the request is approved' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.object_url IS NULL THEN
            RAISE EXCEPTION 'build_id can only be set after object_url' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.release_id IS DISTINCT FROM OLD.release_id THEN
        IF OLD.release_id IS NOT NULL THEN
            RAISE EXCEPTION 'release_id is already set' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status <> 'approved' THEN
            RAISE EXCEPTION 'release_id can only be set while the request is approved' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.build_id IS NULL THEN
            RAISE EXCEPTION 'release_id can only be set after build_id' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_deploy_approval_requests_before_update
    BEFORE UPDATE ON deploy_approval_requests
    FOR EACH ROW EXECUTE FUNCTION rgw_deploy_approval_requests_before_update();

CREATE FUNCTION rgw_deploy_approval_requests_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'pending' OR NEW.object_url IS NOT NULL OR NEW.build_id IS NOT NULL
       OR NEW.release_id IS NOT NULL OR NEW.approved_at IS NOT NULL OR NEW.deployed_at IS NOT NULL THEN
        RAISE EXCEPTION 'a deploy approval request must be created pending, without approvals or artefacts'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_deploy_approval_requests_before_insert
    BEFORE INSERT ON deploy_approval_requests
    FOR EACH ROW EXECUTE FUNCTION rgw_deploy_approval_requests_before_insert();

CREATE FUNCTION rgw_deploy_approval_requests_before_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deploy approval requests cannot be deleted' USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER trg_deploy_approval_requests_before_delete
    BEFORE DELETE ON deploy_approval_requests
    FOR EACH ROW EXECUTE FUNCTION rgw_deploy_approval_requests_before_delete();

CREATE FUNCTION rgw_deploy_approvals_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    req_status  TEXT;
    req_creator BIGINT;
BEGIN
    SELECT status, created_by_user_id INTO req_status, req_creator
        FROM deploy_approval_requests WHERE id = NEW.request_id;
    IF req_status IS DISTINCT FROM 'pending' THEN
        RAISE EXCEPTION 'only a pending deploy approval request can be approved' USING ERRCODE = 'check_violation';
    END IF;
    IF req_creator = NEW.user_id THEN
        RAISE EXCEPTION 'the creator of a deploy approval request cannot approve it' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_deploy_approvals_before_insert
    BEFORE INSERT ON deploy_approvals
    FOR EACH ROW EXECUTE FUNCTION rgw_deploy_approvals_before_insert();

CREATE FUNCTION rgw_deploy_approvals_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deploy approvals cannot be changed or deleted' USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER trg_deploy_approvals_immutable
    BEFORE UPDATE OR DELETE ON deploy_approvals
    FOR EACH ROW EXECUTE FUNCTION rgw_deploy_approvals_immutable();

CREATE TABLE settings (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope              TEXT NOT NULL DEFAULT '',
    key                TEXT NOT NULL CONSTRAINT ck_settings_key CHECK (key <> ''),
    value              JSONB NOT NULL,
    updated_by_user_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_settings_scope_key UNIQUE (scope, key)
);

-- Append-only, hash-chained audit log. No foreign keys: rows must outlive what they describe.
CREATE TABLE audit_events (
    seq                        BIGINT PRIMARY KEY CONSTRAINT ck_audit_events_seq CHECK (seq >= 1),
    event_id                   UUID NOT NULL CONSTRAINT uq_audit_events_event_id UNIQUE,
    occurred_at                TIMESTAMPTZ NOT NULL,
    actor_type                 TEXT NOT NULL
                               CONSTRAINT ck_audit_events_actor_type CHECK (actor_type IN ('user', 'token', 'system', 'anonymous')),
    actor_user_id              BIGINT,
    actor_email                TEXT,
    actor_token_id             UUID,
    actor_token_name           TEXT,
    ip                         TEXT,
    user_agent                 TEXT,
    request_id                 TEXT,
    action                     TEXT NOT NULL,
    resource                   TEXT,
    app                        TEXT,
    outcome                    TEXT NOT NULL
                               CONSTRAINT ck_audit_events_outcome CHECK (outcome IN ('success', 'denied', 'failed', 'error')),
    http_status                BIGINT,
    latency_ms                 BIGINT,
    deploy_approval_request_id UUID,
    details                    JSONB NOT NULL DEFAULT '{}',
    prev_mac                   BYTEA NOT NULL,
    mac                        BYTEA NOT NULL
);
CREATE INDEX ix_audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX ix_audit_events_action ON audit_events (action);
CREATE INDEX ix_audit_events_actor_email ON audit_events (actor_email);
CREATE INDEX ix_audit_events_app ON audit_events (app);
CREATE INDEX ix_audit_events_request_id ON audit_events (request_id);
CREATE INDEX ix_audit_events_deploy_approval_request_id ON audit_events (deploy_approval_request_id);

CREATE FUNCTION rgw_audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER trg_audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION rgw_audit_events_append_only();
-- Row triggers do not fire on TRUNCATE.
CREATE TRIGGER trg_audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION rgw_audit_events_append_only();

CREATE TABLE audit_chain_head (
    id  BIGINT PRIMARY KEY CONSTRAINT ck_audit_chain_head_id CHECK (id = 1),
    seq BIGINT NOT NULL,
    mac BYTEA NOT NULL
);
INSERT INTO audit_chain_head (id, seq, mac) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE FUNCTION rgw_audit_chain_head_no_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit chain head cannot be deleted' USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER trg_audit_chain_head_no_delete
    BEFORE DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION rgw_audit_chain_head_no_delete();
CREATE TRIGGER trg_audit_chain_head_no_truncate
    BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION rgw_audit_chain_head_no_delete();

-- Durable outbox for outbound calls, enqueued in the same transaction as the state change.
CREATE TABLE jobs (
    id                         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id                  UUID NOT NULL CONSTRAINT uq_jobs_public_id UNIQUE,
    kind                       TEXT NOT NULL,
    payload                    JSONB NOT NULL DEFAULT '{}',
    idempotency_key            TEXT CONSTRAINT uq_jobs_idempotency_key UNIQUE,
    status                     TEXT NOT NULL DEFAULT 'queued'
                               CONSTRAINT ck_jobs_status CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
    attempts                   BIGINT NOT NULL DEFAULT 0,
    max_attempts               BIGINT NOT NULL CONSTRAINT ck_jobs_max_attempts CHECK (max_attempts >= 1),
    run_at                     TIMESTAMPTZ NOT NULL,
    locked_by                  TEXT,
    locked_until               TIMESTAMPTZ,
    last_error                 TEXT,
    deploy_approval_request_id BIGINT REFERENCES deploy_approval_requests (id) ON DELETE RESTRICT,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX ix_jobs_deploy_approval_request_id ON jobs (deploy_approval_request_id);
