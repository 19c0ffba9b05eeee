-- postern migration 010: aliases, the recipient delimiter and the admin
-- address.
--
-- Applied by scripts/db-load.sh to a database at schema version 9; one
-- transaction, ends with schema_version = 10.
--
--   * settings.recipient_delimiter ('+'): user+tag@domain reaches user@domain
--   * settings.admin_address: where postmaster@ and abuse@ go
--   * postern.aliases, postern.add_alias(), postern.remove_alias(),
--     views postern.alias_list and postern.account_aliases
--   * postern.set_admin_address(), trigger domains_add_role_aliases

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 9 THEN
        RAISE EXCEPTION '010_aliases.sql applies to schema version 9, the database is at version %', v;
    END IF;
END $$;

ALTER TABLE postern.settings ADD COLUMN
    recipient_delimiter text NOT NULL DEFAULT '+'
        CONSTRAINT "settings.recipient_delimiter must be at most 4 characters, none of them @, quote, space or control"
        CHECK (recipient_delimiter ~ '^[!#$%&*+/=?^_`{|}~.-]{0,4}$');
ALTER TABLE postern.settings ADD COLUMN
    admin_address text NULL
        CONSTRAINT "settings.admin_address must be NULL or a lower-case local@domain"
        CHECK (admin_address IS NULL OR (admin_address ~ '^[^@\s]+@[^@\s]+$' AND admin_address = lower(admin_address)
               AND octet_length(admin_address) <= 256));
COMMENT ON COLUMN postern.settings.recipient_delimiter IS
    'Characters that separate a local part from an extension: user+tag@domain reaches user@domain when user+tag@domain is neither an alias nor an account.  Empty = no extensions.';
COMMENT ON COLUMN postern.settings.admin_address IS
    'Where postmaster@ and abuse@ of every local domain go (aliases made by postern.set_admin_address and when a domain is added), and where bare <postmaster> goes; NULL = not set.';

------------------------------------------------------------------------------
-- aliases
------------------------------------------------------------------------------

CREATE TABLE postern.aliases (
    source text NOT NULL
        CONSTRAINT "aliases.source must be lower case"
        CHECK (source = lower(source))
        CONSTRAINT "aliases.source must look like local@domain or @domain (catch-all)"
        CHECK (source ~ '^[^@\s]*@[^@\s]+$' AND octet_length(source) <= 256),
    domain text GENERATED ALWAYS AS (split_part(source, '@', 2)) STORED
        CONSTRAINT "aliases.domain must be a local domain (postern.domains)"
        REFERENCES postern.domains (name) ON DELETE CASCADE,
    target text NOT NULL
        CONSTRAINT "aliases.target must be lower case"
        CHECK (target = lower(target))
        CONSTRAINT "aliases.target must look like local@domain"
        CHECK (target ~ '^[^@\s]+@[^@\s]+$' AND octet_length(target) <= 256),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "aliases: a target is listed once per source" PRIMARY KEY (source, target)
);
COMMENT ON TABLE postern.aliases IS
    'Aliases: mail to source (an address, or @domain for every address of the domain without an alias or account of its own) is delivered to every target (local or remote), expanded at RCPT time (at most 8 levels; a loop is refused with 451 4.4.6).  One row per target.  Changes send NOTIFY postern_config, ''aliases''.';
COMMENT ON COLUMN postern.aliases.source IS
    'The alias, in lower case: local@domain, or @domain for the catch-all of a local domain.';
COMMENT ON COLUMN postern.aliases.domain IS
    'Domain part of source (generated); deleting the domain deletes its aliases.';
COMMENT ON COLUMN postern.aliases.target IS
    'One address the alias delivers to, in lower case: a local account, another alias, or a remote address (relayed: the alias grants it).';
COMMENT ON COLUMN postern.aliases.created_at IS
    'When the row was added.';

CREATE TRIGGER aliases_notify AFTER INSERT OR UPDATE OR DELETE ON postern.aliases
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER aliases_notify ON postern.aliases IS 'NOTIFY postern_config, ''aliases''.';
CREATE TRIGGER aliases_notify_truncate AFTER TRUNCATE ON postern.aliases
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER aliases_notify_truncate ON postern.aliases IS 'NOTIFY postern_config, ''aliases''.';

CREATE FUNCTION postern.add_alias(source text, VARIADIC targets text[]) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    src text := lower(btrim(add_alias.source));
    n integer;
BEGIN
    IF add_alias.targets IS NULL OR cardinality(add_alias.targets) = 0 THEN
        RAISE EXCEPTION 'add_alias: "%" needs at least one target', src
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF src ~ '@' AND NOT EXISTS (SELECT 1 FROM postern.domains d WHERE d.name = split_part(src, '@', 2)) THEN
        RAISE EXCEPTION 'add_alias: domain "%" is not a local domain (add it to postern.domains first)', split_part(src, '@', 2)
            USING ERRCODE = 'foreign_key_violation',
                  HINT = format('SELECT postern.add_domain(%L);', split_part(src, '@', 2));
    END IF;
    INSERT INTO postern.aliases (source, target)
    SELECT src, lower(btrim(t)) FROM unnest(add_alias.targets) AS t
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.add_alias(text, text[]) IS
    'Adds one or more targets to an alias (source local@domain, or @domain for the catch-all; lower-cased; its domain must be local), e.g. SELECT postern.add_alias(''info@example.org'', ''alice@example.org'', ''bob@example.net'');  Returns how many targets were new.';

CREATE FUNCTION postern.remove_alias(source text, target text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM postern.aliases a
     WHERE a.source = lower(btrim(remove_alias.source))
       AND (remove_alias.target IS NULL OR a.target = lower(btrim(remove_alias.target)));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.remove_alias(text, text) IS
    'Removes one target of an alias, or the whole alias when target is NULL; returns how many rows were removed.';

CREATE VIEW postern.alias_list AS
SELECT a.source,
       CASE WHEN a.source LIKE '@%' THEN 'catch-all' ELSE 'address' END AS kind,
       array_agg(a.target ORDER BY a.target) AS targets,
       bool_or(NOT EXISTS (SELECT 1 FROM postern.domains d WHERE d.name = split_part(a.target, '@', 2))) AS has_remote,
       min(a.created_at) AS created_at
FROM postern.aliases a
GROUP BY a.source
ORDER BY split_part(a.source, '@', 2), a.source;
COMMENT ON VIEW postern.alias_list IS
    'One row per alias: its kind (address or catch-all), its targets, whether any target is remote (relayed), when it was first added.';

CREATE VIEW postern.account_aliases AS
WITH RECURSIVE reach (account, alias, depth) AS (
    SELECT a.target, a.source, 1
    FROM postern.aliases a
    UNION
    SELECT r.account, a.source, r.depth + 1
    FROM reach r JOIN postern.aliases a ON a.target = r.alias
    WHERE r.depth < 8
)
SELECT r.account, r.alias, min(r.depth) AS depth
FROM reach r
WHERE EXISTS (SELECT 1 FROM postern.accounts c WHERE c.address = r.account)
GROUP BY r.account, r.alias;
COMMENT ON VIEW postern.account_aliases IS
    'Which aliases deliver to which account (account, alias, depth = alias levels between them, at most 8); alias may be a catch-all @domain.  For sender checks: an authenticated account may use the aliases that reach it.';

CREATE FUNCTION postern.domains_add_role_aliases() RETURNS trigger
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    admin text := (SELECT s.admin_address FROM postern.settings s);
BEGIN
    IF admin IS NOT NULL THEN
        INSERT INTO postern.aliases (source, target)
        SELECT r || '@' || NEW.name, admin FROM unnest(ARRAY['postmaster', 'abuse']) AS r
        WHERE NOT EXISTS (SELECT 1 FROM postern.accounts c WHERE c.address = r || '@' || NEW.name)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.domains_add_role_aliases() IS
    'Trigger function: a new local domain gets postmaster@ and abuse@ aliases to settings.admin_address (RFC 5321 4.5.1, RFC 2142), when it is set.';

CREATE TRIGGER domains_add_role_aliases AFTER INSERT ON postern.domains
    FOR EACH ROW EXECUTE FUNCTION postern.domains_add_role_aliases();
COMMENT ON TRIGGER domains_add_role_aliases ON postern.domains IS 'postmaster@ and abuse@ aliases for a new domain.';

CREATE FUNCTION postern.set_admin_address(address text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    addr text := lower(btrim(set_admin_address.address));
    n integer;
BEGIN
    UPDATE postern.settings SET admin_address = addr;
    INSERT INTO postern.aliases (source, target)
    SELECT r || '@' || d.name, addr
    FROM postern.domains d CROSS JOIN unnest(ARRAY['postmaster', 'abuse']) AS r
    WHERE NOT EXISTS (SELECT 1 FROM postern.aliases a WHERE a.source = r || '@' || d.name)
      AND NOT EXISTS (SELECT 1 FROM postern.accounts c WHERE c.address = r || '@' || d.name)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.set_admin_address(text) IS
    'Sets settings.admin_address and aliases postmaster@ and abuse@ of every local domain that has neither an alias nor an account of that name to it; returns how many aliases were added.  Later domains get theirs when added.';

UPDATE postern.schema_version SET version = 10;
COMMIT;
