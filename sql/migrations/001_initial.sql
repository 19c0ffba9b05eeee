-- postern - the whole configuration and mail queue of the postern MTA.
--
-- Schema version 1, kept unchanged as the base of the upgrade path: the
-- databases in use started from it, and sql/migrations/002_*.sql and later
-- take them to the current version.  A new database does not load this file
-- but sql/schema.sql (the whole current schema); only
-- `scripts/db-load.sh DBNAME --from-version-1` loads it, so that
-- tests/integration/test_schema.py can check that version 1 plus every
-- migration equals sql/schema.sql.  Everything runs in one transaction, so a
-- failed load leaves nothing behind.
--
-- Conventions:
--   * CHECK constraints are named in plain words, with the table and column,
--     so PostgreSQL's error message tells the operator what is wrong, e.g.
--     ERROR: new row for relation "settings" violates check constraint
--            "settings.max_recipients must be between 1 and 100000"
--   * Domain names and account addresses are stored in lower case.
--   * Changes to configuration tables send NOTIFY postern_config, <table>;
--     new queue entries send NOTIFY postern_queue.
--   * Reference documentation: docs/sql-reference.md.

\set ON_ERROR_STOP 1
BEGIN;

-- pgcrypto provides crypt() and gen_salt() for postern.set_password().  It is
-- a trusted extension, so the database owner may create it; scripts/setup.sh
-- also creates it as superuser beforehand.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA postern;
COMMENT ON SCHEMA postern IS
    'postern MTA: configuration (settings, listeners, domains, accounts) and mail queue (messages, bodies, recipients).';

------------------------------------------------------------------------------
-- Schema version
------------------------------------------------------------------------------

CREATE TABLE postern.schema_version (
    version integer PRIMARY KEY
);
COMMENT ON TABLE postern.schema_version IS
    'Version of this schema; one row.  The daemon refuses to start on a version it does not know.';
COMMENT ON COLUMN postern.schema_version.version IS
    'Schema version number, 1 for this file.';
INSERT INTO postern.schema_version (version) VALUES (1);

------------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------------

CREATE TYPE postern.tls_mode AS ENUM ('starttls', 'implicit', 'none');
COMMENT ON TYPE postern.tls_mode IS
    'How a listener uses TLS: starttls = plain connection, STARTTLS offered (if settings.allow_starttls); implicit = TLS from the first byte (SMTPS); none = plain only, STARTTLS never offered.';

CREATE TYPE postern.tls_version AS ENUM ('TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3');
COMMENT ON TYPE postern.tls_version IS
    'TLS protocol versions, in ascending order.  SSLv2 and SSLv3 are deliberately absent: they cannot be enabled.';

CREATE TYPE postern.recipient_state AS ENUM ('queued', 'deferred', 'delivered', 'bounced', 'held');
COMMENT ON TYPE postern.recipient_state IS
    'Delivery state of one recipient: queued (never tried), deferred (temporary failure, retried at next_attempt_at), delivered, bounced (permanent failure, bounce sent), held (kept, not delivered until released).';

------------------------------------------------------------------------------
-- Shared helper functions
------------------------------------------------------------------------------

CREATE FUNCTION postern.is_host_name(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN length(name) BETWEEN 1 AND 253
   AND name ~* '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$';
COMMENT ON FUNCTION postern.is_host_name(text) IS
    'True when name is a syntactically valid DNS host name (labels of letters, digits and inner hyphens, at most 63 characters each, 253 in all; IDNs in xn-- form).';

CREATE FUNCTION postern.notify_config() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('postern_config', TG_TABLE_NAME);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.notify_config() IS
    'Statement-level trigger function: sends NOTIFY postern_config with the changed table''s name as payload, so running daemons reload their configuration.';

CREATE FUNCTION postern.notify_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('postern_queue', '');
    RETURN NULL;
END $$;
COMMENT ON FUNCTION postern.notify_queue() IS
    'Statement-level trigger function: sends NOTIFY postern_queue (empty payload) so delivery workers look for new work at once.';

------------------------------------------------------------------------------
-- settings: exactly one row
------------------------------------------------------------------------------

CREATE TABLE postern.settings (
    id boolean PRIMARY KEY DEFAULT true
        CONSTRAINT "settings has exactly one row (id must be true)" CHECK (id),
    hostname text NOT NULL DEFAULT ''
        CONSTRAINT "settings.hostname must be empty or a valid host name"
        CHECK (hostname = '' OR postern.is_host_name(hostname)),
    allow_starttls boolean NOT NULL DEFAULT true,
    use_starttls_out boolean NOT NULL DEFAULT true,
    auth_mechs_plain text[] NOT NULL DEFAULT '{}'
        CONSTRAINT "settings.auth_mechs_plain may only contain PLAIN and LOGIN"
        CHECK (auth_mechs_plain <@ ARRAY['PLAIN', 'LOGIN']),
    auth_mechs_tls text[] NOT NULL DEFAULT '{PLAIN,LOGIN}'
        CONSTRAINT "settings.auth_mechs_tls may only contain PLAIN and LOGIN"
        CHECK (auth_mechs_tls <@ ARRAY['PLAIN', 'LOGIN']),
    max_message_size bigint NOT NULL DEFAULT 26214400
        CONSTRAINT "settings.max_message_size must be between 1024 and 2147483647"
        CHECK (max_message_size BETWEEN 1024 AND 2147483647),
    max_recipients integer NOT NULL DEFAULT 100
        CONSTRAINT "settings.max_recipients must be between 1 and 100000"
        CHECK (max_recipients BETWEEN 1 AND 100000),
    max_errors integer NOT NULL DEFAULT 10
        CONSTRAINT "settings.max_errors must be between 1 and 1000"
        CHECK (max_errors BETWEEN 1 AND 1000),
    max_auth_failures integer NOT NULL DEFAULT 3
        CONSTRAINT "settings.max_auth_failures must be between 1 and 100"
        CHECK (max_auth_failures BETWEEN 1 AND 100),
    command_timeout integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.command_timeout must be between 5 and 3600 seconds"
        CHECK (command_timeout BETWEEN 5 AND 3600),
    data_timeout integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.data_timeout must be between 5 and 3600 seconds"
        CHECK (data_timeout BETWEEN 5 AND 3600),
    max_connections integer NOT NULL DEFAULT 10000
        CONSTRAINT "settings.max_connections must be between 1 and 1000000"
        CHECK (max_connections BETWEEN 1 AND 1000000),
    max_connections_per_ip integer NOT NULL DEFAULT 50
        CONSTRAINT "settings.max_connections_per_ip must be between 1 and 100000"
        CHECK (max_connections_per_ip BETWEEN 1 AND 100000),
    worker_threads integer NOT NULL DEFAULT 4
        CONSTRAINT "settings.worker_threads must be between 1 and 256"
        CHECK (worker_threads BETWEEN 1 AND 256),
    db_connections integer NOT NULL DEFAULT 4
        CONSTRAINT "settings.db_connections must be between 1 and 64"
        CHECK (db_connections BETWEEN 1 AND 64),
    tls_cert_file text NULL
        CONSTRAINT "settings.tls_cert_file must be an absolute path"
        CHECK (tls_cert_file LIKE '/%'),
    tls_key_file text NULL
        CONSTRAINT "settings.tls_key_file must be an absolute path"
        CHECK (tls_key_file LIKE '/%'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "settings.tls_cert_file and tls_key_file must be set together"
        CHECK ((tls_cert_file IS NULL) = (tls_key_file IS NULL))
);
COMMENT ON TABLE postern.settings IS
    'Global settings of every postern node; exactly one row, which cannot be deleted.  Changes send NOTIFY postern_config, ''settings''.';
COMMENT ON COLUMN postern.settings.id IS
    'Always true; makes this a one-row table.';
COMMENT ON COLUMN postern.settings.hostname IS
    'Host name used in the greeting, HELO/EHLO and Received headers; empty means the machine''s own host name.';
COMMENT ON COLUMN postern.settings.allow_starttls IS
    'Offer STARTTLS on listeners with tls_mode starttls (needs a certificate).';
COMMENT ON COLUMN postern.settings.use_starttls_out IS
    'Use opportunistic STARTTLS when delivering to other servers.';
COMMENT ON COLUMN postern.settings.auth_mechs_plain IS
    'SMTP AUTH mechanisms offered on connections without TLS; empty means AUTH is not offered and is answered 530 (the default: no passwords in clear).';
COMMENT ON COLUMN postern.settings.auth_mechs_tls IS
    'SMTP AUTH mechanisms offered on TLS connections (after STARTTLS or on implicit-TLS listeners); empty disables AUTH there too.';
COMMENT ON COLUMN postern.settings.max_message_size IS
    'Largest accepted message in bytes, advertised as SIZE (default 25 MiB).';
COMMENT ON COLUMN postern.settings.max_recipients IS
    'Most RCPT TO accepted per message; more are answered 452.';
COMMENT ON COLUMN postern.settings.max_errors IS
    'Protocol errors tolerated in one SMTP session before the connection is closed.';
COMMENT ON COLUMN postern.settings.max_auth_failures IS
    'Failed AUTH attempts tolerated in one SMTP session before the connection is closed.';
COMMENT ON COLUMN postern.settings.command_timeout IS
    'Seconds to wait for the next SMTP command before closing the connection.';
COMMENT ON COLUMN postern.settings.data_timeout IS
    'Seconds to wait for more message data during DATA before closing the connection.';
COMMENT ON COLUMN postern.settings.max_connections IS
    'Most simultaneous inbound connections per node, across all listeners.';
COMMENT ON COLUMN postern.settings.max_connections_per_ip IS
    'Most simultaneous inbound connections from one client IP address per node.';
COMMENT ON COLUMN postern.settings.worker_threads IS
    'Number of event-loop worker threads per node (read at start).';
COMMENT ON COLUMN postern.settings.db_connections IS
    'Number of PostgreSQL connections each node keeps open (read at start).';
COMMENT ON COLUMN postern.settings.tls_cert_file IS
    'Absolute path of the PEM certificate (chain) for listeners without their own cert_file; NULL = no default certificate.';
COMMENT ON COLUMN postern.settings.tls_key_file IS
    'Absolute path of the PEM private key matching tls_cert_file; set together with it.';
COMMENT ON COLUMN postern.settings.updated_at IS
    'Time of the last change to this row (set by a trigger).';

INSERT INTO postern.settings DEFAULT VALUES;

CREATE FUNCTION postern.settings_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.settings_touch() IS
    'Trigger function: sets settings.updated_at to now() on every update.';

CREATE FUNCTION postern.settings_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'postern.settings must keep its one row: UPDATE it instead of deleting it'
        USING ERRCODE = 'restrict_violation';
END $$;
COMMENT ON FUNCTION postern.settings_refuse_delete() IS
    'Trigger function: refuses DELETE and TRUNCATE on postern.settings, whose single row must always exist.';

CREATE TRIGGER settings_touch BEFORE UPDATE ON postern.settings
    FOR EACH ROW EXECUTE FUNCTION postern.settings_touch();
COMMENT ON TRIGGER settings_touch ON postern.settings IS 'Keeps updated_at current.';
CREATE TRIGGER settings_refuse_delete BEFORE DELETE ON postern.settings
    FOR EACH ROW EXECUTE FUNCTION postern.settings_refuse_delete();
COMMENT ON TRIGGER settings_refuse_delete ON postern.settings IS 'The single settings row cannot be deleted.';
CREATE TRIGGER settings_refuse_truncate BEFORE TRUNCATE ON postern.settings
    FOR EACH STATEMENT EXECUTE FUNCTION postern.settings_refuse_delete();
COMMENT ON TRIGGER settings_refuse_truncate ON postern.settings IS 'The single settings row cannot be truncated away.';
CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE OR DELETE ON postern.settings
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER settings_notify ON postern.settings IS 'NOTIFY postern_config, ''settings''.';

------------------------------------------------------------------------------
-- listeners
------------------------------------------------------------------------------

CREATE TABLE postern.listeners (
    name text PRIMARY KEY
        CONSTRAINT "listeners.name must be 1 to 64 of a-z 0-9 _ . -"
        CHECK (name ~ '^[a-z0-9_.-]{1,64}$'),
    node text NULL
        CONSTRAINT "listeners.node must be NULL or a non-empty node name"
        CHECK (node <> ''),
    address text NOT NULL DEFAULT '0.0.0.0',
    port integer NOT NULL
        CONSTRAINT "listeners.port must be between 1 and 65535"
        CHECK (port BETWEEN 1 AND 65535),
    tls_mode postern.tls_mode NOT NULL DEFAULT 'starttls',
    tls_min_version postern.tls_version NOT NULL DEFAULT 'TLSv1.2',
    tls_max_version postern.tls_version NOT NULL DEFAULT 'TLSv1.3',
    ciphers text NULL
        CONSTRAINT "listeners.ciphers must be NULL or a non-empty cipher list"
        CHECK (ciphers <> ''),
    dh_file text NULL
        CONSTRAINT "listeners.dh_file must be an absolute path"
        CHECK (dh_file LIKE '/%'),
    cert_file text NULL
        CONSTRAINT "listeners.cert_file must be an absolute path"
        CHECK (cert_file LIKE '/%'),
    key_file text NULL
        CONSTRAINT "listeners.key_file must be an absolute path"
        CHECK (key_file LIKE '/%'),
    max_connections integer NOT NULL DEFAULT 1000
        CONSTRAINT "listeners.max_connections must be between 1 and 1000000"
        CHECK (max_connections BETWEEN 1 AND 1000000),
    enabled boolean NOT NULL DEFAULT true,
    CONSTRAINT "listeners.tls_min_version must not be above tls_max_version"
        CHECK (tls_min_version <= tls_max_version),
    CONSTRAINT "listeners.cert_file and key_file must be set together"
        CHECK ((cert_file IS NULL) = (key_file IS NULL))
);
COMMENT ON TABLE postern.listeners IS
    'Sockets the daemon listens on, one row each.  Changes send NOTIFY postern_config, ''listeners''.';
COMMENT ON COLUMN postern.listeners.name IS
    'Listener name used in logs and in messages.listener, e.g. smtp, submission, smtps.';
COMMENT ON COLUMN postern.listeners.node IS
    'Node that opens this listener; NULL means every node.';
COMMENT ON COLUMN postern.listeners.address IS
    'IPv4 or IPv6 address to bind (0.0.0.0 = all IPv4, :: = all IPv6); checked and normalised by a trigger.';
COMMENT ON COLUMN postern.listeners.port IS
    'TCP port to bind, 1 to 65535.';
COMMENT ON COLUMN postern.listeners.tls_mode IS
    'starttls (plain, STARTTLS offered), implicit (TLS from the start, SMTPS) or none (plain only).';
COMMENT ON COLUMN postern.listeners.tls_min_version IS
    'Oldest TLS version accepted on this listener.';
COMMENT ON COLUMN postern.listeners.tls_max_version IS
    'Newest TLS version accepted on this listener; not below tls_min_version.';
COMMENT ON COLUMN postern.listeners.ciphers IS
    'TLS cipher list in OpenSSL syntax; NULL = built-in default (forward-secret AEAD suites only).';
COMMENT ON COLUMN postern.listeners.dh_file IS
    'Absolute path of a PEM file with DH parameters for DHE suites; NULL = built-in default.';
COMMENT ON COLUMN postern.listeners.cert_file IS
    'Absolute path of this listener''s PEM certificate (chain); NULL = settings.tls_cert_file.';
COMMENT ON COLUMN postern.listeners.key_file IS
    'Absolute path of the private key matching cert_file; set together with it; NULL = settings.tls_key_file.';
COMMENT ON COLUMN postern.listeners.max_connections IS
    'Most simultaneous connections on this listener per node.';
COMMENT ON COLUMN postern.listeners.enabled IS
    'False closes the listener without deleting its row.';

CREATE UNIQUE INDEX listeners_node_address_port ON postern.listeners (coalesce(node, ''), address, port);
COMMENT ON INDEX postern.listeners_node_address_port IS
    'One listener per (node, address, port); a NULL node counts as one value.';

CREATE FUNCTION postern.listeners_check_address() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    a inet;
BEGIN
    IF NEW.address IS NULL THEN
        RETURN NEW;                     -- NOT NULL reports it
    END IF;
    BEGIN
        a := NEW.address::inet;
    EXCEPTION WHEN others THEN
        a := NULL;
    END;
    IF a IS NULL OR masklen(a) <> (CASE family(a) WHEN 4 THEN 32 ELSE 128 END) THEN
        RAISE EXCEPTION 'listeners.address must be an IPv4 or IPv6 address, got "%"', NEW.address
            USING ERRCODE = 'check_violation', SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME, COLUMN = 'address';
    END IF;
    NEW.address := host(a);
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.listeners_check_address() IS
    'Trigger function: rejects a listeners.address that is not a single IPv4 or IPv6 address (no host names, no /prefix) and stores it in canonical form.';

CREATE TRIGGER listeners_check_address BEFORE INSERT OR UPDATE ON postern.listeners
    FOR EACH ROW EXECUTE FUNCTION postern.listeners_check_address();
COMMENT ON TRIGGER listeners_check_address ON postern.listeners IS 'Validates address.';
CREATE TRIGGER listeners_notify AFTER INSERT OR UPDATE OR DELETE ON postern.listeners
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER listeners_notify ON postern.listeners IS 'NOTIFY postern_config, ''listeners''.';
CREATE TRIGGER listeners_notify_truncate AFTER TRUNCATE ON postern.listeners
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER listeners_notify_truncate ON postern.listeners IS 'NOTIFY postern_config, ''listeners''.';

INSERT INTO postern.listeners (name, address, port, tls_mode) VALUES
    ('smtp',       '0.0.0.0', 25,  'starttls'),
    ('submission', '0.0.0.0', 587, 'starttls'),
    ('smtps',      '0.0.0.0', 465, 'implicit');

------------------------------------------------------------------------------
-- domains and accounts
------------------------------------------------------------------------------

CREATE TABLE postern.domains (
    name text PRIMARY KEY
        CONSTRAINT "domains.name must be lower case"
        CHECK (name = lower(name))
        CONSTRAINT "domains.name must be a valid host name"
        CHECK (postern.is_host_name(name)),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE postern.domains IS
    'Local domains: mail to these is for local accounts.  Changes send NOTIFY postern_config, ''domains''.';
COMMENT ON COLUMN postern.domains.name IS
    'Domain name in lower case, e.g. example.org.';
COMMENT ON COLUMN postern.domains.description IS
    'Free-form note for operators.';
COMMENT ON COLUMN postern.domains.created_at IS
    'When the domain was added.';

CREATE TRIGGER domains_notify AFTER INSERT OR UPDATE OR DELETE ON postern.domains
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER domains_notify ON postern.domains IS 'NOTIFY postern_config, ''domains''.';
CREATE TRIGGER domains_notify_truncate AFTER TRUNCATE ON postern.domains
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER domains_notify_truncate ON postern.domains IS 'NOTIFY postern_config, ''domains''.';

CREATE TABLE postern.accounts (
    address text PRIMARY KEY
        CONSTRAINT "accounts.address must be lower case"
        CHECK (address = lower(address))
        CONSTRAINT "accounts.address must look like local@domain"
        CHECK (address ~ '^[^@\s]+@[^@\s]+$'),
    -- A generated column may carry the FK, but not ON UPDATE CASCADE (PG15
    -- rejects it), so renaming a domain that still has accounts is refused.
    domain text GENERATED ALWAYS AS (split_part(address, '@', 2)) STORED
        CONSTRAINT "accounts.domain must be a local domain (postern.domains)"
        REFERENCES postern.domains (name) ON DELETE CASCADE,
    password_hash text NULL
        CONSTRAINT "accounts.password_hash must be a crypt(3) hash ($y$, $2b$, $6$)"
        CHECK (password_hash IS NULL OR password_hash ~ '^\$(y|2[aby]|6|5)\$'),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE postern.accounts IS
    'Local mailboxes, which are also the SMTP AUTH users.  Changes send NOTIFY postern_config, ''accounts''.';
COMMENT ON COLUMN postern.accounts.address IS
    'Full address in lower case, local@domain; the domain must be in postern.domains.';
COMMENT ON COLUMN postern.accounts.domain IS
    'Domain part of address (generated); deleting the domain deletes its accounts.';
COMMENT ON COLUMN postern.accounts.password_hash IS
    'crypt(3) hash of the AUTH password ($y$ yescrypt, $2a$/$2b$ bcrypt, $6$ SHA-512-crypt, $5$ SHA-256-crypt); NULL = cannot log in.  Set it with postern.set_password().';
COMMENT ON COLUMN postern.accounts.enabled IS
    'False refuses AUTH as this account (mail to it is still accepted).';
COMMENT ON COLUMN postern.accounts.created_at IS
    'When the account was added.';

CREATE FUNCTION postern.accounts_check_domain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d text := split_part(NEW.address, '@', 2);
BEGIN
    -- Malformed addresses are left to the CHECK constraints' clearer messages.
    IF NEW.address ~ '^[^@\s]+@[^@\s]+$' AND NEW.address = lower(NEW.address)
       AND NOT EXISTS (SELECT 1 FROM postern.domains WHERE name = d) THEN
        RAISE EXCEPTION 'accounts.address: domain "%" is not a local domain (add it to postern.domains first)', d
            USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME, COLUMN = 'address',
                  HINT = format('SELECT postern.add_domain(%L);', d);
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION postern.accounts_check_domain() IS
    'Trigger function: refuses an account whose domain is not in postern.domains, with a clear message (the foreign key remains the real guarantee).';

CREATE TRIGGER accounts_check_domain BEFORE INSERT OR UPDATE OF address ON postern.accounts
    FOR EACH ROW EXECUTE FUNCTION postern.accounts_check_domain();
COMMENT ON TRIGGER accounts_check_domain ON postern.accounts IS 'Clear error for a non-local domain.';
CREATE TRIGGER accounts_notify AFTER INSERT OR UPDATE OR DELETE ON postern.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER accounts_notify ON postern.accounts IS 'NOTIFY postern_config, ''accounts''.';
CREATE TRIGGER accounts_notify_truncate AFTER TRUNCATE ON postern.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_config();
COMMENT ON TRIGGER accounts_notify_truncate ON postern.accounts IS 'NOTIFY postern_config, ''accounts''.';

CREATE FUNCTION postern.add_domain(name text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
BEGIN
    IF add_domain.name IS NULL OR btrim(add_domain.name) = '' THEN
        RAISE EXCEPTION 'add_domain: the domain name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO postern.domains (name) VALUES (lower(btrim(add_domain.name)))
        ON CONFLICT DO NOTHING;
END $$;
COMMENT ON FUNCTION postern.add_domain(text) IS
    'Adds a local domain (lower-cased); does nothing if it already exists.';

CREATE FUNCTION postern.set_password(address text, password text) RETURNS void
LANGUAGE plpgsql SET search_path = postern, public, pg_temp AS $$
BEGIN
    IF set_password.password IS NULL OR set_password.password = '' THEN
        RAISE EXCEPTION 'set_password: the password for "%" must not be empty (set password_hash to NULL to disable logging in)',
            set_password.address USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE postern.accounts a
       SET password_hash = crypt(set_password.password, gen_salt('bf', 12))
     WHERE a.address = lower(btrim(set_password.address));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'set_password: there is no account "%" (create it with postern.add_account)',
            set_password.address USING ERRCODE = 'no_data_found';
    END IF;
END $$;
COMMENT ON FUNCTION postern.set_password(text, text) IS
    'Sets the AUTH password of an existing account to a bcrypt hash ($2a$, cost 12) made with pgcrypto; refuses an empty password or an unknown account.';

CREATE FUNCTION postern.add_account(address text, password text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = postern, public, pg_temp AS $$
DECLARE
    addr text := lower(btrim(add_account.address));
BEGIN
    IF EXISTS (SELECT 1 FROM postern.accounts a WHERE a.address = addr) THEN
        RAISE EXCEPTION 'add_account: account "%" already exists (use postern.set_password to change its password)', addr
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO postern.accounts (address) VALUES (addr);
    IF add_account.password IS NOT NULL THEN
        PERFORM postern.set_password(addr, add_account.password);
    END IF;
END $$;
COMMENT ON FUNCTION postern.add_account(text, text) IS
    'Adds a local account (address lower-cased; its domain must already be local) and, when password is given, sets it with postern.set_password.';

------------------------------------------------------------------------------
-- Queue
------------------------------------------------------------------------------

CREATE TABLE postern.messages (
    id bigint PRIMARY KEY,
    queue_id text GENERATED ALWAYS AS (upper(lpad(to_hex(id), 16, '0'))) STORED,
    node text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    sender text NOT NULL,
    size bigint NOT NULL
        CONSTRAINT "messages.size must not be negative"
        CHECK (size >= 0),
    client_addr text NOT NULL,
    client_helo text NOT NULL DEFAULT '',
    listener text NOT NULL,
    tls_version text NULL,
    tls_cipher text NULL,
    auth_user text NULL
);
COMMENT ON TABLE postern.messages IS
    'Accepted messages: one row per message, envelope and connection facts.  The body is in postern.bodies, the recipients in postern.recipients.';
COMMENT ON COLUMN postern.messages.id IS
    'Message id, generated by the accepting daemon (unique across nodes).';
COMMENT ON COLUMN postern.messages.queue_id IS
    'id as 16 upper-case hex digits, the queue id shown in SMTP replies and logs (generated).';
COMMENT ON COLUMN postern.messages.node IS
    'Name of the node that accepted the message.';
COMMENT ON COLUMN postern.messages.received_at IS
    'When the message was accepted.';
COMMENT ON COLUMN postern.messages.sender IS
    'Envelope sender (MAIL FROM); empty string = null sender <> (bounces).';
COMMENT ON COLUMN postern.messages.size IS
    'Size of the stored body in bytes.';
COMMENT ON COLUMN postern.messages.client_addr IS
    'IP address of the SMTP client that sent the message.';
COMMENT ON COLUMN postern.messages.client_helo IS
    'Name the client gave in HELO/EHLO.';
COMMENT ON COLUMN postern.messages.listener IS
    'Name of the listener the message arrived on (postern.listeners.name at the time).';
COMMENT ON COLUMN postern.messages.tls_version IS
    'TLS version of the session, e.g. TLSv1.3; NULL = no TLS.';
COMMENT ON COLUMN postern.messages.tls_cipher IS
    'TLS cipher suite of the session; NULL = no TLS.';
COMMENT ON COLUMN postern.messages.auth_user IS
    'Account the client authenticated as; NULL = not authenticated.';

CREATE TABLE postern.bodies (
    message_id bigint PRIMARY KEY REFERENCES postern.messages (id) ON DELETE CASCADE,
    data bytea NOT NULL
);
COMMENT ON TABLE postern.bodies IS
    'Message bodies (headers and text, as received plus the Received header), one per message; deleted with the message.';
COMMENT ON COLUMN postern.bodies.message_id IS
    'The message (postern.messages.id) this body belongs to.';
COMMENT ON COLUMN postern.bodies.data IS
    'Raw message in wire form, CRLF line ends, dot-stuffing removed; compressed with lz4 when the server supports it.';

DO $$
BEGIN
    ALTER TABLE postern.bodies ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN others THEN
    RAISE NOTICE 'postern.bodies.data: lz4 compression not available, using the default (%)', SQLERRM;
END $$;

CREATE TABLE postern.recipients (
    message_id bigint NOT NULL REFERENCES postern.messages (id) ON DELETE CASCADE,
    rcpt_no integer NOT NULL
        CONSTRAINT "recipients.rcpt_no must not be negative"
        CHECK (rcpt_no >= 0),
    address text NOT NULL,
    state postern.recipient_state NOT NULL DEFAULT 'queued',
    attempts integer NOT NULL DEFAULT 0
        CONSTRAINT "recipients.attempts must not be negative"
        CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner text NULL,
    lease_expires timestamptz NULL,
    last_reply text NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, rcpt_no)
);
COMMENT ON TABLE postern.recipients IS
    'One row per envelope recipient of each message: its delivery state and retry schedule.  Inserts send NOTIFY postern_queue.';
COMMENT ON COLUMN postern.recipients.message_id IS
    'The message (postern.messages.id).';
COMMENT ON COLUMN postern.recipients.rcpt_no IS
    '0-based position of this recipient in the envelope (RCPT TO order).';
COMMENT ON COLUMN postern.recipients.address IS
    'Recipient address as given in RCPT TO, without angle brackets.';
COMMENT ON COLUMN postern.recipients.state IS
    'queued, deferred, delivered, bounced or held.';
COMMENT ON COLUMN postern.recipients.attempts IS
    'Delivery attempts made so far.';
COMMENT ON COLUMN postern.recipients.next_attempt_at IS
    'Earliest time of the next delivery attempt (for queued and deferred recipients).';
COMMENT ON COLUMN postern.recipients.lease_owner IS
    'Node and worker currently delivering this recipient; NULL = nobody.';
COMMENT ON COLUMN postern.recipients.lease_expires IS
    'When the lease lapses and another worker may take the recipient over.';
COMMENT ON COLUMN postern.recipients.last_reply IS
    'Last SMTP reply or error from a delivery attempt, e.g. 451 4.7.1 try later.';
COMMENT ON COLUMN postern.recipients.updated_at IS
    'When this row last changed.';

CREATE INDEX recipients_due ON postern.recipients (next_attempt_at)
    WHERE state IN ('queued', 'deferred');
COMMENT ON INDEX postern.recipients_due IS
    'Finds recipients due for delivery.';

CREATE TRIGGER recipients_notify AFTER INSERT ON postern.recipients
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_queue();
COMMENT ON TRIGGER recipients_notify ON postern.recipients IS 'NOTIFY postern_queue.';

CREATE FUNCTION postern.flush_queue() RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE postern.recipients
       SET next_attempt_at = now(), updated_at = now()
     WHERE state IN ('queued', 'deferred') AND next_attempt_at > now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_notify('postern_queue', '');
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.flush_queue() IS
    'Like postqueue -f: makes every queued or deferred recipient due now, wakes the delivery workers and returns how many were rescheduled.';

CREATE TABLE postern.nodes (
    name text PRIMARY KEY,
    host text,
    pid integer,
    version text,
    started_at timestamptz,
    heartbeat_at timestamptz
);
COMMENT ON TABLE postern.nodes IS
    'Running (or recently running) postern daemons, one row per node, kept up to date by each daemon.';
COMMENT ON COLUMN postern.nodes.name IS
    'Node name (node = in postern.conf, by default the short host name).';
COMMENT ON COLUMN postern.nodes.host IS
    'Host name of the machine the node runs on.';
COMMENT ON COLUMN postern.nodes.pid IS
    'Process id of the daemon.';
COMMENT ON COLUMN postern.nodes.version IS
    'postern version of the daemon.';
COMMENT ON COLUMN postern.nodes.started_at IS
    'When the daemon started.';
COMMENT ON COLUMN postern.nodes.heartbeat_at IS
    'Last heartbeat; a node whose heartbeat is old is presumed dead.';

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

CREATE VIEW postern.mailq AS
SELECT m.queue_id,
       m.size,
       m.received_at,
       date_trunc('second', now() - m.received_at) AS age,
       CASE WHEN m.sender = '' THEN '<>' ELSE m.sender END AS sender,
       string_agg(r.address || ' (' || r.state::text
                  || coalesce(': ' || r.last_reply, '') || ')',
                  E'\n' ORDER BY r.rcpt_no) AS recipients,
       m.id,
       m.node
  FROM postern.messages m
  JOIN postern.recipients r ON r.message_id = m.id
 WHERE r.state IN ('queued', 'deferred', 'held')
 GROUP BY m.id
 ORDER BY m.received_at, m.id;
COMMENT ON VIEW postern.mailq IS
    'Like Postfix mailq: one row per message that still has undelivered (queued, deferred or held) recipients, oldest first.';
COMMENT ON COLUMN postern.mailq.queue_id IS 'Queue id (messages.queue_id).';
COMMENT ON COLUMN postern.mailq.size IS 'Message size in bytes.';
COMMENT ON COLUMN postern.mailq.received_at IS 'When the message was accepted.';
COMMENT ON COLUMN postern.mailq.age IS 'How long the message has been in the queue, to the second.';
COMMENT ON COLUMN postern.mailq.sender IS 'Envelope sender; <> for the null sender.';
COMMENT ON COLUMN postern.mailq.recipients IS 'Undelivered recipients, one per line: address (state: last reply).';
COMMENT ON COLUMN postern.mailq.id IS 'Message id (messages.id).';
COMMENT ON COLUMN postern.mailq.node IS 'Node that accepted the message.';

CREATE VIEW postern.queue_summary AS
SELECT lower(split_part(r.address, '@', -1)) AS domain,
       r.state,
       count(*) AS recipients,
       count(DISTINCT r.message_id) AS messages,
       min(m.received_at) AS oldest
  FROM postern.recipients r
  JOIN postern.messages m ON m.id = r.message_id
 GROUP BY 1, 2
 ORDER BY 1, 2;
COMMENT ON VIEW postern.queue_summary IS
    'Recipient counts by recipient domain and state (like qshape).';
COMMENT ON COLUMN postern.queue_summary.domain IS 'Recipient domain (after the last @), lower-cased.';
COMMENT ON COLUMN postern.queue_summary.state IS 'Recipient state.';
COMMENT ON COLUMN postern.queue_summary.recipients IS 'Number of recipients in this domain and state.';
COMMENT ON COLUMN postern.queue_summary.messages IS 'Number of distinct messages among them.';
COMMENT ON COLUMN postern.queue_summary.oldest IS 'received_at of the oldest of those messages.';

COMMIT;
