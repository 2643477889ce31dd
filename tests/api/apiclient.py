# SPDX-License-Identifier: MIT
"""Test helpers for vireo's REST API: HTTP over a unix socket with Python's own http.client
(a client vireo did not write), and checks of every response against src/api/openapi.yaml
with jsonschema. Needs Debian's python3-yaml and python3-jsonschema (run with /usr/bin/python3).
"""
import http.client
import json
import os
import socket
import sys
import time

import jsonschema
import yaml

SRC_DIR = os.environ.get("SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(SRC_DIR, "src", "api", "openapi.yaml")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def error(self):
        try:
            return self.json().get("error", "")
        except ValueError:
            return ""

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:200])


class Spec:
    """The OpenAPI document and validation of responses/bodies against it."""

    def __init__(self, path=SPEC_PATH):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.seen = set()  # (route, method, status) checked

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part]
        return node

    def schema(self, name):
        """A component schema as a self-contained JSON schema (refs resolved by jsonschema)."""
        return {"$ref": "#/components/schemas/" + name, "components": self.doc["components"]}

    def operation(self, route, method):
        return self.doc["paths"]["/" + route][method.lower()]

    def validate(self, schema, value):
        full = dict(schema)
        full.setdefault("components", self.doc["components"])
        jsonschema.validate(value, full, cls=jsonschema.Draft4Validator)

    def valid(self, schema_name, value):
        try:
            self.validate(self.schema(schema_name), value)
            return True
        except jsonschema.ValidationError:
            return False

    def check(self, route, method, resp):
        """The status is documented for route+method and the body matches its schema."""
        op = self.operation(route, method)
        responses = op["responses"]
        key = str(resp.status)
        if key not in responses:
            raise AssertionError("%s %s: status %d is not in the spec (%s)" %
                                 (method, route, resp.status, resp.body[:200]))
        r = self.resolve(responses[key])
        content = r.get("content")
        if content:
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("application/json"):
                raise AssertionError("%s %s: %d with Content-Type %r" %
                                     (method, route, resp.status, ctype))
            body = json.loads(resp.body)
            self.validate(content["application/json"]["schema"], body)
            if resp.status >= 400 and "\n" in body.get("error", ""):
                raise AssertionError("%s: error reason is not one line" % route)
        elif resp.status != 101 and resp.body:
            raise AssertionError("%s %s: %d must have no body, got %r" %
                                 (method, route, resp.status, resp.body[:100]))
        self.seen.add((route, method.upper(), resp.status))

    def documented(self):
        """Every (route, method, status) the spec documents."""
        out = set()
        for path, ops in self.doc["paths"].items():
            for method, op in ops.items():
                for status in op["responses"]:
                    out.add((path[1:], method.upper(), int(status)))
        return out


def request(sock, method, route, body=None, headers=None, timeout=60, raw_path=None):
    conn = UnixHTTPConnection(sock, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, raw_path or ("/api/v1/" + route), body=data, headers=hdrs)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        return Response(r.status, r.headers, body)
    finally:
        conn.close()


def raw_request(sock, data, timeout=60):
    """Send raw bytes (a whole request), keep going if the server answers and closes early
    (e.g. 413 before the body is in), then parse its response."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = http.client.HTTPResponse(s)
    try:
        r.begin()
        body = r.read().decode("utf-8", "replace")
        return Response(r.status, r.headers, body)
    finally:
        s.close()


def put_bytes(sock, route, body, timeout=60):
    """PUT with a Content-Length body via raw_request."""
    head = ("PUT /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (route, len(body))).encode()
    return raw_request(sock, head + body, timeout)


def wait_socket(path, timeout=60, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("vireo exited with %d before its socket appeared" % proc.returncode)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("no API socket at %s after %d s" % (path, timeout))


def console_upgrade(sock, timeout=30):
    """PUT vm.console with an Upgrade header. Returns (status, socket or None, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(b"PUT /api/v1/vm.console HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
              b"Upgrade: vireo-console\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    text = head.decode("latin-1")
    status = int(text.split(" ")[1]) if text.startswith("HTTP/1.1 ") else 0
    if status == 101:
        return status, s, ""
    length = 0
    for line in text.split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":")[1])
    body = b""
    while len(body) < length:
        c = s.recv(length - len(body))
        if not c:
            break
        body += c
    s.close()
    return status, None, body.decode()


class Tap:
    """TAP-style results: ok / not ok lines, exit status 1 after any failure."""

    def __init__(self):
        self.failed = 0

    def ok(self, cond, what):
        print("%s - %s" % ("ok" if cond else "not ok", what), flush=True)
        if not cond:
            self.failed += 1
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, "%s (%r)" % (what, got) if got == want
                       else "%s: got %r, want %r" % (what, got, want))

    def done(self):
        sys.exit(1 if self.failed else 0)
