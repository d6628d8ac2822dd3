/**
 * A typed producer client for `/ingest` (docs/protocol.md, "Ingest"): push snapshots, deltas and
 * trades for your symbols as msgpack, batch them per frame, and `flush()` to learn that everything
 * sent so far was processed (errors arrive as frames, collected in `errors`).
 *
 *   const p = await IngestClient.connect({ url: 'ws://127.0.0.1:8080/ingest', key: WRITE_KEY });
 *   p.send({ t: 'snapshot', sym: 'ACME', ts: Date.now(), bids: [[99.5, 10]], asks: [[100.5, 12]] });
 *   p.send({ t: 'trade', sym: 'ACME', ts: Date.now(), px: 100.5, sz: 3, side: 'buy' });
 *   await p.flush();
 */
import type WebSocketType from 'ws';
import type { AckFrame, ErrorFrame, IngestMessage, ServerFrame } from '../protocol/frames.ts';
import { decodeMessage, encodeClientMsgpack } from '../protocol/codec.ts';
import { ConnectError } from './feed-client.ts';

export interface IngestClientOptions {
  url: string;
  key: string;
  headers?: Record<string, string>;
}

export class IngestClient {
  readonly errors: ErrorFrame[] = [];
  private flushId = 0;
  private readonly waiting = new Map<number, (a: AckFrame) => void>();
  private closedInfo: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  private onErr: ((e: ErrorFrame) => void) | undefined;

  private constructor(private readonly ws: WebSocketType) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closedInfo = { code, reason: reason.toString() };
        resolve(this.closedInfo);
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const f = decodeMessage(data, isBinary) as ServerFrame;
      if (f.t === 'error') {
        this.errors.push(f);
        this.onErr?.(f);
      } else if (f.t === 'ack') {
        const w = this.waiting.get(f.id as number);
        if (w) {
          this.waiting.delete(f.id as number);
          w(f);
        }
      }
    });
  }

  static async connect(o: IngestClientOptions): Promise<IngestClient> {
    const { default: WS } = await import('ws');
    const ws = new WS(o.url, { headers: { authorization: `Bearer ${o.key}`, ...o.headers }, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => reject(new ConnectError(res.statusCode ?? 0, `${res.statusCode} ${body.trim()}`)));
      });
      ws.once('error', reject);
    });
    return new IngestClient(ws);
  }

  onError(h: (e: ErrorFrame) => void): void {
    this.onErr = h;
  }

  /** Sends one message or a batch in one frame. */
  send(m: IngestMessage | IngestMessage[]): void {
    this.ws.send(encodeClientMsgpack(m));
  }

  /** Sends raw bytes or text (tests use it for malformed frames). */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }

  /** Resolves once the server has processed everything sent before it, with the count it accepted. */
  flush(timeoutMs = 5000): Promise<AckFrame> {
    const id = ++this.flushId;
    return new Promise<AckFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no ack within ${timeoutMs} ms${this.closedInfo ? ` (closed ${this.closedInfo.code} ${this.closedInfo.reason})` : ''}`));
      }, timeoutMs);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.ws.send(encodeClientMsgpack({ t: 'flush', id }));
    });
  }

  close(): Promise<{ code: number; reason: string }> {
    if (!this.closedInfo) this.ws.close(1000, 'bye');
    return this.closed;
  }
}
