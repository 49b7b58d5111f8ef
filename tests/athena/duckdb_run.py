#!/usr/bin/env python3
"""Runs ctlookup's Athena SQL (Trino dialect) on DuckDB, over CloudTrail records loaded the way Athena's
JSON SerDe reads them into the documented CloudTrail table: the stand-in engine of the SQL compiler's
tests (src/query/sql.rs).

usage:
  duckdb_run.py --ddl DDL RECORDS [SQL]          prints the eventIDs the query matches, one a line
                                                 (the SQL from standard input when not given)
  duckdb_run.py --ddl DDL RECORDS --batch QUERIES
        QUERIES holds one JSON object a line, {"id": …, "sql": …}; prints one a line, in order,
        {"id": …, "ids": [eventID, …]} or {"id": …, "error": "…"}

  duckdb_run.py --ddl DDL RECORDS --rows [SQL]
        prints one JSON object: {"columns": [{"name": …, "type": …}], "rows": [[text or null, …], …]},
        every value as Athena's GetQueryResults gives it (text, NULL as null), or {"error": "…"}: what the
        fake Athena endpoint of crates/fake-cloudtrail answers with

DDL is the CREATE EXTERNAL TABLE text (ctlookup's, from src/query/ddl.rs): its columns and struct types
become the DuckDB table. RECORDS holds CloudTrail records as JSON Lines. The partitions are those of a
trail's S3 layout: `account` the recipientAccountId, `region` the awsRegion and `timestamp` the day
(yyyy/MM/dd) of delivery, which is the event's time plus up to 15 minutes (fixed per eventID).

The SQL is parsed as Trino and written as DuckDB by sqlglot; what DuckDB lacks is provided: any_match
becomes len(list_filter(…)) > 0, and contains(CIDR, TRY_CAST(x AS IPADDRESS)) a Python function with
Trino's rules (an IPv4 address is the IPv4-mapped IPv6 address, a text that is no address is NULL).
"""

import argparse
import datetime
import hashlib
import ipaddress
import json
import re
import sys

import duckdb
import sqlglot
from sqlglot import exp

# ----------------------------------------------------------------------------------------------------
# The table


def parse_type(text, i):
    """Parses a Hive type at text[i:]; returns (type, next index). Types: "STRING", ("MAP",),
    ("STRUCT", [(name, type)]), ("ARRAY", type)."""
    m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(text, i)
    word = m.group(1).upper()
    i = m.end()
    if word == "STRING":
        return "STRING", i
    if word == "MAP":
        close = text.index(">", i)
        return ("MAP",), close + 1
    if word == "ARRAY":
        assert text[i] == "<", text[i:]
        inner, i = parse_type(text, i + 1)
        i = skip(text, i)
        assert text[i] == ">", text[i:]
        return ("ARRAY", inner), i + 1
    if word == "STRUCT":
        assert text[i] == "<", text[i:]
        i += 1
        fields = []
        while True:
            m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:").match(text, i)
            name = m.group(1).lower()
            field_type, i = parse_type(text, m.end())
            fields.append((name, field_type))
            i = skip(text, i)
            if text[i] == ",":
                i += 1
                continue
            assert text[i] == ">", text[i:]
            return ("STRUCT", fields), i + 1
    raise ValueError(f"unknown type {word}")


def skip(text, i):
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def columns_of(ddl):
    """The (name, type) columns of a CREATE EXTERNAL TABLE text."""
    start = ddl.index("(") + 1
    end = ddl.index("PARTITIONED BY")
    body = ddl[start:end]
    body = body[: body.rindex(")")]
    columns = []
    i = 0
    while True:
        i = skip(body, i)
        if i >= len(body):
            return columns
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+").match(body, i)
        column_type, i = parse_type(body, m.end())
        columns.append((m.group(1).lower(), column_type))
        i = skip(body, i)
        if i < len(body):
            assert body[i] == ",", body[i:]
            i += 1


def duckdb_type(t):
    if t == "STRING":
        return "VARCHAR"
    if t[0] == "MAP":
        return "MAP(VARCHAR, VARCHAR)"
    if t[0] == "ARRAY":
        return duckdb_type(t[1]) + "[]"
    return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(ft)}' for name, ft in t[1]) + ")"


def lookup(obj, name):
    """The JSON SerDe matches keys without regard to case."""
    for key, value in obj.items():
        if key.lower() == name:
            return value
    return None


def serde(value, t):
    """A JSON value as a column of type t holds it."""
    if value is None:
        return None
    if t == "STRING":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if t[0] == "MAP":
        if not isinstance(value, dict):
            return None
        return {k: serde(v, "STRING") for k, v in value.items()}
    if t[0] == "ARRAY":
        if not isinstance(value, list):
            return None
        return [serde(v, t[1]) for v in value]
    if not isinstance(value, dict):
        return None
    return {name: serde(lookup(value, name), ft) for name, ft in t[1]}


def delivery_day(record):
    """The day of the S3 partition that holds the record: its time plus up to 15 minutes."""
    when = datetime.datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    delay = int(hashlib.sha256(str(record.get("eventID")).encode()).hexdigest(), 16) % 901
    return (when + datetime.timedelta(seconds=delay)).strftime("%Y/%m/%d")


def load(con, ddl, records_path, table):
    columns = columns_of(ddl)
    definition = ", ".join(f'"{name}" {duckdb_type(t)}' for name, t in columns)
    con.execute(f'CREATE TABLE "{table}" ({definition}, account VARCHAR, region VARCHAR, "timestamp" VARCHAR)')
    rows = []
    with open(records_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            row = [serde(lookup(record, name), t) for name, t in columns]
            row += [record.get("recipientAccountId"), record.get("awsRegion"), delivery_day(record)]
            rows.append(row)
    marks = ", ".join("?" for _ in range(len(columns) + 3))
    con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)


# ----------------------------------------------------------------------------------------------------
# Trino's functions that DuckDB lacks


def to16(address):
    if address.version == 4:
        return int(ipaddress.IPv6Address("::ffff:" + str(address)))
    return int(address)


def cidr_contains(network, text):
    """Trino's contains(network, address) with the address TRY_CAST from text."""
    if network is None or text is None or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    net = ipaddress.ip_network(network, strict=False)
    bits = net.prefixlen + (96 if net.version == 4 else 0)
    shift = 128 - bits
    return (to16(address) >> shift) == (to16(net.network_address) >> shift)


def register(con):
    try:
        from duckdb.sqltypes import BOOLEAN, VARCHAR
    except ImportError:  # before DuckDB 1.4
        from duckdb.typing import BOOLEAN, VARCHAR
    con.create_function("cidr_contains", cidr_contains, [VARCHAR, VARCHAR], BOOLEAN, null_handling="special")


def rewrite(node):
    if isinstance(node, exp.Anonymous) and node.name.lower() == "any_match":
        values, predicate = node.expressions
        filtered = exp.Anonymous(this="list_filter", expressions=[values, predicate])
        return exp.GT(this=exp.Anonymous(this="len", expressions=[filtered]), expression=exp.Literal.number(0))
    if (
        isinstance(node, exp.ArrayContains)
        and isinstance(node.this, exp.Literal)
        and isinstance(node.expression, exp.TryCast)
        and node.expression.to.this == exp.DataType.Type.IPADDRESS
    ):
        return exp.Anonymous(this="cidr_contains", expressions=[node.this, node.expression.this])
    return node


def translate(sql):
    """Trino SQL as DuckDB runs it."""
    tree = sqlglot.parse_one(sql, read="trino")
    # Innermost first: a lambda may hold another any_match.
    for node in reversed(list(tree.walk())):
        replaced = rewrite(node)
        if replaced is not node:
            if node is tree:
                tree = replaced
            else:
                node.replace(replaced)
    return tree.sql(dialect="duckdb")


def event_ids(con, sql):
    rows = con.execute(f"SELECT eventid FROM ({translate(sql)}) AS q").fetchall()
    return sorted(row[0] for row in rows)


def athena_type(duckdb_type):
    """The type name Athena's ColumnInfo gives for a DuckDB result type."""
    name = str(duckdb_type).upper()
    for prefix, athena in [("VARCHAR", "varchar"), ("BIGINT", "bigint"), ("INTEGER", "integer"),
                           ("BOOLEAN", "boolean"), ("DOUBLE", "double"), ("TIMESTAMP", "timestamp"),
                           ("DATE", "date"), ("HUGEINT", "bigint")]:
        if name.startswith(prefix):
            return athena
    return "varchar"


def text_of(value):
    """A value as Athena's VarCharValue writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def rows(con, sql):
    try:
        cursor = con.execute(translate(sql))
        columns = [{"name": d[0], "type": athena_type(d[1])} for d in cursor.description]
        return {"columns": columns, "rows": [[text_of(v) for v in row] for row in cursor.fetchall()]}
    except Exception as e:  # the fake answers FAILED with this reason
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ddl", required=True, help="file with the CREATE EXTERNAL TABLE text")
    parser.add_argument("--table", default="cloudtrail_logs")
    parser.add_argument("--batch", help="file of {\"id\", \"sql\"} JSON lines")
    parser.add_argument("--rows", action="store_true", help="print the result rows as JSON")
    parser.add_argument("records")
    parser.add_argument("sql", nargs="?")
    args = parser.parse_args()
    with open(args.ddl, encoding="utf-8") as f:
        ddl = f.read()
    con = duckdb.connect()
    register(con)
    load(con, ddl, args.records, args.table)
    if args.batch:
        with open(args.batch, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                query = json.loads(line)
                try:
                    answer = {"id": query["id"], "ids": event_ids(con, query["sql"])}
                except Exception as e:  # reported per query, so that one bad query does not hide the rest
                    answer = {"id": query["id"], "error": f"{type(e).__name__}: {e}"}
                print(json.dumps(answer, ensure_ascii=False))
        return
    sql = args.sql if args.sql is not None else sys.stdin.read()
    if args.rows:
        print(json.dumps(rows(con, sql), ensure_ascii=False))
        return
    for event_id in event_ids(con, sql):
        print(event_id)


if __name__ == "__main__":
    main()
