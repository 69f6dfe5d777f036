// uws_server.js - uWebSockets.js echo (/echo) and broadcast (/broadcast/*)
// server for bench/compare.sh and bench/deflate_compare.sh.
// usage: node uws_server.js PORT [COMPRESSION]
// COMPRESSION (permessage-deflate, off when absent): shared (one compressor
// and one inflater for all sockets, no context takeover), dedicated-3kb
// (a small compressor per socket) or dedicated (a full 256 KB compressor
// and a 32 KB inflater per socket).
// Needs the npm package @trufflesuite/uws-js-unofficial on NODE_PATH.
'use strict';
const uWS = require('@trufflesuite/uws-js-unofficial');
const port = Number(process.argv[2]);
const compressors = {
  shared: uWS.SHARED_COMPRESSOR,
  'dedicated-3kb': uWS.DEDICATED_COMPRESSOR_3KB,
  dedicated: uWS.DEDICATED_COMPRESSOR_256KB | uWS.DEDICATED_DECOMPRESSOR,
};
const mode = process.argv[3];
if (mode !== undefined && !(mode in compressors)) {
  console.error('uws_server: unknown compression ' + mode);
  process.exit(2);
}
const common = {
  compression: mode === undefined ? uWS.DISABLED : compressors[mode],
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  sendPingsAutomatically: false,
};
uWS.App()
  .ws('/echo', {
    ...common,
    message: (ws, message, isBinary) => { ws.send(message, isBinary); },
  })
  .ws('/broadcast/*', {
    ...common,
    open: (ws) => { ws.subscribe('bench'); },
    // ws.publish reaches every subscriber but the sender.
    message: (ws, message, isBinary) => { ws.publish('bench', message, isBinary); },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error('uws_server: cannot listen on ' + port);
      process.exit(1);
    }
  });
