"""Follow kills over Server-Sent Events with Python's standard library, narrowed by a filter rule.

    python3 sse_client.py <base, e.g. http://localhost:4004> <filter rule, e.g. "space:highsec;value>=1e8"> [kills]

Each matching kill arrives as one `data:` line holding the killmail; `matched_filters` names the
rules it matched.
"""
import json
import sys
import urllib.parse
import urllib.request


def main(base: str, rule: str, limit: float) -> None:
    query = urllib.parse.urlencode({"filter": f"{rule};name:example"})
    with urllib.request.urlopen(f"{base}/api/v1/kills/stream?{query}", timeout=60) as stream:
        print("connected", flush=True)
        left = limit
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\n")
            if not line.startswith("data: "):
                continue  # `retry:`, `: ping` and blank lines
            kill = json.loads(line[len("data: "):])
            print(f"kill {kill['killmail_id']} in {kill.get('solar_system_name')} "
                  f"({kill.get('space')}) matched {','.join(kill.get('matched_filters', []))}", flush=True)
            left -= 1
            if left <= 0:
                return


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else float("inf"))
