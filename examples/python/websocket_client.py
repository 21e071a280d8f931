"""Follow kills in some systems over Phoenix channels (WebSocket, V2 frames) from Python.

    python3 websocket_client.py <base, e.g. ws://localhost:4004> <system ids, comma separated> [kills]

Needs `pip install websockets`. Phoenix channels: join the topic, send a heartbeat every 30 s,
read `killmail_update` pushes.
"""
import asyncio
import json
import sys

import websockets


async def main(base: str, systems: str, limit: float) -> None:
    url = f"{base}/socket/websocket?vsn=2.0.0&client_identifier=example-python"
    async with websockets.connect(url, max_size=16 * 1024 * 1024) as ws:
        join = {"systems": [int(s) for s in systems.split(",")], "preload": {"enabled": False}}
        await ws.send(json.dumps(["1", "1", "killmails:lobby", "phx_join", join]))

        async def heartbeat() -> None:
            ref = 1
            while True:
                await asyncio.sleep(30)
                ref += 1
                await ws.send(json.dumps([None, str(ref), "phoenix", "heartbeat", {}]))

        beating = asyncio.create_task(heartbeat())
        left = limit
        async for text in ws:
            _join_ref, _ref, topic, event, payload = json.loads(text)
            if event == "phx_reply" and topic == "killmails:lobby":
                if payload["status"] != "ok":
                    sys.exit(f"join refused: {payload['response']}")
                print("joined", ",".join(map(str, payload["response"]["subscribed_systems"])), flush=True)
            elif event == "killmail_update":
                for kill in payload["killmails"]:
                    victim = kill["victim"]
                    print(f"kill {kill['killmail_id']}: {victim.get('character_name', '?')} lost a "
                          f"{victim.get('ship_name', 'ship')} in {kill.get('solar_system_name')}", flush=True)
                    left -= 1
                    if left <= 0:
                        beating.cancel()
                        return


if __name__ == "__main__":
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
    asyncio.run(main(sys.argv[1], sys.argv[2], limit))
