"""`sluice serve`: answers equal numpy on the snapshot's parameters for every model kind, malformed
requests get a 4xx with a JSON message while the server stays up, and under a load of concurrent
clients the served version follows CURRENT and an alias (a damaged version refused) with every
answer matching the version it names and none failing.

Every comparison prints its measured error on stderr ("measured: ..."), so a passing run also
documents how close each one came.
"""

import http.client
import json
import os
import re
import select
import signal
import sys
import threading
import time

import numpy as np

import sluice_e2e as e2e

ROWS_PER_PARTITION = 400
FEATURES = [f"f{j}" for j in range(4)]
# Long enough for a loaded 2-core CI machine; the watcher polls every POLL_MS.
SWITCH_DEADLINE_S = 10.0
POLL_MS = 50


def measured(what, value):
    print(f"  measured: {what}: {value}", file=sys.stderr)


# ---------------------------------------------------------------- lakes and models


def write_lake(root, X, y=None, partitions=2):
    for p, rows in enumerate(np.array_split(np.arange(len(X)), partitions)):
        columns = {name: X[rows, j] for j, name in enumerate(FEATURES)}
        if y is not None:
            columns["y"] = y[rows]
        e2e.write_partition(os.path.join(root, f"part={p}", "data.h5"), columns)
    return root


def tables(rng):
    n = 2 * ROWS_PER_PARTITION
    X = rng.normal(size=(n, 4)) * np.array([1.0, 3.0, 0.5, 2.0]) + np.array([0.5, -1.0, 2.0, 0.0])
    ridge_y = X @ np.array([0.7, -0.3, 1.5, 0.2]) + 4.0 + rng.normal(scale=0.5, size=n)
    logistic_y = (rng.random(n) < 1 / (1 + np.exp(-(X @ np.array([0.8, -0.4, 0.6, 0.3]) - 0.2)))).astype(float)
    centres = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, 8]], dtype=float)
    blobs = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 4))
    return X, ridge_y, logistic_y, blobs


MODELS = {
    "ridge": {"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 1.0},
    "logistic": {"kind": "logistic", "features": FEATURES, "label": "y"},
    "kmeans": {"kind": "kmeans", "features": FEATURES, "k": 3},
    "pca": {"kind": "pca", "features": FEATURES, "components": 3, "whiten": True},
}


def expected_outputs(snap, X):
    """The outputs a snapshot must give for rows X, computed from its parameters with numpy."""
    p = snap["params"]
    kind = snap["kind"]
    if kind in ("ridge", "ols"):
        return {"prediction": X @ snap["coefficients"] + snap["intercept"]}
    if kind == "logistic":
        probability = 1 / (1 + np.exp(-(X @ snap["coefficients"] + snap["intercept"])))
        return {"probability": probability, "class": (probability >= 0.5).astype(float)}
    if kind == "kmeans":
        distances = np.sqrt(((X[:, None, :] - p["centers"][None, :, :]) ** 2).sum(axis=2))
        return {"cluster": np.argmin(distances, axis=1).astype(float), "distance": distances.min(axis=1)}
    if kind == "pca":
        scores = (X - p["mean"]) @ p["components"].T
        if int(p["whiten"]):
            scores = scores / np.sqrt(p["explained_variance"])
        return {f"pc{c}": scores[:, c] for c in range(scores.shape[1])}
    raise AssertionError(f"no reference for kind {kind}")


def max_error(actual, expected, X, snap, name):
    """Error relative to the size of the terms summed (the sum's own condition)."""
    actual = np.asarray(actual, dtype=np.float64)
    if name in ("class", "cluster"):
        return float(np.max(np.abs(actual - expected)))
    scale = np.abs(X).sum(axis=1) * max(1.0, float(np.max(np.abs(expected)))) + 1.0
    return float(np.max(np.abs(actual - expected) / scale))


def publish(testcase, directory, lake, model, registry, name):
    """`sluice run` of a job that must publish; returns the snapshot read with h5py."""
    job = e2e.write_job(os.path.join(directory, f"{name}-{time.monotonic_ns()}.toml"),
                        lake={"path": lake}, model=model, publish={"registry": registry, "name": name})
    result = e2e.sluice(["run", job])
    testcase.assertEqual(result.returncode, 0, result.describe())
    match = re.search(r"^published (\S+\.h5)", result.stdout, re.MULTILINE)
    testcase.assertIsNotNone(match, result.describe())
    return e2e.read_snapshot(match.group(1))


# ---------------------------------------------------------------- the server


class Server:
    """A `sluice serve` process on a free port, stopped (and checked) by stop()."""

    def __init__(self, testcase, args, timeout=30):
        self.testcase = testcase
        self.args = ["serve", "--port", "0", "--poll-ms", POLL_MS] + list(args)
        self.process = e2e.start(self.args)
        self.port = None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and self.process.poll() is None:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline()
                match = re.search(r"^serving .* on http://127\.0\.0\.1:(\d+)$", line.strip())
                if match:
                    self.port = int(match.group(1))
                    break
        if self.port is None:
            e2e.kill_group(self.process)
            _, stderr = self.process.communicate()
            raise AssertionError(f"sluice {' '.join(map(str, self.args))} did not start: {line!r}\n{stderr}")
        self.first_line = line

    def request(self, method, path, body=None, connection=None):
        """(status, parsed JSON, content type) of one request (on a fresh connection unless given)."""
        conn = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data), response.getheader("Content-Type")
        finally:
            if connection is None:
                conn.close()

    def predict(self, body, connection=None):
        return self.request("POST", "/v1/predict", body if isinstance(body, bytes) else json.dumps(body).encode(),
                            connection)

    def version(self):
        status, health, _ = self.request("GET", "/v1/health")
        self.testcase.assertEqual(status, 200, health)
        return health["version"], health["last_refresh_error"]

    def wait_for_version(self, version, what):
        """Seconds until /v1/health reports `version` (fails after SWITCH_DEADLINE_S)."""
        start = time.monotonic()
        while time.monotonic() - start < SWITCH_DEADLINE_S:
            if self.version()[0] == version:
                elapsed = time.monotonic() - start
                measured(f"{what}: served version {version} after", f"{elapsed:.3f} s")
                return elapsed
            time.sleep(0.01)
        self.testcase.fail(f"{what}: version {version} not served within {SWITCH_DEADLINE_S} s "
                           f"(health: {self.version()})")

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and checks a clean exit: code 0, 'stopped' on stdout."""
        self.process.send_signal(sig)
        try:
            stdout, stderr = self.process.communicate(timeout=30)
        except Exception:
            e2e.kill_group(self.process)
            raise
        result = e2e.Result(self.args, self.process.returncode, self.first_line + stdout, stderr).check_sanitizers()
        self.testcase.assertEqual(result.returncode, 0, result.describe())
        self.testcase.assertIn("stopped", stdout, result.describe())
        return result

    def kill(self):
        if self.process.poll() is None:
            e2e.kill_group(self.process)
            self.process.communicate()


class ServeTestCase(e2e.TempDirTestCase):
    def serve(self, *args, **kwargs):
        server = Server(self, args, **kwargs)
        self.addCleanup(server.kill)
        return server


# ---------------------------------------------------------------- every kind against numpy


class KindsTest(ServeTestCase):
    def test_every_kind_answers_as_numpy_computes_from_the_snapshot(self):
        rng = np.random.default_rng(7)
        X, ridge_y, logistic_y, blobs = tables(rng)
        lakes = {"ridge": (X, ridge_y), "logistic": (X, logistic_y), "kmeans": (blobs, None), "pca": (X, None)}
        registry = self.path("registry")
        for kind, model in MODELS.items():
            rows, label = lakes[kind]
            lake = write_lake(self.path(f"lake-{kind}"), rows, label)
            snap = publish(self, self.dir, lake, model, registry, kind)
            server = self.serve("--registry", registry, "--model", kind)
            self.assertIn(f"serving {kind} version 1 ({kind})", server.first_line)
            # Rows the model was trained on plus new ones far outside them.
            Q = np.vstack([rows[:40], rng.normal(scale=20.0, size=(10, 4))])
            expected = expected_outputs(snap, Q)
            # Columns in another order than the model's: placed by name.
            by_columns = {"columns": {name: Q[:, FEATURES.index(name)].tolist() for name in reversed(FEATURES)}}
            by_rows = {"rows": [{name: float(Q[i, j]) for j, name in enumerate(FEATURES)} for i in range(len(Q))]}
            for form, body in (("columns", by_columns), ("rows", by_rows)):
                status, answer, content_type = server.predict(body)
                self.assertEqual(status, 200, answer)
                self.assertEqual(content_type, "application/json")
                self.assertEqual(answer["model"], kind)
                self.assertEqual(answer["version"], 1)
                self.assertEqual(answer["kept"], [True] * len(Q))
                self.assertEqual(sorted(answer["outputs"]), sorted(expected), answer)
                for name, values in expected.items():
                    error = max_error(answer["outputs"][name], values, Q, snap, name)
                    measured(f"{kind} {form} {name} vs numpy", f"{error:.3e} (tolerance 1e-12)")
                    self.assertLessEqual(error, 1e-12, f"{kind} {name}: {answer['outputs'][name][:5]} "
                                                       f"vs {values[:5]}")
            # A single row, as latency-bound clients send it.
            status, answer, _ = server.predict({"rows": [by_rows["rows"][3]]})
            self.assertEqual(status, 200, answer)
            for name, values in expected.items():
                self.assertLessEqual(max_error(answer["outputs"][name], values[3:4], Q[3:4], snap, name), 1e-12)
            status, metadata, _ = server.request("GET", "/v1/metadata")
            self.assertEqual(status, 200, metadata)
            self.assertEqual((metadata["model"], metadata["version"], metadata["kind"]), (kind, 1, kind))
            self.assertEqual(metadata["raw_columns"], FEATURES)
            self.assertEqual(metadata["outputs"], snap["outputs"])
            self.assertEqual(metadata["num_rows"], len(rows))
            for metric, value in snap["metrics"].items():
                if metric in metadata["metrics"]:
                    self.assertEqual(metadata["metrics"][metric], value, metric)
            self.assertEqual(server.version(), (1, None))
            server.stop(signal.SIGINT if kind == "pca" else signal.SIGTERM)


# ---------------------------------------------------------------- malformed requests


class MalformedTest(ServeTestCase):
    def setUp(self):
        super().setUp()
        X, y, _, _ = tables(np.random.default_rng(3))
        self.snap = publish(self, self.dir, write_lake(self.path("lake"), X, y), MODELS["ridge"],
                            self.path("registry"), "m")
        self.server = self.serve("--registry", self.path("registry"), "--model", "m",
                                 "--max-body-bytes", "4096", "--threads", "4")

    def assert_still_serving(self, after):
        row = {name: 1.0 for name in FEATURES}
        status, answer, _ = self.server.predict({"rows": [row]})
        self.assertEqual(status, 200, f"after {after}: {answer}")
        expected = self.snap["coefficients"].sum() + self.snap["intercept"]
        self.assertAlmostEqual(answer["outputs"]["prediction"][0], expected, delta=1e-12 * abs(expected) + 1e-12)

    def test_bad_requests_get_4xx_with_a_message_and_the_server_stays_up(self):
        good = {name: [1.0, 2.0] for name in FEATURES}
        cases = [
            (b"", 400, "invalid JSON"),
            (b"{\"columns\": {\"f0\": [1,", 400, "invalid JSON"),
            (b"not json", 400, "invalid JSON"),
            (b"[1, 2]", 400, "must be a JSON object"),
            (json.dumps({"columns": {k: v for k, v in good.items() if k != "f2"}}).encode(), 400, "missing column 'f2'"),
            (json.dumps({"columns": {**good, "extra": [1.0, 2.0]}}).encode(), 400, "unknown column 'extra'"),
            (json.dumps({"columns": {**good, "f1": [1.0, "2"]}}).encode(), 400, "column 'f1', row 1: expected a number"),
            (json.dumps({"columns": {**good, "f3": [1.0]}}).encode(), 400, "columns differ in length"),
            (json.dumps({"columns": {**good, "f0": [None, 1.0]}}).encode(), 400, "got null"),
            (json.dumps({"rows": [{"f0": 1.0}]}).encode(), 400, "rows[0]: missing column 'f1'"),
            (json.dumps({"rows": [{**{k: 1.0 for k in FEATURES}, "f9": 2}]}).encode(), 400, "rows[0]: unknown column 'f9'"),
            (json.dumps({"rows": []}).encode(), 400, "no rows"),
            (json.dumps({"rows": [1.0]}).encode(), 400, "rows[0] must be an object"),
            (json.dumps({"colums": good}).encode(), 400, "unknown key \"colums\""),
            (b"{\"columns\": {\"f0\": [1e999]}}", 400, "number overflow"),
            (json.dumps({"columns": {k: [1.0] * 2000 for k in FEATURES}}).encode(), 413, "larger than 4096 bytes"),
        ]
        for body, status, message in cases:
            got, answer, content_type = self.server.predict(body)
            self.assertEqual(got, status, f"{body[:80]!r}: {answer}")
            self.assertEqual(content_type, "application/json", body[:80])
            self.assertIn(message, answer["error"], f"{body[:80]!r}")
            self.assert_still_serving(body[:40])
        for method, path in (("GET", "/v1/predict"), ("POST", "/v1/health"), ("GET", "/nowhere")):
            status, answer, _ = self.server.request(method, path, body=b"{}" if method == "POST" else None)
            self.assertEqual(status, 404, answer)
            self.assertIn(f"no endpoint {method} {path}", answer["error"])
        # A chunked body (no Content-Length) would not be bounded: refused before it is read.
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("POST", "/v1/predict", body=iter([b"{\"rows\": []}"]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = conn.getresponse()
        self.assertEqual(response.status, 411)
        self.assertIn("Content-Length header is required", json.loads(response.read())["error"])
        conn.close()
        self.assert_still_serving("a chunked body")
        # A client that sends half a request and goes away.
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.putrequest("POST", "/v1/predict")
        conn.putheader("Content-Length", "1000")
        conn.endheaders(b"{\"columns\":")
        conn.close()
        self.assert_still_serving("an abandoned request")
        self.server.stop()

    def test_command_line_errors_exit_with_their_class(self):
        cases = [
            (["--registry", self.path("nowhere"), "--model", "m"], 3, "nowhere"),
            (["--registry", self.path("registry"), "--model", "other"], 3, "other"),
            (["--registry", self.path("registry"), "--model", "m@7"], 3, "7"),
            (["--registry", self.path("registry"), "--model", "m@staging"], 3, "staging"),
            (["--registry", self.path("registry")], 3, "--model"),
            (["--snapshot", self.path("missing.h5")], 4, "missing.h5"),
            (["--registry", self.path("registry"), "--model", "m", "--port", str(self.server.port)], 6,
             f"127.0.0.1:{self.server.port}"),
        ]
        for args, code, text in cases:
            result = e2e.sluice(["serve"] + args, timeout=30)
            e2e.expect_error(self, result, text, code=code)
        result = e2e.sluice(["serve", "--registry", self.path("registry"), "--model", "m", "--port", "70000"])
        self.assertNotEqual(result.returncode, 0, result.describe())  # the option parser's range check
        self.assertIn("--port: Value 70000 not in range", result.stderr)
        self.server.stop()


# ---------------------------------------------------------------- version switch under load


class LoadLoop:
    """Client threads posting the same rows to several servers until stopped; every answer and
    every failure is kept for checking afterwards."""

    def __init__(self, servers, Q, threads_per_server=2):
        self.body = json.dumps({"columns": {name: Q[:, j].tolist() for j, name in enumerate(FEATURES)}}).encode()
        self.answers = {label: [] for label in servers}
        self.failures = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(label, server), daemon=True)
                        for label, server in servers.items() for _ in range(threads_per_server)]

    def run(self, label, server):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine = []
        while not self.stopping.is_set():
            try:
                conn.request("POST", "/v1/predict", body=self.body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    self.failures.append((label, response.status, data[:200]))
                    continue
                answer = json.loads(data)
                mine.append((answer["version"], answer["outputs"]["prediction"]))
            except Exception as error:  # a dropped connection is a failure too
                self.failures.append((label, "exception", repr(error)))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.close()
        self.answers[label].append(mine)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


class VersionSwitchTest(ServeTestCase):
    def test_current_and_alias_moves_under_load_give_consistent_answers(self):
        rng = np.random.default_rng(11)
        X, y, _, _ = tables(rng)
        lake = write_lake(self.path("lake"), X, y)
        registry = self.path("registry")
        name = "switch"

        def model(alpha):
            return {**MODELS["ridge"], "alpha": alpha}

        # Very different alphas: each version's predictions differ from every other's.
        snaps = {1: publish(self, self.dir, lake, model(0.01), registry, name)}
        alias = e2e.sluice(["snapshots", "alias", "set", registry, name, "production", "1"])
        self.assertEqual(alias.returncode, 0, alias.describe())
        servers = {"current": self.serve("--registry", registry, "--model", name),
                   "production": self.serve("--registry", registry, "--model", f"{name}@production")}
        Q = np.vstack([X[:3], rng.normal(scale=5.0, size=(2, 4))])
        with LoadLoop(servers, Q) as load:
            time.sleep(0.3)
            snaps[2] = publish(self, self.dir, lake, model(3000.0), registry, name)
            servers["current"].wait_for_version(2, "CURRENT after publish")
            alias = e2e.sluice(["snapshots", "alias", "set", registry, name, "production", "2"])
            self.assertEqual(alias.returncode, 0, alias.describe())
            servers["production"].wait_for_version(2, "alias after alias set")
            snaps[3] = publish(self, self.dir, lake, model(300.0), registry, name)
            servers["current"].wait_for_version(3, "CURRENT after publish")
            alias = e2e.sluice(["snapshots", "alias", "set", registry, name, "production", "1"])
            self.assertEqual(alias.returncode, 0, alias.describe())
            servers["production"].wait_for_version(1, "alias moved back")

            # A damaged version named by CURRENT is refused; version 3 stays served.
            bad = os.path.join(registry, name, "v000004.h5")
            with open(snaps[3]["path"], "rb") as f:
                data = bytearray(f.read())
            data[-100] ^= 0xFF
            with open(bad + ".tmp", "wb") as f:
                f.write(data)
            os.replace(bad + ".tmp", bad)
            with open(os.path.join(registry, name, "CURRENT.tmp"), "w") as f:
                f.write("v000004.h5\n")
            os.replace(os.path.join(registry, name, "CURRENT.tmp"), os.path.join(registry, name, "CURRENT"))
            deadline = time.monotonic() + SWITCH_DEADLINE_S
            while servers["current"].version()[1] is None and time.monotonic() < deadline:
                time.sleep(0.02)
            version, error = servers["current"].version()
            self.assertEqual(version, 3)
            self.assertIsNotNone(error, "the damaged version 4 was not reported")
            self.assertIn("version 4", error)
            time.sleep(0.3)  # answers keep coming from version 3 meanwhile
            os.remove(bad)
            snaps[4] = publish(self, self.dir, lake, model(30.0), registry, name)
            servers["current"].wait_for_version(snaps[4]["version"], "CURRENT after the damaged version")
            self.assertIsNone(servers["current"].version()[1])
            time.sleep(0.3)

        self.assertEqual(load.failures, [], "requests failed during the switches")
        expected = {snap["version"]: expected_outputs(snap, Q)["prediction"] for snap in snaps.values()}
        for a, b in ((1, 2), (2, 3), (3, 4)):
            self.assertGreater(float(np.max(np.abs(expected[a] - expected[b]))), 1e-3, "versions too alike to tell")
        sequences = {"current": [1, 2, 3, snaps[4]["version"]], "production": [1, 2, 1]}
        for label, per_thread in load.answers.items():
            total = sum(len(answers) for answers in per_thread)
            measured(f"{label}: answers during the switches", total)
            self.assertGreater(total, 20, label)
            for answers in per_thread:
                seen = []
                for version, prediction in answers:
                    self.assertIn(version, expected, f"{label}: unexpected version {version}")
                    error = float(np.max(np.abs(np.asarray(prediction) - expected[version])
                                         / (np.abs(Q).sum(axis=1) + np.abs(expected[version]) + 1)))
                    self.assertLessEqual(error, 1e-12, f"{label}: an answer of version {version} does not "
                                                       f"match that version's model")
                    if not seen or seen[-1] != version:
                        seen.append(version)
                # Versions appear in the order the pointer moved (a thread may miss short ones).
                it = iter(sequences[label])
                self.assertTrue(all(v in it for v in seen), f"{label}: versions seen {seen}, "
                                                            f"pointer moved {sequences[label]}")
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    e2e.main()
