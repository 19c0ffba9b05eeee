-- postern migration 009: protocol hardening (issue 12).
--
-- Applied by scripts/db-load.sh to a database at schema version 8; one
-- transaction, ends with schema_version = 9.
--
--   * settings.greet_pause_ms, greet_pass_ttl: the greeting pause for
--     client addresses not seen passing (early talkers get 554 5.5.1);
--   * settings.data_min_rate: least DATA rate (bytes/s);
--   * settings.session_max_lifetime: longest inbound session;
--   * listeners.greet_pause: which listeners pause (MX ones: false on the
--     default submission and smtps rows);
--   * postern.greet_passed, greet_pass(), greet_forget(), greet_purge().

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 8 THEN
        RAISE EXCEPTION '009_protocol_hardening.sql applies to schema version 8, the database is at version %', v;
    END IF;
END $$;

ALTER TABLE postern.settings ADD COLUMN greet_pause_ms integer NOT NULL DEFAULT 6000
    CONSTRAINT "settings.greet_pause_ms must be between 0 and 60000"
    CHECK (greet_pause_ms BETWEEN 0 AND 60000);
ALTER TABLE postern.settings ADD COLUMN greet_pass_ttl integer NOT NULL DEFAULT 86400
    CONSTRAINT "settings.greet_pass_ttl must be 60 to 2592000 seconds"
    CHECK (greet_pass_ttl BETWEEN 60 AND 2592000);
ALTER TABLE postern.settings ADD COLUMN data_min_rate integer NOT NULL DEFAULT 500
    CONSTRAINT "settings.data_min_rate must be 0 to 1000000000 bytes/s"
    CHECK (data_min_rate BETWEEN 0 AND 1000000000);
ALTER TABLE postern.settings ADD COLUMN session_max_lifetime integer NOT NULL DEFAULT 3600
    CONSTRAINT "settings.session_max_lifetime must be 5 to 86400 seconds"
    CHECK (session_max_lifetime BETWEEN 5 AND 86400);
COMMENT ON COLUMN postern.settings.greet_pause_ms IS
    'Milliseconds an MX listener (listeners.greet_pause) waits before its 220 greeting to a client address that has not passed within greet_pass_ttl; a client that talks before the 220 gets 554 5.5.1 and is closed (like Postfix postscreen_greet_wait, 6 s).  0 = no pause.';
COMMENT ON COLUMN postern.settings.greet_pass_ttl IS
    'Seconds a client address that waited for the greeting is remembered (postern.greet_passed, shared by every node) and greeted without the pause (like postscreen_greet_ttl, 1 day).';
COMMENT ON COLUMN postern.settings.data_min_rate IS
    'Least average rate, in bytes per second, at which message text must arrive during DATA: each read extends the deadline by bytes/data_min_rate seconds, never beyond data_timeout from now (like Postfix smtpd_min_data_rate).  0 = data_timeout applies to silence only.';
COMMENT ON COLUMN postern.settings.session_max_lifetime IS
    'Seconds an inbound SMTP session may last in all; then it gets 421 4.4.2 and is closed.';

ALTER TABLE postern.listeners ADD COLUMN greet_pause boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN postern.listeners.greet_pause IS
    'True for MX listeners: a client address not seen passing within settings.greet_pass_ttl waits settings.greet_pause_ms for its greeting.  Set false on submission listeners; never applies to tls_mode implicit.';

CREATE TABLE postern.greet_passed (
    client_addr inet PRIMARY KEY,
    passed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE postern.greet_passed IS
    'Client addresses that waited for the greeting without talking early, shared by every node: within settings.greet_pass_ttl of passed_at they are greeted at once.  Written by postern.greet_pass(), pruned by postern.greet_purge().';
COMMENT ON COLUMN postern.greet_passed.client_addr IS 'The client IP address.';
COMMENT ON COLUMN postern.greet_passed.passed_at IS 'When it last passed.';
CREATE INDEX greet_passed_passed_at ON postern.greet_passed (passed_at);
COMMENT ON INDEX postern.greet_passed_passed_at IS
    'Finds the addresses that passed recently (what nodes load) and the expired ones (greet_purge).';

CREATE FUNCTION postern.greet_pass(addr inet) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO postern.greet_passed AS g (client_addr, passed_at) VALUES (addr, now())
    ON CONFLICT (client_addr) DO UPDATE SET passed_at = now()
$$;
COMMENT ON FUNCTION postern.greet_pass(inet) IS
    'Records that addr waited for the greeting (posternd calls it); every node greets it at once for settings.greet_pass_ttl.';

CREATE FUNCTION postern.greet_forget(addr inet) RETURNS boolean
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM postern.greet_passed WHERE client_addr = addr RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;
COMMENT ON FUNCTION postern.greet_forget(inet) IS
    'Forgets that addr passed: its next connection after nodes'' caches expire (at most greet_pass_ttl) waits for the greeting again; true if it was known.';

CREATE FUNCTION postern.greet_purge() RETURNS integer
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM postern.greet_passed
               WHERE passed_at < now() - make_interval(secs => (SELECT greet_pass_ttl FROM postern.settings))
               RETURNING 1)
    SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION postern.greet_purge() IS
    'Deletes the greet_passed rows older than settings.greet_pass_ttl (posternd calls it hourly); returns how many.';

-- Submission and SMTPS serve users, not MX peers: they never pause.
UPDATE postern.listeners SET greet_pause = false
 WHERE name IN ('submission', 'smtps') OR tls_mode = 'implicit' OR port IN (465, 587);

UPDATE postern.schema_version SET version = 9;
COMMIT;
