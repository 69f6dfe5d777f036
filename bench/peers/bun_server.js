// bun_server.js - Bun.serve echo (/echo) and broadcast (/broadcast/*)
// server for bench/compare.sh.  usage: bun bun_server.js PORT
const port = Number(process.argv[2]);
Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (server.upgrade(req, { data: { broadcast: path.startsWith('/broadcast/') } }))
      return undefined;
    return new Response('WebSocket only', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    sendPings: false,
    idleTimeout: 0,
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024 * 1024,
    open(ws) { if (ws.data.broadcast) ws.subscribe('bench'); },
    // ws.publish reaches every subscriber but the sender.
    message(ws, message) {
      if (ws.data.broadcast) ws.publish('bench', message);
      else ws.send(message);
    },
  },
});
