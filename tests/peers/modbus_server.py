#!/usr/bin/env python3
"""Modbus test peer (pymodbus) with known values, for heatkpi's interop tests. Loopback only.

usage: modbus_server.py tcp PORT PIDFILE
       modbus_server.py rtu SERIAL_DEVICE PIDFILE [BAUD]

Works with Debian bookworm's python3-pymodbus (3.0.0) and PyPI pymodbus 3.16 (legacy
datastore API). Register map (0-based PDU addresses), mirrored in tests/modbus_interop.rs:
  holding 0..1   21.5        float32 ABCD
  holding 2..3   21.5        float32 CDAB (word swap)
  holding 4..5   21.5        float32 BADC (byte swap)
  holding 6..7   21.5        float32 DCBA (little endian)
  holding 8..9   100000      uint32 ABCD
  holding 10     -1234       int16
  holding 11     65535       uint16 (a sentinel in the test template)
  holding 12..15 1234.5678   float64 ABCD
  holding 16..19 5000000000  uint64 ABCD
  holding 20..21 "HK01"      string (2 registers)
  holding 22     7250        int16 scaled 0.01 -> 72.5 degC
  holding 23     0x0002      status word (bit 1 = maintenance)
  input   0..9   100..109
  coils   0..7   1,0,1,1,0,0,0,1
Any unit id is answered (single context).
"""
import logging
import os
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext

try:  # pymodbus >= 3.10 renamed the per-unit context
    from pymodbus.datastore import ModbusDeviceContext as _UnitContext
    _NEW_API = True
except ImportError:  # pymodbus 3.0 .. 3.9
    from pymodbus.datastore import ModbusSlaveContext as _UnitContext
    _NEW_API = False


def words(fmt, value):
    raw = struct.pack(">" + fmt, value)
    return list(struct.unpack(">" + "H" * (len(raw) // 2), raw))


def f32(value, order):
    b = struct.pack(">f", value)  # A B C D
    idx = {"ABCD": [0, 1, 2, 3], "CDAB": [2, 3, 0, 1], "BADC": [1, 0, 3, 2], "DCBA": [3, 2, 1, 0]}[order]
    b = bytes(b[i] for i in idx)
    return list(struct.unpack(">HH", b))


HOLDING = (
    f32(21.5, "ABCD") + f32(21.5, "CDAB") + f32(21.5, "BADC") + f32(21.5, "DCBA")
    + words("I", 100000)
    + words("h", -1234)
    + [65535]
    + words("d", 1234.5678)
    + words("Q", 5000000000)
    + list(struct.unpack(">HH", b"HK01"))
    + words("h", 7250)
    + [0x0002]
)
INPUT = list(range(100, 110))
COILS = [True, False, True, True, False, False, False, True]


def context():
    # Block start address 1 => PDU address 0 is values[0] in both API generations.
    unit = _UnitContext(
        hr=ModbusSequentialDataBlock(1, HOLDING + [0] * 100),
        ir=ModbusSequentialDataBlock(1, INPUT + [0] * 100),
        co=ModbusSequentialDataBlock(1, COILS + [False] * 100),
        di=ModbusSequentialDataBlock(1, [False] * 100),
    )
    if _NEW_API:
        return ModbusServerContext(devices=unit, single=True)
    return ModbusServerContext(slaves=unit, single=True)


def main():
    mode, where, pidfile = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    logging.basicConfig(level=logging.CRITICAL)
    if mode == "tcp":
        from pymodbus.server import StartTcpServer
        print(f"modbus test server on 127.0.0.1:{where}", flush=True)
        StartTcpServer(context=context(), address=("127.0.0.1", int(where)))
    else:
        from pymodbus.server import StartSerialServer
        try:
            from pymodbus.framer import FramerType
            framer = FramerType.RTU
        except ImportError:
            from pymodbus.transaction import ModbusRtuFramer as framer
        baud = int(sys.argv[4]) if len(sys.argv) > 4 else 19200
        print(f"modbus RTU test server on {where} at {baud} baud", flush=True)
        StartSerialServer(context=context(), framer=framer, port=where, baudrate=baud,
                          bytesize=8, parity="N", stopbits=1, timeout=0.05)


if __name__ == "__main__":
    main()
