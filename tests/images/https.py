"""A tiny HTTPS client run inside a netns: ``python https.py CA URL [BODY_FILE]`` prints one
JSON line ``{"status", "body"}`` (or ``{"error"}``), verifying the server against CA as
``localhost``."""

from __future__ import annotations

import http.client
import json
import ssl
import sys
from urllib.parse import urlsplit


def main(ca: str, url: str, body_file: str | None) -> None:
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("localhost", parts.port, context=context, timeout=5)
    try:
        conn.connect()
        body = None
        if body_file:
            with open(body_file, "rb") as f:
                body = f.read()
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request("POST" if body else "GET", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
    except (OSError, ValueError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
