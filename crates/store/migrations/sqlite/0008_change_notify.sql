-- Change notifications (issue 14). On PostgreSQL this migration adds triggers that NOTIFY
-- other gateways when credentials, settings or deploy approval requests change. SQLite serves
-- one gateway: its writes invalidate that gateway's caches in process, and writers in other
-- processes (operator commands) are seen within the caches' one-second bound. Nothing to add
-- here; the migration exists so both backends keep the same version list.
SELECT 1;
