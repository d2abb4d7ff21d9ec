-- Change notifications (issue 14): gateways cache credentials and settings in memory and must
-- drop their copies when any replica, operator command or manual SQL changes the rows behind
-- them. These triggers NOTIFY after every such change; PostgreSQL delivers notifications only
-- when the transaction commits, so a listener never drops a copy before the change is visible.
--
-- Only columns that decide authentication are watched: the per-minute activity writes
-- (sessions.last_seen_at/idle_expires_at, api_tokens.last_used_at) do not flush every cache.

CREATE FUNCTION rgw_notify_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rgw_identity', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_users_notify
    AFTER UPDATE OF public_id, email, role, is_service, suspended_at, locked_at, deleted_at OR DELETE
    ON users FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_identity();

CREATE TRIGGER trg_sessions_notify
    AFTER UPDATE OF token_hash, user_id, channel, absolute_expires_at, mfa_verified_at, mfa_method, revoked_at
    OR DELETE ON sessions FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_identity();

CREATE TRIGGER trg_api_tokens_notify
    AFTER UPDATE OF token_hash, owner_user_id, role, permissions, expires_at, revoked_at OR DELETE
    ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_identity();

CREATE TRIGGER trg_totp_credentials_notify
    AFTER INSERT OR UPDATE OF confirmed_at, user_id OR DELETE
    ON totp_credentials FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_identity();

CREATE TRIGGER trg_webauthn_credentials_notify
    AFTER INSERT OR UPDATE OF user_id OR DELETE
    ON webauthn_credentials FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_identity();

CREATE FUNCTION rgw_notify_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rgw_settings', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_settings_notify
    AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION rgw_notify_settings();

-- Deploy approval requests: the public id of each changed request, so that event streams and
-- pages on every gateway wake at once (they also re-read on a short interval as a fallback).
CREATE FUNCTION rgw_notify_approval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rgw_approvals', NEW.public_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_deploy_approval_requests_notify
    AFTER INSERT OR UPDATE ON deploy_approval_requests
    FOR EACH ROW EXECUTE FUNCTION rgw_notify_approval();

CREATE FUNCTION rgw_notify_approval_vote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rgw_approvals', r.public_id::text)
        FROM deploy_approval_requests r WHERE r.id = NEW.request_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_deploy_approvals_notify
    AFTER INSERT ON deploy_approvals
    FOR EACH ROW EXECUTE FUNCTION rgw_notify_approval_vote();
