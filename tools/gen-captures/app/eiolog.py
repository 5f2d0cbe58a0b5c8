"""Engine.IO's own logger ('Sending packet' / 'Received packet') as JSON
lines (t_ns, peer, ev, text) on stdout: what the python-socketio
generators (socketio_v3.py, socketio_polling.py) record their peers' view
with. Standard library only, so both of their virtualenvs import it."""
import json, logging, time


class JsonLines(logging.Handler):
    def __init__(self, peer):
        super().__init__()
        self.peer = peer

    def emit(self, record):
        print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": self.peer, "ev": "log",
                          "text": record.getMessage()}), flush=True)


def logger(peer):
    lg = logging.getLogger(f"eio.{peer}")
    lg.setLevel(logging.INFO)
    lg.propagate = False
    lg.addHandler(JsonLines(peer))
    return lg
