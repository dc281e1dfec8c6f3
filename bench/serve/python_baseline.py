"""The baseline of the serving benchmark: the same snapshot served by Python's ThreadingHTTPServer
with a numpy handler, answering POST /v1/predict with the same request and response JSON as
`sluice serve` (columns or rows form; ridge and ols models).

Usage: python_baseline.py SNAPSHOT.h5 --port P   (prints "listening on PORT" when ready)
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        kind = str(f["model"].attrs["kind"])
        if kind not in ("ridge", "ols"):
            sys.exit(f"baseline serves linear models only, not {kind}")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["model/feature_names"][()]]
        return {"name": str(f.attrs["model_name"]), "version": int(f.attrs["version"]), "features": names,
                "w": np.asarray(f["model/coefficients"][()], dtype=np.float64),
                "b": float(f["model"].attrs["intercept"])}


def make_handler(model):
    features = model["features"]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as wrk's connections expect
        # Headers and body go out in separate writes: without TCP_NODELAY every answer would wait
        # for the client's delayed ACK (about 40 ms), which is not the baseline's fault.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def answer(self, status, document):
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if self.path != "/v1/predict":
                return self.answer(404, {"error": f"no endpoint POST {self.path}"})
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if "columns" in request:
                    X = np.column_stack([np.asarray(request["columns"][n], dtype=np.float64) for n in features])
                else:
                    X = np.array([[row[n] for n in features] for row in request["rows"]], dtype=np.float64)
            except (ValueError, KeyError, TypeError) as error:
                return self.answer(400, {"error": str(error)})
            prediction = X @ model["w"] + model["b"]
            self.answer(200, {"model": model["name"], "version": model["version"],
                              "outputs": {"prediction": prediction.tolist()}, "kept": [True] * len(prediction)})

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # wrk drops its connections mid-request when a run ends: not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = QuietServer((args.host, args.port), make_handler(load(args.snapshot)))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
