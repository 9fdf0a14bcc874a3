#!/usr/bin/env python3
"""Drive a QMP server with QEMU's own Python client, qemu.qmp.

Usage: qemu_qmp_test.py [--mtree] SOCKET
                                      -- protocol checks (then `quit`);
                                         --mtree: the machine renders
                                         `info mtree` (a real board)
       qemu_qmp_test.py --bench N SOCKET [SOCKET2]
                                      -- query-status round-trip latency

The checks: connect (greeting, negotiation incl. the oob capability),
query-status, stop/cont with their events, human-monitor-command,
an error class, quit.
"""
import asyncio
import socket
import sys
import time

from qemu.qmp import ExecuteError, QMPClient


async def check(path, mtree=False):
    qmp = QMPClient('ferrite-test')
    await qmp.connect(path)
    assert 'oob' in qmp.greeting.QMP.capabilities, qmp.greeting
    st = await qmp.execute('query-status')
    assert st == {'status': 'prelaunch', 'singlestep': False,
                  'running': False}, st
    with qmp.listener() as listener:
        await qmp.execute('cont')
        ev = await listener.get()
        assert ev['event'] == 'RESUME', ev
        st = await qmp.execute('query-status')
        assert st['running'] is True and st['status'] == 'running', st
        await qmp.execute('stop')
        ev = await listener.get()
        assert ev['event'] == 'STOP', ev
        assert set(ev['timestamp']) == {'seconds', 'microseconds'}, ev
    out = await qmp.execute('human-monitor-command',
                            {'command-line': 'info status'})
    assert out == 'VM status: paused\r\n', repr(out)
    out = await qmp.execute('human-monitor-command',
                            {'command-line': 'xp /2xb 0x1000'})
    assert out == '0000000000001000: 0x97 0x02\r\n', repr(out)
    if mtree:
        out = await qmp.execute('human-monitor-command',
                                {'command-line': 'info mtree'})
        assert 'address-space: memory\r\n' in out, repr(out)
        assert '\r\n  0000000000000000-ffffffffffffffff (prio 0, i/o): ' \
            'system\r\n' in out, repr(out)
        assert '(prio 0, ram): ' in out, repr(out)
        out = await qmp.execute('human-monitor-command',
                                {'command-line': 'info mtree -f'})
        assert out.startswith('FlatView #0\r\n'), repr(out)
    try:
        await qmp.execute('no-such-command')
        raise AssertionError('no error')
    except ExecuteError as e:
        assert e.error_class == 'CommandNotFound', e
    try:
        await qmp.execute('pmemsave', {'val': 'x'})
        raise AssertionError('no error')
    except ExecuteError as e:
        assert e.error_class == 'GenericError', e
        assert str(e) == \
            "Invalid parameter type for 'val', expected: integer", e
    # An OOB command on the negotiated oob capability.
    assert await qmp.execute('yank', {'instances': []}, oob=True) == {}
    with qmp.listener() as listener:
        await qmp.execute('quit')
        ev = await listener.get()
        assert ev['event'] == 'SHUTDOWN', ev
        assert ev['data'] == {'guest': False, 'reason': 'host-qmp-quit'}, ev
    try:
        await qmp.disconnect()
    except EOFError:
        pass  # the server closes the socket after quit, as QEMU does
    print('qemu.qmp checks passed')


def bench(path, n):
    """Round trips of query-status with a plain blocking client."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile('rb')
    f.readline()
    s.sendall(b'{"execute":"qmp_capabilities"}')
    f.readline()
    req = b'{"execute":"query-status"}'
    for _ in range(200):  # warm-up
        s.sendall(req)
        f.readline()
    lat = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s.sendall(req)
        line = f.readline()
        lat.append(time.perf_counter_ns() - t0)
        assert line.startswith(b'{"return"'), line
    s.close()
    lat.sort()
    return lat[len(lat) // 2], lat[(len(lat) * 99) // 100]


def main():
    if sys.argv[1] == '--bench':
        n = int(sys.argv[2])
        for path in sys.argv[3:]:
            p50, p99 = bench(path, n)
            print(f'{path}: p50 {p50 / 1000:.1f} us  p99 {p99 / 1000:.1f} us')
        return
    if sys.argv[1] == '--mtree':
        asyncio.run(check(sys.argv[2], mtree=True))
    else:
        asyncio.run(check(sys.argv[1]))


if __name__ == '__main__':
    main()
