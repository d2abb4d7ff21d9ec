-- Audit log: filter index for token actors, and a chain head that only moves forward, so
-- rewinding it to hide a deleted tail needs the protections disabled first.
CREATE INDEX ix_audit_events_actor_token_name ON audit_events (actor_token_name);

CREATE FUNCTION rgw_audit_chain_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.mac <> OLD.mac) THEN
        RAISE EXCEPTION 'the audit chain head only moves forward' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_audit_chain_head_forward_only
    BEFORE UPDATE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION rgw_audit_chain_head_forward_only();
