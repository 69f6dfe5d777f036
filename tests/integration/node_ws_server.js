#!/usr/bin/env node
// node_ws_server.js - a stock Node server (the `ws` package) for the wsgate
// client's tests.  Listens on 127.0.0.1, port 0, and prints {"port": N} on
// stdout once it accepts; stops when stdin closes.  Paths:
//   /echo    echoes every message, text as text, binary as binary
//   /proto   subprotocols chat.v2, chat.v1 (server's preference): sends
//            "proto=<chosen>" then echoes
//   /close   closes at once with 4001 "bye"
//   /frag    sends "part1-part2-part3" as three fragments, then 0x010203
//            as two, then closes with 1000
//   /ping    pings; on the pong sends "pong received" and closes with 1000
//   /headers sends "x-token=<value of the X-Token request header>", closes
// Usage: NODE_PATH=/usr/share/nodejs node node_ws_server.js
'use strict';

const WebSocket = require('ws');

const PREFERRED = ['chat.v2', 'chat.v1'];

const wss = new WebSocket.Server({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  handleProtocols: (protocols) => PREFERRED.find((p) => protocols.has(p)) || false,
});

wss.on('listening', () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\n');
});

wss.on('connection', (ws, req) => {
  const path = req.url.split('?')[0];
  switch (path) {
    case '/echo':
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      break;
    case '/proto':
      ws.send('proto=' + (ws.protocol || '(none)'));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      break;
    case '/close':
      ws.close(4001, 'bye');
      break;
    case '/frag':
      ws.send('part1-', { fin: false });
      ws.send('part2-', { fin: false });
      ws.send('part3', { fin: true });
      ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
      ws.send(Buffer.from([3]), { binary: true, fin: true });
      ws.close(1000);
      break;
    case '/ping':
      ws.on('pong', (data) => {
        ws.send('pong received ' + data.toString());
        ws.close(1000);
      });
      ws.ping('x');
      break;
    case '/headers':
      ws.send('x-token=' + (req.headers['x-token'] || ''));
      ws.close(1000);
      break;
    default:
      ws.close(4404, 'no such path');
  }
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
