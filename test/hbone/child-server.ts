// A destination HBONE server in its own process, serving a listening socket it inherited as
// fd 3 (as the agent serves fds made inside pod network namespaces). Credentials come from
// the JSON file named by AMBIT_TEST_CREDS. SIGTERM closes gracefully (GOAWAY, streams finish).
import { readFileSync } from 'node:fs';
import type { Credentials } from '../../core/identity/types.js';
import { startForwarder } from '../support/hbone.js';

const raw = JSON.parse(readFileSync(process.env.AMBIT_TEST_CREDS ?? '', 'utf8')) as Credentials & {
  notBefore: string;
  notAfter: string;
};
const creds: Credentials = { ...raw, notBefore: new Date(raw.notBefore), notAfter: new Date(raw.notAfter) };
const fwd = await startForwarder(() => creds, { listen: { fd: 3 } });
process.stdout.write(`ready ${process.pid}\n`);
process.on('SIGTERM', () => {
  const done = fwd.close().then(() => process.exit(0));
  process.stdout.write('closing\n'); // GOAWAY is sent by now
  void done;
});
