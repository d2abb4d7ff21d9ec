-- MFA: indexes for WebAuthn ceremonies (per-user lookups and the expiry purge) and for counting
-- a user's unused backup codes. Identical on SQLite and PostgreSQL.
CREATE INDEX ix_webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
CREATE INDEX ix_webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
CREATE INDEX ix_backup_codes_user_id_used_at ON backup_codes (user_id, used_at);
