// Constants shared by flows (docs/datasets.md §6).

export type TokenName = "BCT" | "NCT" | "MCO2" | "UBO" | "NBO";

export interface TokenInfo {
  /** The token's pair on the pairs subgraph (KLIMA/BCT, NCT/USDC, ...). */
  pairAddress: string;
  /** The token on Polygon. */
  tokenAddress: string;
  fullName: string;
  bridge: "Toucan" | "Moss" | "C3";
  decimals: number;
}

/** The carbon tokens; this key order is the iteration order everywhere. Addresses are lower-case. */
export const TOKENS: Record<TokenName, TokenInfo> = {
  BCT: { pairAddress: "0x9803c7ae526049210a1725f7487af26fe2c24614", tokenAddress: "0x2f800db0fdb5223b3c3f354886d907a671414a7f", fullName: "Base Carbon Tonne", bridge: "Toucan", decimals: 18 },
  NCT: { pairAddress: "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca", tokenAddress: "0xd838290e877e0188a4a44700463419ed96c16107", fullName: "Nature Carbon Tonne", bridge: "Toucan", decimals: 18 },
  MCO2: { pairAddress: "0x64a3b8ca5a7e406a78e660ae10c7563d9153a739", tokenAddress: "0xaa7dbd1598251f856c12f63557a4c4397c253cea", fullName: "Moss Carbon Credit", bridge: "Moss", decimals: 18 },
  UBO: { pairAddress: "0x5400a05b8b45eaf9105315b4f2e31f806ab706de", tokenAddress: "0x2b3ecb0991af0498ece9135bcd04013d7993110c", fullName: "Universal Basic Offset", bridge: "C3", decimals: 18 },
  NBO: { pairAddress: "0x251ca6a70cbd93ccd7039b6b708d4cb9683c266c", tokenAddress: "0x6bca3b77c1909ce1a4ba1a20d1103bde8d222e48", fullName: "Nature Based Offset", bridge: "C3", decimals: 18 },
};

export const TOKEN_NAMES = Object.keys(TOKENS) as TokenName[];

/** An NCT/USDC hourly candle with an absurd close (2023-03-21 21:00 UTC), left out of prices. */
export const MISPRICED_NCT_SWAP = "0xdb995f975f1bfc3b2157495c47e4efb31196b2ca1679432400";

/** A retiree whose retirements raw_polygon_retired_offsets leaves out. */
export const EXCLUDED_RETIREE = "0x693ad12dba5f6e07de86faa21098b691f60a1bea";

export const HOLDER_NAMES: Record<string, string> = {
  "0x7dd4f0b986f032a44f913bf92c9e8b7c17d77ad7": "KlimaDAO",
  "0x1e67124681b402064cd0abe8ed1b5c79d2e02f64": "Olympus DAO",
};

export const ZERO_TX_HASH = `0x${"0".repeat(64)}`;
export const PROOF_URL_PREFIX = "https://polygonscan.com/tx/";
