// uws_server.js - uWebSockets.js echo (/echo) and broadcast (/broadcast/*)
// server for bench/compare.sh.  usage: node uws_server.js PORT
// Needs the npm package @trufflesuite/uws-js-unofficial on NODE_PATH.
'use strict';
const uWS = require('@trufflesuite/uws-js-unofficial');
const port = Number(process.argv[2]);
const common = {
  compression: uWS.DISABLED,
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
