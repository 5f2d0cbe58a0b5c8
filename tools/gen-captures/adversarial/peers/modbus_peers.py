#!/usr/bin/env python3
"""Modbus/TCP with pymodbus: `server HOST PORT` runs a server with 200
coils and registers; `client HOST PORT` reads and writes coils and holding
registers (values such as 0x8105, 0x827d that look like WebSocket headers)."""
import sys

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
    from pymodbus.server import StartTcpServer
    blk = lambda: ModbusSequentialDataBlock(1, [0] * 300)  # 3.16 stores from address - 1
    ctx = ModbusServerContext(devices=ModbusDeviceContext(di=blk(), co=blk(), hr=blk(), ir=blk()), single=True)
    StartTcpServer(context=ctx, address=(host, port))
else:
    from pymodbus.client import ModbusTcpClient
    c = ModbusTcpClient(host, port=port)
    assert c.connect()
    vals = [0x8105, 0x6865, 0x6C6C, 0x6F82, 0x7D00, 0x8802, 0x03E8]
    for i in range(4):
        assert not c.write_registers(10 * i, vals[i:] + vals[:i], device_id=1).isError()
        r = c.read_holding_registers(10 * i, count=len(vals), device_id=1)
        assert r.registers == vals[i:] + vals[:i], r
        assert not c.write_coil(i, True, device_id=1).isError()
        assert not c.read_coils(0, count=16, device_id=1).isError()
    assert not c.write_registers(100, list(range(0x8100, 0x8100 + 100)), device_id=1).isError()
    assert len(c.read_holding_registers(100, count=100, device_id=1).registers) == 100
    assert not c.read_input_registers(0, count=20, device_id=1).isError()
    c.close()
