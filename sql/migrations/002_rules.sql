-- postern migration 002: rules (conditions and actions per SMTP stage).
--
-- Applied by scripts/db-load.sh to a database at schema version 1; one
-- transaction, ends with schema_version = 2.
--
--   * types rule_match, condition_kind, condition_op, action_kind,
--     reply_kind, relay_tls_mode
--   * tables rules, rule_conditions, rule_actions, with validation, dense
--     positions and NOTIFY postern_config
--   * functions rule_add, rule_delete, rule_move, rule_up, rule_down,
--     rule_enable, rule_add_condition, rule_add_auth, rule_add_reply,
--     rule_add_relay, rule_add_header, rule_add_stop, rule_clear, set_auth
--   * views rules_overview and auth_policy
--   * settings.auth_mechs_plain/auth_mechs_tls move into the default rules
--     disableAUTH_on_non_SSL and enableAUTH_on_SSL (then are dropped)
--   * recipients gets the route chosen at RCPT (relay_host, relay_port,
--     relay_tls, relay_tls_versions)
--
-- Reference documentation: docs/sql-reference.md, section "Rules".

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION '002_rules.sql applies to schema version 1, the database is at version %', v;
    END IF;
END $$;

------------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------------

CREATE TYPE postern.rule_match AS ENUM ('all', 'any');
COMMENT ON TYPE postern.rule_match IS
    'How a rule combines its conditions: all = every condition holds (AND), any = at least one holds (OR).  A rule without conditions always matches.';

CREATE TYPE postern.condition_kind AS ENUM (
    'conn_tls', 'conn_remote_addr', 'conn_listener', 'conn_authenticated',
    'conn_auth_user', 'conn_helo', 'sender_address', 'sender_domain',
    'sender_local', 'rcpt_address', 'rcpt_domain', 'rcpt_local',
    'delivery_relaying', 'message_size');
COMMENT ON TYPE postern.condition_kind IS
    'What a rule condition tests.  conn_* are known once the connection is set up (conn_auth_user/conn_authenticated after AUTH, conn_helo after EHLO); sender_* at MAIL FROM; rcpt_* and delivery_relaying at RCPT TO; message_size at MAIL FROM (SIZE=) and again after DATA.';

CREATE TYPE postern.condition_op AS ENUM ('is', 'is_not', 'contains', 'matches', 'in_cidr', 'ge', 'le');
COMMENT ON TYPE postern.condition_op IS
    'Comparison of a condition: is / is_not (equality, case-insensitive for text), contains (case-insensitive substring), matches (POSIX extended regex, case-insensitive), in_cidr (address in one of a list of networks), ge / le (number at least / at most).';

CREATE TYPE postern.action_kind AS ENUM (
    'auth_plain', 'auth_tls', 'reply', 'relay_host', 'relay_tls',
    'relay_tls_versions', 'add_header', 'stop');
COMMENT ON TYPE postern.action_kind IS
    'What a rule action does: auth_plain / auth_tls set the AUTH mechanisms offered on plain / TLS connections; reply sets the SMTP answer; relay_host, relay_tls, relay_tls_versions set the outbound route of the recipient; add_header adds a header line; stop ends rule evaluation at that stage.';

CREATE TYPE postern.reply_kind AS ENUM ('accept', 'reject', 'tempfail');
COMMENT ON TYPE postern.reply_kind IS
    'SMTP answer chosen by a reply action: accept (2xx), reject (5xx, permanent), tempfail (4xx, try again later).';

CREATE TYPE postern.relay_tls_mode AS ENUM ('none', 'opportunistic', 'required', 'implicit');
COMMENT ON TYPE postern.relay_tls_mode IS
    'TLS towards a relay host: none = plain only; opportunistic = STARTTLS when offered; required = STARTTLS or the delivery is deferred; implicit = TLS from the first byte (SMTPS, usually port 465).';

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

CREATE FUNCTION postern.is_relay_host(host text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = postern, pg_temp AS $$
DECLARE
    lit text;
    a inet;
BEGIN
    IF host ~ '^\[.*\]$' THEN
        lit := substr(host, 2, length(host) - 2);
        lit := regexp_replace(lit, '^IPv6:', '', 'i');
        BEGIN
            a := lit::inet;
        EXCEPTION WHEN others THEN
            RETURN false;
        END;
        RETURN masklen(a) = CASE family(a) WHEN 4 THEN 32 ELSE 128 END;
    END IF;
    RETURN postern.is_host_name(host);
END $$;
COMMENT ON FUNCTION postern.is_relay_host(text) IS
    'True when host is a valid DNS host name or an address literal in brackets: [192.0.2.1], [2001:db8::1] or [IPv6:2001:db8::1].';

CREATE FUNCTION postern.rule_lookup(name text) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    SELECT r.id INTO rid FROM postern.rules r WHERE r.name = rule_lookup.name;
    IF rid IS NULL THEN
        RAISE EXCEPTION 'rule "%" does not exist', rule_lookup.name
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM postern.rules_overview; lists the rules.';
    END IF;
    RETURN rid;
END $$;
COMMENT ON FUNCTION postern.rule_lookup(text) IS
    'Returns the id of the rule with this name; raises rule "x" does not exist otherwise.  Used by the rule_* functions.';

CREATE FUNCTION postern.normalize_mechs(mechs text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(SELECT m FROM (SELECT upper(btrim(x)) AS m, min(o) AS o
                              FROM unnest(mechs) WITH ORDINALITY AS u(x, o)
                             GROUP BY 1) s
              ORDER BY o);
COMMENT ON FUNCTION postern.normalize_mechs(text[]) IS
    'AUTH mechanism list in upper case without duplicates, first occurrence order kept (NULL elements stay NULL and are then refused by the constraints).';

------------------------------------------------------------------------------
-- rules
------------------------------------------------------------------------------

CREATE TABLE postern.rules (
    id serial PRIMARY KEY,
    name text NOT NULL
        CONSTRAINT "rules.name must be 1 to 64 of A-Z a-z 0-9 _ . -"
        CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$')
        CONSTRAINT "rules.name must be unique" UNIQUE,
    -- No default: a BEFORE INSERT trigger puts a rule without position last;
    -- NOT NULL is checked after that trigger.
    position integer NOT NULL
        CONSTRAINT "rules.position must be at least 1"
        CHECK (position >= 1),
    enabled boolean NOT NULL DEFAULT true,
    match postern.rule_match NOT NULL DEFAULT 'all',
    description text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "rules.position must be unique" UNIQUE (position) DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON TABLE postern.rules IS
$c$Rules deciding AUTH, SMTP replies, relaying and extra headers.  Rules run in position order at each SMTP stage where all their conditions can be decided (connection/EHLO, MAIL FROM, RCPT TO, end of DATA); a rule without conditions matches at every stage, whatever its match.  For each decision (AUTH mechanisms on plain connections, AUTH mechanisms on TLS connections, SMTP reply, relay host, relay TLS mode, relay TLS versions) the LAST matching rule that sets it wins.  A matching rule with a stop action ends the evaluation at that stage after its own actions.  AUTH is decided at EHLO, so rules with auth_* actions may only have connection conditions.  Positions are always 1..n without gaps: inserting at a position, moving and deleting shift the other rules.  Changes send NOTIFY postern_config, 'rules'.$c$;
COMMENT ON COLUMN postern.rules.id IS 'Rule id (referenced by rule_conditions and rule_actions).';
COMMENT ON COLUMN postern.rules.name IS 'Unique rule name, 1 to 64 of A-Z a-z 0-9 _ . - (case-sensitive).';
COMMENT ON COLUMN postern.rules.position IS
    'Evaluation order, 1 = first; always 1..n without gaps.  NULL on INSERT appends the rule; an explicit position inserts it there and shifts the following rules; updating it moves the rule.';
COMMENT ON COLUMN postern.rules.enabled IS 'False keeps the rule (and its position) but ignores it.';
COMMENT ON COLUMN postern.rules.match IS 'all = every condition must hold, any = one is enough; no conditions = always matches.';
COMMENT ON COLUMN postern.rules.description IS 'Free-form note for operators.';
COMMENT ON COLUMN postern.rules.updated_at IS 'Time of the last change to this row (set by a trigger).';

-- Takes the position lock before any statement that may change positions.
CREATE FUNCTION postern.rules_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.rules_lock() IS
    'Statement trigger function: LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE, which serialises every change of rule positions.';

CREATE FUNCTION postern.rules_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    IF NEW.position IS NULL THEN
        SELECT coalesce(max(r.position), 0) + 1 INTO NEW.position FROM postern.rules r;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.rules_before_insert() IS
    'Trigger function: a rule inserted without position gets position max + 1 (last).';

CREATE FUNCTION postern.rules_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.rules_touch() IS
    'Trigger function: sets rules.updated_at to now() when the row changes.';

-- Renumbers rules to 1..n after a statement.  Ties at one position are
-- broken so that the rules the statement placed there win the place: an
-- inserted rule or a rule moved up goes before the rule already there, a
-- rule moved down goes after it.  The renumbering UPDATE fires these
-- triggers again one level deeper; they do nothing there.
CREATE FUNCTION postern.rules_renumber() RETURNS trigger
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
                        WHERE n.position IS DISTINCT FROM o.position) THEN
            RETURN NULL;
        END IF;
        LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
        UPDATE postern.rules r SET position = s.rn
          FROM (SELECT x.id,
                       row_number() OVER (ORDER BY x.position,
                                          1 + coalesce(sign(m.position - m.old_position), 0),
                                          x.id) AS rn
                  FROM postern.rules x
                  LEFT JOIN (SELECT n.id, n.position, o.position AS old_position
                               FROM new_rows n JOIN old_rows o ON o.id = n.id) m
                         ON m.id = x.id AND m.position = x.position) s
         WHERE r.id = s.id AND r.position <> s.rn;
    ELSIF TG_OP = 'INSERT' THEN
        LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
        UPDATE postern.rules r SET position = s.rn
          FROM (SELECT x.id,
                       row_number() OVER (ORDER BY x.position,
                                          (x.id IN (SELECT n.id FROM new_rows n)) DESC,
                                          x.id) AS rn
                  FROM postern.rules x) s
         WHERE r.id = s.id AND r.position <> s.rn;
    ELSE
        LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
        UPDATE postern.rules r SET position = s.rn
          FROM (SELECT x.id, row_number() OVER (ORDER BY x.position, x.id) AS rn
                  FROM postern.rules x) s
         WHERE r.id = s.id AND r.position <> s.rn;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.rules_renumber() IS
    'Statement trigger function: after INSERT, UPDATE of position or DELETE on rules, renumbers positions to 1..n.  A rule inserted at or moved to an occupied position takes it and the others shift; positions past the end become the end.';

CREATE TRIGGER rules_lock BEFORE INSERT OR DELETE OR UPDATE OF position ON postern.rules
    FOR EACH STATEMENT EXECUTE FUNCTION postern.rules_lock();
COMMENT ON TRIGGER rules_lock ON postern.rules IS 'Serialises position changes (SHARE ROW EXCLUSIVE lock).';
CREATE TRIGGER rules_before_insert BEFORE INSERT ON postern.rules
    FOR EACH ROW EXECUTE FUNCTION postern.rules_before_insert();
COMMENT ON TRIGGER rules_before_insert ON postern.rules IS 'NULL position = last.';
CREATE TRIGGER rules_touch BEFORE UPDATE ON postern.rules
    FOR EACH ROW EXECUTE FUNCTION postern.rules_touch();
COMMENT ON TRIGGER rules_touch ON postern.rules IS 'Keeps updated_at current.';
CREATE TRIGGER rules_renumber_insert AFTER INSERT ON postern.rules
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION postern.rules_renumber();
COMMENT ON TRIGGER rules_renumber_insert ON postern.rules IS 'Keeps positions 1..n after INSERT.';
CREATE TRIGGER rules_renumber_update AFTER UPDATE ON postern.rules
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION postern.rules_renumber();
COMMENT ON TRIGGER rules_renumber_update ON postern.rules IS 'Keeps positions 1..n after a move.';
CREATE TRIGGER rules_renumber_delete AFTER DELETE ON postern.rules
    FOR EACH STATEMENT EXECUTE FUNCTION postern.rules_renumber();
COMMENT ON TRIGGER rules_renumber_delete ON postern.rules IS 'Closes the gap after DELETE.';
CREATE TRIGGER rules_notify AFTER INSERT OR UPDATE OR DELETE ON postern.rules
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rules_notify ON postern.rules IS 'NOTIFY postern_config, ''rules''.';
CREATE TRIGGER rules_notify_truncate AFTER TRUNCATE ON postern.rules
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rules_notify_truncate ON postern.rules IS 'NOTIFY postern_config, ''rules''.';

------------------------------------------------------------------------------
-- rule_conditions
------------------------------------------------------------------------------

CREATE TABLE postern.rule_conditions (
    id serial PRIMARY KEY,
    rule_id integer NOT NULL REFERENCES postern.rules (id) ON DELETE CASCADE,
    kind postern.condition_kind NOT NULL,
    op postern.condition_op NOT NULL DEFAULT 'is',
    value text NOT NULL,
    negate boolean NOT NULL DEFAULT false
);
CREATE INDEX rule_conditions_rule_id ON postern.rule_conditions (rule_id);
COMMENT ON INDEX postern.rule_conditions_rule_id IS 'Conditions of a rule.';
COMMENT ON TABLE postern.rule_conditions IS
$c$Conditions of rules, combined by rules.match.  Checked and normalised by a trigger: boolean kinds (conn_tls, conn_authenticated, sender_local, rcpt_local, delivery_relaying) take is/is_not and true/false; conn_remote_addr takes is/is_not with one IP address, or in_cidr with a list of networks; conn_listener takes is/is_not with a listener name or port; text kinds (conn_auth_user, conn_helo, sender_address, sender_domain, rcpt_address, rcpt_domain) take is/is_not/contains (case-insensitive) or matches (POSIX extended regex, case-insensitive: the daemon uses regcomp(REG_EXTENDED|REG_ICASE), so PostgreSQL-only regex extensions such as \d \w \s \m \M \y, (?...) and *** are not portable and are refused); message_size takes ge/le with bytes (K, M, G suffixes = 1024 multiples).  Changes send NOTIFY postern_config, 'rule_conditions'.$c$;
COMMENT ON COLUMN postern.rule_conditions.id IS 'Condition id; conditions of a rule are listed in id order.';
COMMENT ON COLUMN postern.rule_conditions.rule_id IS 'The rule (rules.id); deleting the rule deletes its conditions.';
COMMENT ON COLUMN postern.rule_conditions.kind IS 'What is tested (postern.condition_kind).';
COMMENT ON COLUMN postern.rule_conditions.op IS 'How it is compared (postern.condition_op); the allowed ops depend on kind.';
COMMENT ON COLUMN postern.rule_conditions.value IS
    'What it is compared with, stored normalised: true/false; an IP address; comma-separated CIDRs; a listener name or port; text; a regex; a size in bytes.';
COMMENT ON COLUMN postern.rule_conditions.negate IS 'True inverts the result of the condition (NOT).';

CREATE FUNCTION postern.rule_conditions_check() RETURNS trigger
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
    'Trigger function: checks that op fits kind and that value is valid for kind and op, and stores value normalised (booleans as true/false, addresses and networks canonical, CIDR lists comma-separated, sizes in plain bytes, listener names lower case).  Messages start with rule_conditions.op: or rule_conditions.value: and end with the rule name.';

CREATE TRIGGER rule_conditions_check BEFORE INSERT OR UPDATE ON postern.rule_conditions
    FOR EACH ROW EXECUTE FUNCTION postern.rule_conditions_check();
COMMENT ON TRIGGER rule_conditions_check ON postern.rule_conditions IS 'Validates and normalises op and value.';
CREATE TRIGGER rule_conditions_notify AFTER INSERT OR UPDATE OR DELETE ON postern.rule_conditions
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rule_conditions_notify ON postern.rule_conditions IS 'NOTIFY postern_config, ''rule_conditions''.';
CREATE TRIGGER rule_conditions_notify_truncate AFTER TRUNCATE ON postern.rule_conditions
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rule_conditions_notify_truncate ON postern.rule_conditions IS 'NOTIFY postern_config, ''rule_conditions''.';

------------------------------------------------------------------------------
-- rule_actions
------------------------------------------------------------------------------

CREATE TABLE postern.rule_actions (
    id serial PRIMARY KEY,
    rule_id integer NOT NULL REFERENCES postern.rules (id) ON DELETE CASCADE,
    seq integer NOT NULL DEFAULT 1
        CONSTRAINT "rule_actions.seq must be at least 1"
        CHECK (seq >= 1),
    kind postern.action_kind NOT NULL,
    auth_mechs text[] NULL,
    reply postern.reply_kind NULL,
    reply_code integer NULL,
    reply_ecode text NULL,
    reply_text text NULL,
    relay_host text NULL,
    relay_port integer NULL,
    relay_tls postern.relay_tls_mode NULL,
    relay_tls_versions postern.tls_version[] NULL,
    header_name text NULL,
    header_value text NULL,

    -- auth_plain, auth_tls
    CONSTRAINT "rule_actions.auth_mechs must be set for auth actions"
        CHECK (kind NOT IN ('auth_plain', 'auth_tls') OR auth_mechs IS NOT NULL),
    CONSTRAINT "rule_actions.auth_mechs may only contain PLAIN and LOGIN"
        CHECK (auth_mechs <@ ARRAY['PLAIN', 'LOGIN']),
    CONSTRAINT "rule_actions.auth_mechs is only for auth_plain and auth_tls"
        CHECK (auth_mechs IS NULL OR kind IN ('auth_plain', 'auth_tls')),
    -- reply
    CONSTRAINT "rule_actions.reply must be set for reply actions"
        CHECK (kind <> 'reply' OR reply IS NOT NULL),
    CONSTRAINT "rule_actions.reply_code must be 200-299 or NULL for accept"
        CHECK (reply IS DISTINCT FROM 'accept' OR reply_code IS NULL OR reply_code BETWEEN 200 AND 299),
    CONSTRAINT "rule_actions.reply_code must be 500-599 for reject"
        CHECK (reply IS DISTINCT FROM 'reject' OR coalesce(reply_code BETWEEN 500 AND 599, false)),
    CONSTRAINT "rule_actions.reply_code must be 400-499 for tempfail"
        CHECK (reply IS DISTINCT FROM 'tempfail' OR coalesce(reply_code BETWEEN 400 AND 499, false)),
    CONSTRAINT "rule_actions.reply_ecode must be 2.x.y or NULL for accept"
        CHECK (reply IS DISTINCT FROM 'accept' OR reply_ecode IS NULL
               OR reply_ecode ~ '^2\.[0-9]{1,3}\.[0-9]{1,3}$'),
    CONSTRAINT "rule_actions.reply_ecode must be 5.x.y (e.g. 5.7.1) for reject"
        CHECK (reply IS DISTINCT FROM 'reject' OR coalesce(reply_ecode ~ '^5\.[0-9]{1,3}\.[0-9]{1,3}$', false)),
    CONSTRAINT "rule_actions.reply_ecode must be 4.x.y (e.g. 4.7.1) if tempfail"
        CHECK (reply IS DISTINCT FROM 'tempfail' OR coalesce(reply_ecode ~ '^4\.[0-9]{1,3}\.[0-9]{1,3}$', false)),
    CONSTRAINT "rule_actions.reply_text must be set for reject and tempfail"
        CHECK (reply IS NULL OR reply = 'accept' OR coalesce(btrim(reply_text) <> '', false)),
    CONSTRAINT "rule_actions.reply_text must be one line of at most 200 chars"
        CHECK (reply_text IS NULL OR (length(reply_text) <= 200
                                      AND reply_text = translate(reply_text, E'\r\n', ''))),
    CONSTRAINT "rule_actions.reply fields are only for reply actions"
        CHECK (kind = 'reply' OR num_nonnulls(reply, reply_code, reply_ecode, reply_text) = 0),
    -- relay_host
    CONSTRAINT "rule_actions.relay_host must be set for relay_host actions"
        CHECK (kind <> 'relay_host' OR relay_host IS NOT NULL),
    CONSTRAINT "rule_actions.relay_host must be a host name or [IP address]"
        CHECK (postern.is_relay_host(relay_host)),
    CONSTRAINT "rule_actions.relay_port must be set for relay_host actions"
        CHECK (kind <> 'relay_host' OR relay_port IS NOT NULL),
    CONSTRAINT "rule_actions.relay_port must be between 1 and 65535"
        CHECK (relay_port BETWEEN 1 AND 65535),
    CONSTRAINT "rule_actions.relay_host and relay_port are only for relay_host"
        CHECK (kind = 'relay_host' OR num_nonnulls(relay_host, relay_port) = 0),
    -- relay_tls
    CONSTRAINT "rule_actions.relay_tls must be set for relay_tls actions"
        CHECK (kind <> 'relay_tls' OR relay_tls IS NOT NULL),
    CONSTRAINT "rule_actions.relay_tls is only for relay_tls actions"
        CHECK (kind = 'relay_tls' OR relay_tls IS NULL),
    -- relay_tls_versions
    CONSTRAINT "rule_actions.relay_tls_versions must be set and non-empty"
        CHECK (kind <> 'relay_tls_versions'
               OR (coalesce(cardinality(relay_tls_versions), 0) > 0
                   AND array_position(relay_tls_versions, NULL) IS NULL)),
    CONSTRAINT "rule_actions.relay_tls_versions is only for relay_tls_versions"
        CHECK (kind = 'relay_tls_versions' OR relay_tls_versions IS NULL),
    -- add_header
    CONSTRAINT "rule_actions.header_name must be 1 to 64 of A-Z a-z 0-9 -"
        CHECK (kind <> 'add_header' OR coalesce(header_name ~ '^[A-Za-z0-9-]{1,64}$', false)),
    CONSTRAINT "rule_actions.header_value must be set for add_header actions"
        CHECK (kind <> 'add_header' OR header_value IS NOT NULL),
    CONSTRAINT "rule_actions.header_value must be one line of at most 900 chars"
        CHECK (header_value IS NULL OR (length(header_value) <= 900
                                        AND header_value = translate(header_value, E'\r\n', ''))),
    CONSTRAINT "rule_actions.header_name/header_value are only for add_header"
        CHECK (kind = 'add_header' OR num_nonnulls(header_name, header_value) = 0)
);
CREATE INDEX rule_actions_rule_id ON postern.rule_actions (rule_id);
COMMENT ON INDEX postern.rule_actions_rule_id IS 'Actions of a rule.';
COMMENT ON TABLE postern.rule_actions IS
$c$Actions of rules, run in (seq, id) order when the rule matches.  Each kind uses its own columns, all others must be NULL: auth_plain / auth_tls: auth_mechs; reply: reply, reply_code, reply_ecode, reply_text; relay_host: relay_host, relay_port; relay_tls: relay_tls; relay_tls_versions: relay_tls_versions; add_header: header_name, header_value; stop: none.  Changes send NOTIFY postern_config, 'rule_actions'.$c$;
COMMENT ON COLUMN postern.rule_actions.id IS 'Action id.';
COMMENT ON COLUMN postern.rule_actions.rule_id IS 'The rule (rules.id); deleting the rule deletes its actions.';
COMMENT ON COLUMN postern.rule_actions.seq IS 'Order of the action inside its rule (then id).';
COMMENT ON COLUMN postern.rule_actions.kind IS 'What the action does (postern.action_kind).';
COMMENT ON COLUMN postern.rule_actions.auth_mechs IS
    'auth_plain / auth_tls: AUTH mechanisms offered on plain / TLS connections, a subset of {PLAIN,LOGIN}; empty = AUTH not offered (answered 530).';
COMMENT ON COLUMN postern.rule_actions.reply IS 'reply: accept, reject or tempfail.';
COMMENT ON COLUMN postern.rule_actions.reply_code IS
    'reply: SMTP code; accept 200-299 or NULL (the daemon''s normal 250), reject 500-599, tempfail 400-499.';
COMMENT ON COLUMN postern.rule_actions.reply_ecode IS
    'reply: enhanced status code (RFC 3463); reject 5.x.y, tempfail 4.x.y, accept 2.x.y or NULL.';
COMMENT ON COLUMN postern.rule_actions.reply_text IS
    'reply: text after the codes; required for reject and tempfail; one line, at most 200 characters.';
COMMENT ON COLUMN postern.rule_actions.relay_host IS
    'relay_host: smarthost to deliver through, a host name or an address literal [192.0.2.1] / [2001:db8::1] / [IPv6:2001:db8::1].';
COMMENT ON COLUMN postern.rule_actions.relay_port IS 'relay_host: TCP port of the smarthost, 1-65535.';
COMMENT ON COLUMN postern.rule_actions.relay_tls IS 'relay_tls: TLS towards the relay host (postern.relay_tls_mode).';
COMMENT ON COLUMN postern.rule_actions.relay_tls_versions IS 'relay_tls_versions: TLS versions allowed towards the relay host; not empty.';
COMMENT ON COLUMN postern.rule_actions.header_name IS 'add_header: header field name, 1 to 64 of A-Z a-z 0-9 -.';
COMMENT ON COLUMN postern.rule_actions.header_value IS 'add_header: header field value, one line, at most 900 characters.';

CREATE TRIGGER rule_actions_notify AFTER INSERT OR UPDATE OR DELETE ON postern.rule_actions
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rule_actions_notify ON postern.rule_actions IS 'NOTIFY postern_config, ''rule_actions''.';
CREATE TRIGGER rule_actions_notify_truncate AFTER TRUNCATE ON postern.rule_actions
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER rule_actions_notify_truncate ON postern.rule_actions IS 'NOTIFY postern_config, ''rule_actions''.';

------------------------------------------------------------------------------
-- Cross-table check: AUTH rules depend on connection conditions only
------------------------------------------------------------------------------

CREATE FUNCTION postern.rules_check_auth() RETURNS trigger
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
    rname text;
    bad postern.condition_kind;
BEGIN
    IF TG_TABLE_NAME = 'rules' THEN
        rid := NEW.id;
    ELSE
        rid := NEW.rule_id;
    END IF;
    SELECT r.name INTO rname FROM postern.rules r WHERE r.id = rid;
    IF rname IS NULL THEN
        RETURN NULL;                    -- deleted meanwhile
    END IF;
    IF EXISTS (SELECT 1 FROM postern.rule_actions a
                WHERE a.rule_id = rid AND a.kind IN ('auth_plain', 'auth_tls')) THEN
        SELECT c.kind INTO bad FROM postern.rule_conditions c
         WHERE c.rule_id = rid
           AND c.kind NOT IN ('conn_tls', 'conn_remote_addr', 'conn_listener',
                              'conn_authenticated', 'conn_auth_user', 'conn_helo')
         ORDER BY c.id LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'rule "%": AUTH actions can only depend on connection conditions (found condition kind %)', rname, bad
                USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      HINT = 'AUTH is offered at EHLO, before MAIL FROM: use conn_tls, conn_remote_addr, conn_listener, conn_authenticated, conn_auth_user or conn_helo, or put the other conditions in a separate rule.';
        END IF;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.rules_check_auth() IS
    'Constraint trigger function (deferred to commit): a rule with an auth_plain or auth_tls action may only have connection conditions (conn_tls, conn_remote_addr, conn_listener, conn_authenticated, conn_auth_user, conn_helo).';

CREATE CONSTRAINT TRIGGER rules_check_auth AFTER INSERT OR UPDATE OF id ON postern.rules
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_auth();
COMMENT ON TRIGGER rules_check_auth ON postern.rules IS 'AUTH rules have connection conditions only (checked at commit).';
CREATE CONSTRAINT TRIGGER rule_conditions_check_auth AFTER INSERT OR UPDATE ON postern.rule_conditions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_auth();
COMMENT ON TRIGGER rule_conditions_check_auth ON postern.rule_conditions IS 'AUTH rules have connection conditions only (checked at commit).';
CREATE CONSTRAINT TRIGGER rule_actions_check_auth AFTER INSERT OR UPDATE ON postern.rule_actions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postern.rules_check_auth();
COMMENT ON TRIGGER rule_actions_check_auth ON postern.rule_actions IS 'AUTH rules have connection conditions only (checked at commit).';

------------------------------------------------------------------------------
-- Functions for operators and the console
------------------------------------------------------------------------------

CREATE FUNCTION postern.rule_add(name text, match postern.rule_match DEFAULT 'all',
                                 at_position integer DEFAULT NULL, description text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM postern.rules r WHERE r.name = rule_add.name) THEN
        RAISE EXCEPTION 'rule "%" already exists', rule_add.name USING ERRCODE = 'unique_violation';
    END IF;
    IF rule_add.at_position < 1 THEN
        RAISE EXCEPTION 'rule_add: at_position must be at least 1 (or NULL for last), got %', rule_add.at_position
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO postern.rules (name, match, position, description)
    VALUES (rule_add.name, coalesce(rule_add.match, 'all'), rule_add.at_position,
            coalesce(rule_add.description, ''))
    RETURNING id INTO rid;
    RETURN rid;
END $$;
COMMENT ON FUNCTION postern.rule_add(text, postern.rule_match, integer, text) IS
    'Adds an enabled rule without conditions or actions and returns its id.  at_position NULL appends it; otherwise it is inserted there (past the end = last) and the following rules move down.';

CREATE FUNCTION postern.rule_delete(name text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM postern.rules r WHERE r.id = postern.rule_lookup(rule_delete.name);
END $$;
COMMENT ON FUNCTION postern.rule_delete(text) IS
    'Deletes a rule with its conditions and actions; the following rules move up.';

CREATE FUNCTION postern.rule_move(name text, new_position integer) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    rid := postern.rule_lookup(rule_move.name);
    IF rule_move.new_position IS NULL OR rule_move.new_position < 1 THEN
        RAISE EXCEPTION 'rule_move: new_position must be at least 1, got %', coalesce(rule_move.new_position::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.rules r SET position = rule_move.new_position
     WHERE r.id = rid AND r.position <> rule_move.new_position;
END $$;
COMMENT ON FUNCTION postern.rule_move(text, integer) IS
    'Moves a rule to new_position (past the end = last); the rules in between shift by one.';

CREATE FUNCTION postern.rule_up(name text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    rid := postern.rule_lookup(rule_up.name);
    UPDATE postern.rules r SET position = r.position - 1 WHERE r.id = rid AND r.position > 1;
END $$;
COMMENT ON FUNCTION postern.rule_up(text) IS
    'Swaps a rule with the one before it (evaluated earlier); does nothing for the first rule.';

CREATE FUNCTION postern.rule_down(name text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    rid := postern.rule_lookup(rule_down.name);
    UPDATE postern.rules r SET position = r.position + 1
     WHERE r.id = rid AND r.position < (SELECT max(x.position) FROM postern.rules x);
END $$;
COMMENT ON FUNCTION postern.rule_down(text) IS
    'Swaps a rule with the one after it (evaluated later); does nothing for the last rule.';

CREATE FUNCTION postern.rule_enable(name text, "on" boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer;
BEGIN
    rid := postern.rule_lookup(rule_enable.name);
    IF rule_enable."on" IS NULL THEN
        RAISE EXCEPTION 'rule_enable: "on" must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.rules r SET enabled = rule_enable."on"
     WHERE r.id = rid AND r.enabled <> rule_enable."on";
END $$;
COMMENT ON FUNCTION postern.rule_enable(text, boolean) IS
    'Enables a rule, or disables it with rule_enable(name, false); a disabled rule keeps its position and is ignored.';

CREATE FUNCTION postern.next_action_seq(rule_id integer) RETURNS integer
LANGUAGE sql STABLE
RETURN (SELECT coalesce(max(a.seq), 0) + 1 FROM postern.rule_actions a WHERE a.rule_id = next_action_seq.rule_id);
COMMENT ON FUNCTION postern.next_action_seq(integer) IS
    'seq for an action appended to a rule: the largest seq of its actions plus 1.';

CREATE FUNCTION postern.rule_add_condition(rule text, kind postern.condition_kind, op postern.condition_op,
                                           value text, negate boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    cid integer;
BEGIN
    INSERT INTO postern.rule_conditions (rule_id, kind, op, value, negate)
    VALUES (postern.rule_lookup(rule_add_condition.rule), rule_add_condition.kind,
            coalesce(rule_add_condition.op, 'is'), rule_add_condition.value,
            coalesce(rule_add_condition.negate, false))
    RETURNING id INTO cid;
    RETURN cid;
END $$;
COMMENT ON FUNCTION postern.rule_add_condition(text, postern.condition_kind, postern.condition_op, text, boolean) IS
    'Adds a condition to a rule and returns its id; value is validated and normalised (see postern.rule_conditions).';

CREATE FUNCTION postern.rule_add_auth(rule text, connection text, mechs text[]) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_auth.rule);
    k postern.action_kind;
    aid integer;
BEGIN
    k := CASE lower(btrim(rule_add_auth.connection)) WHEN 'plain' THEN 'auth_plain' WHEN 'tls' THEN 'auth_tls' END;
    IF k IS NULL THEN
        RAISE EXCEPTION 'rule_add_auth: connection must be ''plain'' or ''tls'', got "%"', rule_add_auth.connection
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO postern.rule_actions (rule_id, seq, kind, auth_mechs)
    VALUES (rid, postern.next_action_seq(rid), k, postern.normalize_mechs(rule_add_auth.mechs))
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_auth(text, text, text[]) IS
    'Adds an auth_plain (connection ''plain'') or auth_tls (connection ''tls'') action with the given mechanisms (subset of {PLAIN,LOGIN}, case-insensitive; ''{}'' = no AUTH) and returns its id.';

CREATE FUNCTION postern.rule_add_reply(rule text, reply postern.reply_kind, code integer DEFAULT NULL,
                                       ecode text DEFAULT NULL, text text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_reply.rule);
    c integer := rule_add_reply.code;
    e text := rule_add_reply.ecode;
    aid integer;
BEGIN
    IF rule_add_reply.reply = 'reject' THEN
        c := coalesce(c, 550);
        e := coalesce(e, '5.7.1');
    ELSIF rule_add_reply.reply = 'tempfail' THEN
        c := coalesce(c, 451);
        e := coalesce(e, '4.7.1');
    END IF;
    INSERT INTO postern.rule_actions (rule_id, seq, kind, reply, reply_code, reply_ecode, reply_text)
    VALUES (rid, postern.next_action_seq(rid), 'reply', rule_add_reply.reply, c, e, rule_add_reply.text)
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_reply(text, postern.reply_kind, integer, text, text) IS
    'Adds a reply action and returns its id.  code and ecode default to 550 5.7.1 for reject and 451 4.7.1 for tempfail (NULL for accept: the normal 250); text is required for reject and tempfail.';

CREATE FUNCTION postern.rule_add_relay(rule text, host text, port integer,
                                       tls postern.relay_tls_mode DEFAULT NULL,
                                       versions postern.tls_version[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_relay.rule);
    h text := btrim(rule_add_relay.host);
    aid integer;
BEGIN
    IF h !~ '^\[' THEN
        h := lower(h);
    END IF;
    INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_host, relay_port)
    VALUES (rid, postern.next_action_seq(rid), 'relay_host', h, rule_add_relay.port)
    RETURNING id INTO aid;
    IF rule_add_relay.tls IS NOT NULL THEN
        INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls)
        VALUES (rid, postern.next_action_seq(rid), 'relay_tls', rule_add_relay.tls);
    END IF;
    IF rule_add_relay.versions IS NOT NULL THEN
        INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls_versions)
        VALUES (rid, postern.next_action_seq(rid), 'relay_tls_versions', rule_add_relay.versions);
    END IF;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_relay(text, text, integer, postern.relay_tls_mode, postern.tls_version[]) IS
    'Adds a relay_host action (host name lower-cased, or [address literal]; port 1-65535), plus a relay_tls action when tls is given and a relay_tls_versions action when versions is given; returns the relay_host action''s id.';

CREATE FUNCTION postern.rule_add_header(rule text, name text, value text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_header.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind, header_name, header_value)
    VALUES (rid, postern.next_action_seq(rid), 'add_header', rule_add_header.name, rule_add_header.value)
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_header(text, text, text) IS
    'Adds an add_header action (header name 1 to 64 of A-Z a-z 0-9 -, value one line of at most 900 characters) and returns its id.';

CREATE FUNCTION postern.rule_add_stop(rule text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_stop.rule);
    aid integer;
BEGIN
    INSERT INTO postern.rule_actions (rule_id, seq, kind)
    VALUES (rid, postern.next_action_seq(rid), 'stop')
    RETURNING id INTO aid;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_stop(text) IS
    'Adds a stop action (no later rule is evaluated at that stage once this rule matched) and returns its id.';

CREATE FUNCTION postern.rule_clear(rule text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_clear.rule);
BEGIN
    DELETE FROM postern.rule_conditions c WHERE c.rule_id = rid;
    DELETE FROM postern.rule_actions a WHERE a.rule_id = rid;
END $$;
COMMENT ON FUNCTION postern.rule_clear(text) IS
    'Removes all conditions and actions of a rule, keeping the rule (name, position, enabled, match, description).';

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

CREATE FUNCTION postern.quote_value(v text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN v = '' OR v ~ '[\s"]' THEN '"' || replace(v, '"', '\"') || '"' ELSE v END;
COMMENT ON FUNCTION postern.quote_value(text) IS
    'Value as shown in rules_overview: in double quotes when empty or containing spaces or quotes.';

CREATE VIEW postern.rules_overview AS
SELECT r.position,
       r.name,
       r.enabled,
       r.match,
       coalesce((SELECT string_agg(CASE WHEN c.negate THEN 'NOT ' ELSE '' END
                                   || c.kind || ' ' || c.op || ' ' || postern.quote_value(c.value),
                                   CASE r.match WHEN 'all' THEN ' AND ' ELSE ' OR ' END
                                   ORDER BY c.id)
                   FROM postern.rule_conditions c WHERE c.rule_id = r.id), 'always') AS conditions,
       coalesce((SELECT string_agg(CASE a.kind
                     WHEN 'auth_plain' THEN 'auth_plain ' || CASE WHEN cardinality(a.auth_mechs) = 0 THEN 'off'
                                                                 ELSE array_to_string(a.auth_mechs, ',') END
                     WHEN 'auth_tls' THEN 'auth_tls ' || CASE WHEN cardinality(a.auth_mechs) = 0 THEN 'off'
                                                             ELSE array_to_string(a.auth_mechs, ',') END
                     WHEN 'reply' THEN 'reply ' || a.reply || coalesce(' ' || a.reply_code, '')
                                       || coalesce(' ' || a.reply_ecode, '')
                                       || coalesce(' "' || a.reply_text || '"', '')
                     WHEN 'relay_host' THEN 'relay_host ' || a.relay_host || ':' || a.relay_port
                     WHEN 'relay_tls' THEN 'relay_tls ' || a.relay_tls
                     WHEN 'relay_tls_versions' THEN 'relay_tls_versions ' || array_to_string(a.relay_tls_versions, ',')
                     WHEN 'add_header' THEN 'add_header ' || a.header_name || ': ' || a.header_value
                     ELSE a.kind::text END,
                     '; ' ORDER BY a.seq, a.id)
                   FROM postern.rule_actions a WHERE a.rule_id = r.id), '') AS actions,
       r.description,
       r.id
  FROM postern.rules r
 ORDER BY r.position;
COMMENT ON VIEW postern.rules_overview IS
    'One line per rule in evaluation order, with its conditions and actions summarised, e.g. NOT conn_tls is true AND rcpt_domain is mydomain.com | reply reject 550 5.7.1 "..."; stop.';
COMMENT ON COLUMN postern.rules_overview.position IS 'Evaluation order.';
COMMENT ON COLUMN postern.rules_overview.name IS 'Rule name.';
COMMENT ON COLUMN postern.rules_overview.enabled IS 'False = ignored.';
COMMENT ON COLUMN postern.rules_overview.match IS 'all (AND) or any (OR).';
COMMENT ON COLUMN postern.rules_overview.conditions IS 'Conditions joined by AND / OR in id order; always = no conditions.';
COMMENT ON COLUMN postern.rules_overview.actions IS 'Actions in seq order, separated by "; "; empty = none.';
COMMENT ON COLUMN postern.rules_overview.description IS 'The rule''s description.';
COMMENT ON COLUMN postern.rules_overview.id IS 'rules.id.';

CREATE VIEW postern.auth_policy AS
SELECT c.connection,
       coalesce(p.auth_mechs, '{}'::text[]) AS mechs,
       p.rule
  FROM (VALUES (1, 'plain', 'auth_plain'::postern.action_kind),
               (2, 'tls', 'auth_tls'::postern.action_kind)) AS c (ord, connection, kind)
  LEFT JOIN LATERAL (
        SELECT a.auth_mechs, r.name AS rule
          FROM postern.rules r
          JOIN postern.rule_actions a ON a.rule_id = r.id
         WHERE r.enabled
           AND a.kind = c.kind
           AND NOT EXISTS (SELECT 1 FROM postern.rule_conditions x WHERE x.rule_id = r.id)
           -- an unconditional stop ends evaluation: later rules never count
           AND r.position <= coalesce((SELECT min(s.position)
                                         FROM postern.rules s
                                         JOIN postern.rule_actions sa ON sa.rule_id = s.id AND sa.kind = 'stop'
                                        WHERE s.enabled
                                          AND NOT EXISTS (SELECT 1 FROM postern.rule_conditions y
                                                           WHERE y.rule_id = s.id)),
                                      2147483647)
         ORDER BY r.position DESC, a.seq DESC, a.id DESC
         LIMIT 1) p ON true
 ORDER BY c.ord;
COMMENT ON VIEW postern.auth_policy IS
    'Effective unconditional AUTH policy per connection kind (plain, tls): the last enabled rule without conditions that has an auth_plain / auth_tls action wins (rules after the first enabled unconditional rule with a stop action do not count); none = ''{}'' = AUTH not offered.  Rules with conditions may override it for some connections.';
COMMENT ON COLUMN postern.auth_policy.connection IS 'plain (no TLS) or tls (after STARTTLS or on an implicit-TLS listener).';
COMMENT ON COLUMN postern.auth_policy.mechs IS 'AUTH mechanisms offered; {} = AUTH off.';
COMMENT ON COLUMN postern.auth_policy.rule IS 'Rule that decides it; NULL = no rule (AUTH off).';

CREATE FUNCTION postern.set_auth(connection text, mechs text[]) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    conn text := lower(btrim(set_auth.connection));
    k postern.action_kind;
    ms text[] := postern.normalize_mechs(set_auth.mechs);
    rname text;
    eff record;
BEGIN
    k := CASE conn WHEN 'plain' THEN 'auth_plain' WHEN 'tls' THEN 'auth_tls' END;
    IF k IS NULL THEN
        RAISE EXCEPTION 'set_auth: connection must be ''plain'' or ''tls'', got "%"', set_auth.connection
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ms IS NULL THEN
        RAISE EXCEPTION 'set_auth: mechs must not be NULL (''{}'' turns AUTH off)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOCK TABLE postern.rules IN SHARE ROW EXCLUSIVE MODE;
    UPDATE postern.rule_actions a SET auth_mechs = ms
      FROM postern.rules r
     WHERE a.rule_id = r.id AND a.kind = k AND r.enabled
       AND NOT EXISTS (SELECT 1 FROM postern.rule_conditions c WHERE c.rule_id = r.id);
    IF NOT FOUND THEN
        rname := 'auth_' || conn || '_default';
        IF EXISTS (SELECT 1 FROM postern.rules r WHERE r.name = rname) THEN
            RAISE EXCEPTION 'set_auth: there is no enabled rule without conditions with an % action, and rule "%" exists already (enable it or rename it)', k, rname
                USING ERRCODE = 'unique_violation';
        END IF;
        PERFORM postern.rule_add(rname, 'all', NULL, 'AUTH on ' || conn || ' connections (added by postern.set_auth)');
        PERFORM postern.rule_add_auth(rname, conn, ms);
    END IF;
    SELECT * INTO eff FROM postern.auth_policy p WHERE p.connection = conn;
    IF eff.mechs IS DISTINCT FROM ms THEN
        RAISE WARNING 'set_auth: the unconditional AUTH policy on % connections is still % (%): an enabled rule without conditions with a stop action comes first',
            conn, eff.mechs, coalesce('rule "' || eff.rule || '"', 'no rule');
    END IF;
END $$;
COMMENT ON FUNCTION postern.set_auth(text, text[]) IS
    'Sets the AUTH mechanisms on plain or tls connections: updates every auth_plain / auth_tls action of enabled rules without conditions; if there is none, appends a rule auth_plain_default / auth_tls_default with that action.  ''{}'' turns AUTH off.  See the view postern.auth_policy.';

------------------------------------------------------------------------------
-- Default rules; settings.auth_mechs_* move into them
------------------------------------------------------------------------------

INSERT INTO postern.rules (name, description) VALUES
    ('disableAUTH_on_non_SSL', 'No AUTH on connections without TLS (passwords would travel in clear).'),
    ('enableAUTH_on_SSL', 'AUTH PLAIN and LOGIN on TLS connections.');
-- Carries over the values of an existing database (the defaults on a new one).
INSERT INTO postern.rule_actions (rule_id, kind, auth_mechs)
SELECT r.id, 'auth_plain', postern.normalize_mechs(s.auth_mechs_plain)
  FROM postern.rules r, postern.settings s WHERE r.name = 'disableAUTH_on_non_SSL';
INSERT INTO postern.rule_actions (rule_id, kind, auth_mechs)
SELECT r.id, 'auth_tls', postern.normalize_mechs(s.auth_mechs_tls)
  FROM postern.rules r, postern.settings s WHERE r.name = 'enableAUTH_on_SSL';

ALTER TABLE postern.settings DROP COLUMN auth_mechs_plain, DROP COLUMN auth_mechs_tls;

------------------------------------------------------------------------------
-- recipients: route chosen at RCPT
------------------------------------------------------------------------------

ALTER TABLE postern.recipients
    ADD COLUMN relay_host text NULL,
    ADD COLUMN relay_port integer NULL
        CONSTRAINT "recipients.relay_port must be between 1 and 65535"
        CHECK (relay_port BETWEEN 1 AND 65535),
    ADD COLUMN relay_tls postern.relay_tls_mode NULL,
    ADD COLUMN relay_tls_versions postern.tls_version[] NULL,
    ADD CONSTRAINT "recipients.relay_host and relay_port must be set together"
        CHECK ((relay_host IS NULL) = (relay_port IS NULL));
COMMENT ON COLUMN postern.recipients.relay_host IS
    'Smarthost chosen by the rules at RCPT TO (relay_host action); NULL = deliver by MX lookup.';
COMMENT ON COLUMN postern.recipients.relay_port IS
    'Port of relay_host; set together with it.';
COMMENT ON COLUMN postern.recipients.relay_tls IS
    'TLS mode chosen by the rules (relay_tls action); NULL = the default (opportunistic STARTTLS when settings.use_starttls_out).';
COMMENT ON COLUMN postern.recipients.relay_tls_versions IS
    'TLS versions allowed for this delivery (relay_tls_versions action); NULL = the default.';

COMMENT ON COLUMN postern.schema_version.version IS
    'Schema version number: 1 = sql/schema.sql, raised by each sql/migrations/NNN_*.sql to NNN.';
UPDATE postern.schema_version SET version = 2;

COMMIT;
