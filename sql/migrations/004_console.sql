-- postern migration 004: functions for the admin console (postern-console).
--
-- Applied by scripts/db-load.sh to a database at schema version 3; one
-- transaction, ends with schema_version = 4.  Adds no tables or columns:
-- only functions, so a daemon that needs version 3 runs unchanged on it.
--
-- The console is a pure SQL client: every change it makes is one of these
-- (or an earlier) documented functions, which an admin can equally call
-- from psql.
--
--   * set_starttls_in, set_starttls_out (settings.allow_starttls,
--     settings.use_starttls_out)
--   * listener_set_enabled, listener_update (postern.listeners)
--   * rule_update (rename, match, description), rule_add_relay_tls,
--     rule_add_relay_versions (the relay_tls / relay_tls_versions actions on
--     their own, so that every action kind has its own add function)
--
-- Reference documentation: docs/sql-reference.md, "Console functions
-- (schema version 4)"; the console itself: docs/console.md.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 3 THEN
        RAISE EXCEPTION '004_console.sql applies to schema version 3, the database is at version %', v;
    END IF;
END $$;

------------------------------------------------------------------------------
-- settings
------------------------------------------------------------------------------

CREATE FUNCTION postern.set_starttls_in("on" boolean) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
BEGIN
    IF set_starttls_in."on" IS NULL THEN
        RAISE EXCEPTION 'set_starttls_in: "on" must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.settings s SET allow_starttls = set_starttls_in."on"
     WHERE s.allow_starttls IS DISTINCT FROM set_starttls_in."on";
END $$;
COMMENT ON FUNCTION postern.set_starttls_in(boolean) IS
    'Sets settings.allow_starttls: true offers STARTTLS on starttls listeners, false stops offering it.  Running daemons pick it up through NOTIFY postern_config.';

CREATE FUNCTION postern.set_starttls_out("on" boolean) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
BEGIN
    IF set_starttls_out."on" IS NULL THEN
        RAISE EXCEPTION 'set_starttls_out: "on" must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.settings s SET use_starttls_out = set_starttls_out."on"
     WHERE s.use_starttls_out IS DISTINCT FROM set_starttls_out."on";
END $$;
COMMENT ON FUNCTION postern.set_starttls_out(boolean) IS
    'Sets settings.use_starttls_out: true uses opportunistic STARTTLS for outbound deliveries (unless a rule says otherwise), false delivers in plain text.';

------------------------------------------------------------------------------
-- listeners
------------------------------------------------------------------------------

CREATE FUNCTION postern.listener_lookup(name text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = postern, pg_temp AS $$
DECLARE
    n text;
BEGIN
    SELECT l.name INTO n FROM postern.listeners l WHERE l.name = listener_lookup.name;
    IF n IS NULL THEN
        RAISE EXCEPTION 'listener "%" does not exist', listener_lookup.name
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name FROM postern.listeners; lists them.';
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.listener_lookup(text) IS
    'Returns the listener name if it exists; raises listener "x" does not exist (SQLSTATE P0002) otherwise.';

CREATE FUNCTION postern.listener_set_enabled(name text, "on" boolean) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n text := postern.listener_lookup(listener_set_enabled.name);
BEGIN
    IF listener_set_enabled."on" IS NULL THEN
        RAISE EXCEPTION 'listener_set_enabled: "on" must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.listeners l SET enabled = listener_set_enabled."on"
     WHERE l.name = n AND l.enabled <> listener_set_enabled."on";
END $$;
COMMENT ON FUNCTION postern.listener_set_enabled(text, boolean) IS
    'Opens (true) or closes (false) a listener without deleting its row; running daemons rebind through NOTIFY postern_config.';

CREATE FUNCTION postern.listener_update(name text, address text, port integer,
                                        tls_mode postern.tls_mode,
                                        tls_min postern.tls_version, tls_max postern.tls_version,
                                        ciphers text, dh_file text, cert_file text, key_file text,
                                        max_connections integer)
RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n text := postern.listener_lookup(listener_update.name);
BEGIN
    UPDATE postern.listeners l
       SET address = btrim(listener_update.address),
           port = listener_update.port,
           tls_mode = listener_update.tls_mode,
           tls_min_version = listener_update.tls_min,
           tls_max_version = listener_update.tls_max,
           ciphers = nullif(btrim(listener_update.ciphers), ''),
           dh_file = nullif(btrim(listener_update.dh_file), ''),
           cert_file = nullif(btrim(listener_update.cert_file), ''),
           key_file = nullif(btrim(listener_update.key_file), ''),
           max_connections = listener_update.max_connections
     WHERE l.name = n;
END $$;
COMMENT ON FUNCTION postern.listener_update(text, text, integer, postern.tls_mode, postern.tls_version,
                                           postern.tls_version, text, text, text, text, integer) IS
    'Sets every editable column of a listener at once (address, port, tls_mode, tls_min_version, tls_max_version, ciphers, dh_file, cert_file, key_file, max_connections); empty or NULL ciphers / dh_file / cert_file / key_file mean the default.  Values are checked by the table constraints and the address trigger.';

------------------------------------------------------------------------------
-- rules
------------------------------------------------------------------------------

CREATE FUNCTION postern.rule_update(name text, new_name text DEFAULT NULL, match postern.rule_match DEFAULT NULL,
                                    description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_update.name);
BEGIN
    IF rule_update.new_name IS NOT NULL AND rule_update.new_name <> rule_update.name
       AND EXISTS (SELECT 1 FROM postern.rules r WHERE r.name = rule_update.new_name) THEN
        RAISE EXCEPTION 'rule "%" already exists', rule_update.new_name USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE postern.rules r
       SET name = coalesce(rule_update.new_name, r.name),
           match = coalesce(rule_update.match, r.match),
           description = coalesce(rule_update.description, r.description)
     WHERE r.id = rid;
END $$;
COMMENT ON FUNCTION postern.rule_update(text, text, postern.rule_match, text) IS
    'Renames a rule and/or changes its match and description; NULL arguments leave that field unchanged.  Position, enabled, conditions and actions are not touched.';

CREATE FUNCTION postern.rule_add_relay_tls(rule text, tls postern.relay_tls_mode, verify boolean DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_relay_tls.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls, relay_tls_verify)
    VALUES (rid, postern.next_action_seq(rid), 'relay_tls', rule_add_relay_tls.tls, rule_add_relay_tls.verify)
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_relay_tls(text, postern.relay_tls_mode, boolean) IS
    'Adds a relay_tls action (TLS mode towards the relay or MX; verify true/false/NULL = settings.tls_verify_out) and returns its id.';

CREATE FUNCTION postern.rule_add_relay_versions(rule text, versions postern.tls_version[])
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_relay_versions.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls_versions)
    VALUES (rid, postern.next_action_seq(rid), 'relay_tls_versions', rule_add_relay_versions.versions)
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_relay_versions(text, postern.tls_version[]) IS
    'Adds a relay_tls_versions action (the TLS versions allowed towards the relay, not empty) and returns its id.';

UPDATE postern.schema_version SET version = 4;

COMMIT;
