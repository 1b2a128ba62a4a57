// Started with `ip netns exec NS`, so the socket it makes belongs to that namespace: it listens on
// the address and port it is given, hands the listening socket to the lab over the IPC channel
// and exits. The lab then serves the socket from the host's namespace.

import { createServer } from 'node:net';

const [host, port] = process.argv.slice(2);
const server = createServer();
server.once('error', (error: NodeJS.ErrnoException) => {
  process.send!({ error: `${host}:${port}: ${error.code ?? error.message}` }, () => process.exit(1));
});
server.listen({ host, port: Number(port), exclusive: true }, () => {
  process.send!({ listening: true }, server, () => process.exit(0));
});
