#!/usr/bin/env node
// The compiled CLI lives in dist/: built by the prepare script in a checkout (`npm ci`), shipped built in the package.

// dupsworks supports Node 20; the SDK's notice about its own future Node requirement is not the
// operator's concern on every run. Set the variable to "false" to see it again.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { main } = await import('../dist/src/cli.js');
// Exit as soon as the work is done: a step abandoned after an interrupt may still have timers running.
process.exit(await main(process.argv));
