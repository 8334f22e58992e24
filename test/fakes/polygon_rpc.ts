// A local fake of a Polygon JSON-RPC endpoint (Infura's https://polygon-mainnet.infura.io/v3/<id>),
// for the tokens_data_v2 tests. It answers single and batched JSON-RPC requests on any path:
// eth_chainId, eth_blockNumber, and eth_call of the pools' three fee view functions on the
// token contracts (values configurable per address; anything else reverts as a contract
// without that function would). Faults (error statuses, truncated or malformed bodies, hangs)
// can be injected per HTTP request, and every request is recorded so that a test can see how
// many round trips the client made and what each carried.

import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeFunctionData, encodeFunctionResult, numberToHex, type Hex } from "viem";
import { TOKENS } from "../../lib/sources/constants.ts";
import { POOL_FEE_ABI, type FeeFunction } from "../../lib/sources/polygon.ts";
import { parseJson, readBody, sendFault, sendText, startFakeHttpServer, type HttpFault } from "./http.ts";

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

/** The shared HTTP faults, plus "none": answer this request normally (to aim a later fault at a later request). */
export type RpcFault = HttpFault | { kind: "none" };

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
    // Taken on arrival so that faults follow request order.
    const fault = faults.shift();
    const body = parseJson(await readBody(req));
    const valid = body.ok;
    const parsed = body.ok ? body.value : undefined;
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

  const server = await startFakeHttpServer(handle);
  const origin = `http://127.0.0.1:${server.port}`;

  return {
    url: `${origin}/`,
    origin,
    requests,
    contracts,
    setChainId: (id) => void (chainId = id),
    injectFaults: (...more) => void faults.push(...more),
    stop: () => server.stop(),
  };
}
