-- postern migration 006: pausing delivery.
--
-- Applied by scripts/db-load.sh to a database at schema version 5; one
-- transaction, ends with schema_version = 6.
--
--   * settings.delivery_paused: while true, no node claims recipients;
--     mail is still accepted and queued (like Postfix's hold queue or
--     `defer_transports`, for maintenance or accept-only measurements).
--   * postern.delivery_pause(on boolean)

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 5 THEN
        RAISE EXCEPTION '006_delivery_pause.sql applies to schema version 5, the database is at version %', v;
    END IF;
END $$;

ALTER TABLE postern.settings ADD COLUMN delivery_paused boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN postern.settings.delivery_paused IS
    'While true no node delivers: mail is accepted and queued but not claimed (maintenance, or measuring acceptance alone).  Setting it back to false resumes delivery at once.';

CREATE FUNCTION postern.delivery_pause(on_ boolean DEFAULT true) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE postern.settings SET delivery_paused = on_;
    IF NOT on_ THEN
        PERFORM pg_notify('postern_queue', '');
    END IF;
    RETURN on_;
END $$;
COMMENT ON FUNCTION postern.delivery_pause(boolean) IS
    'Pauses (true) or resumes (false) delivery on every node; returns the new state.  Acceptance is not affected.';

UPDATE postern.schema_version SET version = 6;
COMMIT;
