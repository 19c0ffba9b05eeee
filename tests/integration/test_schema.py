"""One current schema: sql/schema.sql equals version 1 plus every migration.

A new database loads sql/schema.sql in one go; an existing one is upgraded by
sql/migrations/.  These tests load both into two throw-away databases of the
private cluster with the product's own loader (scripts/db-load.sh, the second
with --from-version-1, which loads sql/migrations/001_initial.sql and then
migrates it like any old database), and require

  * pg_dump --schema-only of the two to be identical;
  * the same rows in every table (settings, listeners, the default rules and
    their actions, sequences, and the empty queue tables), pg_dump
    --data-only, timestamps set by now() at load time masked;
  * one schema version everywhere: daemon/schema_version.h, the row that
    sql/schema.sql inserts, and the highest migration number.

What is normalised, and why:
  * \\restrict / \\unrestrict lines: pg_dump (15.14 and later) writes a random
    key into them on every run.
  * in the data only, timestamps: settings.updated_at and rules.updated_at
    are now() at load time, which differs between the two loads.
Nothing else: pg_dump --schema-only names no database (no --create), and
both databases are created the same way by db-load.sh.

The databases are named after $POSTERN_IT_DB (postern_it_schema_fresh,
postern_it_schema_v1) so two runs on one machine do not collide, and are
dropped afterwards.
"""
import difflib
import glob
import os
import re
import subprocess

from harness import DBNAME, PGHOST, PGPORT, ROOT, check, sql, sql_try

FRESH = DBNAME + "_schema_fresh"
UPGRADED = DBNAME + "_schema_v1"
NEWER = DBNAME + "_schema_newer"
LOADER = os.path.join(ROOT, "scripts", "db-load.sh")


def db_load(db, *args):
    return subprocess.run([LOADER, db, *args], capture_output=True, text=True, timeout=300)


def must_load(db, *args):
    p = db_load(db, *args)
    check(p.returncode == 0, "scripts/db-load.sh %s %s failed (%d): %s%s"
          % (db, " ".join(args), p.returncode, p.stdout, p.stderr))


def drop(db):
    sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db, user="postgres", db="postgres")


def pg_dump(db, *args):
    p = subprocess.run(["pg_dump", "-h", PGHOST, "-p", PGPORT, "-U", "postgres", *args, db],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "pg_dump %s %s: %s" % (" ".join(args), db, p.stderr.strip()))
    return [line for line in p.stdout.splitlines()
            if not re.match(r"^\\(un)?restrict ", line)]


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?")


def same(what, upgraded, fresh):
    if upgraded == fresh:
        return
    diff = list(difflib.unified_diff(upgraded, fresh, "version 1 + migrations", "sql/schema.sql",
                                     n=2, lineterm=""))
    check(False, "%s differ (%d diff lines):\n%s" % (what, len(diff), "\n".join(diff[:60])))


def versions():
    with open(os.path.join(ROOT, "daemon", "schema_version.h")) as f:
        m = re.search(r"^#define POSTERN_SCHEMA_VERSION (\d+)$", f.read(), re.M)
    check(m is not None, "daemon/schema_version.h: no #define POSTERN_SCHEMA_VERSION <n>")
    header = int(m.group(1))
    with open(os.path.join(ROOT, "sql", "schema.sql")) as f:
        ins = re.findall(r"^INSERT INTO postern\.schema_version \(version\) VALUES \((\d+)\);$",
                         f.read(), re.M)
    check(len(ins) == 1, "sql/schema.sql: expected one INSERT INTO postern.schema_version, found %d"
          % len(ins))
    numbers = sorted(int(os.path.basename(p)[:3])
                     for p in glob.glob(os.path.join(ROOT, "sql", "migrations", "[0-9][0-9][0-9]_*.sql")))
    check(numbers == list(range(1, len(numbers) + 1)),
          "sql/migrations: numbers must be 001, 002, ... without gaps, found %s" % numbers)
    return header, int(ins[0]), numbers[-1]


def test_schema_version_one_source(env):
    header, schema_sql, last = versions()
    check(header == schema_sql == last,
          "schema versions disagree: daemon/schema_version.h %d, sql/schema.sql %d, "
          "last migration %03d" % (header, schema_sql, last))
    for path, name in (("daemon/config.h", "CONFIG_SCHEMA_VERSION"),
                       ("console/main.c", "CONSOLE_SCHEMA_VERSION")):
        with open(os.path.join(ROOT, path)) as f:
            text = f.read()
        check(re.search(r"^#define %s POSTERN_SCHEMA_VERSION$" % name, text, re.M),
              "%s: %s must be defined as POSTERN_SCHEMA_VERSION" % (path, name))
    # The test database (loaded by the harness from sql/schema.sql) agrees.
    check(sql("SELECT version FROM postern.schema_version") == [[str(header)]],
          "postern_it is not at schema version %d" % header)


def test_schema_fresh_equals_version1_plus_migrations(env):
    try:
        must_load(FRESH, "--fresh")
        must_load(UPGRADED, "--fresh", "--from-version-1")
        header, _, _ = versions()
        for db in (FRESH, UPGRADED):
            v = sql("SELECT version FROM postern.schema_version", db=db)
            check(v == [[str(header)]], "%s: schema version %s, expected %d" % (db, v, header))

        same("pg_dump --schema-only outputs",
             pg_dump(UPGRADED, "--schema-only"), pg_dump(FRESH, "--schema-only"))

        # The default rows, so that the comparison above is not of two empty
        # configurations: one settings row, the three listeners, the two
        # AUTH rules with their actions.
        counts = ("SELECT (SELECT count(*) FROM postern.settings), (SELECT count(*) FROM postern.listeners), "
                  "(SELECT count(*) FROM postern.rules), (SELECT count(*) FROM postern.rule_actions)")
        check(sql(counts, db=FRESH) == [["1", "3", "2", "2"]],
              "sql/schema.sql default rows: %s" % sql(counts, db=FRESH))
        data = [[TIMESTAMP.sub("<timestamp>", line) for line in pg_dump(db, "--data-only")]
                for db in (UPGRADED, FRESH)]
        same("pg_dump --data-only outputs (default rows and sequences)", data[0], data[1])
        policy = "SELECT connection, mechs, rule FROM postern.auth_policy"
        check(sql(policy, db=FRESH) == sql(policy, db=UPGRADED),
              "auth_policy differs: %s vs %s" % (sql(policy, db=FRESH), sql(policy, db=UPGRADED)))
    finally:
        drop(FRESH)
        drop(UPGRADED)


def test_schema_newer_database_refused_older_upgraded(env):
    try:
        must_load(NEWER, "--fresh")
        header, _, last = versions()
        sql("UPDATE postern.schema_version SET version = %d" % (last + 1), db=NEWER)
        p = db_load(NEWER)
        check(p.returncode == 1, "db-load.sh on a database at version %d exited %d, expected 1: %s"
              % (last + 1, p.returncode, p.stderr))
        want = ("database %s has schema version %d, newer than this checkout knows "
                "(its last migration is %d)" % (NEWER, last + 1, last))
        check(want in p.stderr, "db-load.sh message %r does not say %r" % (p.stderr, want))
        check(sql("SELECT version FROM postern.schema_version", db=NEWER) == [[str(last + 1)]],
              "db-load.sh changed the version of the newer database")
        # An existing older database is upgraded by the same plain call: a
        # database that was loaded with version 1 (as databases of the time
        # were) and never migrated goes to the current version.
        drop(NEWER)
        sql("CREATE DATABASE %s OWNER postern ENCODING 'UTF8' TEMPLATE template0" % NEWER,
            user="postgres", db="postgres")
        sql("CREATE EXTENSION pgcrypto", user="postgres", db=NEWER)
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PGHOST, "-p", PGPORT,
                            "-U", "postern", "-d", NEWER, "-f",
                            os.path.join(ROOT, "sql", "migrations", "001_initial.sql")],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "loading 001_initial.sql: %s" % p.stderr)
        check(sql("SELECT version FROM postern.schema_version", db=NEWER) == [["1"]],
              "001_initial.sql is not schema version 1")
        must_load(NEWER)
        ok, rows, err = sql_try("SELECT version FROM postern.schema_version", db=NEWER)
        check(ok and rows == [[str(header)]], "version 1 was not upgraded to %d: %s %s"
              % (header, rows, err))
    finally:
        drop(NEWER)
