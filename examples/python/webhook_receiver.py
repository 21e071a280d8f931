"""A webhook endpoint that trusts a body only when its signature checks out.

    python3 webhook_receiver.py <port> <secret>

Create the subscription with the same secret:
    curl -X POST localhost:4004/api/v1/subscriptions -H 'content-type: application/json' \\
      -d '{"subscriber_id": "me", "callback_url": "http://<this host>:<port>/hook",
           "system_ids": [30000142], "secret": "<secret>"}'

Each delivery carries `X-Wanderer-Signature: sha256=<hex HMAC-SHA256 of the body>`; a body
whose signature does not match is refused with 401 and never read as kills. Deliveries may come
again (retries): `X-Wanderer-Delivery` is the same on every attempt of one delivery.
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = b""
SEEN = set()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        given = self.headers.get("x-wanderer-signature", "")
        if not hmac.compare_digest(expected, given):
            print("refused: bad signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        delivery = self.headers.get("x-wanderer-delivery")
        if delivery not in SEEN:
            SEEN.add(delivery)
            for kill in json.loads(body)["kills"]:
                print(f"verified kill {kill['killmail_id']} in {kill.get('solar_system_name')}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    SECRET = sys.argv[2].encode()
    server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
