"""Stock MySQL drivers against the SQL gateway of a running chain.

PyMySQL speaks the text protocol (its parameters are quoted by the client); mysql-connector's
prepared cursor speaks the binary protocol (COM_STMT_PREPARE / EXECUTE). Each test names what it
proves. Environment: MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_KEY (an API key), MYSQL_DB (a
chain id), PLATFORM_URL (the platform's REST API, for the console's SQL endpoints). Run by
scripts/sql-clients.
"""

import json
import os
import threading
import urllib.error
import urllib.request
import socket
import unittest
import uuid

import mysql.connector
import pymysql

HOST = os.environ["MYSQL_HOST"]
PORT = int(os.environ["MYSQL_PORT"])
USER = os.environ["MYSQL_USER"]
KEY = os.environ["MYSQL_KEY"]
DB = os.environ["MYSQL_DB"]
PLATFORM = os.environ["PLATFORM_URL"]


def pymysql_connect(**kw):
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=KEY, database=DB,
                           autocommit=True, **kw)


def connector_connect(**kw):
    return mysql.connector.connect(host=HOST, port=PORT, user=USER, password=KEY, database=DB,
                                   use_pure=True, ssl_disabled=True, **kw)


def new_table(cursor):
    """A fresh table of orders (a ledger table is never dropped, so each test makes its own)."""
    name = "orders_" + uuid.uuid4().hex[:8]
    cursor.execute(
        f"CREATE TABLE {name} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
        "customer VARCHAR(32) NOT NULL, amount DOUBLE, qty INT, photo VARBINARY(64), "
        "placed DATE, INDEX by_customer (customer))")
    return name


class PyMySQL(unittest.TestCase):
    def setUp(self):
        self.conn = pymysql_connect()
        self.cur = self.conn.cursor()

    def tearDown(self):
        self.conn.close()

    def test_connect_answers_version_and_database(self):
        self.cur.execute("SELECT @@version_comment, DATABASE(), VERSION()")
        comment, db, version = self.cur.fetchone()
        self.assertIn("Consortia", comment)
        self.assertEqual(db, DB)
        self.assertTrue(version.startswith("8."))

    def test_show_databases_lists_the_chain(self):
        self.cur.execute("SHOW DATABASES")
        self.assertIn((DB,), self.cur.fetchall())

    def test_create_insert_and_select_back(self):
        t = new_table(self.cur)
        self.cur.execute(f"INSERT INTO {t} (customer, amount, qty) VALUES (%s, %s, %s)",
                         ("alice", 10.5, 2))
        self.assertEqual(self.cur.rowcount, 1)
        self.assertEqual(self.cur.lastrowid, 1)
        self.cur.execute(f"SELECT id, customer, amount, qty FROM {t}")
        self.assertEqual(self.cur.fetchall(), ((1, "alice", 10.5, 2),))

    def test_concurrent_inserts_of_one_user_all_commit(self):
        # Every INSERT is signed with the same managed key: the platform must hand out nonces
        # in step even when a node's pending count lags behind.
        t = new_table(self.cur)
        failures = []

        def writer(n):
            conn = pymysql_connect()
            try:
                for i in range(3):
                    conn.cursor().execute(f"INSERT INTO {t} (customer, qty) VALUES (%s, %s)",
                                          (f"w{n}", i))
            except pymysql.MySQLError as e:
                failures.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        self.cur.execute(f"SELECT COUNT(*) FROM {t}")
        self.assertEqual(self.cur.fetchone(), (24,))

    def test_multi_row_insert_reports_rows_and_first_id(self):
        t = new_table(self.cur)
        rows = [(f"c{i % 3}", float(i), i) for i in range(50)]
        self.cur.executemany(f"INSERT INTO {t} (customer, amount, qty) VALUES (%s, %s, %s)", rows)
        self.assertEqual(self.cur.rowcount, 50)
        self.cur.execute("SELECT LAST_INSERT_ID()")
        self.assertEqual(self.cur.fetchone(), (1,))
        self.cur.execute(f"SELECT COUNT(*) FROM {t}")
        self.assertEqual(self.cur.fetchone(), (50,))

    def test_filters_order_aggregates_and_group_by(self):
        t = new_table(self.cur)
        self.cur.execute(f"INSERT INTO {t} (customer, amount, qty) VALUES "
                         "('alice', 10, 1), ('bob', 3, 5), ('alice', 7, 2), ('carol', 1, 1)")
        self.cur.execute(f"SELECT customer, COUNT(*), SUM(amount) FROM {t} "
                         "GROUP BY customer ORDER BY customer")
        self.assertEqual(self.cur.fetchall(),
                         (("alice", 2, 17.0), ("bob", 1, 3.0), ("carol", 1, 1.0)))
        self.cur.execute(f"SELECT id FROM {t} WHERE amount > %s ORDER BY amount DESC LIMIT 2", (2,))
        self.assertEqual(self.cur.fetchall(), ((1,), (3,)))

    def test_join_of_two_ledger_tables(self):
        t = new_table(self.cur)
        c = "customers_" + uuid.uuid4().hex[:8]
        self.cur.execute(f"CREATE TABLE {c} (name VARCHAR(32) PRIMARY KEY, city TEXT)")
        self.cur.execute(f"INSERT INTO {c} VALUES ('alice', 'Paris'), ('bob', 'Lyon')")
        self.cur.execute(f"INSERT INTO {t} (customer, amount) VALUES ('alice', 4), ('bob', 6)")
        self.cur.execute(f"SELECT c.city, SUM(o.amount) FROM {t} o JOIN {c} c "
                         "ON o.customer = c.name GROUP BY c.city ORDER BY c.city")
        self.assertEqual(self.cur.fetchall(), (("Lyon", 6.0), ("Paris", 4.0)))

    def test_binary_and_date_values_round_trip(self):
        # A hex literal: PyMySQL sends bytes raw inside the statement, which must be UTF-8
        # here (opensrv-mysql reads statements as text; docs/architecture.md, SQL gateway).
        t = new_table(self.cur)
        self.cur.execute(f"INSERT INTO {t} (customer, photo, placed) "
                         "VALUES ('dan', X'00FF6279', '2026-12-03')")
        self.cur.execute(f"SELECT photo, placed FROM {t}")
        photo, placed = self.cur.fetchone()
        self.assertEqual(photo, b"\x00\xffby")
        self.assertEqual(str(placed), "2026-12-03")

    def test_rows_carry_their_signer_transaction_and_height(self):
        t = new_table(self.cur)
        self.cur.execute(f"INSERT INTO {t} (customer) VALUES ('erin')")
        self.cur.execute(f"SELECT _tx, _height, _signer, _row_hash FROM {t}")
        tx, height, signer, row_hash = self.cur.fetchone()
        self.assertRegex(tx, r"^0x[0-9a-f]{64}$")
        self.assertGreater(height, 0)
        self.assertRegex(signer, r"^0x[0-9a-fA-F]{40}$")
        self.assertRegex(row_hash, r"^0x[0-9a-f]{64}$")

    def assert_refused(self, sql, code):
        with self.assertRaises(pymysql.err.MySQLError) as caught:
            self.cur.execute(sql)
        self.assertEqual(caught.exception.args[0], code, caught.exception.args)

    def test_update_delete_drop_alter_truncate_replace_are_refused(self):
        t = new_table(self.cur)
        self.assert_refused(f"UPDATE {t} SET amount = 1", 1290)
        self.assert_refused(f"DELETE FROM {t}", 1290)
        self.assert_refused(f"DROP TABLE {t}", 1290)
        self.assert_refused(f"ALTER TABLE {t} ADD COLUMN x INT", 1290)
        self.assert_refused(f"TRUNCATE TABLE {t}", 1290)
        self.assert_refused(f"REPLACE INTO {t} (id, customer) VALUES (1, 'x')", 1290)

    def test_a_duplicate_primary_key_is_refused(self):
        t = new_table(self.cur)
        self.cur.execute(f"INSERT INTO {t} (id, customer) VALUES (7, 'x')")
        self.assert_refused(f"INSERT INTO {t} (id, customer) VALUES (7, 'y')", 1062)

    def test_bad_statements_get_mysql_errors_and_the_connection_stays(self):
        t = new_table(self.cur)
        self.assert_refused("SELEC 1", 1064)
        self.assert_refused("SELECT * FROM no_such_table", 1146)
        self.assert_refused(f"SELECT no_such_column FROM {t}", 1054)
        self.assert_refused(f"INSERT INTO {t} (customer) VALUES (NULL)", 1048)
        self.assert_refused(f"INSERT INTO {t} (customer, qty) VALUES ('x', 'many')", 1366)
        self.assert_refused(f"INSERT INTO {t} (customer) VALUES ('{'x' * 33}')", 1406)
        self.assert_refused("SELECT 'x' " + " " * (4 << 20), 1153)
        self.cur.execute("SELECT 1 + 1 AS two FROM " + t + " LIMIT 1")
        self.cur.execute("SELECT @@version_comment")
        self.assertIn("Consortia", self.cur.fetchone()[0])

    def test_a_wrong_key_is_refused(self):
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            pymysql.connect(host=HOST, port=PORT, user=USER, password=KEY + "x", database=DB)
        self.assertEqual(caught.exception.args[0], 1045)

    def test_an_unknown_database_is_refused(self):
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            pymysql.connect(host=HOST, port=PORT, user=USER, password=KEY, database="no_chain")
        self.assertEqual(caught.exception.args[0], 1049)



class Garbage(unittest.TestCase):
    def send(self, payload):
        with socket.create_connection((HOST, PORT), timeout=10) as s:
            s.recv(1024)  # the greeting
            s.sendall(payload)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass

    def test_garbage_an_http_request_and_half_a_handshake_leave_the_gateway_up(self):
        self.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.send(bytes(range(256)) * 4)
        self.send(b"\x20\x00\x00\x01\x85\xa6")  # a header promising more than comes
        with socket.create_connection((HOST, PORT), timeout=10) as s:
            s.close()
        conn = pymysql_connect()
        cur = conn.cursor()
        cur.execute("SELECT @@version_comment")
        self.assertIn("Consortia", cur.fetchone()[0])
        conn.close()


class Connector(unittest.TestCase):
    """mysql-connector-python's prepared cursor: the binary protocol."""

    def setUp(self):
        self.conn = connector_connect()
        self.cur = self.conn.cursor(prepared=True)
        self.text = self.conn.cursor()

    def tearDown(self):
        self.conn.close()

    def test_a_prepared_insert_commits_its_parameters(self):
        t = new_table(self.text)
        self.cur.execute(f"INSERT INTO {t} (customer, amount, qty, photo) VALUES (?, ?, ?, ?)",
                         ("alice", 2.5, 3, b"\x01\x02"))
        self.assertEqual(self.cur.rowcount, 1)
        self.text.execute(f"SELECT customer, amount, qty, photo FROM {t}")
        self.assertEqual(self.text.fetchall(), [("alice", 2.5, 3, bytearray(b"\x01\x02"))])

    def test_a_prepared_select_with_parameters_filters_aggregates_and_reads_dates(self):
        t = new_table(self.text)
        self.text.execute(f"INSERT INTO {t} (customer, amount, qty, placed) VALUES "
                          "('carol', 1.5, 2, '2026-01-02'), ('carol', 2, 1, '2026-03-04'), "
                          "('dave', 9, 9, NULL)")
        self.cur.execute(f"SELECT COUNT(*), SUM(amount), MAX(placed), MIN(id) FROM {t} "
                         "WHERE customer = ? AND qty >= ?", ("carol", 1))
        count, total, placed, first = self.cur.fetchone()
        self.assertEqual((count, total, first), (2, 3.5, 1))
        self.assertEqual(str(placed), "2026-03-04")

    def test_pipelined_statements_after_a_prepared_insert_stay_in_step(self):
        # mysql-connector sends COM_STMT_CLOSE and the next COM_STMT_PREPARE in one write;
        # opensrv-mysql 0.7.0 read the second from freed memory (vendor/opensrv-mysql).
        t = new_table(self.text)
        self.cur.execute(f"INSERT INTO {t} (customer, qty) VALUES (?, ?)", ("alice", 3))
        self.cur.execute(f"SELECT COUNT(*) FROM {t} WHERE qty >= ?", (1,))
        self.assertEqual(self.cur.fetchall(), [(1,)])
        self.cur.execute(f"INSERT INTO {t} (customer, qty) VALUES (?, ?)", ("bob", 5))
        self.cur.execute(f"SELECT customer FROM {t} WHERE qty > ? ORDER BY id", (0,))
        self.assertEqual(self.cur.fetchall(), [("alice",), ("bob",)])

    def test_caching_sha2_password_logs_in(self):
        conn = connector_connect(auth_plugin="caching_sha2_password")
        cur = conn.cursor()
        cur.execute("SELECT DATABASE()")
        self.assertEqual(cur.fetchone(), (DB,))
        conn.close()

    def test_a_prepared_update_is_refused(self):
        t = new_table(self.text)
        with self.assertRaises(mysql.connector.Error) as caught:
            self.cur.execute(f"UPDATE {t} SET qty = ? WHERE id = ?", (1, 1))
        self.assertEqual(caught.exception.errno, 1290)


def rest(method, path, body=None):
    """(status, JSON) of a platform REST call authenticated with the API key."""
    request = urllib.request.Request(
        f"{PLATFORM}/v1/chains/{DB}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def rest_sql(sql, **kw):
    return rest("POST", "/sql", {"sql": sql, **kw})


class PlatformRest(unittest.TestCase):
    """The REST endpoints behind the console's SQL page."""

    def new_rest_table(self):
        name = "rest_" + uuid.uuid4().hex[:8]
        status, body = rest_sql(f"CREATE TABLE {name} (id INT PRIMARY KEY, note VARCHAR(20))")
        self.assertEqual(status, 200, body)
        return name

    def test_a_statement_inserts_and_a_select_reads_it_back(self):
        t = self.new_rest_table()
        status, wrote = rest_sql(f"INSERT INTO {t} VALUES (1, 'a'), (2, 'b')")
        self.assertEqual((status, wrote["affected_rows"]), (200, 2), wrote)
        status, read = rest_sql(f"SELECT id, note FROM {t} ORDER BY id",
                                min_height=wrote["height"])
        self.assertEqual(status, 200, read)
        self.assertEqual([c["name"] for c in read["columns"]], ["id", "note"])
        self.assertEqual(read["rows"], [[1, "a"], [2, "b"]])

    def test_an_update_is_refused_with_its_mysql_code(self):
        t = self.new_rest_table()
        status, body = rest_sql(f"UPDATE {t} SET note = 'x'")
        self.assertEqual((status, body["code"]), (400, "sql_refused"), body)
        self.assertIn("ERROR 1290 (HY000)", body["message"])

    def test_the_tables_come_with_their_schemas(self):
        t = self.new_rest_table()
        status, tables = rest("GET", "/sql/tables")
        self.assertEqual(status, 200, tables)
        table = next(x for x in tables if x["name"] == t)
        self.assertEqual(table["primary_key"], ["id"])
        self.assertEqual([c["type"] for c in table["columns"]], ["int", "varchar(20)"])

    def test_a_row_is_proven_from_the_genesis(self):
        t = self.new_rest_table()
        rest_sql(f"INSERT INTO {t} VALUES (7, 'proven')")
        status, proof = rest("POST", "/sql/verify", {"table": t, "key": ["7"]})
        self.assertEqual(status, 200, proof)
        self.assertTrue(proof["projection_matches"], proof)
        row = dict(zip(proof["columns"], proof["values"]))
        self.assertEqual((row["id"], row["note"]), (7, "proven"))
        self.assertEqual(proof["headers"], proof["certificate"]["height"])
        self.assertEqual(proof["row_proof"]["state_root"], proof["certificate"]["state_root"])

    def test_a_missing_row_is_proven_absent(self):
        t = self.new_rest_table()
        status, body = rest("POST", "/sql/verify", {"table": t, "key": ["99"]})
        self.assertEqual(status, 404, body)
        self.assertIn("proven absent", body["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
