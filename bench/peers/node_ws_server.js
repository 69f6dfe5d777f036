// node_ws_server.js - Node "ws" echo (/echo) and broadcast (/broadcast/*)
// server for bench/compare.sh and bench/deflate_compare.sh.
// usage: node node_ws_server.js PORT [deflate]
// deflate: permessage-deflate with ws's defaults (context takeover, 15-bit
// windows), every message compressed (threshold 0).
// (Debian's node-ws: NODE_PATH=/usr/share/nodejs)
'use strict';
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: process.argv[3] === 'deflate' ? { threshold: 0 } : false,
  maxPayload: 16 * 1024 * 1024,
});
const room = new Set();
wss.on('connection', (ws, req) => {
  if (req.url.startsWith('/broadcast/')) {
    room.add(ws);
    ws.on('close', () => room.delete(ws));
    ws.on('message', (data, isBinary) => {
      for (const c of room) if (c !== ws) c.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});
