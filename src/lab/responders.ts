// What the lab's internet answers with: "whoami" (HTTP, the source address the target saw: this
// is how a test or `lab status` tells which NAT a packet left through) and the EC2 API (every
// connection passed through to the emulator).

import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Server } from 'node:net';

export function whoamiServer(): HttpServer {
  return createHttpServer((request, response) => {
    const peer = request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    response.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    response.end(`${peer}\n`);
  });
}

export function passThroughServer(target: { host: string; port: number }): Server {
  return createTcpServer((socket) => {
    const upstream = connect(target);
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close);
    upstream.on('error', close);
    socket.on('close', close);
    upstream.on('close', close);
  });
}
