// Started inside a namespace by probe.ts: one HTTP GET, its body on stdout, exit 1 on any failure.

import { get } from 'node:http';

const [url, timeout] = process.argv.slice(2);
const request = get(url!, { timeout: Number(timeout), agent: false }, (response) => {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => (body += chunk));
  response.on('end', () => {
    process.stdout.write(body);
    process.exitCode = response.statusCode === 200 ? 0 : 1;
  });
});
request.on('timeout', () => request.destroy(new Error(`no answer within ${timeout} ms`)));
request.on('error', (error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
