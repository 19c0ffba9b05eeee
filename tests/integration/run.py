#!/usr/bin/env python3
"""
run.py - runs the posternd integration tests.

    python3 tests/integration/run.py [-k SUBSTRING] [-v]

Sets up the environment once (harness.Env: database postern_it, certificate,
one posternd for the whole run), then runs every test_* function of
tests/integration/test_*.py in file order and definition order, printing
"PASS name" or "FAIL name: reason" per test.  A test fails when posternd
died while it ran (unless the test stopped or killed it itself) or logged
a sanitizer report, a panic or a fatal error; its log is kept under
var/check.  A daemon the test stopped or killed is started again before the
next test.  The run ends with a clean stop that must exit 0 (the sanitizer
build runs with leak detection on, so a leak fails it).  Ends with the line
"integration: N passed, M failed" and exits 1 if anything failed.
"""
import importlib.util
import inspect
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def discover():
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        name = fn[:-3]
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        funcs = [f for n, f in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == name]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        tests.extend(funcs)
    return tests


def one_line(s):
    s = " ".join(str(s).split())
    return s if len(s) <= 400 else s[:397] + "..."


CHECK_DIR = os.path.join(harness.ROOT, "var", "check")


def keep_log(env, name):
    """Keeps the daemon's log under var/check for a failed test."""
    try:
        os.makedirs(CHECK_DIR, exist_ok=True)
        with open(os.path.join(CHECK_DIR, "posternd-%s.log" % name), "w") as f:
            f.write(env.daemon.log())
    except OSError:
        pass


def after_test(env, offset):
    """A test passes only when posternd is still running (or was stopped or
    killed by the test itself) and logged no sanitizer report, panic or
    fatal error while it ran."""
    code = env.daemon.crashed()
    if code is not None:
        env.daemon.proc = None      # the next test starts a fresh one
        raise harness.TestFailure("posternd died during the test (exit status %d); log tail: %s"
                                  % (code, env.daemon.log_since(offset)[-1500:]))
    reports = env.daemon.sanitizer_reports(offset)
    if reports:
        raise harness.TestFailure("posternd logged: %s" % reports[0])


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    pattern = None
    if "-k" in args:
        pattern = args[args.index("-k") + 1]
    tests = discover()
    if pattern:
        tests = [t for t in tests if pattern in t.__name__]
    passed = failed = 0
    t0 = time.monotonic()
    try:
        harness.ENV = harness.Env()
    except Exception as e:  # set-up failed: every test fails
        print("FAIL setup: %s" % one_line(e))
        print("integration: 0 passed, %d failed" % (len(tests) + 1))
        return 1
    env = harness.ENV
    try:
        for t in tests:
            ts = time.monotonic()
            offset = env.daemon.log_size()
            try:
                env.ensure_running()
                offset = env.daemon.log_size()
                t(env)
                after_test(env, offset)
            except Exception as e:
                failed += 1
                why = e if isinstance(e, harness.TestFailure) else "%s: %s" % (type(e).__name__, e)
                print("FAIL %s: %s" % (t.__name__, one_line(why)), flush=True)
                if verbose:
                    traceback.print_exc()
                    sys.stdout.write(env.daemon.log()[-3000:])
                keep_log(env, t.__name__)
            else:
                passed += 1
                print("PASS %s%s" % (t.__name__, " (%.1f s)" % (time.monotonic() - ts) if verbose else ""),
                      flush=True)
        if not env.daemon.alive():
            failed += 1
            print("FAIL daemon: posternd is not running at the end of the run")
    finally:
        # The final clean stop: exit status 0 (LeakSanitizer exits 23 when
        # the sanitizer build leaked) and no sanitizer report in the log.
        try:
            try:
                offset = env.daemon.log_size()
                env.daemon.stop()
                reports = env.daemon.sanitizer_reports(offset)
                if reports:
                    raise harness.TestFailure("sanitizer report at stop: %s" % reports[0])
            finally:
                keep_log(env, "final")      # before the temporary directory goes
                env.close()
        except Exception as e:
            failed += 1
            print("FAIL teardown: %s" % one_line(e))
    if verbose:
        print("runtime %.1f s" % (time.monotonic() - t0))
    print("integration: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
