// A local fake of the Verra registry search API
// (POST https://registry.verra.org/uiapi/asset/asset/search), for tests and benchmarks.
// It serves generated, realistic records filtered by issuance-date window, caps each answer
// like the real server does, and can inject faults (error statuses, truncated or malformed
// bodies, hangs) so that the client's splitting, retries and timeouts can be exercised offline.

import type { IncomingMessage, ServerResponse } from "node:http";
import { parseJson, readBody, sendFault, sendJson, sendNotFound, startFakeHttpServer, type Delay, type HttpFault } from "./http.ts";
import { int, mulberry32, pick, weighted, type Rand } from "./random.ts";
import { readSample } from "./sample.ts";

export interface VerraRecord { [key: string]: string | number | boolean | null }

export type VerraFault = HttpFault;

export interface FakeVerraOptions {
  records?: VerraRecord[];
  maxRowsPerAnswer?: number;
  latencyMs?: number;
  /**
   * Encode each record to JSON bytes once, at start, instead of in every answer (benchmarks: the
   * fake's CPU shares the machine with the pipelines it serves). Changes made to `records` later are not seen.
   */
  serializeOnce?: boolean;
}

export interface FakeVerra {
  url: string;
  records: VerraRecord[];
  requests: Array<{ query: Record<string, string>; body: any; served: number; totalCount: number }>;
  injectFaults(...faults: VerraFault[]): void;
  setLatency(ms: number): void;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const SEARCH_PATH = "/uiapi/asset/asset/search";
// Records serialized per write: keeps memory bounded for 500k-record datasets.
const STREAM_CHUNK = 1000;

/**
 * Starts the fake on 127.0.0.1 (random port). The date index is built once from `records`
 * at start; mutating `records` afterwards is not reflected in answers.
 */
export async function startFakeVerra(options: FakeVerraOptions = {}): Promise<FakeVerra> {
  const records = options.records ?? generateVerraRecords(2000);
  const maxRows = options.maxRowsPerAnswer ?? 10_000;
  let latencyMs = options.latencyMs ?? 0;
  const index = buildDateIndex(records);
  const encoded = options.serializeOnce ? encodeRecords(records) : undefined;
  const faults: VerraFault[] = [];
  const requests: FakeVerra["requests"] = [];

  async function handle(req: IncomingMessage, res: ServerResponse, delay: Delay): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-verra");
    if (req.method !== "POST" || url.pathname !== SEARCH_PATH) {
      sendNotFound(req, res, url.pathname);
      return;
    }
    // Taken on arrival so that faults follow request order even when bodies arrive late.
    const fault = faults.shift();
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    const parsed = parseJson(raw);
    const body = parsed.ok ? parsed.value : raw;
    const record = (served: number, totalCount: number) => requests.push({ query, body, served, totalCount });

    if (fault?.kind === "hang") {
      record(0, 0); // never answered; stop() tears the socket down
      return;
    }
    await delay(latencyMs);
    if (res.destroyed) return;

    const search = parsed.ok ? parseSearch(parsed.value) : { error: "request body is not valid JSON" };
    if (fault) {
      record(0, 0);
      sendFault(req.socket, res, fault, () => answerJson(search));
      return;
    }
    if ("error" in search) {
      record(0, 0);
      sendJson(res, 400, { error: search.error });
      return;
    }
    const { totalCount, positions } = findWindow(index, search, maxRows);
    record(positions.length, totalCount);
    await streamAnswer(res, encoded ?? records, totalCount, positions);
  }

  // Only used by the "truncated" fault: the full answer it cuts in half.
  function answerJson(search: Search | { error: string }): string {
    if ("error" in search) return JSON.stringify({ totalCount: 0, value: [] });
    const { totalCount, positions } = findWindow(index, search, maxRows);
    return JSON.stringify({ totalCount, value: Array.from(positions, (p) => records[p]) });
  }

  const { port, stop } = await startFakeHttpServer(handle);
  return {
    url: `http://127.0.0.1:${port}${SEARCH_PATH}`,
    records,
    requests,
    injectFaults: (...more) => void faults.push(...more),
    setLatency: (ms) => void (latencyMs = ms),
    stop,
  };
}

/** Every record's JSON, each followed by a comma, in one buffer: record i is `bytes[starts[i], starts[i + 1] - 1)`. */
interface EncodedRecords { bytes: Buffer; starts: Float64Array }

function encodeRecords(records: VerraRecord[]): EncodedRecords {
  const texts = records.map((r) => JSON.stringify(r) + ",");
  const starts = new Float64Array(records.length + 1);
  for (let i = 0; i < texts.length; i++) starts[i + 1] = starts[i]! + Buffer.byteLength(texts[i]!);
  const bytes = Buffer.allocUnsafe(starts[records.length]!);
  for (let i = 0; i < texts.length; i++) bytes.write(texts[i]!, starts[i]!);
  return { bytes, starts };
}

/** The records at `positions` as JSON array items, without brackets: a run of neighbours is one slice of the buffer. */
function encodedItems({ bytes, starts }: EncodedRecords, positions: Uint32Array): Buffer {
  const pieces: Buffer[] = [];
  for (let i = 0; i < positions.length;) {
    let j = i + 1;
    while (j < positions.length && positions[j] === positions[j - 1]! + 1) j++;
    pieces.push(bytes.subarray(starts[positions[i]!]!, starts[positions[j - 1]! + 1]!));
    i = j;
  }
  const items = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  return items.subarray(0, items.length - 1); // the last item's comma
}

/** Writes `{"totalCount":N,"value":[...]}` in pieces, honouring backpressure; records may come encoded already. */
async function streamAnswer(res: ServerResponse, records: VerraRecord[] | EncodedRecords, totalCount: number, positions: Uint32Array): Promise<void> {
  res.writeHead(200, { "content-type": "application/json" });
  if (!res.write(`{"totalCount":${totalCount},"value":[`) && !(await drained(res))) return;
  for (let start = 0; start < positions.length; start += STREAM_CHUNK) {
    if (res.destroyed) return;
    const chunk = positions.subarray(start, start + STREAM_CHUNK);
    if (start > 0 && !res.write(",") && !(await drained(res))) return;
    // One JSON.stringify per chunk is faster than one per record.
    const piece = Array.isArray(records) ? JSON.stringify(Array.from(chunk, (p) => records[p])).slice(1, -1) : encodedItems(records, chunk);
    if (!res.write(piece) && !(await drained(res))) return;
  }
  res.end("]}");
}

/** Resolves true on 'drain', false if the response closes first (client gone, stop()). */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}

// ---------------------------------------------------------------------------------------------
// Search: body validation and the issuance-date index
// ---------------------------------------------------------------------------------------------

interface Search { start?: string; end?: string }

function parseSearch(body: unknown): Search | { error: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { error: "body must be a JSON object" };
  const fields = body as Record<string, unknown>;
  if (fields.program !== "VCS") return { error: `unsupported program: ${JSON.stringify(fields.program)}` };
  const search: Search = {};
  for (const [name, key] of [["issuanceStartInclusive", "start"], ["issuanceEndInclusive", "end"]] as const) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    if (!isIsoDate(value)) return { error: `${name} must be a YYYY-MM-DD date, got ${JSON.stringify(value)}` };
    search[key] = value;
  }
  return search;
}

function isIsoDate(value: unknown): value is string {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const [y, m, d] = value.split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** Record positions sorted by issuance day (ties by position), with their day keys. */
interface DateIndex {
  keys: string[];
  positions: Uint32Array;
  inRecordOrder: boolean; // records already sorted by date: any window is in record order
}

function buildDateIndex(records: VerraRecord[]): DateIndex {
  const days = records.map((r) => String(r.issuanceDate ?? "").slice(0, 10));
  const positions = new Uint32Array(records.length);
  for (let i = 0; i < positions.length; i++) positions[i] = i;
  let inRecordOrder = true;
  for (let i = 1; i < days.length && inRecordOrder; i++) inRecordOrder = days[i - 1]! <= days[i]!;
  if (!inRecordOrder) positions.sort((a, b) => (days[a]! < days[b]! ? -1 : days[a]! > days[b]! ? 1 : a - b));
  return { keys: Array.from(positions, (p) => days[p]!), positions, inRecordOrder };
}

/** Positions of the window's records in `records` order, at most `maxRows`, and the full count. */
function findWindow(index: DateIndex, search: Search, maxRows: number): { totalCount: number; positions: Uint32Array } {
  const { keys } = index;
  let lo = search.start === undefined ? 0 : lowerBound(keys, search.start);
  const hi = search.end === undefined ? keys.length : upperBound(keys, search.end);
  // Records without an issuance date never fall inside a bounded window.
  if (search.start !== undefined || search.end !== undefined) lo = Math.max(lo, upperBound(keys, ""));
  if (hi <= lo) return { totalCount: 0, positions: new Uint32Array(0) };
  let matched = index.positions.subarray(lo, hi);
  if (!index.inRecordOrder) matched = matched.slice().sort();
  return { totalCount: hi - lo, positions: matched.subarray(0, maxRows) };
}

/** First index whose key is >= target. */
function lowerBound(keys: string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > target. */
function upperBound(keys: string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Record generator
// ---------------------------------------------------------------------------------------------

/** `length` hex digits, one draw each (not ./subgraph_data.ts's 32-bit draws: other output). */
const hex = (rand: Rand, length: number) => Array.from({ length }, () => Math.floor(rand() * 16).toString(16)).join("");

// --- Days as integers (days since 1970-01-01), formatted through a lookup table ----------------

const DAY_MS = 86_400_000;
const dayNumber = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d) / DAY_MS;
const TABLE_FIRST_DAY = dayNumber(1990, 1, 1);
// Formatting 500k records' dates with Date objects is the generator's hot spot; a table is not.
const ISO_DAYS: string[] = Array.from({ length: dayNumber(2036, 1, 1) - TABLE_FIRST_DAY }, (_, i) =>
  new Date((TABLE_FIRST_DAY + i) * DAY_MS).toISOString().slice(0, 10),
);
const isoDay = (day: number) => ISO_DAYS[day - TABLE_FIRST_DAY] ?? new Date(day * DAY_MS).toISOString().slice(0, 10);
const isoDateTime = (day: number) => `${isoDay(day)}T00:00:00`;
const yearOf = (day: number) => Number(isoDay(day).slice(0, 4));
/** dd/mm/yyyy-style digits used inside serial numbers: 01072014. */
const serialDate = (day: number) => {
  const iso = isoDay(day);
  return iso.slice(8, 10) + iso.slice(5, 7) + iso.slice(0, 4);
};

const LAST_ISSUANCE = dayNumber(2026, 10, 31);

// Relative issuance volume per year: the 2021 voluntary-market boom dominates.
const YEAR_WEIGHT: Record<number, number> = {
  2009: 0.3, 2010: 0.5, 2011: 0.8, 2012: 1.1, 2013: 1.2, 2014: 1.3, 2015: 1.4, 2016: 1.5, 2017: 1.7,
  2018: 2.1, 2019: 2.7, 2020: 3.4, 2021: 7, 2022: 5, 2023: 3.6, 2024: 3.1, 2025: 2.8, 2026: 2.5,
};

/** A sampler of issuance days: months weighted by year, jittered, with occasional spikes. */
function issuanceDaySampler(rand: Rand): (rand: Rand) => number {
  const months: Array<{ first: number; days: number }> = [];
  const weights: number[] = [];
  for (let y = 2009; y <= 2026; y++) {
    for (let m = 1; m <= 12; m++) {
      const first = dayNumber(y, m, 1);
      if (first > LAST_ISSUANCE) break;
      months.push({ first, days: dayNumber(y, m + 1, 1) - first });
      const spike = rand() < 0.08 ? 3 : 1;
      weights.push((YEAR_WEIGHT[y] ?? 1) * (0.4 + rand() * 1.2) * spike);
    }
  }
  const month = weighted(months, weights);
  return (r) => {
    const { first, days } = month(r);
    return first + Math.floor(r() * days);
  };
}

// --- Vocabularies -------------------------------------------------------------------------------

interface Country { name: string; region: string; iso2: string }

// Spellings as the registry writes them, including the ones country lookups trip over.
const COUNTRIES: Array<Country & { weight: number }> = [
  { name: "Brazil", region: "Latin America", iso2: "BR", weight: 10 },
  { name: "India", region: "Asia", iso2: "IN", weight: 12 },
  { name: "China", region: "Asia", iso2: "CN", weight: 10 },
  { name: "Peru", region: "Latin America", iso2: "PE", weight: 4 },
  { name: "Indonesia", region: "Asia", iso2: "ID", weight: 4 },
  { name: "Kenya", region: "Africa", iso2: "KE", weight: 3 },
  { name: "Cambodia", region: "Asia", iso2: "KH", weight: 2 },
  { name: "Colombia", region: "Latin America", iso2: "CO", weight: 4 },
  { name: "Viet Nam", region: "Asia", iso2: "VN", weight: 3 },
  { name: "Korea, Republic of", region: "Asia", iso2: "KR", weight: 2 },
  { name: "Congo, The Democratic Republic of the", region: "Africa", iso2: "CD", weight: 2 },
  { name: "Congo", region: "Africa", iso2: "CG", weight: 1 },
  { name: "Bolivia", region: "Latin America", iso2: "BO", weight: 1 },
  { name: "Turkey", region: "Europe", iso2: "TR", weight: 3 }, // spelled Türkiye from mid-2022, see countryName
  { name: "Lao People's Democratic Republic", region: "Asia", iso2: "LA", weight: 1 },
  { name: "United States", region: "North America", iso2: "US", weight: 4 },
  { name: "Tanzania, United Republic of", region: "Africa", iso2: "TZ", weight: 1 },
  { name: "Côte d'Ivoire", region: "Africa", iso2: "CI", weight: 1 },
  { name: "Niger", region: "Africa", iso2: "NE", weight: 0.5 },
  { name: "Nigeria", region: "Africa", iso2: "NG", weight: 1 },
  { name: "Myanmar", region: "Asia", iso2: "MM", weight: 1 },
  { name: "Cape Verde", region: "Africa", iso2: "CV", weight: 0.5 },
  { name: "Timor-Leste", region: "Asia", iso2: "TL", weight: 0.5 },
  { name: "Kosovo", region: "Europe", iso2: "XK", weight: 0.3 },
  { name: "Papua New Guinea", region: "Oceania", iso2: "PG", weight: 0.7 },
];

/** The registry renamed Turkey to Türkiye in 2022; old and new issuances carry both spellings. */
const countryName = (country: Country, issuance: number) =>
  country.iso2 === "TR" && issuance >= dayNumber(2022, 6, 1) ? "Türkiye" : country.name;
const pickCountry = weighted(COUNTRIES, COUNTRIES.map((c) => c.weight));

interface Category { name: string; sector: string; protocols: readonly (string | null)[]; kinds: readonly string[]; weight: number }

const CATEGORIES: Category[] = [
  {
    name: "Agriculture Forestry and Other Land Use", sector: "14", weight: 30,
    protocols: ["VM0015", "VM0007; VMD0001", "VM0009", "VM0006", "AR-ACM0003", "VM0010", "VM0042", null],
    kinds: ["REDD+ Project", "Forest Conservation Project", "Mangrove Restoration", "Improved Forest Management", "Reforestation Project"],
  },
  {
    name: "Energy industries (renewable/non-renewable sources)", sector: "1", weight: 40,
    protocols: ["ACM0002", "AMS-I.D.", "ACM0006", "AMS-I.C.; AMS-I.D.", "ACM0018", null],
    kinds: ["Wind Power Project", "Hydropower Project", "Solar Power Plant", "Biomass Cogeneration Project"],
  },
  {
    name: "Waste handling and disposal", sector: "13", weight: 8,
    protocols: ["ACM0001", "AMS-III.G.", "AMS-III.F."],
    kinds: ["Landfill Gas Project", "Composting Project"],
  },
  {
    name: "Energy demand", sector: "3", weight: 6,
    protocols: ["AMS-II.G.", "VMR0006", "AMS-II.J."],
    kinds: ["Improved Cookstoves Project", "Efficient Lighting Programme"],
  },
  {
    name: "Manufacturing industries", sector: "4", weight: 4,
    protocols: ["ACM0005", "AMS-III.Z."],
    kinds: ["Cement Blending Project", "Brick Kiln Efficiency Project"],
  },
  {
    name: "Chemical industry", sector: "5", weight: 2,
    protocols: ["AM0021", "AM0028"],
    kinds: ["N2O Abatement Project"],
  },
  {
    name: "Livestock, enteric fermentation, and manure management", sector: "15", weight: 3,
    protocols: ["AMS-III.D.", "ACM0010"],
    kinds: ["Swine Manure Biogas Project"],
  },
  {
    name: "Fugitive emissions from fuels (solid, oil and gas)", sector: "8", weight: 2,
    protocols: ["ACM0008", "AM0023"],
    kinds: ["Coal Mine Methane Project"],
  },
  {
    name: "Transport", sector: "7", weight: 1,
    protocols: ["VM0019", "AMS-III.C."],
    kinds: ["Bus Rapid Transit Project"],
  },
];

const pickCategory = weighted(CATEGORIES, CATEGORIES.map((c) => c.weight));

const PLACES = [
  "Rio Jaú", "Keo Seima", "Kasigau", "Katingan", "Gansu", "Tamil Nadu", "Mai Ndombe", "Cordillera Azul", "Kariba",
  "Añasco", "São Félix do Xingu", "Đắk Lắk", "Rimba Raya", "Ceará", "Inner Mongolia", "Gujarat", "Madre de Dios",
  "Lake Kivu", "Chyulu Hills", "Alto Mayo", "Karnataka", "Yunnan", "Sichuan", "Mato Grosso", "Oaxaca", "Bugesera",
];
const OBJECTIVES = [null, null, "Climate", "Climate; Community", "Climate; Community; Biodiversity"];
const CERTIFICATIONS = [
  null, null, null, "CCB-Gold", "CCB-Biodiversity Gold; CCB-Community Gold", "Social Carbon",
  "CCB-Climate Gold; CCB-Community Gold; CCB-Biodiversity Gold", "W+",
];
const INPUT_TYPES = [null, "Issuance", "Issuance", "Conversion", "Re-issuance"];
const REASONS = [
  "Environmental Benefit", "Environmental Benefit", "Voluntary Emissions Offsetting", "Other",
  "Compliance Obligation - CORSIA", null,
];
const BENEFICIARIES = [
  null, "KlimaDAO", "Microsoft Corporation", "Delta Air Lines", "Shell Energy Europe", "South Pole", "Climate Impact Partners",
  "Stichting Klimaatneutraal", "Beneficiário Ñandú", "Société Générale", "Øresund Logistics AS",
];
const ORDINARY_DETAILS = [
  "Retired on behalf of {b} to offset {y} emissions",
  "Offsetting scope 1 and 2 emissions for {y}",
  "Carbon neutral shipment programme {y}",
  "Retired for {b} events and travel",
  "Customer offsetting via online checkout",
];
const UNICODE_DETAILS = ["Reducción de emisiones — São Paulo", "Compensação de emissões – Beneficiário Ñandú", "碳中和 2021 — 上海"];

// --- Projects: the real ones from the MCO2 sample plus generated ones ---------------------------

interface SampleRow { projectId: string; name: string; type: string; quantity: number; serial: string; vintageStart: number; vintageEnd: number }

interface Project {
  id: string;
  name: string;
  category: Category;
  country: Country;
  protocol: string | null;
  objectives: string | null;
  certifications: string | null;
  serialMiddle: string; // e.g. "VCS-VCU-261-VER" or "VCU-005-APX": the part between the range and the country
  sector: string;
  flag: string;
  samples: SampleRow[]; // real MCO2 serials, reused verbatim so Moss matching has something to find
}

/** "01/07/2014" → day number. */
const parseDmy = (text: string) => {
  const [d, m, y] = text.split("/").map(Number) as [number, number, number];
  return dayNumber(y, m, d);
};

/** The MCO2 sample's rows (./sample.ts), with their vintages. */
function loadSampleRows(): SampleRow[] {
  const { rows, column } = readSample();
  const [vintage, id, name, type, quantity, serial] =
    ["Vintage", "Project ID", "Project Name", "Project Type", "Quantity of Credits", "Serial Number"].map(column) as number[];
  return rows
    .filter((r) => r.length > serial!)
    .map((r) => {
      const [start, end] = r[vintage!]!.split("-") as [string, string];
      return {
        projectId: r[id!]!, name: r[name!]!, type: r[type!]!, quantity: Number(r[quantity!]!.replace(/,/g, "")),
        serial: r[serial!]!, vintageStart: parseDmy(start), vintageEnd: parseDmy(end),
      };
    });
}

const SAMPLE_ROWS = loadSampleRows();
const SAMPLE_SERIALS = new Set(SAMPLE_ROWS.map((r) => r.serial));

/** Real projects: ids, names, types and serial shapes from the sample. */
function sampleProjects(rand: Rand): Project[] {
  const byId = new Map<string, Project>();
  for (const row of SAMPLE_ROWS) {
    let project = byId.get(row.projectId);
    if (!project) {
      // serial: batch-start-end-<middle>-CC-sector-project-ddmmyyyy-ddmmyyyy-flag
      const parts = row.serial.split("-");
      const category = CATEGORIES.find((c) => c.name === row.type) ?? CATEGORIES[0]!;
      project = {
        id: row.projectId,
        name: row.name,
        category,
        country: COUNTRIES.find((c) => c.iso2 === parts.at(-6)) ?? COUNTRIES[0]!,
        protocol: pick(rand, category.protocols),
        objectives: pick(rand, OBJECTIVES),
        certifications: pick(rand, CERTIFICATIONS),
        serialMiddle: parts.slice(3, -6).join("-"),
        sector: parts.at(-5) ?? category.sector,
        flag: parts.at(-1) ?? "0",
        samples: [],
      };
      byId.set(row.projectId, project);
    }
    project.samples.push(row);
  }
  for (const project of byId.values()) project.samples.sort((a, b) => a.vintageEnd - b.vintageEnd);
  return [...byId.values()];
}

function generatedProject(rand: Rand, id: number): Project {
  const category = pickCategory(rand);
  const place = pick(rand, PLACES);
  return {
    id: String(id),
    name: `${place} ${pick(rand, category.kinds)}${rand() < 0.3 ? ` ${int(rand, 2, 9)}` : ""}`,
    category,
    country: pickCountry(rand),
    protocol: pick(rand, category.protocols),
    objectives: pick(rand, OBJECTIVES),
    certifications: pick(rand, CERTIFICATIONS),
    serialMiddle: rand() < 0.8 ? `VCS-VCU-${int(rand, 1, 1600)}-VER` : `VCU-${String(int(rand, 1, 99)).padStart(3, "0")}-${pick(rand, ["APX", "MER"])}`,
    sector: category.sector,
    flag: rand() < 0.5 ? "0" : "1",
    samples: [],
  };
}

/** Real projects (popular) plus generated ones with distinct ids in 1..4000 (heavy-tailed popularity). */
function projectSampler(rand: Rand): (rand: Rand) => Project {
  const real = sampleProjects(rand);
  const used = new Set(real.map((p) => p.id));
  const generated: Project[] = [];
  while (generated.length < 800) {
    const id = int(rand, 1, 4000);
    if (used.has(String(id))) continue;
    used.add(String(id));
    generated.push(generatedProject(rand, id));
  }
  const weights = [...real.map(() => 15), ...generated.map(() => 0.2 + rand() ** 3 * 5)];
  return weighted([...real, ...generated], weights);
}

// --- Records ------------------------------------------------------------------------------------

interface Vintage { start: number; end: number; reportingStart: number; reportingEnd: number }

/** A vintage that ended before the issuance, mostly calendar years; reporting period around it. */
function drawVintage(rand: Rand, issuance: number): Vintage {
  const gap = 30 + Math.floor(rand() ** 2 * 1800);
  let end = issuance - gap;
  let start: number;
  if (rand() < 0.6) {
    const year = dayNumber(yearOf(end), 12, 31) < issuance ? yearOf(end) : yearOf(end) - 1;
    start = dayNumber(year, 1, 1);
    end = dayNumber(year, 12, 31);
  } else {
    start = end - pick(rand, [180, 364, 365, 729]);
  }
  const reportingStart = rand() < 0.6 ? start : start - int(rand, 1, 365);
  const reportingEnd = rand() < 0.6 ? end : end + int(rand, 0, Math.min(365, issuance - end - 1));
  return { start, end, reportingStart, reportingEnd };
}

/** Mostly thousands of credits, some tiny blocks, a few million-sized issuances. */
function drawQuantity(rand: Rand): number {
  const r = rand();
  if (r < 0.2) return int(rand, 1, 100);
  if (r < 0.99) return Math.floor(10 ** (2 + rand() * 3.5));
  return int(rand, 500_000, 3_000_000);
}

function drawRetirementDetails(rand: Rand, beneficiary: string | null, day: number): string | null {
  const r = rand();
  if (r < 0.1) return null;
  // Of the non-null details: ~10% Toucan bridge retirements, ~5% C3 ones, a few unicode texts.
  if (r < 0.19) return `TOUCAN-${hex(rand, 8)}-Retirement: bridged to Polygon for 0x${hex(rand, 40)}`;
  if (r < 0.235) return `C3T tokenization: retired for C3 bridge, 0x${hex(rand, 40)}`;
  if (r < 0.25) return pick(rand, UNICODE_DETAILS);
  return pick(rand, ORDINARY_DETAILS)
    .replace("{b}", beneficiary ?? "a customer")
    .replace("{y}", String(yearOf(day)));
}

/** Running state that makes serial ranges and batches increase with issuance date. */
interface SerialState { batch: number; next: number }

function makeRecord(rand: Rand, project: Project, issuance: number, serials: SerialState): VerraRecord {
  // A real MCO2 block of this project, once its vintage has ended, keeps its real serial.
  const sample = project.samples[0] && project.samples[0].vintageEnd < issuance ? project.samples.shift() : undefined;
  const vintage = sample
    ? { start: sample.vintageStart, end: sample.vintageEnd, reportingStart: sample.vintageStart, reportingEnd: sample.vintageEnd }
    : drawVintage(rand, issuance);
  const quantity = sample?.quantity ?? drawQuantity(rand);
  const serial = sample?.serial ?? nextSerial(rand, project, vintage, quantity, serials);

  const retired = rand() < 0.5;
  // Retired the same day (~15%) or later, but not past the end of the generated range.
  const retireDay = !retired ? null : rand() < 0.15 ? issuance : Math.min(LAST_ISSUANCE, issuance + 1 + Math.floor(rand() ** 2 * 1500));
  const beneficiary = retired ? pick(rand, BENEFICIARIES) : null;

  return {
    issuanceDate: isoDay(issuance),
    programObjectives: project.objectives,
    instrumentType: "VCU",
    vintageStart: isoDateTime(vintage.start),
    vintageEnd: isoDateTime(vintage.end),
    reportingPeriodStart: isoDateTime(vintage.reportingStart),
    reportingPeriodEnd: isoDateTime(vintage.reportingEnd),
    resourceIdentifier: project.id,
    resourceName: project.name,
    region: project.country.region,
    country: countryName(project.country, issuance),
    protocolCategory: project.category.name,
    protocol: project.protocol,
    totalVintageQuantity: quantity + (rand() < 0.3 ? 0 : Math.floor(quantity * rand() * 30)),
    quantity,
    serialNumbers: serial,
    additionalCertifications: project.certifications,
    retiredCancelled: retired,
    retireOrCancelDate: retireDay === null ? null : isoDay(retireDay),
    retirementBeneficiary: beneficiary,
    retirementReason: retired ? pick(rand, REASONS) : null,
    retirementDetails: retired ? drawRetirementDetails(rand, beneficiary, retireDay!) : null,
    inputTypes: pick(rand, INPUT_TYPES),
    holdingIdentifier: rand() < 0.15 ? null : String(int(rand, 10_000, 999_999)),
    // Public clients see this key last, filled for a minority of blocks (no rand(): keeps earlier keys stable).
    externalSerialNumber: serial.length % 5 === 0 ? `EXT-${serial.split("-").slice(0, 3).join("-")}` : null,
  };
}

/** A fresh serial block: ranges never overlap, so every serial is unique. */
function nextSerial(rand: Rand, project: Project, vintage: Vintage, quantity: number, state: SerialState): string {
  let serial: string;
  do {
    if (rand() < 0.05) state.batch += 1;
    const start = state.next;
    const end = start + quantity - 1;
    state.next = end + 1 + (rand() < 0.3 ? int(rand, 1, 5000) : 0);
    serial = [
      state.batch, start, end, project.serialMiddle, project.country.iso2, project.sector, project.id,
      serialDate(vintage.start), serialDate(vintage.end), project.flag,
    ].join("-");
  } while (SAMPLE_SERIALS.has(serial)); // never collide with a real serial reused verbatim
  return serial;
}

/**
 * Deterministic, realistic Verra search records (the real API's 24 keys, in its order),
 * sorted by issuanceDate ascending.
 */
export function generateVerraRecords(count: number, seed = 1): VerraRecord[] {
  const rand = mulberry32(seed);
  const drawDay = issuanceDaySampler(rand);
  const drawProject = projectSampler(rand); // fresh projects: makeRecord consumes their sample queues

  // Dates first, sorted, then the rest in date order: serials and batches then grow with time.
  const days = new Int32Array(Math.max(0, Math.floor(count)));
  for (let i = 0; i < days.length; i++) days[i] = drawDay(rand);
  days.sort();

  const serials: SerialState = { batch: int(rand, 1000, 3000), next: int(rand, 1_000_000, 9_999_999) };
  return Array.from(days, (day) => makeRecord(rand, drawProject(rand), day, serials));
}
