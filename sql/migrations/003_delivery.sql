-- postern migration 003: delivery (settings, per-recipient delivery state,
-- queue administration).
--
-- Applied by scripts/db-load.sh to a database at schema version 2; one
-- transaction, ends with schema_version = 3.
--
--   * settings: delivery_threads, delivery_batch, lease_seconds,
--     retry_initial, retry_max, queue_lifetime, maildir_root, dns_servers,
--     smtp_connect_timeout, smtp_command_timeout, smtp_data_timeout,
--     tls_verify_out, smtp_port_out, bounce_sender_name
--   * rule_actions.relay_tls_verify (relay_tls actions), and the
--     verify parameter of postern.rule_add_relay
--   * recipients: relay_tls_verify, delivered_at, bounce_requested,
--     dsn_message_id
--   * functions queue_retry, queue_hold, queue_release, queue_delete,
--     queue_bounce, queue_purge (and the helper queue_lookup)
--   * views mailq (replaced), queue_recipients, queue_shape
--   * indexes recipients_leased, messages_received_at
--
-- Reference documentation: docs/sql-reference.md, sections "Delivery" and
-- "Queue administration".

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
    v integer;
BEGIN
    SELECT version INTO v FROM postern.schema_version FOR UPDATE;
    IF v IS DISTINCT FROM 2 THEN
        RAISE EXCEPTION '003_delivery.sql applies to schema version 2, the database is at version %', v;
    END IF;
END $$;

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

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
-- settings: delivery
------------------------------------------------------------------------------

ALTER TABLE postern.settings
    ADD COLUMN delivery_threads integer NOT NULL DEFAULT 4
        CONSTRAINT "settings.delivery_threads must be between 1 and 256"
        CHECK (delivery_threads BETWEEN 1 AND 256),
    ADD COLUMN delivery_batch integer NOT NULL DEFAULT 50
        CONSTRAINT "settings.delivery_batch must be between 1 and 1000"
        CHECK (delivery_batch BETWEEN 1 AND 1000),
    ADD COLUMN lease_seconds integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.lease_seconds must be between 10 and 86400 seconds"
        CHECK (lease_seconds BETWEEN 10 AND 86400),
    ADD COLUMN retry_initial integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.retry_initial must be between 1 and 86400 seconds"
        CHECK (retry_initial BETWEEN 1 AND 86400),
    ADD COLUMN retry_max integer NOT NULL DEFAULT 14400
        CONSTRAINT "settings.retry_max must be between 1 and 604800 seconds"
        CHECK (retry_max BETWEEN 1 AND 604800),
    ADD COLUMN queue_lifetime integer NOT NULL DEFAULT 432000
        CONSTRAINT "settings.queue_lifetime must be between 60 and 31536000 seconds"
        CHECK (queue_lifetime BETWEEN 60 AND 31536000),
    ADD COLUMN maildir_root text NULL
        CONSTRAINT "settings.maildir_root must be an absolute path"
        CHECK (maildir_root LIKE '/%'),
    ADD COLUMN dns_servers text NOT NULL DEFAULT ''
        CONSTRAINT "settings.dns_servers must be empty or IP:port,[IPv6]:port,..."
        CHECK (postern.is_dns_server_list(dns_servers)),
    ADD COLUMN smtp_connect_timeout integer NOT NULL DEFAULT 30
        CONSTRAINT "settings.smtp_connect_timeout must be between 1 and 600 seconds"
        CHECK (smtp_connect_timeout BETWEEN 1 AND 600),
    -- "... must be between 1 and 3600 seconds" would exceed the 63-byte
    -- identifier limit and be cut off.
    ADD COLUMN smtp_command_timeout integer NOT NULL DEFAULT 300
        CONSTRAINT "settings.smtp_command_timeout must be 1 to 3600 seconds"
        CHECK (smtp_command_timeout BETWEEN 1 AND 3600),
    ADD COLUMN smtp_data_timeout integer NOT NULL DEFAULT 600
        CONSTRAINT "settings.smtp_data_timeout must be between 1 and 3600 seconds"
        CHECK (smtp_data_timeout BETWEEN 1 AND 3600),
    ADD COLUMN tls_verify_out boolean NOT NULL DEFAULT false,
    ADD COLUMN smtp_port_out integer NOT NULL DEFAULT 25
        CONSTRAINT "settings.smtp_port_out must be between 1 and 65535"
        CHECK (smtp_port_out BETWEEN 1 AND 65535),
    ADD COLUMN bounce_sender_name text NOT NULL DEFAULT 'MAILER-DAEMON'
        CONSTRAINT "settings.bounce_sender_name must be a local part (1-63 chars)"
        CHECK (bounce_sender_name ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*$'
               AND octet_length(bounce_sender_name) <= 63),
    ADD CONSTRAINT "settings.retry_initial must not be above retry_max"
        CHECK (retry_initial <= retry_max);

COMMENT ON COLUMN postern.settings.delivery_threads IS
    'Number of delivery threads per node (outbound SMTP and local delivery).';
COMMENT ON COLUMN postern.settings.delivery_batch IS
    'Most recipients a delivery thread claims (leases) per round.';
COMMENT ON COLUMN postern.settings.lease_seconds IS
    'How long a claimed recipient stays leased (recipients.lease_expires = claim time + lease_seconds); after that another worker may take it over (e.g. when its node died).';
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

------------------------------------------------------------------------------
-- rule_actions: certificate verification with relay_tls
------------------------------------------------------------------------------

ALTER TABLE postern.rule_actions
    ADD COLUMN relay_tls_verify boolean NULL,
    ADD CONSTRAINT "rule_actions.relay_tls_verify is only for relay_tls actions"
        CHECK (kind = 'relay_tls' OR relay_tls_verify IS NULL),
    ADD CONSTRAINT "rule_actions.relay_tls_verify needs relay_tls other than none"
        CHECK (relay_tls_verify IS NOT TRUE OR relay_tls <> 'none');
COMMENT ON COLUMN postern.rule_actions.relay_tls_verify IS
    'relay_tls: true = verify the relay''s certificate chain and host name (a failure defers the delivery), false = do not verify; NULL = settings.tls_verify_out.  Not true together with relay_tls none.';
COMMENT ON TABLE postern.rule_actions IS
$c$Actions of rules, run in (seq, id) order when the rule matches.  Each kind uses its own columns, all others must be NULL: auth_plain / auth_tls: auth_mechs; reply: reply, reply_code, reply_ecode, reply_text; relay_host: relay_host, relay_port; relay_tls: relay_tls, relay_tls_verify; relay_tls_versions: relay_tls_versions; add_header: header_name, header_value; stop: none.  Changes send NOTIFY postern_config, 'rule_actions'.$c$;

-- Adds the trailing verify parameter.  The old five-parameter function is
-- dropped rather than overloaded: with both, calls with three to five
-- arguments would be ambiguous.
DROP FUNCTION postern.rule_add_relay(text, text, integer, postern.relay_tls_mode, postern.tls_version[]);

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

-- rules_overview: same columns, relay_tls shows verify / noverify.
CREATE OR REPLACE VIEW postern.rules_overview AS
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
COMMENT ON COLUMN postern.rules_overview.actions IS
    'Actions in seq order, separated by "; " (relay_tls shows verify / noverify when relay_tls_verify is set); empty = none.';

------------------------------------------------------------------------------
-- recipients: delivery state
------------------------------------------------------------------------------

ALTER TABLE postern.recipients
    ADD COLUMN relay_tls_verify boolean NULL,
    ADD COLUMN delivered_at timestamptz NULL,
    ADD COLUMN bounce_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN dsn_message_id bigint NULL;
COMMENT ON COLUMN postern.recipients.relay_tls_verify IS
    'Certificate verification chosen by the rules at RCPT TO (relay_tls action with relay_tls_verify); NULL = settings.tls_verify_out.';
COMMENT ON COLUMN postern.recipients.delivered_at IS
    'When the recipient was delivered (set by the delivery engine with state delivered); NULL before.';
COMMENT ON COLUMN postern.recipients.bounce_requested IS
    'Set by postern.queue_bounce: the delivery engine returns the recipient to the sender with a DSN at its next round instead of delivering it, and marks it bounced.';
COMMENT ON COLUMN postern.recipients.dsn_message_id IS
    'Id (postern.messages.id) of the delivery status notification generated for this recipient; NULL = none.  Not a foreign key: the DSN may be delivered and purged before this row.';

CREATE INDEX recipients_leased ON postern.recipients (lease_expires)
    WHERE lease_owner IS NOT NULL;
COMMENT ON INDEX postern.recipients_leased IS
    'Finds leased recipients and expired leases (recipients taken over from a dead worker).';

CREATE INDEX messages_received_at ON postern.messages (received_at, id);
COMMENT ON INDEX postern.messages_received_at IS
    'Messages by age: paging through queue_recipients / mailq in (received_at, id) order, and queue_purge.';

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
-- Views
------------------------------------------------------------------------------

CREATE FUNCTION postern.route_text(relay_host text, relay_port integer, relay_tls postern.relay_tls_mode,
                                   relay_tls_verify boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN relay_host IS NULL THEN 'MX' ELSE relay_host || ':' || relay_port END
       || coalesce(' ' || relay_tls::text, '')
       || CASE relay_tls_verify WHEN true THEN ' verify' WHEN false THEN ' noverify' ELSE '' END;
COMMENT ON FUNCTION postern.route_text(text, integer, postern.relay_tls_mode, boolean) IS
    'Route of a recipient as shown by postern.mailq: host:port or MX, then the TLS mode and verify / noverify when set.';

DROP VIEW postern.mailq;
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

COMMENT ON FUNCTION postern.flush_queue() IS
    'Like postqueue -f: makes every queued or deferred recipient due now, wakes the delivery workers and returns how many were rescheduled (those not due yet).  postern.queue_retry() does the same for one message or domain.';

UPDATE postern.schema_version SET version = 3;

COMMIT;
