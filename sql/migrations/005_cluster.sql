-- postern migration 005: clustered nodes on one database.
--
-- Applied by scripts/db-load.sh to a database at schema version 4; one
-- transaction, ends with schema_version = 5.
--
--   * nodes: stopped_at, listeners; view nodes_status (up / down / stopped)
--   * settings: node_timeout, auth_throttle_window, auth_throttle_max
--   * auth_failures: failed AUTH attempts per client address, shared by
--     every node, with functions auth_penalty() and auth_failed()
--
-- Reference documentation: docs/sql-reference.md ("Cluster") and
-- docs/cluster.md.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 4 THEN
        RAISE EXCEPTION '005_cluster.sql applies to schema version 4, the database is at version %', v;
    END IF;
END $$;

ALTER TABLE postern.nodes ADD COLUMN stopped_at timestamptz NULL;
COMMENT ON COLUMN postern.nodes.stopped_at IS
    'When the node last stopped cleanly (NULL while it runs or after a crash).';

ALTER TABLE postern.settings
    ADD COLUMN node_timeout integer NOT NULL DEFAULT 30
        CONSTRAINT "settings.node_timeout must be 10 to 3600 seconds"
        CHECK (node_timeout BETWEEN 10 AND 3600),
    ADD COLUMN auth_throttle_window integer NOT NULL DEFAULT 900
        CONSTRAINT "settings.auth_throttle_window must be 10 to 86400 s"
        CHECK (auth_throttle_window BETWEEN 10 AND 86400),
    ADD COLUMN auth_throttle_max integer NOT NULL DEFAULT 20
        CONSTRAINT "settings.auth_throttle_max must be 1 to 100000"
        CHECK (auth_throttle_max BETWEEN 1 AND 100000);
COMMENT ON COLUMN postern.settings.node_timeout IS
    'Seconds without a heartbeat after which a node is shown as down (nodes heartbeat every 10 s).';
COMMENT ON COLUMN postern.settings.auth_throttle_window IS
    'Seconds over which failed AUTH attempts from one client address are counted, across all nodes.';
COMMENT ON COLUMN postern.settings.auth_throttle_max IS
    'Failed AUTH attempts from one client address within auth_throttle_window after which every node refuses AUTH from it (454 4.7.0) until the window passes.';

CREATE VIEW postern.nodes_status AS
SELECT n.name, n.host, n.pid, n.version, n.started_at, n.heartbeat_at,
       now() - n.heartbeat_at AS heartbeat_age,
       CASE WHEN n.stopped_at IS NOT NULL AND n.stopped_at >= n.heartbeat_at THEN 'stopped'
            WHEN n.heartbeat_at > now() - make_interval(secs => s.node_timeout) THEN 'up'
            ELSE 'down' END AS status,
       (SELECT count(*) FROM postern.recipients r WHERE r.lease_owner = n.name) AS leased
FROM postern.nodes n CROSS JOIN postern.settings s
ORDER BY n.name;
COMMENT ON VIEW postern.nodes_status IS
    'The posternd nodes using this database: up (heartbeat within settings.node_timeout), down (no heartbeat: crashed or cut off; its leases expire and other nodes take its mail) or stopped (clean stop, leases released); leased = recipients it holds now.';

CREATE TABLE postern.auth_failures (
    client_addr text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    last_user text NOT NULL DEFAULT '',
    last_node text NOT NULL DEFAULT ''
);
COMMENT ON TABLE postern.auth_failures IS
    'Failed AUTH attempts per client address, shared by every node so spreading guesses over nodes does not help; counted over settings.auth_throttle_window.  Delete a row to forgive an address.';
COMMENT ON COLUMN postern.auth_failures.client_addr IS 'The client IP address.';
COMMENT ON COLUMN postern.auth_failures.failures IS 'Failures since first_at.';
COMMENT ON COLUMN postern.auth_failures.first_at IS 'Start of the current counting window.';
COMMENT ON COLUMN postern.auth_failures.last_at IS 'Time of the last failure.';
COMMENT ON COLUMN postern.auth_failures.last_user IS 'The user name tried last (never the password).';
COMMENT ON COLUMN postern.auth_failures.last_node IS 'The node that saw the last failure.';

CREATE FUNCTION postern.auth_penalty(addr text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN f.failures IS NULL OR f.first_at < now() - make_interval(secs => s.auth_throttle_window) THEN 0
        WHEN f.failures >= s.auth_throttle_max THEN -1
        ELSE least(f.failures, 5) END
    FROM postern.settings s
    LEFT JOIN postern.auth_failures f ON f.client_addr = addr
$$;
COMMENT ON FUNCTION postern.auth_penalty(text) IS
    'What the daemon does before checking a password from addr: 0 = no delay, n > 0 = delay the answer n seconds (one per recent failure, at most 5), -1 = refuse AUTH (auth_throttle_max failures within auth_throttle_window).';

CREATE FUNCTION postern.auth_failed(addr text, username text, node text) RETURNS integer
LANGUAGE sql AS $$
    INSERT INTO postern.auth_failures AS f (client_addr, failures, last_user, last_node)
    VALUES (addr, 1, left(username, 256), node)
    ON CONFLICT (client_addr) DO UPDATE SET
        failures = CASE WHEN f.first_at < now() - make_interval(secs =>
                       (SELECT auth_throttle_window FROM postern.settings))
                   THEN 1 ELSE f.failures + 1 END,
        first_at = CASE WHEN f.first_at < now() - make_interval(secs =>
                       (SELECT auth_throttle_window FROM postern.settings))
                   THEN now() ELSE f.first_at END,
        last_at = now(), last_user = left(username, 256), last_node = node
    RETURNING failures
$$;
COMMENT ON FUNCTION postern.auth_failed(text, text, text) IS
    'Records one failed AUTH attempt from addr (user name tried, node that saw it); returns the failures counted in the current window.';

CREATE FUNCTION postern.auth_forgive(addr text) RETURNS boolean
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM postern.auth_failures WHERE client_addr = addr RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;
COMMENT ON FUNCTION postern.auth_forgive(text) IS
    'Forgets the failed AUTH attempts of addr (it may authenticate again at once); true if there were any.';

UPDATE postern.schema_version SET version = 5;
COMMIT;
