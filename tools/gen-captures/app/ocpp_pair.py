#!/usr/bin/env python3
"""OCPP-J over WebSocket with the mobilityhouse `ocpp` library on both sides
(charge point and central system) over python `websockets`, subprotocol
ocpp1.6 or ocpp2.0.1. The library's own logger ('ocpp': "receive message" /
"send") is written as JSON lines (t_ns, peer, ev, data) on stdout.

Usage: ocpp_pair.py 1.6|2.0.1 PORT
"""
import asyncio, json, logging, sys, time
from datetime import datetime, timezone

import websockets
from websockets import Subprotocol

VERSION, PORT = sys.argv[1], int(sys.argv[2])
SUBPROTO = "ocpp1.6" if VERSION == "1.6" else "ocpp2.0.1"


class JsonLines(logging.Handler):
    def __init__(self, peer):
        super().__init__()
        self.peer = peer

    def emit(self, record):
        msg = record.getMessage()
        for marker, ev in ((": receive message ", "recv"), (": send ", "send")):
            if marker in msg:
                print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": self.peer, "ev": ev,
                                  "data": msg.split(marker, 1)[1]}), flush=True)


def logger(peer):
    lg = logging.getLogger(f"ocpp.{peer}")
    lg.setLevel(logging.INFO)
    lg.propagate = False
    lg.addHandler(JsonLines(peer))
    return lg


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


if VERSION == "1.6":
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as CP, call, call_result
    from ocpp.v16.enums import (Action, AuthorizationStatus, ChargePointErrorCode, ChargePointStatus,
                                ConfigurationStatus, RegistrationStatus)

    class CentralSystem(CP):
        @on(Action.boot_notification)
        async def on_boot(self, charge_point_vendor, charge_point_model, **kw):
            await asyncio.sleep(0.030)
            return call_result.BootNotification(current_time=now(), interval=300,
                                                status=RegistrationStatus.accepted)

        @on(Action.heartbeat)
        async def on_heartbeat(self):
            await asyncio.sleep(0.005)
            return call_result.Heartbeat(current_time=now())

        @on(Action.status_notification)
        async def on_status(self, connector_id, error_code, status, **kw):
            await asyncio.sleep(0.010)
            return call_result.StatusNotification()

        @on(Action.authorize)
        async def on_authorize(self, id_tag):
            await asyncio.sleep(0.020)
            ok = id_tag == "RFID-0001"
            return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted if ok
                                                      else AuthorizationStatus.invalid})
        # No handler for DataTransfer: the library answers CALLERROR NotImplemented.

    class ChargePoint(CP):
        @on(Action.change_configuration)
        async def on_change_configuration(self, key, value):
            await asyncio.sleep(0.015)
            return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    async def charge_point_session(cp, cs_calls):
        await cp.call(call.BootNotification(charge_point_model="WS-Inspect-1", charge_point_vendor="wsinspect"))
        await cp.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error,
                                              status=ChargePointStatus.available))
        await cp.call(call.Heartbeat())
        await cp.call(call.Authorize(id_tag="RFID-0001"))
        await cp.call(call.Authorize(id_tag="RFID-BAD"))
        try:
            await cp.call(call.DataTransfer(vendor_id="wsinspect", message_id="hello", data="x"))
        except Exception as e:  # the CALLERROR is raised here
            print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": "charge_point", "ev": "callerror",
                              "error": type(e).__name__}), flush=True)
        await cs_calls
        await cp.call(call.Heartbeat())

    async def central_system_calls(cs):
        await asyncio.sleep(0.3)
        await cs.call(call.ChangeConfiguration(key="HeartbeatInterval", value="60"))
else:
    from ocpp.routing import on
    from ocpp.v201 import ChargePoint as CP, call, call_result
    from ocpp.v201.enums import (Action, AuthorizationStatusEnumType, ConnectorStatusEnumType,
                                 GetVariableStatusEnumType, RegistrationStatusEnumType)

    class CentralSystem(CP):
        @on(Action.boot_notification)
        async def on_boot(self, charging_station, reason, **kw):
            await asyncio.sleep(0.030)
            return call_result.BootNotification(current_time=now(), interval=300,
                                                status=RegistrationStatusEnumType.accepted)

        @on(Action.heartbeat)
        async def on_heartbeat(self, **kw):
            await asyncio.sleep(0.005)
            return call_result.Heartbeat(current_time=now())

        @on(Action.status_notification)
        async def on_status(self, timestamp, connector_status, evse_id, connector_id, **kw):
            await asyncio.sleep(0.010)
            return call_result.StatusNotification()

        @on(Action.authorize)
        async def on_authorize(self, id_token, **kw):
            await asyncio.sleep(0.020)
            ok = id_token["id_token"] == "RFID-0001"
            return call_result.Authorize(id_token_info={"status": AuthorizationStatusEnumType.accepted if ok
                                                        else AuthorizationStatusEnumType.invalid})

    class ChargePoint(CP):
        @on(Action.get_variables)
        async def on_get_variables(self, get_variable_data, **kw):
            await asyncio.sleep(0.015)
            return call_result.GetVariables(get_variable_result=[
                {"attribute_status": GetVariableStatusEnumType.accepted, "attribute_value": "60",
                 "component": d["component"], "variable": d["variable"]} for d in get_variable_data])

    async def charge_point_session(cp, cs_calls):
        await cp.call(call.BootNotification(charging_station={"model": "WS-Inspect-2", "vendor_name": "wsinspect"},
                                            reason="PowerUp"))
        await cp.call(call.StatusNotification(timestamp=now(), connector_status=ConnectorStatusEnumType.available,
                                              evse_id=1, connector_id=1))
        await cp.call(call.Heartbeat())
        await cp.call(call.Authorize(id_token={"id_token": "RFID-0001", "type": "ISO14443"}))
        await cp.call(call.Authorize(id_token={"id_token": "RFID-BAD", "type": "ISO14443"}))
        try:
            await cp.call(call.DataTransfer(vendor_id="wsinspect", message_id="hello", data="x"))
        except Exception as e:
            print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": "charge_point", "ev": "callerror",
                              "error": type(e).__name__}), flush=True)
        await cs_calls
        await cp.call(call.Heartbeat())

    async def central_system_calls(cs):
        await asyncio.sleep(0.3)
        await cs.call(call.GetVariables(get_variable_data=[
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]))


async def main():
    cs_task = {}

    async def handler(ws):
        cs = CentralSystem(ws.request.path.strip("/"), ws, logger=logger("central_system"))
        cs_task["calls"] = asyncio.ensure_future(central_system_calls(cs))
        try:
            await cs.start()
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(handler, "127.0.0.1", PORT, subprotocols=[Subprotocol(SUBPROTO)]):
        async with websockets.connect(f"ws://127.0.0.1:{PORT}/CP-0001",
                                      subprotocols=[Subprotocol(SUBPROTO)]) as ws:
            cp = ChargePoint("CP-0001", ws, logger=logger("charge_point"))
            runner = asyncio.ensure_future(cp.start())
            while "calls" not in cs_task:
                await asyncio.sleep(0.01)
            await charge_point_session(cp, cs_task["calls"])
            await asyncio.sleep(0.1)
            runner.cancel()
        await asyncio.sleep(0.1)


asyncio.run(main())
