-- postern - the whole configuration and mail queue of the postern MTA.
--
-- The current schema, version 8 (daemon/schema_version.h says the same;
-- tests/integration/test_schema.py checks that they agree).  A new database
-- loads this file and nothing else: scripts/db-load.sh runs it, in one
-- transaction, when schema "postern" does not exist yet, so a failed load
-- leaves nothing behind.
--
-- Upgrades: an existing database is never reloaded.  sql/migrations/ holds
-- version 1 (001_initial.sql) and one file per later version
-- (NNN_name.sql); db-load.sh applies those above the database's version, each
-- in its own transaction.  Every change to this file therefore comes with a
-- new migration that makes an older database identical to a fresh one
-- (test_schema.py compares pg_dump --schema-only of the two, and the default
-- rows).  That is why columns added later are at the end of their tables:
-- ALTER TABLE ... ADD COLUMN appends, and the fresh schema keeps that order.
--
-- Conventions:
--   * CHECK constraints are named in plain words, with the table and column,
--     so PostgreSQL's error message tells the operator what is wrong, e.g.
--     ERROR: new row for relation "settings" violates check constraint
--            "settings.max_recipients must be between 1 and 100000"
--   * Domain names and account addresses are stored in lower case.
--   * Changes to configuration tables send NOTIFY postern_config, <table>;
--     new queue entries send NOTIFY postern_queue.
--   * Every table, column, view, function and trigger has a COMMENT.
--   * Reference documentation: docs/sql-reference.md.

\set ON_ERROR_STOP 1
BEGIN;

-- pgcrypto provides crypt() and gen_salt() for postern.set_password().  It is
-- a trusted extension, so the database owner may create it; scripts/db-load.sh
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
    'Schema version number: 1 = sql/schema.sql, raised by each sql/migrations/NNN_*.sql to NNN.';
INSERT INTO postern.schema_version (version) VALUES (10);
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
CREATE TYPE postern.listener_role AS ENUM ('mx', 'submission');
COMMENT ON TYPE postern.listener_role IS
    'What a listener is for: mx = mail from the internet (AUTH optional; relaying needs AUTH or a relay_allow rule); submission = mail from users (RFC 6409): MAIL FROM needs AUTH first (530 5.7.0).';

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

CREATE TYPE postern.condition_op AS ENUM ('is', 'is_not', 'contains', 'matches', 'in_cidr', 'ge', 'le', 'in_domain');
COMMENT ON TYPE postern.condition_op IS
    'Comparison of a condition: is / is_not (equality, case-insensitive for text), contains (case-insensitive substring; never use it to trust an address or domain: "@partner.org"@evil.example contains @partner.org), matches (POSIX extended regex, case-insensitive), in_cidr (address in one of a list of networks), ge / le (number at least / at most), in_domain (the domain is one of a list of domains or a subdomain of one, label by label: a.partner.org is in partner.org, partner.org.evil.example is not).';

CREATE TYPE postern.action_kind AS ENUM (
    'auth_plain', 'auth_tls', 'reply', 'relay_host', 'relay_tls',
    'relay_tls_versions', 'add_header', 'stop', 'relay_allow', 'sender_allow');
COMMENT ON TYPE postern.action_kind IS
    'What a rule action does: auth_plain / auth_tls set the AUTH mechanisms offered on plain / TLS connections; reply sets the SMTP answer (accept never grants relaying); relay_host, relay_tls, relay_tls_versions set the outbound route of the recipient; add_header adds a header line; stop ends rule evaluation at that stage; relay_allow lets the session relay (its rule may only test conn_remote_addr, conn_listener, conn_tls, conn_authenticated, conn_auth_user, and needs one condition); sender_allow lets an authenticated user use the sender address of the transaction (its rule may only test those and sender_*).';

CREATE TYPE postern.reply_kind AS ENUM ('accept', 'reject', 'tempfail');
COMMENT ON TYPE postern.reply_kind IS
    'SMTP answer chosen by a reply action: accept (2xx), reject (5xx, permanent), tempfail (4xx, try again later).';

CREATE TYPE postern.relay_tls_mode AS ENUM ('none', 'opportunistic', 'required', 'implicit');
COMMENT ON TYPE postern.relay_tls_mode IS
    'TLS towards a relay host: none = plain only; opportunistic = STARTTLS when offered; required = STARTTLS or the delivery is deferred; implicit = TLS from the first byte (SMTPS, usually port 465).';
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

CREATE FUNCTION postern.normalize_mechs(mechs text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(SELECT m FROM (SELECT upper(btrim(x)) AS m, min(o) AS o
                              FROM unnest(mechs) WITH ORDINALITY AS u(x, o)
                             GROUP BY 1) s
              ORDER BY o);
COMMENT ON FUNCTION postern.normalize_mechs(text[]) IS
    'AUTH mechanism list in upper case without duplicates, first occurrence order kept (NULL elements stay NULL and are then refused by the constraints).';

CREATE FUNCTION postern.is_dns_server_list(list text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = postern, pg_temp AS $$
DECLARE
    part text;
    m text[];
    a inet;
BEGIN
    IF list = '' THEN
        RETURN true;
    END IF;
    IF octet_length(list) > 511 THEN
        RETURN false;                   -- the daemon keeps at most 511 bytes
    END IF;
    FOREACH part IN ARRAY string_to_array(list, ',') LOOP
        -- IPv4:port or [IPv6]:port, nothing else (no names, no spaces)
        m := regexp_match(part, '^(?:([0-9]{1,3}(?:\.[0-9]{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):([0-9]{1,5})$');
        IF m IS NULL OR m[3]::integer NOT BETWEEN 1 AND 65535 THEN
            RETURN false;
        END IF;
        BEGIN
            a := coalesce(m[1], m[2])::inet;
        EXCEPTION WHEN others THEN
            RETURN false;
        END;
        -- [192.0.2.1]:53 and IPv4-mapped tricks are refused
        IF (m[1] IS NOT NULL AND family(a) <> 4) OR (m[2] IS NOT NULL AND family(a) <> 6)
           OR masklen(a) <> (CASE family(a) WHEN 4 THEN 32 ELSE 128 END) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END $$;
COMMENT ON FUNCTION postern.is_dns_server_list(text) IS
    'True when list is empty or a comma-separated list (no spaces, at most 511 bytes) of IPv4:port and [IPv6]:port entries, e.g. 127.0.0.1:5353,[::1]:53; ports 1-65535.  Used by the settings.dns_servers check.';

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
    -- delivery
    delivery_threads integer NOT NULL DEFAULT 4
        CONSTRAINT "settings.delivery_threads must be between 1 and 256"
        CHECK (delivery_threads BETWEEN 1 AND 256),
    delivery_batch integer NOT NULL DEFAULT 50
        CONSTRAINT "settings.delivery_batch must be between 1 and 1000"
        CHECK (delivery_batch BETWEEN 1 AND 1000),
    lease_seconds integer NOT NULL DEFAULT 900
        CONSTRAINT "settings.lease_seconds must be between 10 and 86400 seconds"
        CHECK (lease_seconds BETWEEN 10 AND 86400),
    retry_initial integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.retry_initial must be between 1 and 86400 seconds"
        CHECK (retry_initial BETWEEN 1 AND 86400),
    retry_max integer NOT NULL DEFAULT 14400
        CONSTRAINT "settings.retry_max must be between 1 and 604800 seconds"
        CHECK (retry_max BETWEEN 1 AND 604800),
    queue_lifetime integer NOT NULL DEFAULT 432000
        CONSTRAINT "settings.queue_lifetime must be between 60 and 31536000 seconds"
        CHECK (queue_lifetime BETWEEN 60 AND 31536000),
    maildir_root text NULL
        CONSTRAINT "settings.maildir_root must be an absolute path"
        CHECK (maildir_root LIKE '/%'),
    dns_servers text NOT NULL DEFAULT ''
        CONSTRAINT "settings.dns_servers must be empty or IP:port,[IPv6]:port,..."
        CHECK (postern.is_dns_server_list(dns_servers)),
    smtp_connect_timeout integer NOT NULL DEFAULT 30
        CONSTRAINT "settings.smtp_connect_timeout must be between 1 and 600 seconds"
        CHECK (smtp_connect_timeout BETWEEN 1 AND 600),
    -- "... must be between 1 and 3600 seconds" would exceed the 63-byte
    -- identifier limit and be cut off.
    smtp_command_timeout integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.smtp_command_timeout must be 1 to 3600 seconds"
        CHECK (smtp_command_timeout BETWEEN 1 AND 3600),
    smtp_data_timeout integer NOT NULL DEFAULT 600
        CONSTRAINT "settings.smtp_data_timeout must be between 1 and 3600 seconds"
        CHECK (smtp_data_timeout BETWEEN 1 AND 3600),
    tls_verify_out boolean NOT NULL DEFAULT false,
    smtp_port_out integer NOT NULL DEFAULT 25
        CONSTRAINT "settings.smtp_port_out must be between 1 and 65535"
        CHECK (smtp_port_out BETWEEN 1 AND 65535),
    bounce_sender_name text NOT NULL DEFAULT 'MAILER-DAEMON'
        CONSTRAINT "settings.bounce_sender_name must be a local part (1-63 chars)"
        CHECK (bounce_sender_name ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*$'
               AND octet_length(bounce_sender_name) <= 63),
    -- cluster
    node_timeout integer NOT NULL DEFAULT 30
        CONSTRAINT "settings.node_timeout must be 10 to 3600 seconds"
        CHECK (node_timeout BETWEEN 10 AND 3600),
    auth_throttle_window integer NOT NULL DEFAULT 900
        CONSTRAINT "settings.auth_throttle_window must be 10 to 86400 s"
        CHECK (auth_throttle_window BETWEEN 10 AND 86400),
    auth_throttle_max integer NOT NULL DEFAULT 20
        CONSTRAINT "settings.auth_throttle_max must be 1 to 100000"
        CHECK (auth_throttle_max BETWEEN 1 AND 100000),
    delivery_paused boolean NOT NULL DEFAULT false,
    -- protocol hardening (migration 009)
    greet_pause_ms integer NOT NULL DEFAULT 6000
        CONSTRAINT "settings.greet_pause_ms must be between 0 and 60000"
        CHECK (greet_pause_ms BETWEEN 0 AND 60000),
    greet_pass_ttl integer NOT NULL DEFAULT 86400
        CONSTRAINT "settings.greet_pass_ttl must be 60 to 2592000 seconds"
        CHECK (greet_pass_ttl BETWEEN 60 AND 2592000),
    data_min_rate integer NOT NULL DEFAULT 500
        CONSTRAINT "settings.data_min_rate must be 0 to 1000000000 bytes/s"
        CHECK (data_min_rate BETWEEN 0 AND 1000000000),
    session_max_lifetime integer NOT NULL DEFAULT 3600
        CONSTRAINT "settings.session_max_lifetime must be 5 to 86400 seconds"
        CHECK (session_max_lifetime BETWEEN 5 AND 86400),
    -- aliases (migration 010)
    recipient_delimiter text NOT NULL DEFAULT '+'
        CONSTRAINT "settings.recipient_delimiter must be at most 4 characters, none of them @, quote, space or control"
        CHECK (recipient_delimiter ~ '^[!#$%&*+/=?^_`{|}~.-]{0,4}$'),
    admin_address text NULL
        CONSTRAINT "settings.admin_address must be NULL or a lower-case local@domain"
        CHECK (admin_address IS NULL OR (admin_address ~ '^[^@\s]+@[^@\s]+$' AND admin_address = lower(admin_address)
               AND octet_length(admin_address) <= 256)),
    CONSTRAINT "settings.tls_cert_file and tls_key_file must be set together"
        CHECK ((tls_cert_file IS NULL) = (tls_key_file IS NULL)),
    CONSTRAINT "settings.retry_initial must not be above retry_max"
        CHECK (retry_initial <= retry_max),
    CONSTRAINT "settings.lease_seconds must be 5 s above every smtp_*_timeout"
        CHECK (lease_seconds >= greatest(smtp_connect_timeout, smtp_command_timeout, smtp_data_timeout) + 5)
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
COMMENT ON COLUMN postern.settings.delivery_threads IS
    'Number of delivery threads per node (outbound SMTP and local delivery).';
COMMENT ON COLUMN postern.settings.delivery_batch IS
    'Most recipients a delivery thread claims (leases) per round.';
COMMENT ON COLUMN postern.settings.lease_seconds IS
    'How long a claimed recipient stays leased (recipients.lease_expires = claim time + lease_seconds); the delivering thread renews it before every wait that could outlast it, so it only runs out when that thread or its node stops working; then another worker may take the recipient over.  At least 5 s above each of smtp_connect_timeout, smtp_command_timeout and smtp_data_timeout (default 900).';
COMMENT ON COLUMN postern.settings.retry_initial IS
    'Seconds before the first retry after a temporary failure; the delay grows with each attempt up to retry_max.';
COMMENT ON COLUMN postern.settings.retry_max IS
    'Longest delay between two attempts, in seconds; not below retry_initial.';
COMMENT ON COLUMN postern.settings.queue_lifetime IS
    'Seconds a message may stay in the queue (from received_at); recipients still undelivered after that are bounced (default 5 days).';
COMMENT ON COLUMN postern.settings.maildir_root IS
    'Absolute path under which local recipients are delivered into Maildirs; NULL = local delivery not configured (local recipients are deferred with a reason saying so).';
COMMENT ON COLUMN postern.settings.dns_servers IS
    'DNS servers for MX and address look-ups: empty = the system resolver (/etc/resolv.conf); otherwise a comma-separated list of IPv4:port and [IPv6]:port, e.g. 127.0.0.1:5353,[::1]:53.';
COMMENT ON COLUMN postern.settings.smtp_connect_timeout IS
    'Seconds to wait for an outbound TCP connection (and TLS handshake) to succeed.';
COMMENT ON COLUMN postern.settings.smtp_command_timeout IS
    'Seconds to wait for each reply of a remote SMTP server (RFC 5321 4.5.3.2: 5 minutes).';
COMMENT ON COLUMN postern.settings.smtp_data_timeout IS
    'Seconds to wait for the remote server''s final reply after the message data (RFC 5321 4.5.3.2: 10 minutes).';
COMMENT ON COLUMN postern.settings.tls_verify_out IS
    'Verify the certificate chain and host name of MX destinations (false = opportunistic TLS without verification).  Routes may require it with relay_tls actions (rule_actions.relay_tls_verify).';
COMMENT ON COLUMN postern.settings.smtp_port_out IS
    'TCP port used for deliveries by MX look-up (25; tests use another).  Relay hosts have their own port.';
COMMENT ON COLUMN postern.settings.bounce_sender_name IS
    'Local part of the From: address of delivery status notifications (bounces), bounce_sender_name@hostname; their envelope sender is always <>.  Dot-atom characters, 1 to 63 bytes.';
COMMENT ON COLUMN postern.settings.node_timeout IS
    'Seconds without a heartbeat after which a node is shown as down (nodes heartbeat every 10 s).';
COMMENT ON COLUMN postern.settings.auth_throttle_window IS
    'Seconds over which failed AUTH attempts from one client address are counted, across all nodes.';
COMMENT ON COLUMN postern.settings.auth_throttle_max IS
    'Failed AUTH attempts from one client address within auth_throttle_window after which every node refuses AUTH from it (454 4.7.0) until the window passes.';
COMMENT ON COLUMN postern.settings.delivery_paused IS
    'While true no node delivers: mail is accepted and queued but not claimed (maintenance, or measuring acceptance alone).  Setting it back to false resumes delivery at once.';
COMMENT ON COLUMN postern.settings.greet_pause_ms IS
    'Milliseconds an MX listener (listeners.greet_pause) waits before its 220 greeting to a client address that has not passed within greet_pass_ttl; a client that talks before the 220 gets 554 5.5.1 and is closed (like Postfix postscreen_greet_wait, 6 s).  0 = no pause.';
COMMENT ON COLUMN postern.settings.greet_pass_ttl IS
    'Seconds a client address that waited for the greeting is remembered (postern.greet_passed, shared by every node) and greeted without the pause (like postscreen_greet_ttl, 1 day).';
COMMENT ON COLUMN postern.settings.data_min_rate IS
    'Least average rate, in bytes per second, at which message text must arrive during DATA: each read extends the deadline by bytes/data_min_rate seconds, never beyond data_timeout from now (like Postfix smtpd_min_data_rate).  0 = data_timeout applies to silence only.';
COMMENT ON COLUMN postern.settings.session_max_lifetime IS
    'Seconds an inbound SMTP session may last in all; then it gets 421 4.4.2 and is closed.';

COMMENT ON COLUMN postern.settings.recipient_delimiter IS
    'Characters that separate a local part from an extension: user+tag@domain reaches user@domain when user+tag@domain is neither an alias nor an account.  Empty = no extensions.';
COMMENT ON COLUMN postern.settings.admin_address IS
    'Where postmaster@ and abuse@ of every local domain go (aliases made by postern.set_admin_address and when a domain is added), and where bare <postmaster> goes; NULL = not set.';

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
    role postern.listener_role NOT NULL DEFAULT 'mx',
    greet_pause boolean NOT NULL DEFAULT true,
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
COMMENT ON COLUMN postern.listeners.role IS
    'mx (port 25: mail from the internet) or submission (ports 587 and 465: MAIL FROM needs AUTH first, 530 5.7.0 Authentication required).  Whatever the role, an authenticated user may only use sender addresses it owns.';
COMMENT ON COLUMN postern.listeners.greet_pause IS
    'True for MX listeners: a client address not seen passing within settings.greet_pass_ttl waits settings.greet_pause_ms for its greeting.  Set false on submission listeners; never applies to tls_mode implicit.';

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

-- Submission and SMTPS serve users, not MX peers: they never pause.
INSERT INTO postern.listeners (name, address, port, tls_mode, role, greet_pause) VALUES
    ('smtp',       '0.0.0.0', 25,  'starttls', 'mx',         true),
    ('submission', '0.0.0.0', 587, 'starttls', 'submission', false),
    ('smtps',      '0.0.0.0', 465, 'implicit', 'submission', false);

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
$c$Rules deciding AUTH, SMTP replies, relaying and extra headers.  Rules run in position order at each SMTP stage where all their conditions can be decided (connection/EHLO, MAIL FROM, RCPT TO, end of DATA); a rule without conditions matches at every stage, whatever its match.  For each decision (AUTH mechanisms on plain connections, AUTH mechanisms on TLS connections, SMTP reply, relay host, relay TLS mode, relay TLS versions) the LAST matching rule that sets it wins.  A matching rule with a stop action ends the evaluation at that stage after its own actions.  AUTH is decided at EHLO, so rules with auth_* actions may only have connection conditions.  Permissions are actions of their own, never a side effect of a reply: relaying needs AUTH or a relay_allow rule, whose conditions may only be facts the client cannot choose; an authenticated user may use its own address as sender, or what a sender_allow rule allows.  Positions are always 1..n without gaps: inserting at a position, moving and deleting shift the other rules.  Changes send NOTIFY postern_config, 'rules'.$c$;
COMMENT ON COLUMN postern.rules.id IS 'Rule id (referenced by rule_conditions and rule_actions).';
COMMENT ON COLUMN postern.rules.name IS 'Unique rule name, 1 to 64 of A-Z a-z 0-9 _ . - (case-sensitive).';
COMMENT ON COLUMN postern.rules.position IS
    'Evaluation order, 1 = first; always 1..n without gaps.  NULL on INSERT appends the rule; an explicit position inserts it there and shifts the following rules; updating it moves the rule.';
COMMENT ON COLUMN postern.rules.enabled IS 'False keeps the rule (and its position) but ignores it.';
COMMENT ON COLUMN postern.rules.match IS 'all = every condition must hold, any = one is enough; no conditions = always matches.';
COMMENT ON COLUMN postern.rules.description IS 'Free-form note for operators.';
COMMENT ON COLUMN postern.rules.updated_at IS 'Time of the last change to this row (set by a trigger).';

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
$c$Conditions of rules, combined by rules.match.  Checked and normalised by a trigger: boolean kinds (conn_tls, conn_authenticated, sender_local, rcpt_local, delivery_relaying) take is/is_not and true/false; conn_remote_addr takes is/is_not with one IP address, or in_cidr with a list of networks; conn_listener takes is/is_not with a listener name or port; text kinds (conn_auth_user, conn_helo, sender_address, sender_domain, rcpt_address, rcpt_domain) take is/is_not/contains (case-insensitive) or matches (POSIX extended regex, case-insensitive: the daemon uses regcomp(REG_EXTENDED|REG_ICASE), so PostgreSQL-only regex extensions such as \d \w \s \m \M \y, (?...) and *** are not portable and are refused); message_size takes ge/le with bytes (K, M, G suffixes = 1024 multiples); the domain kinds (sender_domain, rcpt_domain, conn_helo) also take in_domain with a list of domains (the domain or a subdomain of one; stored lower case, comma-separated, without leading dots).  contains is no way to trust an address or a domain: use in_domain.  Changes send NOTIFY postern_config, 'rule_conditions'.$c$;
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
    relay_tls_verify boolean NULL,

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
    CONSTRAINT "rule_actions.relay_tls_verify is only for relay_tls actions"
        CHECK (kind = 'relay_tls' OR relay_tls_verify IS NULL),
    CONSTRAINT "rule_actions.relay_tls_verify needs relay_tls other than none"
        CHECK (relay_tls_verify IS NOT TRUE OR relay_tls <> 'none'),
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
$c$Actions of rules, run in (seq, id) order when the rule matches.  Each kind uses its own columns, all others must be NULL: auth_plain / auth_tls: auth_mechs; reply: reply, reply_code, reply_ecode, reply_text; relay_host: relay_host, relay_port; relay_tls: relay_tls, relay_tls_verify; relay_tls_versions: relay_tls_versions; add_header: header_name, header_value; stop, relay_allow, sender_allow: none.  Changes send NOTIFY postern_config, 'rule_actions'.$c$;
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
COMMENT ON COLUMN postern.rule_actions.relay_tls_verify IS
    'relay_tls: true = verify the relay''s certificate chain and host name (a failure defers the delivery), false = do not verify; NULL = settings.tls_verify_out.  Not true together with relay_tls none.';

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
                                       versions postern.tls_version[] DEFAULT NULL,
                                       verify boolean DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    rid integer := postern.rule_lookup(rule_add_relay.rule);
    h text := btrim(rule_add_relay.host);
    aid integer;
BEGIN
    IF rule_add_relay.verify IS NOT NULL AND rule_add_relay.tls IS NULL THEN
        RAISE EXCEPTION 'rule_add_relay: verify needs a tls mode (required, implicit or opportunistic)'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT postern.rule_add_relay(%L, %L, %s, ''required'', verify => %s);',
                                rule_add_relay.rule, h, coalesce(rule_add_relay.port::text, 'NULL'),
                                CASE WHEN rule_add_relay.verify THEN 'true' ELSE 'false' END);
    END IF;
    IF h !~ '^\[' THEN
        h := lower(h);
    END IF;
    INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_host, relay_port)
    VALUES (rid, postern.next_action_seq(rid), 'relay_host', h, rule_add_relay.port)
    RETURNING id INTO aid;
    IF rule_add_relay.tls IS NOT NULL THEN
        INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls, relay_tls_verify)
        VALUES (rid, postern.next_action_seq(rid), 'relay_tls', rule_add_relay.tls, rule_add_relay.verify);
    END IF;
    IF rule_add_relay.versions IS NOT NULL THEN
        INSERT INTO postern.rule_actions (rule_id, seq, kind, relay_tls_versions)
        VALUES (rid, postern.next_action_seq(rid), 'relay_tls_versions', rule_add_relay.versions);
    END IF;
    RETURN aid;
END $$;
COMMENT ON FUNCTION postern.rule_add_relay(text, text, integer, postern.relay_tls_mode, postern.tls_version[], boolean) IS
    'Adds a relay_host action (host name lower-cased, or [address literal]; port 1-65535), plus a relay_tls action when tls is given (with relay_tls_verify = verify; NULL = settings.tls_verify_out) and a relay_tls_versions action when versions is given; returns the relay_host action''s id.  verify without tls is an error.';

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

------------------------------------------------------------------------------
-- Rule views and set_auth
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
                                           || CASE a.relay_tls_verify WHEN true THEN ' verify'
                                                                      WHEN false THEN ' noverify'
                                                                      ELSE '' END
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
COMMENT ON COLUMN postern.rules_overview.actions IS
    'Actions in seq order, separated by "; " (relay_tls shows verify / noverify when relay_tls_verify is set); empty = none.';
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
-- Default rules: the AUTH policy (no AUTH without TLS, PLAIN and LOGIN with
-- TLS); postern.set_auth() changes it
------------------------------------------------------------------------------

INSERT INTO postern.rules (name, description) VALUES
    ('disableAUTH_on_non_SSL', 'No AUTH on connections without TLS (passwords would travel in clear).'),
    ('enableAUTH_on_SSL', 'AUTH PLAIN and LOGIN on TLS connections.');
INSERT INTO postern.rule_actions (rule_id, kind, auth_mechs)
SELECT r.id, 'auth_plain', '{}' FROM postern.rules r WHERE r.name = 'disableAUTH_on_non_SSL';
INSERT INTO postern.rule_actions (rule_id, kind, auth_mechs)
SELECT r.id, 'auth_tls', '{PLAIN,LOGIN}' FROM postern.rules r WHERE r.name = 'enableAUTH_on_SSL';

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
    -- route chosen by the rules at RCPT TO
    relay_host text NULL,
    relay_port integer NULL
        CONSTRAINT "recipients.relay_port must be between 1 and 65535"
        CHECK (relay_port BETWEEN 1 AND 65535),
    relay_tls postern.relay_tls_mode NULL,
    relay_tls_versions postern.tls_version[] NULL,
    relay_tls_verify boolean NULL,
    -- delivery state
    delivered_at timestamptz NULL,
    bounce_requested boolean NOT NULL DEFAULT false,
    dsn_message_id bigint NULL,
    lease_token text NULL,
    PRIMARY KEY (message_id, rcpt_no),
    CONSTRAINT "recipients.relay_host and relay_port must be set together"
        CHECK ((relay_host IS NULL) = (relay_port IS NULL))
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
    'Node currently delivering this recipient (lease_token names the claim); NULL = nobody.';
COMMENT ON COLUMN postern.recipients.lease_expires IS
    'When the lease lapses and another worker may take the recipient over.';
COMMENT ON COLUMN postern.recipients.last_reply IS
    'Last SMTP reply or error from a delivery attempt, e.g. 451 4.7.1 try later.';
COMMENT ON COLUMN postern.recipients.updated_at IS
    'When this row last changed.';
COMMENT ON COLUMN postern.recipients.relay_host IS
    'Smarthost chosen by the rules at RCPT TO (relay_host action); NULL = deliver by MX lookup.';
COMMENT ON COLUMN postern.recipients.relay_port IS
    'Port of relay_host; set together with it.';
COMMENT ON COLUMN postern.recipients.relay_tls IS
    'TLS mode chosen by the rules (relay_tls action); NULL = the default (opportunistic STARTTLS when settings.use_starttls_out).';
COMMENT ON COLUMN postern.recipients.relay_tls_versions IS
    'TLS versions allowed for this delivery (relay_tls_versions action); NULL = the default.';
COMMENT ON COLUMN postern.recipients.relay_tls_verify IS
    'Certificate verification chosen by the rules at RCPT TO (relay_tls action with relay_tls_verify); NULL = settings.tls_verify_out.';
COMMENT ON COLUMN postern.recipients.delivered_at IS
    'When the recipient was delivered (set by the delivery engine with state delivered); NULL before.';
COMMENT ON COLUMN postern.recipients.bounce_requested IS
    'Set by postern.queue_bounce: the delivery engine returns the recipient to the sender with a DSN at its next round instead of delivering it, and marks it bounced.';
COMMENT ON COLUMN postern.recipients.dsn_message_id IS
    'Id (postern.messages.id) of the delivery status notification generated for this recipient; NULL = none.  Not a foreign key: the DSN may be delivered and purged before this row.';
COMMENT ON COLUMN postern.recipients.lease_token IS
    'The claim that holds the lease: node/incarnation/claim number, unique to one claim of one delivery thread of one run of one node; outcomes and renewals are written only where it still matches.  NULL = not leased.';

CREATE INDEX recipients_due ON postern.recipients (next_attempt_at)
    WHERE state IN ('queued', 'deferred');
COMMENT ON INDEX postern.recipients_due IS
    'Finds recipients due for delivery.';

CREATE TRIGGER recipients_notify AFTER INSERT ON postern.recipients
    FOR EACH STATEMENT EXECUTE FUNCTION postern.notify_queue();
COMMENT ON TRIGGER recipients_notify ON postern.recipients IS 'NOTIFY postern_queue.';

CREATE INDEX recipients_leased ON postern.recipients (lease_expires)
    WHERE lease_owner IS NOT NULL;
COMMENT ON INDEX postern.recipients_leased IS
    'Finds leased recipients and expired leases (recipients taken over from a dead worker).';

CREATE INDEX messages_received_at ON postern.messages (received_at, id);
COMMENT ON INDEX postern.messages_received_at IS
    'Messages by age: paging through queue_recipients / mailq in (received_at, id) order, and queue_purge.';

------------------------------------------------------------------------------
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
    'Like postqueue -f: makes every queued or deferred recipient due now, wakes the delivery workers and returns how many were rescheduled (those not due yet).  postern.queue_retry() does the same for one message or domain.';

------------------------------------------------------------------------------
-- Queue administration
------------------------------------------------------------------------------
CREATE FUNCTION postern.queue_lookup(queue_id text) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = postern, pg_temp AS $$
DECLARE
    q text := upper(btrim(queue_lookup.queue_id));
    mid bigint;
BEGIN
    IF q ~ '^[0-9A-F]{16}$' THEN
        SELECT m.id INTO mid FROM postern.messages m WHERE m.id = ('x' || q)::bit(64)::bigint;
    END IF;
    IF mid IS NULL THEN
        RAISE EXCEPTION 'no message with queue id "%"', queue_lookup.queue_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = CASE WHEN q IS NULL THEN 'The queue id is NULL.'
                                WHEN q !~ '^[0-9A-F]{16}$' THEN 'A queue id is 16 hexadecimal digits, e.g. 00000000000003E9.'
                                ELSE 'It may have been delivered and purged, or deleted.' END,
                  HINT = 'SELECT queue_id FROM postern.mailq; lists the queue.';
    END IF;
    RETURN mid;
END $$;
COMMENT ON FUNCTION postern.queue_lookup(text) IS
    'Returns messages.id for a queue id (16 hexadecimal digits, case-insensitive, surrounding spaces ignored); raises no message with queue id "X" otherwise.  Used by the queue_* functions.';

CREATE FUNCTION postern.queue_retry(queue_id text DEFAULT NULL, domain text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    mid bigint;
    d text := lower(ltrim(btrim(queue_retry.domain), '@'));
    n integer;
BEGIN
    IF queue_retry.queue_id IS NOT NULL THEN
        mid := postern.queue_lookup(queue_retry.queue_id);
    END IF;
    UPDATE postern.recipients r
       SET next_attempt_at = now(), updated_at = now()
     WHERE r.state IN ('queued', 'deferred')
       AND (mid IS NULL OR r.message_id = mid)
       AND (d IS NULL OR lower(split_part(r.address, '@', -1)) = d);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('postern_queue', '');
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_retry(text, text) IS
    'Like postqueue -f / -s / -i: makes queued and deferred recipients due now (next_attempt_at = now()) - of one message when queue_id is given, of one recipient domain when domain is given, all when both are NULL - wakes the delivery workers (NOTIFY postern_queue) and returns how many recipients it made due.  Held recipients are left alone.';

CREATE FUNCTION postern.queue_hold(queue_id text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    mid bigint := postern.queue_lookup(queue_hold.queue_id);
    n integer;
BEGIN
    UPDATE postern.recipients r
       SET state = 'held', updated_at = now()
     WHERE r.message_id = mid AND r.state IN ('queued', 'deferred');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_hold(text) IS
    'Like postsuper -h: puts the queued and deferred recipients of a message on hold (state held, never delivered until released) and returns how many.  A recipient being delivered at that moment finishes its current attempt.';

CREATE FUNCTION postern.queue_release(queue_id text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    mid bigint := postern.queue_lookup(queue_release.queue_id);
    n integer;
BEGIN
    UPDATE postern.recipients r
       SET state = 'deferred', next_attempt_at = now(), updated_at = now()
     WHERE r.message_id = mid AND r.state = 'held';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('postern_queue', '');
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_release(text) IS
    'Like postsuper -H: releases the held recipients of a message (state deferred, due now), wakes the delivery workers and returns how many.';

CREATE FUNCTION postern.queue_delete(queue_id text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    mid bigint := postern.queue_lookup(queue_delete.queue_id);
    n integer;
BEGIN
    SELECT count(*) INTO n FROM postern.recipients r WHERE r.message_id = mid;
    DELETE FROM postern.messages m WHERE m.id = mid;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_delete(text) IS
    'Like postsuper -d: deletes a message with its body and all its recipients, without a bounce, and returns the number of recipients it had.';

CREATE FUNCTION postern.queue_bounce(queue_id text) RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    mid bigint := postern.queue_lookup(queue_bounce.queue_id);
    n integer;
BEGIN
    UPDATE postern.recipients r
       SET bounce_requested = true,
           state = CASE WHEN r.state = 'held' THEN 'deferred' ELSE r.state END,
           next_attempt_at = now(), updated_at = now()
     WHERE r.message_id = mid AND r.state IN ('queued', 'deferred', 'held');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('postern_queue', '');
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_bounce(text) IS
    'Like postsuper -r with a bounce: marks the recipients of a message that are not yet delivered or bounced with bounce_requested (held ones become deferred), makes them due now, wakes the delivery workers and returns how many; the delivery engine then sends the sender a DSN and marks them bounced.';

CREATE FUNCTION postern.queue_purge(older_than interval DEFAULT '1 day') RETURNS integer
LANGUAGE plpgsql SET search_path = postern, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    IF queue_purge.older_than IS NULL OR queue_purge.older_than < interval '0' THEN
        RAISE EXCEPTION 'queue_purge: older_than must not be NULL or negative, got %',
            coalesce(queue_purge.older_than::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM postern.messages m
     WHERE m.received_at < now() - queue_purge.older_than
       AND NOT EXISTS (SELECT 1 FROM postern.recipients r
                        WHERE r.message_id = m.id
                          AND (r.state NOT IN ('delivered', 'bounced')
                               OR coalesce(r.delivered_at, r.updated_at) >= now() - queue_purge.older_than));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION postern.queue_purge(interval) IS
    'Deletes finished messages - every recipient delivered or bounced - that were received and finished (delivered_at, else updated_at, of each recipient) more than older_than ago (default 1 day), with their bodies and recipients; returns the number of messages deleted.';

------------------------------------------------------------------------------
------------------------------------------------------------------------------
-- Queue views
------------------------------------------------------------------------------
CREATE FUNCTION postern.route_text(relay_host text, relay_port integer, relay_tls postern.relay_tls_mode,
                                   relay_tls_verify boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN relay_host IS NULL THEN 'MX' ELSE relay_host || ':' || relay_port END
       || coalesce(' ' || relay_tls::text, '')
       || CASE relay_tls_verify WHEN true THEN ' verify' WHEN false THEN ' noverify' ELSE '' END;
COMMENT ON FUNCTION postern.route_text(text, integer, postern.relay_tls_mode, boolean) IS
    'Route of a recipient as shown by postern.mailq: host:port or MX, then the TLS mode and verify / noverify when set.';

CREATE VIEW postern.mailq AS
SELECT m.queue_id,
       CASE WHEN bool_or(r.lease_owner IS NOT NULL AND r.lease_expires > now()) THEN 'active'
            WHEN bool_and(r.state = 'held') THEN 'held'
            WHEN bool_or(r.state = 'deferred') THEN 'deferred'
            ELSE 'queued' END AS status,
       m.size,
       m.received_at,
       date_trunc('second', now() - m.received_at) AS age,
       CASE WHEN m.sender = '' THEN '<>' ELSE m.sender END AS sender,
       string_agg(r.address || '  ' || r.state::text
                  || CASE WHEN r.bounce_requested THEN ' (bounce requested)' ELSE '' END
                  || ', ' || r.attempts || CASE r.attempts WHEN 1 THEN ' attempt' ELSE ' attempts' END
                  || CASE WHEN r.lease_owner IS NOT NULL AND r.lease_expires > now()
                              THEN ', being delivered by ' || r.lease_owner
                          WHEN r.state = 'held' THEN ''
                          WHEN r.next_attempt_at <= now() THEN ', due now'
                          ELSE ', next ' || to_char(r.next_attempt_at, 'YYYY-MM-DD HH24:MI:SS')
                               || ' (in ' || date_trunc('second', r.next_attempt_at - now()) || ')' END
                  || ', via ' || postern.route_text(r.relay_host, r.relay_port, r.relay_tls, r.relay_tls_verify)
                  || coalesce(E'\n    ' || r.last_reply, ''),
                  E'\n' ORDER BY r.rcpt_no) AS recipients,
       m.id,
       m.node
  FROM postern.messages m
  JOIN postern.recipients r ON r.message_id = m.id
 WHERE r.state IN ('queued', 'deferred', 'held')
 GROUP BY m.id
 ORDER BY m.received_at, m.id;
COMMENT ON VIEW postern.mailq IS
    'Like Postfix mailq: one row per message that still has undelivered (queued, deferred or held) recipients, oldest first, with one line per such recipient.  Messages whose recipients are all delivered or bounced are not shown.';
COMMENT ON COLUMN postern.mailq.queue_id IS 'Queue id (messages.queue_id).';
COMMENT ON COLUMN postern.mailq.status IS
    'active (a recipient is being delivered now), held (every undelivered recipient is held), deferred (a recipient had a temporary failure) or queued.';
COMMENT ON COLUMN postern.mailq.size IS 'Message size in bytes.';
COMMENT ON COLUMN postern.mailq.received_at IS 'When the message was accepted.';
COMMENT ON COLUMN postern.mailq.age IS 'How long the message has been in the queue, to the second.';
COMMENT ON COLUMN postern.mailq.sender IS 'Envelope sender; <> for the null sender.';
COMMENT ON COLUMN postern.mailq.recipients IS
    'Undelivered recipients in envelope order, one per line: address  state, attempts, next attempt (or due now / being delivered by ...), via route (host:port or MX, TLS mode, verify); the last reply, if any, on an indented second line.';
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

CREATE VIEW postern.queue_recipients AS
SELECT m.queue_id,
       r.message_id,
       r.rcpt_no,
       r.address,
       lower(split_part(r.address, '@', -1)) AS domain,
       r.state,
       r.attempts,
       r.next_attempt_at,
       r.last_reply,
       r.lease_owner,
       r.lease_expires,
       r.relay_host,
       r.relay_port,
       r.relay_tls,
       r.relay_tls_versions,
       m.received_at,
       m.sender,
       m.size,
       r.relay_tls_verify,
       r.bounce_requested,
       r.delivered_at,
       r.dsn_message_id,
       r.updated_at,
       m.node
  FROM postern.recipients r
  JOIN postern.messages m ON m.id = r.message_id;
COMMENT ON VIEW postern.queue_recipients IS
    'One row per recipient of every message in the queue tables, delivered and bounced ones included (filter on state), unordered: page with ORDER BY received_at, message_id, rcpt_no and LIMIT/OFFSET or a keyset.';
COMMENT ON COLUMN postern.queue_recipients.queue_id IS 'Queue id of the message.';
COMMENT ON COLUMN postern.queue_recipients.message_id IS 'messages.id.';
COMMENT ON COLUMN postern.queue_recipients.rcpt_no IS '0-based position in the envelope.';
COMMENT ON COLUMN postern.queue_recipients.address IS 'Recipient address.';
COMMENT ON COLUMN postern.queue_recipients.domain IS 'Recipient domain (after the last @), lower-cased.';
COMMENT ON COLUMN postern.queue_recipients.state IS 'queued, deferred, delivered, bounced or held.';
COMMENT ON COLUMN postern.queue_recipients.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN postern.queue_recipients.next_attempt_at IS 'Earliest next attempt (queued and deferred).';
COMMENT ON COLUMN postern.queue_recipients.last_reply IS 'Last SMTP reply or error.';
COMMENT ON COLUMN postern.queue_recipients.lease_owner IS 'Worker delivering it now; NULL = nobody.';
COMMENT ON COLUMN postern.queue_recipients.lease_expires IS 'When that lease lapses.';
COMMENT ON COLUMN postern.queue_recipients.relay_host IS 'Smarthost chosen by the rules; NULL = MX.';
COMMENT ON COLUMN postern.queue_recipients.relay_port IS 'Port of relay_host.';
COMMENT ON COLUMN postern.queue_recipients.relay_tls IS 'TLS mode chosen by the rules; NULL = default.';
COMMENT ON COLUMN postern.queue_recipients.relay_tls_versions IS 'TLS versions allowed; NULL = default.';
COMMENT ON COLUMN postern.queue_recipients.received_at IS 'When the message was accepted.';
COMMENT ON COLUMN postern.queue_recipients.sender IS 'Envelope sender; empty = null sender <>.';
COMMENT ON COLUMN postern.queue_recipients.size IS 'Message size in bytes.';
COMMENT ON COLUMN postern.queue_recipients.relay_tls_verify IS 'Certificate verification chosen by the rules; NULL = settings.tls_verify_out.';
COMMENT ON COLUMN postern.queue_recipients.bounce_requested IS 'Set by postern.queue_bounce.';
COMMENT ON COLUMN postern.queue_recipients.delivered_at IS 'When it was delivered.';
COMMENT ON COLUMN postern.queue_recipients.dsn_message_id IS 'Id of the DSN generated for it, if any.';
COMMENT ON COLUMN postern.queue_recipients.updated_at IS 'When the recipient row last changed.';
COMMENT ON COLUMN postern.queue_recipients.node IS 'Node that accepted the message.';

CREATE VIEW postern.queue_shape AS
SELECT CASE WHEN grouping(s.domain) = 1 THEN 'TOTAL' ELSE s.domain END AS domain,
       count(s.age) AS total,
       count(*) FILTER (WHERE s.age < interval '5 min') AS "0-5m",
       count(*) FILTER (WHERE s.age >= interval '5 min' AND s.age < interval '10 min') AS "5-10m",
       count(*) FILTER (WHERE s.age >= interval '10 min' AND s.age < interval '20 min') AS "10-20m",
       count(*) FILTER (WHERE s.age >= interval '20 min' AND s.age < interval '40 min') AS "20-40m",
       count(*) FILTER (WHERE s.age >= interval '40 min' AND s.age < interval '80 min') AS "40-80m",
       count(*) FILTER (WHERE s.age >= interval '80 min' AND s.age < interval '160 min') AS "80-160m",
       count(*) FILTER (WHERE s.age >= interval '160 min' AND s.age < interval '320 min') AS "160-320m",
       count(*) FILTER (WHERE s.age >= interval '320 min' AND s.age < interval '640 min') AS "320-640m",
       count(*) FILTER (WHERE s.age >= interval '640 min') AS "640m+"
  FROM (SELECT lower(split_part(r.address, '@', -1)) AS domain,
               now() - m.received_at AS age
          FROM postern.recipients r
          JOIN postern.messages m ON m.id = r.message_id
         WHERE r.state IN ('queued', 'deferred', 'held')) s
 GROUP BY GROUPING SETS ((s.domain), ())
 ORDER BY grouping(s.domain) DESC, total DESC, 1;
COMMENT ON VIEW postern.queue_shape IS
    'Like Postfix qshape: the TOTAL row first, then one row per recipient domain, most recipients first, counting recipients not yet delivered or bounced (queued, deferred, held) by the age of their message in buckets of doubling width.';
COMMENT ON COLUMN postern.queue_shape.domain IS 'Recipient domain (after the last @, lower-cased), or TOTAL.';
COMMENT ON COLUMN postern.queue_shape.total IS 'Undelivered recipients of that domain.';
COMMENT ON COLUMN postern.queue_shape."0-5m" IS 'Of those, in messages received less than 5 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."5-10m" IS 'Received 5 to 10 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."10-20m" IS 'Received 10 to 20 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."20-40m" IS 'Received 20 to 40 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."40-80m" IS 'Received 40 to 80 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."80-160m" IS 'Received 80 to 160 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."160-320m" IS 'Received 160 to 320 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."320-640m" IS 'Received 320 to 640 minutes ago.';
COMMENT ON COLUMN postern.queue_shape."640m+" IS 'Received 640 minutes (10 h 40 min) ago or earlier.';

------------------------------------------------------------------------------
-- Nodes (cluster) and AUTH throttling
------------------------------------------------------------------------------
CREATE TABLE postern.nodes (
    name text PRIMARY KEY,
    host text,
    pid integer,
    version text,
    started_at timestamptz,
    heartbeat_at timestamptz,
    stopped_at timestamptz NULL,
    node_no integer NULL
        CONSTRAINT "nodes.node_no must be between 0 and 127"
        CHECK (node_no BETWEEN 0 AND 127),
    incarnation bigint NOT NULL DEFAULT 0,
    CONSTRAINT "nodes.node_no must be unique" UNIQUE (node_no)
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
COMMENT ON COLUMN postern.nodes.stopped_at IS
    'When the node last stopped cleanly (NULL while it runs or after a crash).';
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

-- The greeting pause's memory (migration 009)
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

COMMIT;
