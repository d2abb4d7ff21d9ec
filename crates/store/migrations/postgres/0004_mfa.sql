-- MFA: indexes for WebAuthn ceremonies (per-user lookups and the expiry purge) and for counting
-- a user's unused backup codes. Identical on SQLite and PostgreSQL.
CREATE INDEX ix_webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
CREATE INDEX ix_webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
CREATE INDEX ix_backup_codes_user_id_used_at ON backup_codes (user_id, used_at);

-- Automatic MFA lockouts. Failures and attempts are counted only after the user's latest
-- lockout, so an admin's unlock gives a fresh budget instead of re-locking on the next typo.
CREATE TABLE mfa_lockouts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    locked_at TIMESTAMPTZ NOT NULL,
    failures  BIGINT NOT NULL
);
CREATE INDEX ix_mfa_lockouts_user_id_locked_at ON mfa_lockouts (user_id, locked_at);
