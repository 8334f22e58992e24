// Country names as the registries spell them, to ISO 3166-1 alpha-3 codes.
// The library knows the official and common names; the alias table adds the
// registry spellings it misses. Unknown names give null (and the caller warns).
import { createRequire } from "node:module";

/**
 * The library with its English names only, loaded at the first lookup: its main entry loads all
 * of its 80 languages (80 files read and kept at every start of every flow script).
 */
let library: typeof import("i18n-iso-countries") | undefined;
function countries(): typeof import("i18n-iso-countries") {
  if (!library) {
    const require = createRequire(import.meta.url);
    library = require("i18n-iso-countries/index.js") as typeof import("i18n-iso-countries");
    library.registerLocale(require("i18n-iso-countries/langs/en.json"));
  }
  return library;
}

/** Spellings seen in carbon registries that the library does not resolve (or resolves to a non-ISO code). */
const ALIASES: Record<string, string> = {
  "viet nam": "VNM",
  "congo, the democratic republic of the": "COD",
  "congo, democratic republic of the": "COD",
  "tanzania, united republic of": "TZA",
  "burma": "MMR",
  "swaziland": "SWZ",
  "korea, democratic people's republic of": "PRK",
  "iran, islamic republic of": "IRN",
  "moldova, republic of": "MDA",
  "venezuela, bolivarian republic of": "VEN",
  "bolivia, plurinational state of": "BOL",
  "micronesia, federated states of": "FSM",
  "macedonia, the former yugoslav republic of": "MKD",
  "palestine, state of": "PSE",
  "taiwan, province of china": "TWN",
  // Kosovo has no ISO 3166 code; XKX is the user-assigned code used by the EU, IMF and World Bank.
  "kosovo": "XKX",
};

const cache = new Map<string, string | null>();

/** The alpha-3 code of a country name, or null when the name is unknown. */
export function countryCode(name: string | null | undefined): string | null {
  if (!name) return null;
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const key = name.trim().toLowerCase().replace(/\s+/g, " ");
  const code = ALIASES[key] ?? countries().getAlpha3Code(name.trim(), "en") ?? null;
  cache.set(name, code);
  return code;
}
