-- postern migration 007: delivery exactly once in normal operation.
--
-- Applied by scripts/db-load.sh to a database at schema version 6; one
-- transaction, ends with schema_version = 7.
--
--   * recipients.lease_token: leases belong to one claim (node,
--     incarnation, claim number), not to a node name, so two threads of
--     one node never both hold a recipient.
--   * settings.lease_seconds: default 900, and at least 5 s above every
--     smtp_*_timeout (existing values are raised to fit); the delivering
--     thread renews its leases before each wait.
--   * nodes.node_no (unique, 0..127) and nodes.incarnation, set by
--     postern.node_register(name) at each start: the node number is part
--     of every queue id, so ids of different nodes never collide.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 6 THEN
        RAISE EXCEPTION '007_delivery_once.sql applies to schema version 6, the database is at version %', v;
    END IF;
END $$;

-- The old default becomes the new one; another value is kept when it fits
-- the new rule and raised to fit otherwise.
UPDATE postern.settings
   SET lease_seconds = greatest(CASE WHEN lease_seconds = 300 THEN 900 ELSE lease_seconds END,
           greatest(smtp_connect_timeout, smtp_command_timeout, smtp_data_timeout) + 5);
ALTER TABLE postern.settings ALTER COLUMN lease_seconds SET DEFAULT 900;
ALTER TABLE postern.settings ADD CONSTRAINT "settings.lease_seconds must be 5 s above every smtp_*_timeout"
    CHECK (lease_seconds >= greatest(smtp_connect_timeout, smtp_command_timeout, smtp_data_timeout) + 5);
COMMENT ON COLUMN postern.settings.lease_seconds IS
    'How long a claimed recipient stays leased (recipients.lease_expires = claim time + lease_seconds); the delivering thread renews it before every wait that could outlast it, so it only runs out when that thread or its node stops working; then another worker may take the recipient over.  At least 5 s above each of smtp_connect_timeout, smtp_command_timeout and smtp_data_timeout (default 900).';

ALTER TABLE postern.recipients ADD COLUMN lease_token text NULL;
COMMENT ON COLUMN postern.recipients.lease_token IS
    'The claim that holds the lease: node/incarnation/claim number, unique to one claim of one delivery thread of one run of one node; outcomes and renewals are written only where it still matches.  NULL = not leased.';
COMMENT ON COLUMN postern.recipients.lease_owner IS
    'Node currently delivering this recipient (lease_token names the claim); NULL = nobody.';

ALTER TABLE postern.nodes ADD COLUMN node_no integer NULL
    CONSTRAINT "nodes.node_no must be between 0 and 127"
    CHECK (node_no BETWEEN 0 AND 127);
ALTER TABLE postern.nodes ADD COLUMN incarnation bigint NOT NULL DEFAULT 0;
ALTER TABLE postern.nodes ADD CONSTRAINT "nodes.node_no must be unique" UNIQUE (node_no);
COMMENT ON COLUMN postern.nodes.node_no IS
    'Number of the node (0 to 127), allocated by postern.node_register when the name is first used and kept with the name; part of every queue id the node makes, so queue ids of different nodes never collide.  Delete the row of a retired node to free its number.';
COMMENT ON COLUMN postern.nodes.incarnation IS
    'How many times a daemon has registered under this name (postern.node_register, at every start); part of the lease tokens, so a later run never mistakes an earlier run''s leases for its own.';

CREATE FUNCTION postern.node_register(name text, OUT node_no integer, OUT incarnation bigint)
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    free integer;
BEGIN
    -- One allocation at a time, so two new names never take one number.
    PERFORM pg_advisory_xact_lock(hashtext('postern node numbers'));
    INSERT INTO postern.nodes AS n (name) VALUES (node_register.name)
        ON CONFLICT ON CONSTRAINT nodes_pkey DO NOTHING;
    SELECT n.node_no INTO free FROM postern.nodes n WHERE n.name = node_register.name;
    IF free IS NULL THEN
        SELECT min(g) INTO free FROM generate_series(0, 127) g
         WHERE NOT EXISTS (SELECT 1 FROM postern.nodes n WHERE n.node_no = g);
        IF free IS NULL THEN
            RAISE EXCEPTION 'no free node number for node "%": all 128 are taken', node_register.name
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Delete the postern.nodes rows of nodes that no longer run.';
        END IF;
    END IF;
    UPDATE postern.nodes n SET node_no = free, incarnation = n.incarnation + 1
     WHERE n.name = node_register.name
     RETURNING n.node_no, n.incarnation INTO node_register.node_no, node_register.incarnation;
END $$;
COMMENT ON FUNCTION postern.node_register(text) IS
    'Called by a daemon at start, holding its name lock: creates the node''s row if needed, gives it the lowest free node number (0 to 127) unless it has one, counts one more incarnation, and returns both.';

UPDATE postern.schema_version SET version = 7;
COMMIT;
