"""The fake FreeSWITCH: a TCP Event Socket server (server.py) over a simulated PBX (pbx.py)."""
