// A SOCKS5 client for the agent's SOCKS5 listener tests: no auth, CONNECT to an IPv4 address
// or a name (ATYP 1 or 3).
import net from 'node:net';

/**
 * CONNECT through the SOCKS5 server on 127.0.0.1:`port`; resolves with the reply code and the
 * socket, past the reply (rep -1: the server closed before replying).
 */
export function socksConnect(port: number, host: string, dstPort: number): Promise<{ rep: number; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let stage = 0;
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.from([5, 1, 0])));
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2) {
        buf = buf.subarray(2);
        stage = 1;
        const addr = net.isIPv4(host)
          ? Buffer.from([1, ...host.split('.').map(Number)])
          : Buffer.concat([Buffer.from([3, host.length]), Buffer.from(host)]);
        const p = Buffer.alloc(2);
        p.writeUInt16BE(dstPort);
        sock.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, p]));
      }
      if (stage === 1 && buf.length >= 10) {
        sock.off('data', onData);
        stage = 2;
        resolve({ rep: buf[1]!, sock });
      }
    };
    sock.on('data', onData);
    sock.on('close', () => {
      if (stage < 2) resolve({ rep: -1, sock });
    });
  });
}
