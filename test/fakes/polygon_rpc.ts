// A local fake of a Polygon JSON-RPC endpoint (Infura's https://polygon-mainnet.infura.io/v3/<id>),
// for the tokens_data_v2 tests. It answers single and batched JSON-RPC requests on any path:
// eth_chainId, eth_blockNumber, and eth_call of the pools' three fee view functions on the
// token contracts (values configurable per address; anything else reverts as a contract
// without that function would). Faults (error statuses, truncated or malformed bodies, hangs)
// can be injected per HTTP request, and every request is recorded so that a test can see how
// many round trips the client made and what each carried.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { decodeFunctionData, encodeFunctionResult, numberToHex, type Hex } from "viem";
import { TOKENS } from "../../lib/constants.ts";
import { POOL_FEE_ABI, type FeeFunction } from "../../lib/polygon.ts";

/** A value a fee function returns: a uint256, or raw return data (e.g. "0x" for a malformed answer). */
export type FeeValue = bigint | { raw: Hex };

/** Per contract address (lower-case): the fee functions it has and what they return. */
export type FeeContracts = Record<string, Partial<Record<FeeFunction, FeeValue>>>;

/** The values the tests expect by default: BCT 2500/10000, NCT 1000/10000, UBO 250 bp, NBO 500 bp; MCO2 has none. */
export function defaultFeeContracts(): FeeContracts {
  return {
    [TOKENS.BCT.tokenAddress]: { feeRedeemPercentageInBase: 2500n, feeRedeemDivider: 10_000n },
    [TOKENS.NCT.tokenAddress]: { feeRedeemPercentageInBase: 1000n, feeRedeemDivider: 10_000n },
    [TOKENS.UBO.tokenAddress]: { feeRedeem: 250n },
    [TOKENS.NBO.tokenAddress]: { feeRedeem: 500n },
  };
}

export type RpcFault =
  | { kind: "none" } // answer this request normally (to aim a later fault at a later request)
  | { kind: "status"; status: number; retryAfterSeconds?: number; body?: string }
  | { kind: "truncated" }
  | { kind: "malformed" }
  | { kind: "hang" };

export interface RpcCall {
  method: string;
  params: unknown[];
}

export interface RpcRequestRecord {
  path: string;
  /** The body was a JSON array (a JSON-RPC batch). */
  batch: boolean;
  calls: RpcCall[];
  /** The fault this request got, if any. */
  fault?: RpcFault["kind"];
}

export interface FakePolygonRpcOptions {
  chainId?: number;
  blockNumber?: bigint;
  contracts?: FeeContracts;
}

export interface FakePolygonRpc {
  /** `http://127.0.0.1:<port>/`; any path is answered the same (`url` + `v3/<id>` looks like Infura). */
  url: string;
  origin: string;
  requests: RpcRequestRecord[];
  /** Mutable: tests may change values or remove functions between runs. */
  contracts: FeeContracts;
  setChainId(id: number): void;
  injectFaults(...faults: RpcFault[]): void;
  stop(): Promise<void>;
}

interface JsonRpcRequest {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: unknown; result: unknown }
  | { jsonrpc: "2.0"; id: unknown; error: { code: number; message: string; data?: unknown } };

const MAX_REQUEST_BODY = 1 << 20;

export async function startFakePolygonRpc(options: FakePolygonRpcOptions = {}): Promise<FakePolygonRpc> {
  let chainId = options.chainId ?? 137;
  const blockNumber = options.blockNumber ?? 55_000_000n;
  const contracts = options.contracts ?? defaultFeeContracts();
  const faults: RpcFault[] = [];
  const requests: RpcRequestRecord[] = [];

  function answer(request: unknown): JsonRpcResponse {
    const ok = (id: unknown, result: unknown): JsonRpcResponse => ({ jsonrpc: "2.0", id, result });
    const error = (id: unknown, code: number, message: string): JsonRpcResponse => ({ jsonrpc: "2.0", id, error: { code, message } });
    if (typeof request !== "object" || request === null || Array.isArray(request)) return error(null, -32600, "invalid request");
    const { jsonrpc, id, method, params } = request as JsonRpcRequest;
    if (jsonrpc !== "2.0" || typeof method !== "string") return error(id ?? null, -32600, "invalid request");
    const args = Array.isArray(params) ? params : [];
    switch (method) {
      case "eth_chainId":
        return ok(id, numberToHex(chainId));
      case "eth_blockNumber":
        return ok(id, numberToHex(blockNumber));
      case "eth_call": {
        const [tx, block = "latest"] = args as [{ to?: unknown; data?: unknown } | undefined, unknown];
        if (typeof tx?.to !== "string" || typeof tx.data !== "string") return error(id, -32602, "invalid argument 0: missing to or data");
        if (block !== "latest" && !(typeof block === "string" && /^0x[0-9a-f]+$/i.test(block))) return error(id, -32602, "invalid argument 1: bad block");
        const functions = contracts[tx.to.toLowerCase()];
        let functionName: FeeFunction;
        try {
          functionName = decodeFunctionData({ abi: POOL_FEE_ABI, data: tx.data as Hex }).functionName;
        } catch {
          return error(id, -32000, "execution reverted"); // no such function: the contract reverts
        }
        const value = functions?.[functionName];
        if (value === undefined) return error(id, -32000, "execution reverted");
        return ok(id, typeof value === "bigint" ? encodeFunctionResult({ abi: POOL_FEE_ABI, functionName, result: value }) : value.raw);
      }
      default:
        return error(id, -32601, `the method ${method} does not exist/is not available`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://fake-rpc").pathname;
    if (req.method !== "POST") {
      req.resume();
      sendText(res, 405, JSON.stringify({ error: "POST only" }));
      return;
    }
    const fault = faults.shift();
    const raw = await readBody(req);
    let parsed: unknown;
    let valid = true;
    try {
      parsed = JSON.parse(raw);
    } catch {
      valid = false;
    }
    const batch = Array.isArray(parsed);
    const list: unknown[] = batch ? (parsed as unknown[]) : valid ? [parsed] : [];
    const calls = list.map((r) => {
      const { method, params } = (r ?? {}) as JsonRpcRequest;
      return { method: String(method), params: Array.isArray(params) ? params : [] };
    });
    requests.push({ path, batch, calls, ...(fault && fault.kind !== "none" ? { fault: fault.kind } : {}) });

    if (fault?.kind === "hang") return; // never answered; stop() tears the socket down
    const full = (): string => {
      if (!valid) return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } });
      if (batch) {
        if (list.length === 0) return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "empty batch" } });
        return JSON.stringify(list.map(answer));
      }
      return JSON.stringify(answer(parsed));
    };
    if (fault && fault.kind !== "none") {
      sendFault(req.socket, res, fault, full);
      return;
    }
    sendText(res, 200, full());
  }

  const server = createServer((req, res) => {
    res.on("error", () => {});
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    url: `${origin}/`,
    origin,
    requests,
    contracts,
    setChainId: (id) => void (chainId = id),
    injectFaults: (...more) => void faults.push(...more),
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(text);
  res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length, ...headers });
  res.end(bytes);
}

function sendFault(socket: Socket, res: ServerResponse, fault: Exclude<RpcFault, { kind: "hang" | "none" }>, fullAnswer: () => string): void {
  switch (fault.kind) {
    case "status": {
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) };
      sendText(res, fault.status, fault.body ?? JSON.stringify({ error: "fault" }), headers);
      return;
    }
    case "malformed":
      // What a proxy in front of the node sends when it has a bad moment.
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>oops</html>");
      return;
    case "truncated": {
      // Promise the whole answer, deliver half of it, then drop the connection.
      const bytes = Buffer.from(fullAnswer());
      res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => socket.destroy());
      return;
    }
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
