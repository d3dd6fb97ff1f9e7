"""Differential fuzzer: aurora-migrate's splitter against the real `mariadb` client.

Generates random migration scripts from hostile fragments (quotes with escapes, every comment form,
version comments, DELIMITER changes and their short forms, routine bodies, labels, CRLF, control
characters, USE and its short form, the script's own sql_mode changes), pipes each through
`mariadb --force` into a throwaway MariaDB with performance_schema on, reads the top-level statements
the server ran from `events_statements_history_long`, and compares them with
`aurora-migrate list DIR --statements --format json`: count, kind (SQL or a database switch), text,
and the database each statement ran in.

Documented differences that are not disagreements (README, "Where the splitter differs from the
client"): the sent text has comments stripped exactly as the client strips them, so texts compare
as they are, after trailing white space; a file aurora-migrate refuses agrees when the server also
failed at that point (an unterminated string, a client command it cannot run) and is reported
otherwise; a multi-statement packet the server stopped on an error agrees up to the failing
statement; the server logs every query without its trailing `;` and white space.

Deterministic for a seed: case N of seed S is always the same script. Disagreements are minimized
(shortest script that still disagrees the same way) and written to the output folder.

Usage: dev/fuzz [--seed S] [--cases N] [--first F] [--batch B] [--out DIR] [--bin PATH] [--keep-going]
Exit status: 0 when every case agrees, 1 when some disagree, 2 on a setup problem.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DATABASES = ["fz", "fz2", "fz`q"]

# --------------------------------------------------------------------------------------------------
# The generator


def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


class Gen:
    """Builds one random script; keeps the delimiter and sql_mode it believes are in force so that
    most of what it writes is valid, and mutates it with raw hostile fragments now and then."""

    def __init__(self, rng):
        self.r = rng
        self.delimiter = ";"
        self.no_backslash = False
        self.ansi_quotes = False
        self.out = []

    def pick(self, items):
        return items[self.r.randrange(len(items))]

    def chance(self, p):
        return self.r.random() < p

    # ---- small pieces

    def string_body(self, quote):
        pieces = [
            "a", "b c", ";", ";;", "$$", "//", "--", "-- x", "#", "/*", "*/", "/*!", "'", '"', "`",
            "\n", "\r\n", "é", "💩", "\t", "DELIMITER", "delimiter $$\n", "\\g", "\\G", "\\c", ":x",
            "BEGIN", "END", "\x01", "?", "\\d", "\\u fz2", "\\N",
        ]
        body = []
        for _ in range(self.r.randrange(4)):
            piece = self.pick(pieces)
            if piece == quote:
                piece = quote + quote
            elif piece in ("'", '"', "`"):
                pass
            body.append(piece)
        text = "".join(body)
        if quote != "`" and not self.no_backslash and not (quote == '"' and self.ansi_quotes):
            if self.chance(0.3):
                text += self.pick(["\\'", '\\"', "\\\\", "\\n", "\\;"])
        # Inside backticks and under NO_BACKSLASH_ESCAPES a backslash is a plain character: a
        # trailing one must not be left to escape the closing quote in our belief.
        if quote == "`" or self.no_backslash or (quote == '"' and self.ansi_quotes):
            text = text.replace("\\", "")
        else:
            # Escape the quote character where it appears unpaired via a backslash sequence.
            text = text.replace("\\" + quote + quote, "\\" + quote)
        return text

    def literal(self):
        kind = self.r.randrange(6)
        if kind == 0:
            return str(self.r.randrange(100))
        if kind == 1 or (kind == 2 and self.ansi_quotes):
            return "'" + self.string_body("'") + "'"
        if kind == 2:
            return '"' + self.string_body('"') + '"'
        if kind == 3:
            return "0x" + "".join(self.pick("0123456789ABCDEF") for _ in range(2 * self.r.randrange(1, 4)))
        if kind == 4:
            return "_utf8mb4'" + self.string_body("'") + "'"
        return "'" + self.string_body("'") + "' '" + self.string_body("'") + "'"

    def comment(self, inline=True):
        kind = self.r.randrange(9)
        body = self.pick(["", " x ", " ; ", " $$ ", " 'q ", " -- ", " /* ", " \\g ", " é "])
        if kind == 0 or not inline:
            return "-- " + body.replace("*/", "") + "\n"
        if kind == 1:
            return "#" + body + "\n"
        if kind == 2:
            return "--" + self.pick(["", "x", "-", "\t", "\x01"]) + body + "\n"
        if kind == 3:
            return "/*" + body.replace("*/", "") + "*/"
        if kind == 4:
            return "/*!" + self.pick(["", "40101", "99999", "50003"]) + " /* */ */".replace("/* */ ", "")
        if kind == 5:
            return "/*M!" + self.pick(["", "100101", "999999"]) + " */"
        if kind == 6:
            return "/**/"
        if kind == 7:
            return "/*\n" + body.replace("*/", "") + "\n*/"
        return "/* " + self.string_body("`").replace("*/", "") + " */"

    def space(self):
        return self.pick([" ", " ", "\n", "\r\n", "\t", "  ", "\n\n", " \r\n"])

    def gap(self):
        if self.chance(0.25):
            return self.space() + self.comment() + self.space()
        return self.space()

    # ---- statements

    def expr(self):
        e = self.literal()
        if self.chance(0.3):
            e += self.gap() + "+" + self.gap() + self.literal()
        return e

    def select(self):
        kind = self.r.randrange(10)
        if kind == 0:
            return "SELECT " + self.expr() + " AS " + quote_ident(self.string_body("`") or "c")
        if kind == 1:
            return "SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'"
        if kind == 2:
            return "/*!40101 SELECT " + self.expr() + " */"
        if kind == 3:
            return "/*!99999 SELECT nonsense ; */ SELECT " + self.expr()
        if kind == 4:
            return "SELECT 1 /*!99999 ; SELECT 2 */"
        if kind == 5:
            return "/*M!100101 SELECT " + self.expr() + " */"
        return "SELECT" + self.gap() + self.expr()

    def routine_body(self):
        d = self.pick(["SELECT 1; SELECT 2;", "SET @x = 'a;b'; SELECT @x;", "SELECT 1;", "DO 1; -- c;\n  DO 2;"])
        if self.chance(0.3):
            d = "lbl: BEGIN " + d + " END lbl;"
        return d

    def compound(self):
        kind = self.r.randrange(7)
        body = self.routine_body()
        if kind == 0:
            return "CREATE OR REPLACE PROCEDURE fz_p()" + self.gap() + "BEGIN " + body + " END"
        if kind == 1:
            return "CREATE OR REPLACE PROCEDURE fz_q() SELECT 'one;'"
        if kind == 2:
            return "CREATE OR REPLACE FUNCTION fz_f() RETURNS INT" + self.gap() + "BEGIN RETURN 1; END"
        if kind == 3:
            return "CREATE OR REPLACE TRIGGER fz_t BEFORE INSERT ON fz.t FOR EACH ROW BEGIN SET @a = 1; END"
        if kind == 4:
            return "BEGIN NOT ATOMIC " + body + " END"
        if kind == 5:
            return "lbl:" + self.pick(["", " "]) + "BEGIN NOT ATOMIC " + body + " END lbl"
        return "CREATE OR REPLACE DEFINER=CURRENT_USER PROCEDURE fz_p() BEGIN " + body + " END"

    def sql_mode(self):
        modes = self.pick(["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES", "ANSI"])
        self.no_backslash = "NO_BACKSLASH" in modes
        self.ansi_quotes = "ANSI" in modes
        form = self.pick(["SET sql_mode = '{}'", "SET SESSION sql_mode='{}'", "set @@sql_mode = '{}'"])
        return form.format(modes)

    def statement(self):
        kind = self.r.randrange(20)
        if kind < 7:
            return self.select()
        if kind == 7:
            return "DO " + self.expr()
        if kind == 8:
            return "SET @v = " + self.expr()
        if kind == 9:
            return "INSERT INTO fz.t VALUES (" + self.literal() + ")"
        if kind == 10:
            return self.sql_mode()
        if kind < 14:
            return self.compound()
        if kind == 14:
            return "CREATE TABLE IF NOT EXISTS fz.t2 (a int" + self.gap() + ")"
        if kind == 15:
            return "SELECT 1; SELECT 2" if self.delimiter != ";" else "SELECT 1"
        if kind == 16:
            return "SELECT 'x'" + self.gap() + "/* tail */"
        if kind == 17:
            return "SELECT 1 AS `a``b`"
        return "SELECT 1 --x\n"

    # ---- client commands

    def use(self):
        db = self.pick(DATABASES)
        form = self.r.randrange(4)
        if form == 0:
            return "USE " + quote_ident(db) + self.pick([";", "", " ;"]) + "\n"
        if form == 1 and "`" not in db:
            return "use " + db + self.pick([";", "", "\\g"]) + "\n"
        if form == 2 and "`" not in db:
            return "\\u " + db + "\n"
        return "USE " + quote_ident(db) + self.delimiter + "\n"

    def new_delimiter(self):
        d = self.pick(["$$", "//", ";;", "|", "@@", "$", "GO", "END_X", ";"])
        form = self.r.randrange(5)
        if form == 0:
            line = "DELIMITER " + d
        elif form == 1:
            line = "delimiter " + d + " "
        elif form == 2:
            line = "\\d " + d
        elif form == 3:
            line = "DELIMITER '" + d + "'"
        else:
            line = "  Delimiter\t" + d
        self.delimiter = d
        return line + self.pick(["\n", "\r\n"])

    def item(self):
        kind = self.r.randrange(12)
        if kind == 0:
            return self.use()
        if kind == 1:
            prefix = self.pick(["", "", "/* c */ ", "SELECT 0" + self.delimiter + " "])
            return prefix + self.new_delimiter()
        if kind == 2:
            return self.comment(inline=self.chance(0.5)) + self.pick(["", "\n"])
        text = self.statement()
        end = self.delimiter
        if self.chance(0.05) and self.delimiter == ";":
            end = "\\g"
        return text + self.pick(["", " ", "\n"]) + end + self.gap()

    def mutate(self, text):
        """Raw hostile fragments at random places (may well make the script invalid)."""
        fragments = [
            "--", "-- ", "#", "/*", "*/", "'", '"', "`", "\\", "\r", "\x1a", "\x01", "\t", ";", "$$",
            "\n--note;\n", "\\\n", "DELIMITER ;\n", ":", "/*!99999 ;*/", "\x0b",
        ]
        for _ in range(self.r.randrange(1, 3)):
            at = self.r.randrange(len(text) + 1)
            text = text[:at] + self.pick(fragments) + text[at:]
        return text

    def script(self):
        parts = []
        for _ in range(self.r.randrange(1, 7)):
            parts.append(self.item())
        text = "".join(parts)
        if self.chance(0.2):
            text = self.mutate(text)
        if self.chance(0.1):
            text = text.replace("\n", "\r\n").replace("\r\r\n", "\r\n")
        if self.chance(0.05):
            text += self.pick(["\x1a", "\x01\n", "\x1a\n"])
        return text


def generate(seed, n):
    return Gen(random.Random(f"{seed}:{n}")).script()


# --------------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, work):
        self.work = work
        self.data = os.path.join(work, "data")
        self.sock = os.path.join(work, "mysqld.sock")
        self.pid = None

    def start(self):
        # mariadb-install-db now and then fails when several start at once (parts of a soak): retry.
        for attempt in range(3):
            shutil.rmtree(self.data, ignore_errors=True)
            install = subprocess.run(
                ["mariadb-install-db", "--no-defaults", "--datadir=" + self.data, "--user=root",
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if install.returncode == 0:
                break
            if attempt == 2:
                raise RuntimeError("mariadb-install-db failed: " + install.stderr.decode(errors="replace"))
            time.sleep(1 + attempt)
        log = open(os.path.join(self.work, "mariadbd.log"), "w")
        proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--datadir=" + self.data, "--socket=" + self.sock,
             "--pid-file=" + os.path.join(self.work, "mysqld.pid"), "--skip-networking", "--user=root",
             "--tmpdir=" + self.work, "--character-set-server=utf8mb4",
             "--performance-schema=ON",
             "--performance-schema-consumer-events-statements-current=ON",
             "--performance-schema-consumer-events-statements-history-long=ON",
             "--performance-schema-events-statements-history-long-size=10000",
             "--performance-schema-max-sql-text-length=4096",
             "--general-log=ON", "--log-output=TABLE",
             "--innodb-buffer-pool-size=32M", "--skip-log-bin"],
            stdout=log, stderr=log)
        self.pid = proc.pid
        self.proc = proc
        for _ in range(300):
            if os.path.exists(self.sock):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.sock)
                    s.close()
                    break
                except OSError:
                    pass
            if proc.poll() is not None:
                raise RuntimeError("mariadbd exited: see " + log.name)
            time.sleep(0.1)
        else:
            raise RuntimeError("mariadbd did not start")
        setup = "".join(f"CREATE DATABASE {quote_ident(d)};" for d in DATABASES)
        setup += "CREATE TABLE fz.t (a TEXT);"
        self.sql(setup)

    def stop(self):
        if self.pid:
            os.kill(self.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.pid = None

    def client(self, *args):
        return ["mariadb", "--no-defaults", "-uroot", "--socket=" + self.sock,
                "--default-character-set=utf8mb4", *args]

    def sql(self, text):
        out = subprocess.run(self.client("-N", "-B"), input=text.encode(), check=True, capture_output=True)
        return out.stdout.decode()

    def run_case(self, marker, path):
        with open(path, "rb") as f:
            subprocess.run(self.client("--force", "--init-command=SET @fuzz_case = " + str(marker), "fz"),
                           stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def events(self):
        """Top-level statements per case marker: [(event_name, text, errno, schema)]."""
        rows = self.sql(
            "SELECT THREAD_ID, EVENT_NAME, HEX(IFNULL(SQL_TEXT,'')), IFNULL(MYSQL_ERRNO,0), "
            "HEX(IFNULL(CURRENT_SCHEMA,'')) FROM performance_schema.events_statements_history_long "
            "WHERE NESTING_EVENT_ID IS NULL ORDER BY THREAD_ID, EVENT_ID;"
            "TRUNCATE TABLE performance_schema.events_statements_history_long;")
        by_thread = {}
        for row in rows.splitlines():
            thread, name, text, errno, schema = row.split("\t")
            text = bytes.fromhex(text).decode("utf-8", "replace")
            schema = bytes.fromhex(schema).decode("utf-8", "replace")
            by_thread.setdefault(thread, []).append((name, text, int(errno), schema))
        out = {}
        for events in by_thread.values():
            marker = None
            kept = []
            for name, text, errno, schema in events:
                if text.startswith("SET @fuzz_case = ") and marker is None:
                    marker = int(text.split("=")[1])
                    continue
                if name in ("statement/com/Quit", "statement/com/Ping"):
                    continue
                if name == "statement/com/Init DB" and kept and kept[-1][1] == "SELECT DATABASE()":
                    kept.pop()  # the client asks for the current database before it switches
                kept.append((name, text, errno, schema))
            if marker is not None:
                out[marker] = kept
        return out


# --------------------------------------------------------------------------------------------------
# Comparison


def in_quotes(text):
    """Does `text` end inside a quoted string or name (backslash escapes, the default sql_mode)?"""
    quote = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote and c == "\\" and quote != "`":
            i += 2
            continue
        if quote and c == quote:
            quote = None
        elif not quote and c in "'\"`":
            quote = c
        i += 1
    return quote is not None


def server_statements(events):
    """(kind, text, errno, schema) per statement; a multi-statement packet's event texts hold the
    rest of the packet, so each is cut where the next one's text starts."""
    out = []
    for i, (name, text, errno, schema) in enumerate(events):
        kind = "use" if name in ("statement/com/Init DB", "statement/sql/change_db") else "sql"
        if i + 1 < len(events):
            following = events[i + 1][1]
            head = text[: len(text) - len(following)].rstrip()
            # Only where a `;` outside quotes separates them: two packets may well end alike.
            if following and text.endswith(following) and head.endswith(";") and not in_quotes(head):
                text = head[:-1]
        out.append((kind, text.rstrip(), errno, schema, name))
    return out


# Refusals documented as deliberate (README, "Where the splitter differs from the client"): the
# client would drop text silently or act on itself, so aurora-migrate stops with an error instead.
DELIBERATE = {
    "unterminated /* comment": "an unterminated /* comment (the client drops the rest of the file)",
    "is a mysql client command": "a client command the Data API cannot run",
    "USE` is followed by": "text after USE's argument (the client drops it)",
    "bad DELIMITER command": "a DELIMITER the client misreads or rejects",
    "inside a /*! version comment": "a /* comment inside a /*! version comment (client and server disagree)",
    "starts a comment for the server but not for the mysql client":
        "`--` before a control character with a quote after it (client and server disagree)",
    "unterminated string": "an unterminated quote (the client sends the rest of the file as it is)",
    "unterminated quoted identifier": "an unterminated quote (the client sends the rest of the file as it is)",
}


def deliberate(ours):
    for pattern, reason in DELIBERATE.items():
        if ours.get("error") and pattern in ours["error"]:
            return reason
    return None


def as_logged(text):
    """performance_schema keeps SQL_TEXT in 3-byte utf8: each byte of a 4-byte character reads `?`."""
    return "".join("????" if ord(c) > 0xFFFF else c for c in text)


def compare(ours, events):
    """None when they agree, else a short signature and a description."""
    # An empty statement (`;` under another delimiter) is an error for the server; ours drops it.
    server = [
        s for s in server_statements(events) if not (s[0] == "sql" and s[2] and not s[1].strip("; \t\r\n"))
    ]
    statements = ours["statements"]
    database = "fz"
    i = j = 0
    while i < len(statements) or j < len(server):
        if i >= len(statements):
            if ours.get("error"):
                if server[j][2]:
                    return None  # both refuse the same broken text
                if deliberate(ours):
                    return "deliberate", deliberate(ours)
                return "refuses", f"ours stops with `{ours['error']}`; the client ran {server[j][1]!r}"
            return "missing", f"the client ran more: {server[j][1]!r} ({server[j][4]})"
        mine = statements[i]
        if mine["kind"] == "use" and mine["database"] not in DATABASES and (j >= len(server) or server[j][0] != "use"):
            i += 1  # a USE of a database that does not exist fails for both; the client may not send it
            continue
        if j >= len(server):
            return "extra", f"we send more: {mine['text']!r} (line {mine['line']})"
        kind, text, errno, schema, name = server[j]
        if mine["kind"] != kind and not errno:
            return "kind", f"statement {i + 1}: ours is {mine['kind']} {mine['text']!r}, the client's is {name} {text!r}"
        if kind == "use":
            if not errno:
                database = mine["database"]
        else:
            theirs = text.rstrip()
            logged = as_logged(mine["text"])
            if logged.rstrip("; \t\r\n") == theirs:
                # The server drops trailing `;` and white space from every query it receives
                # (`alloc_query`), so a packet `x;` reads as `x`: the same packet.
                logged = theirs
            if logged != theirs:
                # An empty statement inside a chunk (`;;`) is an error for the server; ours drops it
                # (documented): the packet failed there, so what follows in it is not compared (the
                # client's text may differ from ours there, as its line breaks depend on the `;`).
                empty_first = theirs.lstrip(" \t\r\n").startswith(";")
                if errno and (empty_first or theirs.lstrip("; \t\r\n").startswith(logged)):
                    # The server stopped this packet on an error: the rest of it never ran.
                    chunk = mine["chunk"]
                    i += 1
                    while i < len(statements) and statements[i]["chunk"] == chunk:
                        i += 1
                    j += 1
                    continue
                return "text", f"statement {i + 1}: ours {mine['text']!r}, the client's {theirs!r}"
            if schema and schema != database and not errno:
                return "database", f"statement {i + 1} {theirs!r}: ours in {database!r}, the client's in {schema!r}"
        i += 1
        j += 1
    if ours.get("error"):
        if deliberate(ours):
            return "deliberate", deliberate(ours)
        return "refuses", f"ours stops with `{ours['error']}`; the client ran everything without error"
    return None


# --------------------------------------------------------------------------------------------------
# Driver


class Fuzzer:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.server = Server(work)
        self.marker = 0

    def ours(self, folder):
        out = subprocess.run([self.args.bin, "list", folder, "--statements", "--format", "json"],
                             capture_output=True)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            raise RuntimeError("aurora-migrate list failed: " + out.stderr.decode())
        if report["problems"]:
            raise RuntimeError("aurora-migrate list: " + "; ".join(report["problems"]))
        return {m["script"]: m for m in report["migrations"]}

    def run_batch(self, scripts):
        """Runs scripts (a list of texts); returns [(signature, description) or None] per script."""
        folder = tempfile.mkdtemp(dir=self.work)
        names = []
        markers = []
        for k, text in enumerate(scripts):
            name = f"V{k + 1}__case.sql"
            with open(os.path.join(folder, name), "wb") as f:
                f.write(text.encode("utf-8"))
            names.append(name)
        ours = self.ours(folder)
        for name in names:
            self.marker += 1
            markers.append(self.marker)
            self.server.run_case(self.marker, os.path.join(folder, name))
        events = self.server.events()
        shutil.rmtree(folder)
        return [compare(ours[name], events.get(marker, [])) for name, marker in zip(names, markers)]

    def minimize(self, text, signature):
        """Shortest text (by deleting lines, then characters) that still disagrees the same way."""
        def same(candidate):
            found = self.run_batch([candidate])[0]
            return found is not None and found[0] == signature

        for unit in ("lines", "chars"):
            changed = True
            while changed:
                changed = False
                pieces = text.splitlines(keepends=True) if unit == "lines" else list(text)
                size = max(1, len(pieces) // 2)
                while size >= 1:
                    k = 0
                    while k < len(pieces):
                        candidate = "".join(pieces[:k] + pieces[k + size:])
                        if candidate != text and candidate.strip() and same(candidate):
                            text = candidate
                            pieces = pieces[:k] + pieces[k + size:]
                            changed = True
                        else:
                            k += size
                    size //= 2
        return text

    def explain(self, path):
        with open(path, "rb") as f:
            text = f.read().decode()
        self.server.start()
        folder = tempfile.mkdtemp(dir=self.work)
        with open(os.path.join(folder, "V1__case.sql"), "wb") as f:
            f.write(text.encode())
        ours = self.ours(folder)["V1__case.sql"]
        self.marker += 1
        self.server.run_case(self.marker, os.path.join(folder, "V1__case.sql"))
        events = self.server.events().get(self.marker, [])
        print("script:", repr(text))
        for s in ours["statements"]:
            print("  ours:", s["kind"], s["chunk"], repr(s["text"]))
        if ours.get("error"):
            print("  ours: error", ours["error"])
        for kind, t, errno, schema, name in server_statements(events):
            print("  client:", name, errno, schema, repr(t))
        print("verdict:", compare(ours, events))
        return 0

    def run(self):
        a = self.args
        self.server.start()
        found = {}
        deliberate_counts = {}
        disagreements = 0
        started = time.time()
        n = 0
        while n < a.cases:
            count = min(a.batch, a.cases - n)
            scripts = [generate(a.seed, a.first + n + k) for k in range(count)]
            results = self.run_batch(scripts)
            for k, result in enumerate(results):
                if result is None:
                    continue
                if result[0] == "deliberate":
                    deliberate_counts[result[1]] = deliberate_counts.get(result[1], 0) + 1
                    continue
                disagreements += 1
                signature, description = result
                found.setdefault(signature, []).append((a.first + n + k, scripts[k], description))
                # Said at once, so that a soak stopped early still tells which cases disagreed.
                print(f"fuzz: case {a.first + n + k} disagrees ({signature}): {description}", file=sys.stderr)
            n += count
            rate = n / (time.time() - started)
            print(f"fuzz: {n}/{a.cases} cases, {disagreements} disagreement(s), {rate:.0f} cases/s",
                  file=sys.stderr)
        os.makedirs(a.out, exist_ok=True)
        summary = []
        for signature, cases in sorted(found.items()):
            for n_case, script, description in cases[: a.minimize]:
                small = self.minimize(script, signature)
                again = self.run_batch([small])[0]
                path = os.path.join(a.out, f"{signature}-{n_case}.sql")
                with open(path, "wb") as f:
                    f.write(small.encode())
                summary.append(f"{signature} (case {n_case}, {len(cases)} like it): "
                               f"{again[1] if again else description}\n    minimized: {small!r}  ({path})")
        first = f" (cases {a.first} to {a.first + n - 1})" if a.first else ""
        print(f"fuzz: seed {a.seed}{first}, {n} cases, {disagreements} disagreement(s) in "
              f"{time.time() - started:.0f} s")
        for reason, count in sorted(deliberate_counts.items()):
            print(f"documented deliberate refusal, {count} case(s): {reason}")
        for line in summary:
            print(line)
        return 1 if disagreements else 0


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--first", type=int, default=0, help="first case number (a soak can run in parts)")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--minimize", type=int, default=1, help="cases minimized per kind of disagreement")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "aurora-migrate-fuzz"))
    p.add_argument("--bin", default=os.path.join(target, "debug", "aurora-migrate"))
    p.add_argument("--show", type=int, help="print case N of the seed and exit")
    p.add_argument("--explain", help="run one script file, print both sides and the verdict")
    args = p.parse_args()
    if args.show is not None:
        sys.stdout.write(generate(args.seed, args.show))
        return 0
    for program in ("mariadb", "mariadbd", "mariadb-install-db"):
        if shutil.which(program) is None:
            print(f"fuzz: {program} is not on PATH (apt-get install mariadb-server mariadb-client)",
                  file=sys.stderr)
            return 2
    if not os.path.exists(args.bin):
        print(f"fuzz: {args.bin} is missing: run `cargo build --bin aurora-migrate` first", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="aurora-migrate-fuzz-")
    fuzzer = Fuzzer(args, work)
    try:
        if args.explain:
            return fuzzer.explain(args.explain)
        return fuzzer.run()
    finally:
        fuzzer.server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
