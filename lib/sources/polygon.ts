// Polygon contract calls of tokens_data_v2 (docs/datasets.md §5.13, §6.3): the redeem fee of
// each pool token, read with viem over JSON-RPC. The connection is asserted first
// (eth_chainId must be Polygon mainnet); then every view call goes, at the latest block,
// in one JSON-RPC batch (one HTTP round trip). Requests have the bounds of lib/sources/http.ts: viem's
// own timeout (a total one) is the deadline, the idle timeout is undici's, the answer is capped
// and a redirect is not followed. Failures become one-line SourceErrors that name the RPC by its
// origin only: the Infura project id sits in the URL path.
import { createRequire } from "node:module";
import path from "node:path";
import type { Address, ContractFunctionExecutionError, ResponseBodyTooLargeError, RpcRequestError, HttpRequestError, BaseError } from "viem";
import type { getChainId, readContract } from "viem/actions";
import { TOKEN_NAMES, TOKENS, type TokenName } from "./constants.ts";
import { errorMessage, SourceError, UserError } from "../core/errors.ts";
import { httpBounds, parseRetryAfter, redirectError, seconds, statusError, tooLargeError, type HttpBounds } from "./http.ts";
import { redact } from "../core/redact.ts";
import { undici } from "../core/undici.ts";
import type { SourceContext } from "./context.ts";

export const POLYGON_CHAIN_ID = 137;

/** The parts of viem we call, as viem and viem/actions export them. */
export type ViemParts = Pick<typeof import("viem"),
  "createClient" | "http" | "getAddress" | "BaseError" | "TimeoutError" | "ResponseBodyTooLargeError" | "RpcRequestError" | "HttpRequestError" | "ContractFunctionExecutionError"
> & { getChainId: typeof getChainId; readContract: typeof readContract };

/** Where each part is, in viem's CommonJS build (beside its index). */
const VIEM_FILES: Record<keyof ViemParts, string> = {
  createClient: "clients/createClient.js",
  http: "clients/transports/http.js",
  getChainId: "actions/public/getChainId.js",
  readContract: "actions/public/readContract.js",
  getAddress: "utils/address/getAddress.js",
  BaseError: "errors/base.js",
  TimeoutError: "errors/request.js",
  ResponseBodyTooLargeError: "errors/request.js",
  RpcRequestError: "errors/request.js",
  HttpRequestError: "errors/request.js",
  ContractFunctionExecutionError: "errors/contract.js",
};

let viemParts: ViemParts | undefined;

/**
 * viem's parts, loaded when a flow first calls the RPC, as CommonJS and each from its own file: its
 * ES modules are some 400 files (half a second of start-up), and its index loads all of viem (424
 * files with what they need: 0.2 s of CPU through tsx's loader, where these take 124 and 0.08 s;
 * docs/architecture.md §3).
 */
export function viem(): ViemParts {
  if (viemParts) return viemParts;
  const require = createRequire(import.meta.url);
  const folder = path.dirname(require.resolve("viem"));
  const parts: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(VIEM_FILES)) {
    let value: unknown;
    try {
      value = (require(path.join(folder, file)) as Record<string, unknown>)[name];
    } catch (error) {
      if ((error as { code?: string }).code !== "MODULE_NOT_FOUND") throw error;
    }
    // Its files are not its interface: an upgrade may move them, and that must say so, not fail later.
    if (value === undefined) throw new Error(`viem has no ${name} in ${file} (lib/sources/polygon.ts names where its parts are; has viem been upgraded?)`);
    parts[name] = value;
  }
  return (viemParts = parts as ViemParts);
}

/** The three view functions we call (Toucan pool: the first two; C3 pool: the third), as parseAbi would make them. */
export const POOL_FEE_ABI = (["feeRedeemPercentageInBase", "feeRedeemDivider", "feeRedeem"] as const).map((name) => ({
  type: "function", name, stateMutability: "view", inputs: [], outputs: [{ type: "uint256" }],
} as const));

export type FeeFunction = "feeRedeemPercentageInBase" | "feeRedeemDivider" | "feeRedeem";

/** C3's `feeRedeem()` is in basis points. */
const C3_FEE_BASE = 10_000;

interface FeeCall {
  token: TokenName;
  address: Address;
  functionName: FeeFunction;
}

/** The calls each token needs, by bridge: Toucan pools two, C3 pools one, Moss none. */
export function feeCalls(): FeeCall[] {
  return TOKEN_NAMES.flatMap((token): FeeCall[] => {
    const { bridge, tokenAddress } = TOKENS[token];
    const address = viem().getAddress(tokenAddress); // checksummed, as the original did
    if (bridge === "Toucan") {
      return [
        { token, address, functionName: "feeRedeemPercentageInBase" },
        { token, address, functionName: "feeRedeemDivider" },
      ];
    }
    if (bridge === "C3") return [{ token, address, functionName: "feeRedeem" }];
    return [];
  });
}

/**
 * The redeem fee factor of every token: BCT, NCT = feeRedeemPercentageInBase() / feeRedeemDivider();
 * UBO, NBO = feeRedeem() / 10000; MCO2 = 0. Transient failures are retried with ctx.retry.
 */
export async function feeRedeemFactors(ctx: SourceContext): Promise<Record<TokenName, number>> {
  const url = ctx.config.urls.polygonRpc;
  if (!url) {
    throw new UserError("no Polygon RPC configured: set WEB3_INFURA_PROJECT_ID (Infura) or DATA_PIPELINES_POLYGON_RPC_URL");
  }
  const where = `Polygon RPC (${new URL(url).origin})`;
  const bounds = httpBounds(ctx.config);
  // viem loses the HTTP status when an error answer is labelled JSON but is not: keep it here.
  let failedStatus: HttpStatus | undefined;
  const { Agent, fetch } = undici();
  const idle = new Agent({ headersTimeout: bounds.timeoutMs, bodyTimeout: bounds.timeoutMs });
  const { createClient, http } = viem();
  const client = createClient({
    // batch: calls made in the same tick go in one JSON-RPC batch; retries are ours (ctx.retry), not viem's.
    transport: http(url, {
      batch: true,
      retryCount: 0,
      timeout: bounds.deadlineMs, // viem's timeout covers the body too: it is the total deadline
      maxResponseBodySize: bounds.maxBytes,
      fetchOptions: { redirect: "manual" },
      fetchFn: (input, init) => fetch(input as string, { ...init, dispatcher: idle } as never) as unknown as Promise<Response>,
      onFetchResponse: (response) => {
        if (!response.ok) {
          const header = (name: string) => response.headers.get(name) ?? undefined;
          failedStatus = { status: response.status, retryAfterMs: parseRetryAfter(header("retry-after")), location: header("location") };
        }
      },
    }),
  });
  const call = <T>(what: string, request: () => Promise<T>) =>
    ctx.retry(`${where} ${what}`, async () => {
      failedStatus = undefined; // one HTTP request in flight at a time: the chain id, then the batch
      try {
        return await request();
      } catch (error) {
        throw rpcError(`${where}, ${what}`, error, bounds, failedStatus, url);
      }
    });
  try {
    return await readFactors(ctx, where, client, call);
  } finally {
    await idle.destroy(); // no socket of ours outlives the call
  }
}

type Client = ReturnType<typeof import("viem").createClient>;
type Call = <T>(what: string, request: () => Promise<T>) => Promise<T>;

/** The chain check, then the fee calls in one batch, as factors. */
async function readFactors(ctx: SourceContext, where: string, client: Client, call: Call): Promise<Record<TokenName, number>> {
  const { getChainId, readContract } = viem();
  const chainId = await call("eth_chainId", () => getChainId(client));
  if (!Number.isSafeInteger(chainId)) throw new SourceError(`${where}: eth_chainId answered a malformed chain id`, false);
  if (chainId !== POLYGON_CHAIN_ID) {
    throw new SourceError(`${where} is chain ${chainId}, not Polygon mainnet (${POLYGON_CHAIN_ID}): check DATA_PIPELINES_POLYGON_RPC_URL`, false);
  }

  const calls = feeCalls();
  const values = await call(`${calls.length} fee calls`, () =>
    Promise.all(calls.map((c) => readContract(client, { address: c.address, abi: POOL_FEE_ABI, functionName: c.functionName }))),
  );
  const value = (token: TokenName, functionName: FeeFunction): bigint => values[calls.findIndex((c) => c.token === token && c.functionName === functionName)]!;

  const factors = {} as Record<TokenName, number>;
  for (const token of TOKEN_NAMES) {
    const { bridge } = TOKENS[token];
    if (bridge === "Toucan") {
      const divider = value(token, "feeRedeemDivider");
      if (divider === 0n) throw new SourceError(`${where}: ${token} feeRedeemDivider() is 0`, false);
      factors[token] = Number(value(token, "feeRedeemPercentageInBase")) / Number(divider);
    } else if (bridge === "C3") {
      factors[token] = Number(value(token, "feeRedeem")) / C3_FEE_BASE;
    } else {
      factors[token] = 0;
    }
  }
  ctx.log.info(`${where}: chain ${chainId}; fee redeem factors ${TOKEN_NAMES.map((t) => `${t} ${factors[t]}`).join(", ")}`);
  return factors;
}

export interface HttpStatus {
  status: number;
  retryAfterMs?: number;
  location?: string;
}

// JSON-RPC error codes worth another try: internal error, resource unavailable, limit exceeded.
const TRANSIENT_RPC_CODES = new Set([-32603, -32002, -32005]);

/**
 * A viem failure as a one-line SourceError. Transient: HTTP 408/429/5xx, timeouts, network
 * errors, a body that is cut short or not JSON, rate-limit and internal JSON-RPC errors.
 * Permanent: a revert, other HTTP 4xx and JSON-RPC errors, an answer that does not decode.
 * Never quotes the URL (viem's own messages do).
 */
export function rpcError(where: string, error: unknown, bounds: HttpBounds, failedStatus?: HttpStatus, url = ""): SourceError {
  if (error instanceof SourceError) return error;
  const fail = (text: string, transient: boolean) => new SourceError(`${where}: ${text}`, transient);
  const { BaseError, TimeoutError, ResponseBodyTooLargeError, RpcRequestError, HttpRequestError } = viem();
  if (!(error instanceof BaseError)) return fail(short(errorMessage(error)), false);

  if (error.walk((e) => e instanceof TimeoutError)) return fail(`no complete answer within ${seconds(bounds.deadlineMs)} s (DATA_PIPELINES_HTTP_DEADLINE_SECONDS)`, true);
  const tooLarge = error.walk((e) => e instanceof ResponseBodyTooLargeError) as ResponseBodyTooLargeError | null;
  if (tooLarge) return tooLargeError(where, bounds.maxBytes, "reading stopped there");
  const rpc = error.walk((e) => e instanceof RpcRequestError) as RpcRequestError | null;
  const httpError = error.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null;
  const nodeMessage = rpc ? short(rpc.details) : "";
  if (rpc && (rpc.code === 3 || /revert/i.test(nodeMessage))) return fail(`${callOf(error) || "a call"} reverted (${nodeMessage})`, false);

  const status = rpc?.status ?? httpError?.status ?? failedStatus?.status;
  if (status !== undefined) {
    const headers = rpc?.headers ?? httpError?.headers;
    const header = (name: string) => headers?.get(name) ?? undefined;
    if (status >= 300 && status < 400) return redirectError(where, status, header("location") ?? failedStatus?.location, url);
    const retryAfter = headers ? parseRetryAfter(header("retry-after")) : failedStatus?.retryAfterMs;
    return statusError(where, status, retryAfter, bounds.retryAfterMaxMs, rpc ? ` (JSON-RPC error ${rpc.code}: ${nodeMessage})` : "");
  }
  if (rpc) return fail(`JSON-RPC error ${rpc.code}: ${nodeMessage}`, TRANSIENT_RPC_CODES.has(rpc.code));
  if (httpError) {
    const cause = httpError.cause as (Error & { cause?: { code?: string } }) | undefined;
    if (cause instanceof SyntaxError) return fail("answer is not valid JSON", true);
    if (cause && /^Expected \d+ responses/.test(cause.message)) return fail(`malformed batch answer (${short(cause.message)})`, false);
    const root = cause?.cause as (Error & { code?: string }) | undefined; // undici's system error under "fetch failed"
    if (root?.code === "ECONNREFUSED") return fail("connection refused (is the RPC up?)", true);
    if (root?.code === "UND_ERR_HEADERS_TIMEOUT") return fail(`no answer within ${seconds(bounds.timeoutMs)} s`, true);
    if (root?.code === "UND_ERR_BODY_TIMEOUT") return fail(`answer stalled: no byte for ${seconds(bounds.timeoutMs)} s`, true);
    if (cause?.message === "terminated") return fail("answer cut short", true);
    return fail(`network error (${short(root instanceof Error ? root.message : cause?.message ?? httpError.shortMessage)})`, true);
  }
  // The answer arrived but does not decode (no data, wrong size, not hex): the contract or node is not what we expect.
  const call = callOf(error);
  return fail(`malformed answer${call ? ` to ${call}` : ""} (${short(error.shortMessage)})`, false);
}

/** "NBO feeRedeem()" when the error belongs to one contract call, else "". */
function callOf(error: BaseError): string {
  const failed = error.walk((e) => e instanceof viem().ContractFunctionExecutionError) as ContractFunctionExecutionError | null;
  if (!failed?.contractAddress) return "";
  const token = TOKEN_NAMES.find((t) => TOKENS[t].tokenAddress === failed.contractAddress!.toLowerCase());
  return `${token ?? failed.contractAddress} ${failed.functionName}()`;
}

function short(text: string | undefined): string {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  return redact(flat.length > 160 ? `${flat.slice(0, 160)}…` : flat);
}
