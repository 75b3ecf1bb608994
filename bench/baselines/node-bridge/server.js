'use strict';
// The bridge a team writes instead: a Node.js service with a kafkajs consumer group and a ws
// server, a Map from user id to sockets, the same JWT check as ours (HS256, exp required,
// sub is the user). Written as a competent team would, kept for the benchmark's side by side.
//
// Environment: PORT (8090), HOST (127.0.0.1), KAFKA_BROKERS (127.0.0.1:9092), KAFKA_TOPIC
// (agent-events), KAFKA_GROUP_ID (one per instance, so every instance sees every user's
// events), JWT_SECRET (required).
const http = require('http');
const os = require('os');
const { Kafka, logLevel } = require('kafkajs');
const { WebSocketServer } = require('ws');
const jwt = require('jsonwebtoken');

const PORT = Number(process.env.PORT || 8090);
const HOST = process.env.HOST || '127.0.0.1';
const BROKERS = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const TOPIC = process.env.KAFKA_TOPIC || 'agent-events';
const GROUP_ID = process.env.KAFKA_GROUP_ID || `ws-bridge-${os.hostname()}-${PORT}`;
const SECRET = process.env.JWT_SECRET;
if (!SECRET) {
  console.error('JWT_SECRET is required');
  process.exit(2);
}

const socketsByUser = new Map(); // user id -> Set of WebSockets
let ready = false; // the consumer has joined its group and fetched once

function tokenFrom(req, url) {
  const auth = req.headers.authorization || '';
  if (auth.startsWith('Bearer ')) return auth.slice(7);
  return url.searchParams.get('access_token');
}

function userFrom(req, url) {
  try {
    const claims = jwt.verify(tokenFrom(req, url) || '', SECRET, { algorithms: ['HS256'] });
    if (typeof claims.exp !== 'number' || typeof claims.sub !== 'string' || !claims.sub) return null;
    return claims.sub;
  } catch (err) {
    return null;
  }
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200).end('ok\n');
  } else if (req.url === '/readyz') {
    res.writeHead(ready ? 200 : 503).end(ready ? 'ready\n' : 'not ready\n');
  } else {
    res.writeHead(404).end();
  }
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  const userId = url.pathname === '/ws' ? userFrom(req, url) : null;
  if (!userId) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let sockets = socketsByUser.get(userId);
    if (!sockets) {
      sockets = new Set();
      socketsByUser.set(userId, sockets);
    }
    sockets.add(ws);
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0) socketsByUser.delete(userId);
    });
    ws.on('error', () => ws.terminate());
  });
});

const kafka = new Kafka({ clientId: 'ws-bridge', brokers: BROKERS, logLevel: logLevel.WARN });
const consumer = kafka.consumer({ groupId: GROUP_ID });

async function handleMessage({ topic, partition, message }) {
  let event;
  try {
    event = JSON.parse(message.value.toString());
  } catch (err) {
    return; // not JSON: skip
  }
  const sockets = socketsByUser.get(event.user_id);
  if (!sockets) return;
  const frame = JSON.stringify({
    type: event.type,
    payload: event.payload,
    run_id: event.run_id,
    thread_id: event.thread_id,
    ts: event.ts,
    id: `${topic}:${partition}:${message.offset}`,
  });
  for (const ws of sockets) {
    if (ws.readyState === ws.OPEN) ws.send(frame);
  }
}

async function main() {
  consumer.on(consumer.events.FETCH, () => { ready = true; });
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: false });
  await consumer.run({ eachMessage: handleMessage });
  server.listen(PORT, HOST, () => console.log(`listening on ${HOST}:${PORT}`));
}

async function shutdown() {
  ready = false;
  for (const ws of wss.clients) ws.close(1001, 'shutting down');
  server.close();
  await consumer.disconnect().catch(() => {});
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
main().catch((err) => {
  console.error('fatal:', err);
  process.exit(1);
});
