-- Deploy approvals, part 2: the intent digest, claims on chain steps, expiry reasons, failed-build
-- retries and the gate's lookup index. Same rules as the SQLite migration of this version.
--
-- A chain step (object upload, build create, promote) is *claimed* in the database before the
-- gateway forwards it, so two concurrent calls can never both reach the rack; the artefact is
-- recorded only by the call that holds the claim (chain_claim_at identifies it).

ALTER TABLE deploy_approval_requests ADD COLUMN intent_digest TEXT
    CONSTRAINT ck_deploy_approval_requests_intent_digest CHECK (intent_digest IS NULL OR length(intent_digest) = 71);
ALTER TABLE deploy_approval_requests ADD COLUMN approval_window_minutes BIGINT
    CONSTRAINT ck_deploy_approval_requests_window CHECK (approval_window_minutes IS NULL OR approval_window_minutes >= 1);
ALTER TABLE deploy_approval_requests ADD COLUMN chain_claim TEXT
    CONSTRAINT ck_deploy_approval_requests_chain_claim CHECK (chain_claim IS NULL OR chain_claim IN ('object', 'build', 'promote'));
ALTER TABLE deploy_approval_requests ADD COLUMN chain_claim_at TIMESTAMPTZ;
ALTER TABLE deploy_approval_requests ADD COLUMN promote_allowed_at TIMESTAMPTZ;
ALTER TABLE deploy_approval_requests ADD COLUMN expired_reason TEXT
    CONSTRAINT ck_deploy_approval_requests_expired_reason CHECK (expired_reason IS NULL OR expired_reason IN ('pending_ttl', 'approval_window', 'superseded'));
ALTER TABLE deploy_approval_requests ADD COLUMN revoked BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE deploy_approvals ADD COLUMN intent_digest TEXT;
ALTER TABLE deploy_approvals ADD COLUMN mfa_binding TEXT;

-- The gate's lookups: live approvals of one token for one app, and its newest request (for
-- denial messages) without sorting that token's whole history.
CREATE INDEX ix_deploy_approval_requests_token_app_status
    ON deploy_approval_requests (target_api_token_id, app, status);
CREATE INDEX ix_deploy_approval_requests_token_app_id
    ON deploy_approval_requests (target_api_token_id, app, id);

CREATE OR REPLACE FUNCTION rgw_deploy_approval_requests_before_update() RETURNS trigger
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
    IF NEW.intent_digest IS DISTINCT FROM OLD.intent_digest OR NEW.git_branch IS DISTINCT FROM OLD.git_branch
       OR NEW.approval_window_minutes IS DISTINCT FROM OLD.approval_window_minutes THEN
        RAISE EXCEPTION 'the deploy intent of a request (intent_digest, git_branch, approval_window_minutes) cannot change'
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
    IF NEW.status = 'deployed' AND OLD.status = 'approved' AND OLD.chain_claim IS DISTINCT FROM 'promote' THEN
        RAISE EXCEPTION 'status can only become deployed by the promote that claimed the chain'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.chain_claim IS NOT NULL AND NEW.chain_claim IS DISTINCT FROM OLD.chain_claim
       AND (OLD.status <> 'approved' OR NEW.status <> 'approved') THEN
        RAISE EXCEPTION 'a chain step can only be claimed while the request is approved' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.chain_claim IS NOT NULL AND OLD.chain_claim IS NOT NULL
       AND NEW.chain_claim_at IS NOT DISTINCT FROM OLD.chain_claim_at AND NEW.chain_claim <> OLD.chain_claim THEN
        RAISE EXCEPTION 'a claimed chain step must be released before another is claimed' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.object_url IS DISTINCT FROM OLD.object_url THEN
        IF OLD.object_url IS NOT NULL THEN
            RAISE EXCEPTION 'object_url is already set' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status <> 'approved' THEN
            RAISE EXCEPTION 'object_url can only be set while the request is approved' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.chain_claim IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'object_url can only be recorded by the upload that claimed the step' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.build_id IS DISTINCT FROM OLD.build_id THEN
        IF NEW.build_id IS NULL THEN
            RAISE EXCEPTION 'build_id cannot be cleared' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.release_id IS NOT NULL THEN
            RAISE EXCEPTION 'build_id is already set' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status <> 'approved' THEN
            RAISE EXCEPTION 'build_id can only be set while the request is approved' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.object_url IS NULL THEN
            RAISE EXCEPTION 'build_id can only be set after object_url' USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.chain_claim IS DISTINCT FROM 'build' THEN
            RAISE EXCEPTION 'build_id can only be recorded by the build that claimed the step' USING ERRCODE = 'check_violation';
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
