-- Deploy approvals, part 2: the intent digest, claims on chain steps, expiry reasons, failed-build
-- retries and the gate's lookup index. Same rules as the PostgreSQL migration of this version.
--
-- A chain step (object upload, build create, promote) is *claimed* in the database before the
-- gateway forwards it, so two concurrent calls can never both reach the rack; the artefact is
-- recorded only by the call that holds the claim (chain_claim_at identifies it).

ALTER TABLE deploy_approval_requests ADD COLUMN intent_digest TEXT
    CONSTRAINT ck_deploy_approval_requests_intent_digest CHECK (intent_digest IS NULL OR length(intent_digest) = 71);
ALTER TABLE deploy_approval_requests ADD COLUMN approval_window_minutes INTEGER
    CONSTRAINT ck_deploy_approval_requests_window CHECK (approval_window_minutes IS NULL OR approval_window_minutes >= 1);
ALTER TABLE deploy_approval_requests ADD COLUMN chain_claim TEXT
    CONSTRAINT ck_deploy_approval_requests_chain_claim CHECK (chain_claim IS NULL OR chain_claim IN ('object', 'build', 'promote'));
ALTER TABLE deploy_approval_requests ADD COLUMN chain_claim_at TEXT;
ALTER TABLE deploy_approval_requests ADD COLUMN promote_allowed_at TEXT;
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

DROP TRIGGER trg_deploy_approval_requests_before_update;
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
        WHEN NEW.intent_digest IS NOT OLD.intent_digest OR NEW.git_branch IS NOT OLD.git_branch
             OR NEW.approval_window_minutes IS NOT OLD.approval_window_minutes
            THEN RAISE(ABORT, 'the deploy intent of a request (intent_digest, git_branch, approval_window_minutes) cannot change')
        WHEN OLD.status = 'pending' AND NEW.status NOT IN ('pending', 'approved', 'rejected', 'expired')
            THEN RAISE(ABORT, 'a pending request can only become approved, rejected or expired')
        WHEN OLD.status = 'approved' AND NEW.status NOT IN ('approved', 'rejected', 'expired', 'deployed')
            THEN RAISE(ABORT, 'an approved request can only become rejected, expired or deployed')
        WHEN NEW.status = 'approved' AND OLD.status = 'pending'
             AND (SELECT count(*) FROM deploy_approvals WHERE request_id = NEW.id) < NEW.required_approvals
            THEN RAISE(ABORT, 'status can only become approved once enough approvals are recorded')
        WHEN NEW.status = 'deployed' AND NEW.release_id IS NULL
            THEN RAISE(ABORT, 'status can only become deployed after release_id is set')
        WHEN NEW.status = 'deployed' AND OLD.status = 'approved' AND OLD.chain_claim IS NOT 'promote'
            THEN RAISE(ABORT, 'status can only become deployed by the promote that claimed the chain')
        WHEN NEW.chain_claim IS NOT NULL AND NEW.chain_claim IS NOT OLD.chain_claim
             AND (OLD.status <> 'approved' OR NEW.status <> 'approved')
            THEN RAISE(ABORT, 'a chain step can only be claimed while the request is approved')
        WHEN NEW.chain_claim IS NOT NULL AND OLD.chain_claim IS NOT NULL AND NEW.chain_claim_at IS OLD.chain_claim_at
             AND NEW.chain_claim IS NOT OLD.chain_claim
            THEN RAISE(ABORT, 'a claimed chain step must be released before another is claimed')
        WHEN NEW.object_url IS NOT OLD.object_url AND OLD.object_url IS NOT NULL
            THEN RAISE(ABORT, 'object_url is already set')
        WHEN NEW.object_url IS NOT OLD.object_url AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'object_url can only be set while the request is approved')
        WHEN NEW.object_url IS NOT OLD.object_url AND OLD.chain_claim IS NOT 'object'
            THEN RAISE(ABORT, 'object_url can only be recorded by the upload that claimed the step')
        WHEN NEW.build_id IS NOT OLD.build_id AND NEW.build_id IS NULL
            THEN RAISE(ABORT, 'build_id cannot be cleared')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.release_id IS NOT NULL
            THEN RAISE(ABORT, 'build_id is already set')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'build_id can only be set while the request is approved')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.object_url IS NULL
            THEN RAISE(ABORT, 'build_id can only be set after object_url')
        WHEN NEW.build_id IS NOT OLD.build_id AND OLD.chain_claim IS NOT 'build'
            THEN RAISE(ABORT, 'build_id can only be recorded by the build that claimed the step')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.release_id IS NOT NULL
            THEN RAISE(ABORT, 'release_id is already set')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.status <> 'approved'
            THEN RAISE(ABORT, 'release_id can only be set while the request is approved')
        WHEN NEW.release_id IS NOT OLD.release_id AND OLD.build_id IS NULL
            THEN RAISE(ABORT, 'release_id can only be set after build_id')
    END;
END;
