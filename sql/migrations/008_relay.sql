-- postern migration 008: relaying is a permission; the domain operator;
-- listeners by role and sender ownership (issue 12).
--
-- Applied by scripts/db-load.sh to a database at schema version 7; ends
-- with schema_version = 8.
--
--   * postern.action_kind gains relay_allow (a session may relay without
--     AUTH) and sender_allow (an authenticated user may use the sender);
--     reply accept no longer lifts the relay denial.  A constraint trigger
--     (postern.rules_check_permissions, at commit) refuses a relay_allow
--     rule without conditions or with conditions the client chooses, and a
--     sender_allow rule with conditions other than connection facts and
--     the sender.  postern.rule_add_relay_allow, rule_add_sender_allow.
--   * postern.condition_op gains in_domain (a domain or its subdomains,
--     label by label) for sender_domain, rcpt_domain and conn_helo.
--   * postern.listener_role and listeners.role: mx or submission (587 and
--     465 become submission: MAIL FROM needs AUTH first);
--     postern.listener_set_role.
--   * Existing accept rules that test only connection facts get a
--     relay_allow action; the others are named in a WARNING.
--
-- Two transactions: PostgreSQL cannot use an enum value in the transaction
-- that added it, so the first one only adds the values (ADD VALUE IF NOT
-- EXISTS: running the file again after a failure of the second one is
-- safe) and the second one does the rest and sets the version.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 7 THEN
        RAISE EXCEPTION '008_relay.sql applies to schema version 7, the database is at version %', v;
    END IF;
END $$;

ALTER TYPE postern.condition_op ADD VALUE IF NOT EXISTS 'in_domain';
ALTER TYPE postern.action_kind ADD VALUE IF NOT EXISTS 'relay_allow';
ALTER TYPE postern.action_kind ADD VALUE IF NOT EXISTS 'sender_allow';

COMMIT;
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 7 THEN
        RAISE EXCEPTION '008_relay.sql applies to schema version 7, the database is at version %', v;
    END IF;
END $$;

COMMENT ON TYPE postern.condition_op IS
    'Comparison of a condition: is / is_not (equality, case-insensitive for text), contains (case-insensitive substring; never use it to trust an address or domain: "@partner.org"@evil.example contains @partner.org), matches (POSIX extended regex, case-insensitive), in_cidr (address in one of a list of networks), ge / le (number at least / at most), in_domain (the domain is one of a list of domains or a subdomain of one, label by label: a.partner.org is in partner.org, partner.org.evil.example is not).';

COMMENT ON TYPE postern.action_kind IS
    'What a rule action does: auth_plain / auth_tls set the AUTH mechanisms offered on plain / TLS connections; reply sets the SMTP answer (accept never grants relaying); relay_host, relay_tls, relay_tls_versions set the outbound route of the recipient; add_header adds a header line; stop ends rule evaluation at that stage; relay_allow lets the session relay (its rule may only test conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user, and needs one condition); sender_allow lets an authenticated user use the sender address of the transaction (its rule may only test those and sender_*).';

CREATE TYPE postern.listener_role AS ENUM ('mx', 'submission');
COMMENT ON TYPE postern.listener_role IS
    'What a listener is for: mx = mail from the internet (AUTH optional; relaying needs AUTH or a relay_allow rule); submission = mail from users (RFC 6409): MAIL FROM needs AUTH first (530 5.7.0).';

ALTER TABLE postern.listeners ADD COLUMN role postern.listener_role NOT NULL DEFAULT 'mx';
COMMENT ON COLUMN postern.listeners.role IS
    'mx (port 25: mail from the internet) or submission (ports 587 and 465: MAIL FROM needs AUTH first, 530 5.7.0 Authentication required).  Whatever the role, an authenticated user may only use sender addresses it owns.';
UPDATE postern.listeners SET role = 'submission' WHERE port IN (587, 465);

CREATE FUNCTION postern.listener_set_role(name text, role postern.listener_role) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n text := postern.listener_lookup(listener_set_role.name);
BEGIN
    IF listener_set_role.role IS NULL THEN
        RAISE EXCEPTION 'listener_set_role: role must be mx or submission' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.listeners l SET role = listener_set_role.role
     WHERE l.name = n AND l.role <> listener_set_role.role;
END $$;
COMMENT ON FUNCTION postern.listener_set_role(text, postern.listener_role) IS
    'Sets a listener''s role: mx (mail from the internet) or submission (MAIL FROM needs AUTH first); running daemons pick it up through NOTIFY postern_config.';

COMMENT ON TABLE postern.rule_conditions IS
$c$Conditions of rules, combined by rules.match.  Checked and normalised by a trigger: boolean kinds (conn_tls, conn_authenticated, sender_local, rcpt_local, delivery_relaying) take is/is_not and true/false; conn_remote_addr takes is/is_not with one IP address, or in_cidr with a list of networks; conn_listener takes is/is_not with a listener name or port; text kinds (conn_auth_user, conn_helo, sender_address, sender_domain, rcpt_address, rcpt_domain) take is/is_not/contains (case-insensitive) or matches (POSIX extended regex, case-insensitive: the daemon uses regcomp(REG_EXTENDED|REG_ICASE), so PostgreSQL-only regex extensions such as \d \w \s \m \M \y, (?...) and *** are not portable and are refused); message_size takes ge/le with bytes (K, M, G suffixes = 1024 multiples); the domain kinds (sender_domain, rcpt_domain, conn_helo) also take in_domain with a list of domains (the domain or a subdomain of one; stored lower case, comma-separated, without leading dots).  contains is no way to trust an address or a domain: use in_domain.  Changes send NOTIFY postern_config, 'rule_conditions'.$c$;

CREATE OR REPLACE FUNCTION postern.rule_conditions_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rname text;
    v text;
    allowed postern.condition_op[];
    part text;
    nets text[] := '{}';
    c cidr;
    a inet;
    bad boolean;
    errmsg text;
    m text[];
    n numeric;
BEGIN
    IF NEW.kind IS NULL OR NEW.op IS NULL OR NEW.value IS NULL THEN
        RETURN NEW;                     -- NOT NULL reports it
    END IF;
    SELECT r.name INTO rname FROM postern.rules r WHERE r.id = NEW.rule_id;
    rname := coalesce(rname, '#' || NEW.rule_id, '?');

    allowed := CASE
        WHEN NEW.kind IN ('conn_tls', 'conn_authenticated', 'sender_local', 'rcpt_local',
                          'delivery_relaying', 'conn_listener') THEN '{is,is_not}'
        WHEN NEW.kind = 'conn_remote_addr' THEN '{is,is_not,in_cidr}'
        WHEN NEW.kind = 'message_size' THEN '{ge,le}'
        WHEN NEW.kind IN ('sender_domain', 'rcpt_domain', 'conn_helo') THEN '{is,is_not,contains,matches,in_domain}'
        ELSE '{is,is_not,contains,matches}' END::postern.condition_op[];
    IF NOT NEW.op = ANY (allowed) THEN
        RAISE EXCEPTION 'rule_conditions.op: op % cannot be used with kind % (allowed: %) (rule "%")',
            NEW.op, NEW.kind, array_to_string(allowed, ', '), rname
            USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME, COLUMN = 'op';
    END IF;

    IF NEW.kind IN ('conn_tls', 'conn_authenticated', 'sender_local', 'rcpt_local', 'delivery_relaying') THEN
        v := lower(btrim(NEW.value));
        IF v IN ('true', 't', 'yes', 'y', 'on', '1') THEN
            NEW.value := 'true';
        ELSIF v IN ('false', 'f', 'no', 'n', 'off', '0') THEN
            NEW.value := 'false';
        ELSE
            RAISE EXCEPTION 'rule_conditions.value: "%" is not a boolean (true or false) for kind % (rule "%")',
                NEW.value, NEW.kind, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;

    ELSIF NEW.kind = 'conn_remote_addr' AND NEW.op = 'in_cidr' THEN
        FOREACH part IN ARRAY regexp_split_to_array(NEW.value, '[\s,]+') LOOP
            CONTINUE WHEN part = '';
            bad := false;
            BEGIN
                c := part::cidr;
            EXCEPTION WHEN others THEN
                bad := true;
                errmsg := SQLERRM;
            END;
            IF bad THEN
                RAISE EXCEPTION 'rule_conditions.value: "%" is not a valid CIDR (rule "%")', part, rname
                    USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                          TABLE = TG_TABLE_NAME, COLUMN = 'value', DETAIL = errmsg,
                          HINT = 'Write networks like 10.0.0.0/8 or 2001:db8::/32, separated by commas or spaces; host bits must be zero.';
            END IF;
            nets := nets || c::text;
        END LOOP;
        IF cardinality(nets) = 0 THEN
            RAISE EXCEPTION 'rule_conditions.value: in_cidr needs at least one network, e.g. 10.0.0.0/8, 2001:db8::/32 (rule "%")', rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        NEW.value := array_to_string(nets, ',');

    ELSIF NEW.kind = 'conn_remote_addr' THEN
        BEGIN
            a := btrim(NEW.value)::inet;
        EXCEPTION WHEN others THEN
            a := NULL;
        END;
        IF a IS NULL THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" is not a valid IP address (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        IF masklen(a) <> (CASE family(a) WHEN 4 THEN 32 ELSE 128 END) THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" is a network, not one IP address; use op in_cidr (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        NEW.value := host(a);

    ELSIF NEW.kind = 'conn_listener' THEN
        v := btrim(NEW.value);
        IF v ~ '^[0-9]{1,5}$' AND (CASE WHEN v ~ '^[0-9]{1,5}$' THEN v::integer BETWEEN 1 AND 65535 END) THEN
            NEW.value := v::integer::text;
        ELSIF lower(v) ~ '^[a-z0-9_.-]{1,64}$' AND v !~ '^[0-9]+$' THEN
            NEW.value := lower(v);
        ELSE
            RAISE EXCEPTION 'rule_conditions.value: "%" is neither a listener name nor a port number 1-65535 (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;

    ELSIF NEW.op = 'in_domain' THEN
        FOREACH part IN ARRAY regexp_split_to_array(btrim(NEW.value), '[\s,]+') LOOP
            CONTINUE WHEN part = '';
            part := lower(ltrim(part, '.'));
            IF NOT coalesce(postern.is_host_name(part), false) THEN
                RAISE EXCEPTION 'rule_conditions.value: "%" is not a domain name (rule "%")', part, rname
                    USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                          TABLE = TG_TABLE_NAME, COLUMN = 'value',
                          HINT = 'Write domains like partner.org, separated by commas or spaces; each matches itself and its subdomains.';
            END IF;
            nets := nets || part;
        END LOOP;
        IF cardinality(nets) = 0 THEN
            RAISE EXCEPTION 'rule_conditions.value: in_domain needs at least one domain, e.g. partner.org (rule "%")', rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        NEW.value := array_to_string(nets, ',');

    ELSIF NEW.kind = 'message_size' THEN
        m := regexp_match(btrim(NEW.value), '^([0-9]{1,20})\s*([KkMmGg]?)(i?[Bb])?$');
        IF m IS NULL THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" is not a size in bytes (a non-negative integer, optionally followed by K, M or G) (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        n := m[1]::numeric * CASE upper(m[2]) WHEN 'K' THEN 1024 WHEN 'M' THEN 1048576
                                              WHEN 'G' THEN 1073741824 ELSE 1 END;
        IF n > 9223372036854775807 THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" is too large a size (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        NEW.value := n::bigint::text;

    ELSIF NEW.op = 'matches' THEN
        IF NEW.value = '' THEN
            RAISE EXCEPTION 'rule_conditions.value: an empty regular expression matches everything (rule "%")', rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        -- A backslash (not itself escaped) before a letter or digit: \d \w
        -- \s \m \M \y and the like are PostgreSQL ARE extensions.
        v := substring(NEW.value FROM '(?:^|[^\\])(?:\\\\)*(\\[A-Za-z0-9])');
        IF v IS NOT NULL THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" uses %, which POSIX extended regular expressions (used by the daemon) lack (rule "%")', NEW.value, v, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value',
                      HINT = 'Use bracket expressions: [0-9] or [[:digit:]] for \d, [[:alnum:]_] for \w, [[:space:]] for \s; \m \M \y (word boundaries) have no POSIX equivalent.';
        END IF;
        IF NEW.value LIKE '***%' OR strpos(NEW.value, '(?') > 0 THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" uses PostgreSQL-only regular expression syntax (*** or (?...)), which POSIX extended regular expressions (used by the daemon) lack (rule "%")', NEW.value, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;
        bad := false;
        BEGIN
            PERFORM '' ~* NEW.value;
        EXCEPTION WHEN others THEN
            bad := true;
            errmsg := SQLERRM;
        END;
        IF bad THEN
            RAISE EXCEPTION 'rule_conditions.value: "%" is not a valid regular expression: % (rule "%")', NEW.value, errmsg, rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                      TABLE = TG_TABLE_NAME, COLUMN = 'value';
        END IF;

    ELSIF NEW.op = 'contains' AND NEW.value = '' THEN
        RAISE EXCEPTION 'rule_conditions.value: contains needs a non-empty value (rule "%")', rname
            USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME, COLUMN = 'value';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.rule_conditions_check() IS
    'Trigger function: checks that op fits kind and that value is valid for kind and op, and stores value normalised (booleans as true/false, addresses and networks canonical, CIDR and in_domain lists comma-separated, sizes in plain bytes, listener names lower case).  Messages start with rule_conditions.op: or rule_conditions.value: and end with the rule name.';

COMMENT ON TABLE postern.rule_actions IS
$c$Actions of rules, run in (seq, id) order when the rule matches.  Each kind uses its own columns, all others must be NULL: auth_plain / auth_tls: auth_mechs; reply: reply, reply_code, reply_ecode, reply_text; relay_host: relay_host, relay_port; relay_tls: relay_tls, relay_tls_verify; relay_tls_versions: relay_tls_versions; add_header: header_name, header_value; stop, relay_allow, sender_allow: none.  Changes send NOTIFY postern_config, 'rule_actions'.$c$;

COMMENT ON TABLE postern.rules IS
$c$Rules deciding AUTH, SMTP replies, relaying and extra headers.  Rules run in position order at each SMTP stage where all their conditions can be decided (connection/EHLO, MAIL FROM, RCPT TO, end of DATA); a rule without conditions matches at every stage, whatever its match.  For each decision (AUTH mechanisms on plain connections, AUTH mechanisms on TLS connections, SMTP reply, relay host, relay TLS mode, relay TLS versions) the LAST matching rule that sets it wins.  A matching rule with a stop action ends the evaluation at that stage after its own actions.  AUTH is decided at EHLO, so rules with auth_* actions may only have connection conditions.  Permissions are actions of their own, never a side effect of a reply: relaying needs AUTH or a relay_allow rule, whose conditions may only be facts the client cannot choose; an authenticated user may use its own address as sender, or what a sender_allow rule allows.  Positions are always 1..n without gaps: inserting at a position, moving and deleting shift the other rules.  Changes send NOTIFY postern_config, 'rules'.$c$;

------------------------------------------------------------------------------
-- Cross-table check: permissions rest on facts the client cannot choose
------------------------------------------------------------------------------

CREATE FUNCTION postern.rules_check_permissions() RETURNS trigger
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
    rname text;
    bad postern.condition_kind;
BEGIN
    IF TG_TABLE_NAME = 'rules' THEN
        rid := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        rid := OLD.rule_id;
    ELSE
        rid := NEW.rule_id;
    END IF;
    SELECT r.name INTO rname FROM postern.rules r WHERE r.id = rid;
    IF rname IS NULL THEN
        RETURN NULL;                    -- deleted meanwhile
    END IF;
    IF EXISTS (SELECT 1 FROM postern.rule_actions a WHERE a.rule_id = rid AND a.kind = 'relay_allow') THEN
        IF NOT EXISTS (SELECT 1 FROM postern.rule_conditions c WHERE c.rule_id = rid) THEN
            RAISE EXCEPTION 'rule "%": relay_allow needs at least one condition (without one it is an open relay)', rname
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      HINT = 'Say who may relay, e.g. conn_remote_addr in_cidr 192.0.2.0/24.';
        END IF;
        SELECT c.kind INTO bad FROM postern.rule_conditions c
         WHERE c.rule_id = rid
           AND c.kind NOT IN ('conn_remote_addr', 'conn_listener', 'conn_tls',
                              'conn_authenticated', 'conn_auth_user')
         ORDER BY c.id LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'rule "%": relay_allow can only depend on facts the client cannot choose (found condition kind %)', rname, bad
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      HINT = 'The client chooses HELO, sender and recipients: use conn_remote_addr, conn_listener, conn_tls, conn_authenticated or conn_auth_user.';
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM postern.rule_actions a WHERE a.rule_id = rid AND a.kind = 'sender_allow') THEN
        SELECT c.kind INTO bad FROM postern.rule_conditions c
         WHERE c.rule_id = rid
           AND c.kind NOT IN ('conn_remote_addr', 'conn_listener', 'conn_tls',
                              'conn_authenticated', 'conn_auth_user',
                              'sender_address', 'sender_domain', 'sender_local')
         ORDER BY c.id LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'rule "%": sender_allow can only depend on facts the client cannot choose and the sender (found condition kind %)', rname, bad
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      HINT = 'The sender is decided at MAIL FROM: use conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user and sender_address, sender_domain, sender_local.';
        END IF;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.rules_check_permissions() IS
    'Constraint trigger function (deferred to commit): a rule with a relay_allow action needs at least one condition and may only test conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user; a rule with a sender_allow action may only test those and sender_address, sender_domain, sender_local.';

CREATE CONSTRAINT TRIGGER rules_check_permissions AFTER INSERT OR UPDATE OF id ON postern.rules
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_permissions();
COMMENT ON TRIGGER rules_check_permissions ON postern.rules IS 'Permission rules depend on facts the client cannot choose (checked at commit).';
CREATE CONSTRAINT TRIGGER rule_conditions_check_permissions AFTER INSERT OR UPDATE OR DELETE ON postern.rule_conditions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_permissions();
COMMENT ON TRIGGER rule_conditions_check_permissions ON postern.rule_conditions IS 'Permission rules depend on facts the client cannot choose (checked at commit).';
CREATE CONSTRAINT TRIGGER rule_actions_check_permissions AFTER INSERT OR UPDATE ON postern.rule_actions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_permissions();
COMMENT ON TRIGGER rule_actions_check_permissions ON postern.rule_actions IS 'Permission rules depend on facts the client cannot choose (checked at commit).';

CREATE FUNCTION postern.rule_add_relay_allow(rule text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_relay_allow.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind)
    VALUES (rid, postern.next_action_seq(rid), 'relay_allow')
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_relay_allow(text) IS
    'Adds a relay_allow action (a session this rule matches may relay without AUTH) and returns its id.  At commit the rule must have at least one condition, all of kinds the client cannot choose: conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user.';

CREATE FUNCTION postern.rule_add_sender_allow(rule text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_sender_allow.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind)
    VALUES (rid, postern.next_action_seq(rid), 'sender_allow')
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_sender_allow(text) IS
    'Adds a sender_allow action (an authenticated user this rule matches may use the transaction''s sender address, besides its own) and returns its id.  At commit the rule may only test conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user, sender_address, sender_domain, sender_local.';

-- Existing rules whose reply accept used to lift the relay denial: the
-- ones that test only facts the client cannot choose keep relaying through
-- a relay_allow action (their reply stays); every other one no longer
-- grants relaying, and is named in a WARNING.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT ru.id, ru.name,
               (SELECT count(*) FROM postern.rule_conditions c WHERE c.rule_id = ru.id) AS nconds,
               (SELECT string_agg(DISTINCT c.kind::text, ', ') FROM postern.rule_conditions c
                 WHERE c.rule_id = ru.id
                   AND c.kind NOT IN ('conn_remote_addr', 'conn_listener', 'conn_tls',
                                      'conn_authenticated', 'conn_auth_user')) AS chosen
          FROM postern.rules ru
         WHERE EXISTS (SELECT 1 FROM postern.rule_actions a
                        WHERE a.rule_id = ru.id AND a.kind = 'reply' AND a.reply = 'accept')
         ORDER BY ru.position
    LOOP
        IF r.nconds > 0 AND r.chosen IS NULL THEN
            INSERT INTO postern.rule_actions (rule_id, seq, kind)
            VALUES (r.id, postern.next_action_seq(r.id), 'relay_allow');
            RAISE NOTICE '008_relay.sql: rule "%" (reply accept on connection facts) now has a relay_allow action', r.name;
        ELSE
            RAISE WARNING '008_relay.sql: rule "%" has a reply accept that no longer allows relaying (%)', r.name,
                CASE WHEN r.nconds = 0 THEN 'it has no conditions: relaying for everyone would be an open relay'
                     ELSE 'it tests ' || r.chosen || ', which the client chooses' END
                USING HINT = 'Relaying needs AUTH or a relay_allow rule on conn_remote_addr, conn_listener, conn_tls, conn_authenticated or conn_auth_user (docs/rules.md).';
        END IF;
    END LOOP;
END $$;

UPDATE postern.schema_version SET version = 8;
COMMIT;
