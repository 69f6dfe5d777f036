#!/usr/bin/env node
// node_ws_client.js - a stock Node client (the `ws` package) against an echo
// endpoint: text and binary echo, a message sent in fragments
// (ws.send(piece, {fin: false})), ping -> pong, and a clean close with 1000.
// Usage: NODE_PATH=/usr/share/nodejs node node_ws_client.js ws://127.0.0.1:PORT/echo
// Prints one JSON object {ok, steps: [{name, ok, detail}]} and exits 0 only
// if every step passed.
'use strict';

const WebSocket = require('ws');

const url = process.argv[2];
const results = [];
let finished = false;

function finish(extra) {
  if (finished) return;
  finished = true;
  if (extra) results.push(extra);
  const ok = results.length > 0 && results.every((r) => r.ok);
  process.stdout.write(JSON.stringify({ ok, steps: results }) + '\n');
  process.exit(ok ? 0 : 1);
}

setTimeout(() => finish({ name: 'timeout', ok: false, detail: 'not done within 10 s' }), 10000).unref();

if (!url) finish({ name: 'usage', ok: false, detail: 'usage: node_ws_client.js URL' });

const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
const queue = [];          // received messages not yet consumed
const waiters = [];

ws.on('message', (data, isBinary) => {
  const m = { data: Buffer.from(data), isBinary };
  if (waiters.length) waiters.shift()(m); else queue.push(m);
});
ws.on('error', (err) => finish({ name: 'error', ok: false, detail: String(err) }));
let closing = false;
ws.on('close', (code, reason) => {
  if (!closing) finish({ name: 'unexpected_close', ok: false, detail: 'code ' + code + ' reason ' + String(reason) });
});

function nextMessage() {
  if (queue.length) return Promise.resolve(queue.shift());
  return new Promise((resolve) => waiters.push(resolve));
}

function step(name, ok, detail) {
  results.push({ name, ok: !!ok, detail: detail === undefined ? '' : String(detail) });
  if (!ok) finish();
}

async function run() {
  // text echo (with multi-byte UTF-8)
  const text = 'hello from node κόσμε 😀';
  ws.send(text);
  let m = await nextMessage();
  step('text_echo', !m.isBinary && m.data.toString('utf8') === text, m.data.toString('utf8'));

  // binary echo, every byte value, larger than 64 KiB (64-bit length)
  const bin = Buffer.alloc(70000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 31) & 0xff;
  ws.send(bin, { binary: true });
  m = await nextMessage();
  step('binary_echo', m.isBinary && Buffer.compare(m.data, bin) === 0, 'length ' + m.data.length);

  // fragmented send: three frames, one message
  ws.send('frag-', { fin: false });
  ws.send('ment-', { fin: false });
  ws.send('ed', { fin: true });
  m = await nextMessage();
  step('fragmented_text', !m.isBinary && m.data.toString() === 'frag-ment-ed', m.data.toString());

  ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
  ws.send(Buffer.from([3]), { binary: true, fin: true });
  m = await nextMessage();
  step('fragmented_binary', m.isBinary && Buffer.compare(m.data, Buffer.from([1, 2, 3])) === 0,
       m.data.toString('hex'));

  // ping -> pong with the same payload
  const pong = new Promise((resolve) => ws.once('pong', (data) => resolve(Buffer.from(data))));
  ws.ping(Buffer.from('node-ping'));
  const p = await pong;
  step('ping_pong', p.toString() === 'node-ping', p.toString());

  // clean close
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  closing = true;
  ws.close(1000, 'bye');
  const c = await closed;
  step('close_1000', c.code === 1000, 'code ' + c.code + ' reason ' + c.reason);
  finish();
}

ws.on('open', () => run().catch((e) => finish({ name: 'exception', ok: false, detail: String(e && e.stack || e) })));
