-- Identity hardening (issue 15).
--
-- Single sign-on binds a user to the OpenID provider's subject at the first login; later logins
-- are matched by (issuer, subject), and one with the same email but another subject is refused.
-- NULLs are distinct in a unique index, so unbound users do not collide.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX uq_users_oidc_identity ON users (oidc_issuer, oidc_subject);

-- The per-user MFA attempt budget as counters that a verification reserves atomically (one
-- conditional UPDATE) before any secret is looked at: attempts in the current window, failures
-- since the last success, and verifications still running (counted as failures until settled).
ALTER TABLE users ADD COLUMN mfa_window_started_at TEXT;
ALTER TABLE users ADD COLUMN mfa_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_in_flight INTEGER NOT NULL DEFAULT 0;

-- Password logins reserve their attempt in auth_throttle the same way: a password is only
-- checked while failures + in_flight stays under the limit.
ALTER TABLE auth_throttle ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
