// A local fake of graph-node (The Graph's query node) serving the five subgraphs the pipelines read,
// for tests and benchmarks. Each subgraph's Query schema is derived from its entity schema
// (test/fixtures/subgraphs/<name>.graphql) the way graph-node derives it (graph/src/schema/api.rs),
// and every query goes through real graphql-js parsing, validation and execution against in-memory
// entity stores, so a query graph-node would refuse is refused here too, with graph-node's messages
// where graph-node itself (not graphql validation) refuses. Faults (error statuses, truncated or
// malformed bodies, hangs, indexer errors) and latency can be injected like in ./verra.ts.
//
// Known differences from graph-node: no block history (`block` and `_change_block` are accepted
// and ignored, every query sees the latest data); skip is capped at 5000 like the hosted service
// (graph-node's own default is unlimited); unknown paths answer 404 (graph-node: 200 with
// {"message":"Not found"}); parse and validation messages are graphql-js's; no interfaces,
// fulltext search, aggregations or `_logs`; ILIKE folds ASCII only (as Postgres in the C locale).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  GraphQLObjectType,
  GraphQLScalarType,
  Kind,
  buildASTSchema,
  buildSchema,
  executeSync,
  getArgumentValues,
  getNamedType,
  isLeafType,
  isNonNullType,
  parse,
  print,
  printSchema,
  validate,
  type DocumentNode,
  type FieldDefinitionNode,
  type FieldNode,
  type GraphQLFieldResolver,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ObjectTypeDefinitionNode,
  type SelectionNode,
  type TypeNode,
  type ValueNode,
} from "graphql";
import { parseJson, readBody, sendFault, sendJson, sendNotFound, sendText, startFakeHttpServer, type Delay, type HttpFault } from "./http.ts";

export type SubgraphName = "polygon-digital-carbon" | "ethereum-bridged-carbon" | "celo-bridged-carbon" | "user-carbon" | "pairs";

export const SUBGRAPH_NAMES: readonly SubgraphName[] = [
  "polygon-digital-carbon", "ethereum-bridged-carbon", "celo-bridged-carbon", "user-carbon", "pairs",
];

/** Entities by type name; see "Store format" below. */
export type Store = Record<string, EntityRecord[]>;

/**
 * One entity. ID/String/Bytes values are strings (Bytes lower-case 0x hex), BigInt and BigDecimal
 * decimal strings, Int a number, Boolean a boolean, enums their value's name, a reference the
 * referenced entity's id (a non-derived list of references: an array of ids), scalar lists arrays
 * of strings. `@derivedFrom` fields are not stored. A missing key means null.
 */
export type EntityRecord = Record<string, string | number | boolean | null | string[]>;

export type SubgraphFault =
  | HttpFault // status, truncated, malformed, hang: see ./http.ts
  | { kind: "graphqlError"; message: string }; // HTTP 200 with {"errors":[{"message": message}]} and no data

export interface FakeSubgraphsOptions {
  stores?: Partial<Record<SubgraphName, Store>>;
  latencyMs?: number;
  /**
   * Answer every query the plain way: graphql-js's executor, walking every entity of a collection
   * in order (tests: the direct executor and the narrowed walks must give these answers).
   */
  plain?: boolean;
}

export interface FakeSubgraphs {
  /** http://127.0.0.1:PORT/subgraphs/name/<name> */
  url(name: SubgraphName): string;
  /** Every request to a subgraph path, faults included; `errors` holds the messages the answer carried. */
  requests: Array<{ subgraph: SubgraphName; query: string; variables: unknown; errors?: string[] }>;
  /** FIFO, one fault per request to that subgraph ("any": whichever subgraph is asked next). */
  injectFaults(name: SubgraphName | "any", ...faults: SubgraphFault[]): void;
  setLatency(ms: number): void;
  /** Replaces a subgraph's data (checked against its entity schema; indexes are rebuilt lazily). */
  setStore(name: SubgraphName, store: Store): void;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const PATH_PREFIX = "/subgraphs/name/";
// graph-node's GRAPH_GRAPHQL_MAX_FIRST default, and the skip cap The Graph's hosted endpoints used.
const MAX_FIRST = 1000;
const MAX_SKIP = 5000;

/** Starts the fake on 127.0.0.1 (random port). Subgraphs without a store serve no entities. */
export async function startFakeSubgraphs(options: FakeSubgraphsOptions = {}): Promise<FakeSubgraphs> {
  let latencyMs = options.latencyMs ?? 0;
  const data = new Map<SubgraphName, EntityData>();
  const setStore = (name: SubgraphName, store: Store) => {
    const model = subgraphModel(name);
    data.set(name, new EntityData(model, checkedStore(model, store), options.plain ?? false));
  };
  for (const name of SUBGRAPH_NAMES) setStore(name, options.stores?.[name] ?? {});

  const faults: Array<{ target: SubgraphName | "any"; fault: SubgraphFault }> = [];
  const requests: FakeSubgraphs["requests"] = [];

  /** The first queued fault for this subgraph or for "any", in injection order. */
  function takeFault(name: SubgraphName): SubgraphFault | undefined {
    const index = faults.findIndex((f) => f.target === name || f.target === "any");
    return index < 0 ? undefined : faults.splice(index, 1)[0]!.fault;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, delay: Delay): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-subgraphs");
    const name = subgraphOfPath(url.pathname);
    if (req.method !== "POST" || name === undefined) {
      sendNotFound(req, res, url.pathname);
      return;
    }
    // Taken on arrival so that faults follow request order even when bodies arrive late.
    const fault = takeFault(name);
    const raw = await readBody(req);
    const request = parseRequest(raw);
    const record = (errors?: string[]) =>
      requests.push({
        subgraph: name,
        query: request.ok ? request.query : raw,
        variables: request.ok ? request.variables : undefined,
        ...(errors === undefined ? {} : { errors }),
      });

    if (fault?.kind === "hang") {
      record(); // never answered; stop() tears the socket down
      return;
    }
    await delay(latencyMs);
    if (res.destroyed) return;

    // Answered against the data as it is now, so that setStore() during latency is seen.
    const answer = () => respond(data.get(name)!, request);
    if (fault) {
      record(fault.kind === "graphqlError" ? [fault.message] : undefined);
      sendSubgraphFault(req.socket, res, fault, () => answerText(answer()));
      return;
    }
    const answered = answer();
    record(answered.errors);
    sendText(res, answered.status, answerText(answered));
  }

  const { port, stop } = await startFakeHttpServer(handle);
  return {
    url: (name) => `http://127.0.0.1:${port}${PATH_PREFIX}${name}`,
    requests,
    injectFaults: (target, ...more) => void faults.push(...more.map((fault) => ({ target, fault }))),
    setLatency: (ms) => void (latencyMs = ms),
    setStore,
    stop,
  };
}

function subgraphOfPath(pathname: string): SubgraphName | undefined {
  if (!pathname.startsWith(PATH_PREFIX)) return undefined;
  const name = pathname.slice(PATH_PREFIX.length);
  return (SUBGRAPH_NAMES as readonly string[]).includes(name) ? (name as SubgraphName) : undefined;
}

type GraphQLRequest =
  | { ok: true; query: string; variables: Record<string, unknown> | undefined; operationName: string | undefined }
  | { ok: false; error: string };

/** The checks (and messages) of graph-node's server/http/src/request.rs. */
function parseRequest(raw: string): GraphQLRequest {
  const parsed = parseJson(raw);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const body = parsed.value;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { ok: false, error: "Request data is not an object" };
  const fields = body as Record<string, unknown>;
  if (!("query" in fields)) return { ok: false, error: 'The "query" field is missing in request data' };
  if (typeof fields.query !== "string") return { ok: false, error: 'The "query" field is not a string' };
  const variables = fields.variables;
  if (variables !== undefined && variables !== null && (typeof variables !== "object" || Array.isArray(variables))) {
    return { ok: false, error: "Invalid query variables provided" };
  }
  return {
    ok: true,
    query: fields.query,
    variables: (variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof fields.operationName === "string" ? fields.operationName : undefined,
  };
}

/** HTTP status, JSON body (or its text, made already) and the error messages it carries. */
interface Reply { status: number; body: unknown; errors?: string[] }

function respond(data: EntityData, request: GraphQLRequest): Reply {
  if (!request.ok) {
    // graph-node answers client errors with 400 and {"error": "..."}.
    return { status: 400, body: { error: `GraphQL server error (client error): ${request.error}` }, errors: [request.error] };
  }
  const answer = answerQuery(data, request.query, request.variables, request.operationName);
  if (answer instanceof AnswerText) return { status: 200, body: answer }; // the direct path: never errors
  return { status: 200, body: answer, ...(answer.errors ? { errors: answer.errors.map((e) => e.message) } : {}) };
}

const answerText = ({ body }: Reply) => (body instanceof AnswerText ? body.text : JSON.stringify(body));

/** The fault kind of this fake's own, then the shared ones. */
function sendSubgraphFault(socket: Socket, res: ServerResponse, fault: Exclude<SubgraphFault, { kind: "hang" }>, fullAnswer: () => string): void {
  if (fault.kind === "graphqlError") sendJson(res, 200, { errors: [{ message: fault.message }] });
  else sendFault(socket, res, fault, fullAnswer);
}

// ---------------------------------------------------------------------------------------------
// Answering a query
// ---------------------------------------------------------------------------------------------

/**
 * What graph-node reports as a QueryExecutionError (range, ordering and filter errors): it aborts
 * the whole query, so the answer has only `errors`, each with only a message.
 */
class QueryExecutionError extends Error {}

interface Answer { data?: unknown; errors?: GraphQLFormattedError[] }

/** An answer already serialized (the direct path below): its JSON text. */
class AnswerText {
  constructor(readonly text: string) {}
}

interface Context { data: EntityData }

function answerQuery(data: EntityData, query: string, variables: Record<string, unknown> | undefined, operationName: string | undefined): Answer | AnswerText {
  const { schema } = data.model;
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch (error) {
    return { errors: [formatError(error)] };
  }
  const invalid = validate(schema, document);
  if (invalid.length > 0) return { errors: invalid.map((e) => e.toJSON()) };
  const direct = data.plain ? undefined : answerDirectly(data, document, operationName);
  if (direct) return direct;
  const context: Context = { data };
  const result = executeSync({ schema, document, variableValues: variables, operationName, contextValue: context });
  const fatal = result.errors?.find((e) => e.originalError instanceof QueryExecutionError);
  if (fatal) return { errors: [{ message: fatal.message }] };
  if (!result.errors) return { data: result.data };
  return { data: result.data, errors: result.errors.map((e) => e.toJSON()) };
}

// --- The pipelines' query shape, answered without graphql-js's executor -------------------------
//
// graphql-js spends ~10 ms executing a page of 1000 entities with nested references, on the core the
// pipelines under test also need. The shape the pipelines send (one top-level collection, plain
// fields, single references) is answered here directly, with the schema's own argument coercion and
// scalar serialization. Anything else, and anything that would be an error or a null in a non-null
// position, goes to executeSync: the answer is the same either way (test/fakes/subgraph.test.ts).

/** Thrown to hand a query to graphql-js. */
class NotDirect extends Error {}

interface DirectField {
  name: string;
  nonNull: boolean;
  /** A scalar or enum: the type's serialize; a reference: the referenced entity's fields. */
  serialize?: (value: unknown) => unknown;
  reference?: { target: string; fields: DirectField[] };
}

function answerDirectly(data: EntityData, document: DocumentNode, operationName: string | undefined): AnswerText | undefined {
  try {
    const [operation, ...others] = document.definitions;
    if (others.length > 0 || operation?.kind !== Kind.OPERATION_DEFINITION || operation.operation !== "query") return undefined;
    if (operation.variableDefinitions?.length || operation.directives?.length) return undefined;
    if (operationName !== undefined && operationName !== operation.name?.value) return undefined;
    const fields = mergedFields(operation.selectionSet.selections);
    if (fields.size !== 1) return undefined;
    const [[name, nodes]] = [...fields];
    const entity = [...data.model.entities.values()].find((e) => e.plural === name);
    if (!entity) return undefined;
    const definition = data.model.schema.getQueryType()!.getFields()[name]!;
    const plan = directFields(data.model, entity, nodes.flatMap((n) => n.selectionSet?.selections ?? []));
    const records = data.collection(entity, getArgumentValues(definition, nodes[0]!, {}));
    // Each entity's JSON is made once per selection: the pages of a walk and later walks reuse it.
    const texts = data.texts(`${entity.name} ${planKey(plan)}`);
    const items = records.map((record) => {
      let text = texts.get(record);
      if (text === undefined) texts.set(record, (text = JSON.stringify(directObject(data, record, plan))));
      return text;
    });
    return new AnswerText(`{"data":{${JSON.stringify(name)}:[${items.join(",")}]}}`);
  } catch {
    return undefined; // NotDirect, or an error graphql-js will report in its own way
  }
}

/** Fields by response name in first-seen order, as graphql's collectFields merges them; only plain fields. */
function mergedFields(selections: readonly SelectionNode[]): Map<string, FieldNode[]> {
  const fields = new Map<string, FieldNode[]>();
  for (const selection of selections) {
    if (selection.kind !== Kind.FIELD || selection.alias || selection.directives?.length || selection.name.value.startsWith("__")) throw new NotDirect();
    const name = selection.name.value;
    fields.set(name, [...(fields.get(name) ?? []), selection]);
  }
  return fields;
}

function directFields(model: SubgraphModel, entity: EntityModel, selections: readonly SelectionNode[]): DirectField[] {
  const type = model.schema.getType(entity.name) as GraphQLObjectType;
  return [...mergedFields(selections)].map(([name, nodes]): DirectField => {
    const definition = type.getFields()[name];
    const field = entity.field.get(name);
    if (!definition || !field || field.list || field.derivedFrom !== undefined || nodes.some((n) => n.arguments?.length)) throw new NotDirect();
    const nonNull = isNonNullType(definition.type);
    const base = getNamedType(definition.type);
    if (isLeafType(base)) return { name, nonNull, serialize: (value) => base.serialize(value) };
    const target = model.entities.get(field.base)!;
    return { name, nonNull, reference: { target: target.name, fields: directFields(model, target, nodes.flatMap((n) => n.selectionSet?.selections ?? [])) } };
  });
}

/** The selection a plan stands for, as text: `id amount credit{id vintage}`. */
const planKey = (fields: DirectField[]): string =>
  fields.map((f) => (f.reference ? `${f.name}{${planKey(f.reference.fields)}}` : f.name)).join(" ");

/** One entity as graphql-js completes it: default resolver for values, the reference resolver's lookup. */
function directObject(data: EntityData, record: EntityRecord, fields: DirectField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = record[field.name];
    let value: unknown = null;
    if (field.reference) {
      const target = typeof raw === "string" ? data.byId(field.reference.target).get(raw) : undefined;
      if (target) value = directObject(data, target, field.reference.fields);
    } else if (raw !== null && raw !== undefined) {
      value = field.serialize!(raw);
      if (value === null || value === undefined) throw new NotDirect(); // graphql-js reports it as an error
    }
    if (value === null && field.nonNull) throw new NotDirect(); // null propagation: graphql-js's answer
    out[field.name] = value;
  }
  return out;
}

function formatError(error: unknown): GraphQLFormattedError {
  const maybe = error as { toJSON?: () => GraphQLFormattedError; message?: string };
  return typeof maybe.toJSON === "function" ? maybe.toJSON() : { message: String(maybe.message ?? error) };
}

// ---------------------------------------------------------------------------------------------
// Schema model: the entity schema, and what graph-node derives from it
// ---------------------------------------------------------------------------------------------

/** How stored values of a field compare (Postgres column semantics). */
type ValueKind = "text" | "bytes" | "bigint" | "int" | "decimal" | "bool" | "enum";

interface FieldModel {
  name: string;
  description: string | undefined;
  type: string; // as declared, e.g. "[CarbonCredit!]!"
  base: string; // the named type inside lists and non-nulls
  list: boolean;
  category: "scalar" | "enum" | "entity";
  derivedFrom: string | undefined;
  kind: ValueKind; // for references: the kind of the referenced entity's id
}

type FilterOp =
  | "eq" | "not" | "gt" | "lt" | "gte" | "lte" | "in" | "not_in"
  | "contains" | "contains_nocase" | "not_contains" | "not_contains_nocase"
  | "starts_with" | "starts_with_nocase" | "not_starts_with" | "not_starts_with_nocase"
  | "ends_with" | "ends_with_nocase" | "not_ends_with" | "not_ends_with_nocase"
  | "child";

interface FilterSpec { field: FieldModel; op: FilterOp }

type OrderSpec =
  | { by: "id" }
  | { by: "field"; field: FieldModel }
  | { by: "child"; field: FieldModel; child: FieldModel }
  | { by: "unsupported"; type: string; field: string };

interface EntityModel {
  name: string;
  description: string | undefined;
  fields: FieldModel[];
  field: Map<string, FieldModel>;
  idKind: ValueKind;
  idScalar: string;
  singular: string; // Query field names
  plural: string;
  filters: Map<string, FilterSpec>; // <T>_filter fields, by name
  orders: Map<string, OrderSpec>; // <T>_orderBy values, by name
}

interface MetaInfo { deployment: string; number: number; hash: string; parentHash: string }

interface SubgraphModel {
  name: SubgraphName;
  entities: Map<string, EntityModel>;
  enums: Map<string, Set<string>>;
  schema: GraphQLSchema;
  meta: MetaInfo;
}

const SCHEMA_DIR = fileURLToPath(new URL("../fixtures/subgraphs/", import.meta.url));

// Declarations the entity schemas use; graph-node supplies them itself.
const INPUT_PRELUDE = `
directive @entity(immutable: Boolean, timeseries: Boolean) on OBJECT
directive @derivedFrom(field: String!) on FIELD_DEFINITION
directive @subgraphId(id: String!) on OBJECT
scalar BigDecimal
scalar BigInt
scalar Bytes
scalar Int8
scalar Timestamp
`;

// From graph-node's graph/src/schema/meta.graphql: what every subgraph's API schema contains.
const API_PRELUDE = `
scalar BigDecimal
scalar BigInt
scalar Bytes
"8 bytes signed integer"
scalar Int8
"A string representation of microseconds UNIX timestamp (16 digits)"
scalar Timestamp

"The type for the top-level _meta field"
type _Meta_ {
  """
  Information about a specific subgraph block. The hash of the block
  will be null if the _meta field has a block constraint that asks for
  a block number. It will be filled if the _meta field has no block constraint
  and therefore asks for the latest  block
  """
  block: _Block_!
  "The deployment ID"
  deployment: String!
  "If \`true\`, the subgraph encountered indexing errors at some past block"
  hasIndexingErrors: Boolean!
}

input BlockChangedFilter {
  number_gte: Int!
}

type _Block_ {
  "The hash of the block"
  hash: Bytes
  "The block number"
  number: Int!
  "Integer representation of the timestamp stored in blocks for the chain"
  timestamp: Int
  "The hash of the parent block"
  parentHash: Bytes
}

enum _SubgraphErrorPolicy_ {
  "Data will be returned even if the subgraph has indexing errors"
  allow
  "If the subgraph has indexing errors, data will be omitted. The default."
  deny
}

"The block at which the query should be executed."
input Block_height {
  "Value containing a block hash"
  hash: Bytes
  "Value containing a block number"
  number: Int
  """
  Value containing the minimum block number.
  In the case of \`number_gte\`, the query will be executed on the latest block only if
  the subgraph has progressed to or past the minimum block number.
  Defaults to the latest block when omitted.
  """
  number_gte: Int
}

"Defines the order direction, either ascending or descending"
enum OrderDirection {
  asc
  desc
}
`;

const BLOCK_ARGUMENT =
  '"The block at which the query should be executed. Can either be a `{ hash: Bytes }` value containing a block hash, ' +
  "a `{ number: Int }` containing the block number, or a `{ number_gte: Int }` containing the minimum block number. " +
  "In the case of `number_gte`, the query will be executed on the latest block only if the subgraph has progressed " +
  'to or past the minimum block number. Defaults to the latest block when omitted." block: Block_height';
const SUBGRAPH_ERROR_ARGUMENT =
  '"Set to `allow` to receive data even if the subgraph has skipped over errors while syncing." ' +
  "subgraphError: _SubgraphErrorPolicy_! = deny";

// A plausible chain head per subgraph, for _meta.
const HEAD_BLOCKS: Record<SubgraphName, number> = {
  "polygon-digital-carbon": 75_123_456,
  "ethereum-bridged-carbon": 23_012_345,
  "celo-bridged-carbon": 35_678_901,
  "user-carbon": 75_123_450,
  pairs: 75_123_440,
};

const models = new Map<SubgraphName, SubgraphModel>();

/** Built once per process: the schema files do not change under a running test. */
function subgraphModel(name: SubgraphName): SubgraphModel {
  let model = models.get(name);
  if (!model) {
    model = buildModel(name, readFileSync(`${SCHEMA_DIR}${name}.graphql`, "utf8"));
    models.set(name, model);
  }
  return model;
}

/** The derived Query schema as SDL, for tests and debugging. */
export function derivedSchemaSdl(name: SubgraphName): string {
  return printSchema(subgraphModel(name).schema);
}

function buildModel(name: SubgraphName, text: string): SubgraphModel {
  // Fails on unknown types or directives, like graph-node's schema validation would.
  buildASTSchema(parse(INPUT_PRELUDE + text));
  const document = parse(text);

  const enumValues = new Map<string, string[]>();
  const enumSdl: string[] = [];
  const objects: ObjectTypeDefinitionNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.ENUM_TYPE_DEFINITION) {
      enumValues.set(definition.name.value, (definition.values ?? []).map((v) => v.name.value));
      enumSdl.push(print(definition));
    } else if (definition.kind === Kind.OBJECT_TYPE_DEFINITION) {
      objects.push(definition);
    } else if (definition.kind === Kind.INTERFACE_TYPE_DEFINITION || definition.kind === Kind.UNION_TYPE_DEFINITION) {
      throw new Error(`${name}: interfaces and unions are not supported by the fake`);
    }
  }

  const entityNames = new Set(objects.map((o) => o.name.value));
  const entities = new Map<string, EntityModel>();
  for (const object of objects) {
    const fields = (object.fields ?? []).map((f) => fieldModel(name, f, entityNames, enumValues));
    const id = fields.find((f) => f.name === "id");
    if (!id || id.list || !["ID", "String", "Bytes", "Int8"].includes(id.base)) {
      throw new Error(`${name}: ${object.name.value} needs an id of type ID, String, Bytes or Int8`);
    }
    const [singular, plural] = camelCasedNames(object.name.value);
    entities.set(object.name.value, {
      name: object.name.value,
      description: object.description?.value,
      fields,
      field: new Map(fields.map((f) => [f.name, f])),
      idKind: id.kind,
      idScalar: id.base,
      singular,
      plural,
      filters: new Map(),
      orders: new Map(),
    });
  }
  // References compare like the referenced entity's id.
  for (const entity of entities.values()) {
    for (const field of entity.fields) if (field.category === "entity") field.kind = entities.get(field.base)!.idKind;
  }

  const sdl = [
    API_PRELUDE,
    ...enumSdl,
    ...[...entities.values()].map((e) => objectSdl(e, entities)),
    ...[...entities.values()].map((e) => orderBySdl(e, entities)),
    ...[...entities.values()].map((e) => filterSdl(e, entities)),
    querySdl(entities),
  ].join("\n\n");

  const schema = buildSchema(sdl);
  const model: SubgraphModel = {
    name,
    entities,
    enums: new Map([...enumValues].map(([k, v]) => [k, new Set(v)])),
    schema,
    meta: metaInfo(name),
  };
  defineScalars(schema);
  attachResolvers(model);
  return model;
}

function fieldModel(subgraph: string, node: FieldDefinitionNode, entityNames: Set<string>, enums: Map<string, string[]>): FieldModel {
  let type: TypeNode = node.type;
  let list = false;
  while (type.kind !== Kind.NAMED_TYPE) {
    if (type.kind === Kind.LIST_TYPE) list = true;
    type = type.type;
  }
  const base = type.name.value;
  const derived = node.directives?.find((d) => d.name.value === "derivedFrom");
  const derivedArgument = derived?.arguments?.find((a) => a.name.value === "field")?.value;
  const category = entityNames.has(base) ? "entity" : enums.has(base) ? "enum" : "scalar";
  const kind = category === "enum" ? "enum" : category === "entity" ? "text" : SCALAR_KINDS[base];
  if (kind === undefined) throw new Error(`${subgraph}: field ${node.name.value} has unsupported type ${base}`);
  return {
    name: node.name.value,
    description: node.description?.value,
    type: print(node.type),
    base,
    list,
    category,
    derivedFrom: derivedArgument?.kind === Kind.STRING ? derivedArgument.value : undefined,
    kind,
  };
}

const SCALAR_KINDS: Record<string, ValueKind> = {
  ID: "text", String: "text", Bytes: "bytes", BigInt: "bigint", Int8: "bigint", Timestamp: "bigint",
  Int: "int", BigDecimal: "decimal", Boolean: "bool",
};

// --- Names: graph-node uses the Inflector crate (0.11.4): to_plural, then to_camel_case ----------

// Inflector's plural rules, tried last to first; each keeps capture 1 and appends the replacement.
const PLURAL_RULES: Array<[RegExp, string]> = [
  [/(\w*)s$/, "s"],
  [/(\w*([^aeiou]ese))$/, ""],
  [/(\w*(ax|test))is$/, "es"],
  [/(\w*(alias|[^aou]us|tlas|gas|ris))$/, "es"],
  [/(\w*(e[mn]u))s?$/, "s"],
  [/(\w*([^l]ias|[aeiou]las|[emjzr]as|[iu]am))$/, ""],
  [/(\w*(alumn|syllab|octop|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat))(?:us|i)$/, "i"],
  [/(\w*(alumn|alg|vertebr))(?:a|ae)$/, "ae"],
  [/(\w*(seraph|cherub))(?:im)?$/, "im"],
  [/(\w*(her|at|gr))o$/, "oes"],
  [/(\w*(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|automat|quor))(?:a|um)$/, "a"],
  [/(\w*(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat))(?:a|on)$/, "a"],
  [/(\w*)sis$/, "ses"],
  [/(\w*(kni|wi|li))fe$/, "ves"],
  [/(\w*(ar|l|ea|eo|oa|hoo))f$/, "ves"],
  [/(\w*([^aeiouy]|qu))y$/, "ies"],
  [/(\w*([^ch][ieo][ln]))ey$/, "ies"],
  [/(\w*(x|ch|ss|sh|zz)es)$/, ""],
  [/(\w*(x|ch|ss|sh|zz))$/, "es"],
  [/(\w*(matr|cod|mur|sil|vert|ind|append))(?:ix|ex)$/, "ices"],
  [/(\w*(m|l)(?:ice|ouse))$/, "ice"],
  [/(\w*(pe)(?:rson|ople))$/, "ople"],
  [/(\w*(child))(?:ren)?$/, "ren"],
  [/(\w*eaux)$/, ""],
];
const PLURAL_SPECIAL: Record<string, string> = {
  ox: "oxen", man: "men", woman: "women", die: "dice", yes: "yeses", foot: "feet", eave: "eaves", goose: "geese", tooth: "teeth", quiz: "quizzes",
};

/** Inflector's to_plural on the whole type name (so "Epoch" → "Epoches", "Details" stays "Details"). */
function toPlural(word: string): string {
  const special = PLURAL_SPECIAL[word];
  if (special !== undefined) return special;
  for (let i = PLURAL_RULES.length - 1; i >= 0; i--) {
    const [rule, replacement] = PLURAL_RULES[i]!;
    const match = rule.exec(word);
    if (match?.[1] !== undefined) return match[1] + replacement;
  }
  return `${word}s`;
}

/** Inflector's to_camel_case (ASCII names): a capital after a lower-case letter starts a word. */
function toCamelCase(name: string): string {
  let newWord = false;
  let lastChar = " ";
  let found = false;
  let out = "";
  for (const c of name.replace(/[^A-Za-z0-9]+$/, "")) {
    const alphanumeric = /[A-Za-z0-9]/.test(c);
    if (!alphanumeric && found) newWord = true;
    else if (!alphanumeric) continue;
    else if (/[0-9]/.test(c)) {
      found = true;
      newWord = true;
      out += c;
    } else if (newWord || (/[a-z]/.test(lastChar) && /[A-Z]/.test(c))) {
      found = true;
      newWord = false;
      out += c.toUpperCase(); // lastChar is deliberately not updated: "URI" stays "URI"
    } else {
      found = true;
      lastChar = c;
      out += c.toLowerCase();
    }
  }
  return out;
}

/** graph-node's camel_cased_names: a plural equal to the singular gets "_collection". */
function camelCasedNames(typeName: string): [string, string] {
  const singular = toCamelCase(typeName);
  let plural = toCamelCase(toPlural(typeName));
  if (plural === singular) plural += "_collection";
  return [singular, plural];
}

// --- SDL of the derived schema --------------------------------------------------------------------

const describe = (text: string | undefined, indent = "  ") => (text === undefined ? "" : `${indent}${JSON.stringify(text)}\n`);

const collectionArguments = (type: string) =>
  `skip: Int = 0, first: Int = 100, orderBy: ${type}_orderBy, orderDirection: OrderDirection, where: ${type}_filter`;

/** The entity type as an API object type: lists of entities take collection arguments. */
function objectSdl(entity: EntityModel, entities: Map<string, EntityModel>): string {
  const fields = entity.fields.map((f) => {
    const args = f.list && entities.has(f.base) ? `(${collectionArguments(f.base)})` : "";
    return `${describe(f.description)}  ${f.name}${args}: ${f.type}`;
  });
  return `${describe(entity.description, "")}type ${entity.name} {\n${fields.join("\n")}\n}`;
}

/** <T>_orderBy: every field, then `f__x` for each scalar or enum field x of a single-entity field f. */
function orderBySdl(entity: EntityModel, entities: Map<string, EntityModel>): string {
  for (const field of entity.fields) {
    const direct: OrderSpec =
      field.name === "id" ? { by: "id" }
      : field.category === "scalar" && !field.list ? { by: "field", field }
      : { by: "unsupported", type: entity.name, field: field.name }; // graph-node refuses these when used
    entity.orders.set(field.name, direct);
    if (field.list || field.category !== "entity") continue;
    const target = entities.get(field.base)!;
    for (const child of target.fields) {
      if (child.list || child.category === "entity") continue;
      entity.orders.set(
        `${field.name}__${child.name}`,
        child.category === "scalar" ? { by: "child", field, child } : { by: "unsupported", type: target.name, field: child.name },
      );
    }
  }
  return `enum ${entity.name}_orderBy {\n${[...entity.orders.keys()].map((v) => `  ${v}`).join("\n")}\n}`;
}

const ORDERED: FilterOp[] = ["eq", "not", "gt", "lt", "gte", "lte", "in", "not_in"];
const SCALAR_FILTER_OPS: Record<string, FilterOp[]> = {
  Boolean: ["eq", "not", "in", "not_in"],
  Bytes: [...ORDERED, "contains", "not_contains"],
  ID: ORDERED, BigInt: ORDERED, BigDecimal: ORDERED, Int: ORDERED, Int8: ORDERED, Timestamp: ORDERED,
  String: [
    ...ORDERED, "contains", "contains_nocase", "not_contains", "not_contains_nocase",
    "starts_with", "starts_with_nocase", "not_starts_with", "not_starts_with_nocase",
    "ends_with", "ends_with_nocase", "not_ends_with", "not_ends_with_nocase",
  ],
};
const ENUM_FILTER_OPS: FilterOp[] = ["eq", "not", "in", "not_in"];
const LIST_FILTER_OPS: FilterOp[] = ["eq", "not", "contains", "not_contains"];
const LIST_FILTER_OPS_NOCASE: FilterOp[] = ["eq", "not", "contains", "contains_nocase", "not_contains", "not_contains_nocase"];

/** Filters on references take the referenced id as a String (Int for Int8 ids), like graph-node. */
const idFilterScalar = (target: EntityModel) => (target.idScalar === "Int8" ? "Int" : "String");

/** <T>_filter, field by field as graph-node's field_filter_input_values builds it. */
function filterSdl(entity: EntityModel, entities: Map<string, EntityModel>): string {
  const lines: string[] = [];
  const add = (field: FieldModel, op: FilterOp, type: string) => {
    const name = op === "child" ? `${field.name}_` : op === "eq" ? field.name : `${field.name}_${op}`;
    entity.filters.set(name, { field, op });
    lines.push(`  ${name}: ${type}`);
  };
  const addOps = (field: FieldModel, ops: FilterOp[], scalar: string, list: boolean) => {
    for (const op of ops) add(field, op, list || op === "in" || op === "not_in" ? `[${scalar}!]` : scalar);
  };
  for (const field of entity.fields) {
    const target = entities.get(field.base);
    if (field.list) {
      if (target && field.derivedFrom === undefined) {
        addOps(field, target.idScalar === "Bytes" || target.idScalar === "Int8" ? LIST_FILTER_OPS : LIST_FILTER_OPS_NOCASE, idFilterScalar(target), true);
      } else if (!target) {
        addOps(field, field.base === "String" ? LIST_FILTER_OPS_NOCASE : LIST_FILTER_OPS, field.base, true);
      }
    } else if (target) {
      if (field.derivedFrom === undefined) addOps(field, SCALAR_FILTER_OPS[idFilterScalar(target)]!, idFilterScalar(target), false);
    } else if (field.category === "enum") {
      addOps(field, ENUM_FILTER_OPS, field.base, false);
    } else {
      addOps(field, SCALAR_FILTER_OPS[field.base] ?? ["eq", "not"], field.base, false);
    }
    if (target) add(field, "child", `${target.name}_filter`);
  }
  lines.push('  "Filter for the block changed event."', "  _change_block: BlockChangedFilter");
  lines.push(`  and: [${entity.name}_filter]`, `  or: [${entity.name}_filter]`);
  return `input ${entity.name}_filter {\n${lines.join("\n")}\n}`;
}

function querySdl(entities: Map<string, EntityModel>): string {
  const fields: string[] = [];
  for (const e of entities.values()) {
    fields.push(`  ${e.singular}(id: ID!, ${BLOCK_ARGUMENT}, ${SUBGRAPH_ERROR_ARGUMENT}): ${e.name}`);
    fields.push(`  ${e.plural}(${collectionArguments(e.name)}, ${BLOCK_ARGUMENT}, ${SUBGRAPH_ERROR_ARGUMENT}): [${e.name}!]!`);
  }
  fields.push('  "Access to subgraph metadata"', "  _meta(block: Block_height): _Meta_");
  return `type Query {\n${fields.join("\n")}\n}`;
}

// --- Custom scalars: strings out; strings (and numbers where graph-node takes them) in ------------

function defineScalars(schema: GraphQLSchema): void {
  const define = (name: string, literalKinds: string[], parseInput: (value: unknown) => string) => {
    const type = schema.getType(name);
    if (!(type instanceof GraphQLScalarType)) return;
    type.serialize = (value) => (typeof value === "string" ? value : String(value));
    type.parseValue = parseInput;
    type.parseLiteral = (node: ValueNode) => {
      if (!literalKinds.includes(node.kind) || !("value" in node)) throw new TypeError(`${name} cannot represent ${print(node)}`);
      return parseInput(node.value);
    };
  };
  define("BigInt", [Kind.STRING, Kind.INT], (v) => canonicalInteger("BigInt", v));
  define("Int8", [Kind.STRING, Kind.INT], (v) => canonicalInteger("Int8", v));
  define("Timestamp", [Kind.STRING, Kind.INT], (v) => canonicalInteger("Timestamp", v));
  define("BigDecimal", [Kind.STRING, Kind.INT, Kind.FLOAT], (v) => {
    const text = typeof v === "number" && Number.isFinite(v) ? String(v) : v;
    if (typeof text !== "string" || !DECIMAL.test(text)) throw new TypeError(`invalid BigDecimal: ${JSON.stringify(v)}`);
    return text;
  });
  define("Bytes", [Kind.STRING], (v) => {
    if (typeof v !== "string") throw new TypeError(`invalid Bytes: ${JSON.stringify(v)}`);
    return normalizeBytes(v, (problem) => new TypeError(`invalid Bytes: ${problem}`));
  });
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?$/;
const BYTES = /^0x(?:[0-9a-f]{2})*$/;

function canonicalInteger(type: string, value: unknown): string {
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !INTEGER.test(text)) throw new TypeError(`invalid ${type}: ${JSON.stringify(value)}`);
  return canonicalIntString(text);
}

/** "0x" + lower-case hex; graph-node accepts either case and no prefix. */
function normalizeBytes(text: string, fail: (problem: string) => Error): string {
  const hex = (text.startsWith("0x") ? text.slice(2) : text).toLowerCase();
  if (hex.length % 2 !== 0) throw fail("Odd number of digits");
  if (!/^[0-9a-f]*$/.test(hex)) throw fail(`Invalid character in ${JSON.stringify(text)}`);
  return `0x${hex}`;
}

// --- Resolvers ---------------------------------------------------------------------------------------

type Resolver = GraphQLFieldResolver<EntityRecord, Context, Record<string, unknown>>;

function attachResolvers(model: SubgraphModel): void {
  const queryFields = model.schema.getQueryType()!.getFields();
  for (const entity of model.entities.values()) {
    const byIdResolver: Resolver = (_source, args, { data }) => data.byId(entity.name).get(normalizeId(entity, args.id)) ?? null;
    const collectionResolver: Resolver = (_source, args, { data }) => data.collection(entity, args);
    queryFields[entity.singular]!.resolve = byIdResolver;
    queryFields[entity.plural]!.resolve = collectionResolver;
    const objectFields = (model.schema.getType(entity.name) as GraphQLObjectType).getFields();
    for (const field of entity.fields) {
      const target = model.entities.get(field.base);
      if (target) objectFields[field.name]!.resolve = referenceResolver(field, target);
      // Scalars and enums: graphql's default resolver reads the record's key (missing → null).
    }
  }
  queryFields._meta!.resolve = (_source, args) => metaAnswer(model.meta, args.block as { number?: number } | null | undefined);
}

function referenceResolver(field: FieldModel, target: EntityModel): Resolver {
  const via = field.derivedFrom;
  if (field.list) {
    return via === undefined
      ? (record, args, { data }) => data.collection(target, args, { ids: record[field.name] })
      : (record, args, { data }) => data.collection(target, args, { via, parentId: String(record.id) });
  }
  return via === undefined
    ? (record, _args, { data }) => {
      const id = record[field.name];
      return typeof id === "string" ? data.byId(target.name).get(id) ?? null : null;
    }
    : (record, _args, { data }) => {
      const children = data.groups(target, via, idOrder(target, false)).get(String(record.id)) ?? [];
      // A field error (data stays, with null here), as graph-node reports it when resolving.
      if (children.length > 1) {
        throw new Error(`Ambiguous result for derived field \`${field.name}\`: Multiple \`${target.name}\` entities refer back via \`${via}\``);
      }
      return children[0] ?? null;
    };
}

/** Bytes ids are looked up case-insensitively, like graph-node decoding the hex. */
const normalizeId = (entity: EntityModel, id: unknown) => (entity.idKind === "bytes" ? String(id).toLowerCase() : String(id));

function metaInfo(name: SubgraphName): MetaInfo {
  const number = HEAD_BLOCKS[name];
  const sha = (text: string) => createHash("sha256").update(text).digest();
  const blockHash = (n: number) => `0x${sha(`${name}@${n}`).toString("hex")}`;
  // A CIDv0 like real deployment ids: base58 of the sha2-256 multihash.
  const deployment = base58(Buffer.concat([Buffer.from([0x12, 0x20]), sha(`fake subgraph ${name}`)]));
  return { deployment, number, hash: blockHash(number), parentHash: blockHash(number - 1) };
}

function base58(bytes: Uint8Array): string {
  const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  let n = BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
  let out = "";
  while (n > 0n) {
    out = alphabet[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const byte of bytes) {
    if (byte !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/** Latest block unless a block number is asked for (then, like graph-node, no hash). */
function metaAnswer(meta: MetaInfo, block: { number?: number } | null | undefined) {
  const asked = typeof block?.number === "number" ? block.number : undefined;
  return {
    deployment: meta.deployment,
    hasIndexingErrors: false,
    block: asked === undefined
      ? { number: meta.number, hash: meta.hash, parentHash: meta.parentHash, timestamp: Math.floor(Date.now() / 1000) }
      : { number: asked, hash: null, parentHash: null, timestamp: null },
  };
}

// ---------------------------------------------------------------------------------------------
// Entity data: the store, checked, with lazily built indexes
// ---------------------------------------------------------------------------------------------

type Predicate = (record: EntityRecord) => boolean;
const ALWAYS: Predicate = () => true;
const NEVER: Predicate = () => false;

/**
 * One subgraph's entities. Indexes (id maps, sorted copies per ordering, children grouped by
 * parent) are built on first use and kept until setStore() replaces the whole object.
 */
class EntityData {
  private readonly idMaps = new Map<string, Map<string, EntityRecord>>();
  private readonly sortedCache = new Map<string, EntityRecord[]>();
  private readonly groupCache = new Map<string, Map<string, EntityRecord[]>>();
  private readonly valueGroupCache = new Map<string, Map<unknown, EntityRecord[]>>();
  private readonly textCache = new Map<string, WeakMap<EntityRecord, string>>();

  constructor(readonly model: SubgraphModel, private readonly store: Store, readonly plain = false) {}

  records(type: string): EntityRecord[] {
    return this.store[type] ?? [];
  }

  /** Entities' JSON texts for one selection (the direct path's cache). */
  texts(selection: string): WeakMap<EntityRecord, string> {
    let texts = this.textCache.get(selection);
    if (!texts) this.textCache.set(selection, (texts = new WeakMap()));
    return texts;
  }

  byId(type: string): Map<string, EntityRecord> {
    let map = this.idMaps.get(type);
    if (!map) {
      map = new Map(this.records(type).map((r) => [String(r.id), r]));
      this.idMaps.set(type, map);
    }
    return map;
  }

  /** All entities of a type in this order (descending: the ascending copy reversed). */
  sorted(entity: EntityModel, order: Order): EntityRecord[] {
    const key = `${entity.name}|${order.key}|${order.desc ? "desc" : "asc"}`;
    let sorted = this.sortedCache.get(key);
    if (!sorted) {
      sorted = order.desc
        ? this.sorted(entity, { ...order, desc: false }).slice().reverse()
        : sortRecords(this.records(entity.name), order, entity, this);
      this.sortedCache.set(key, sorted);
    }
    return sorted;
  }

  /** Entities of a type grouped by the id(s) their field `via` holds, each group in this order. */
  groups(entity: EntityModel, via: string, order: Order): Map<string, EntityRecord[]> {
    const key = `${entity.name}|${via}|${order.key}|${order.desc ? "desc" : "asc"}`;
    let groups = this.groupCache.get(key);
    if (!groups) {
      groups = new Map();
      for (const record of this.sorted(entity, order)) {
        const value = record[via];
        const parents = Array.isArray(value) ? new Set(value) : typeof value === "string" ? [value] : [];
        for (const parent of parents) {
          const group = groups.get(parent);
          if (group) group.push(record);
          else groups.set(parent, [record]);
        }
      }
      this.groupCache.set(key, groups);
    }
    return groups;
  }

  /**
   * A collection field: all entities of a type, the children of a derived field, or the entities a
   * list field references; ordered, filtered, then skip/first, checked in graph-node's order.
   */
  collection(entity: EntityModel, args: Record<string, unknown>, source?: { ids: unknown } | { via: string; parentId: string }): EntityRecord[] {
    const order = resolveOrder(this.model, entity, args.orderBy, args.orderDirection);
    const first = rangeArgument("first", args.first, 100, 1, MAX_FIRST);
    const skip = rangeArgument("skip", args.skip, 0, 0, MAX_SKIP);
    const matches = compileWhere(this, entity, args.where, false);
    const { candidates, start } =
      source === undefined ? this.narrowed(entity, order, args.where)
      : "via" in source ? { candidates: this.groups(entity, source.via, order).get(source.parentId) ?? [], start: 0 }
      : { candidates: sortRecords(this.referenced(entity, source.ids), order, entity, this), start: 0 };
    // Walk in order and stop at skip + first matches: paging through 50k entities stays cheap.
    const out: EntityRecord[] = [];
    let skipped = 0;
    for (let i = start; i < candidates.length; i++) {
      const record = candidates[i]!;
      if (!matches(record)) continue;
      if (skipped < skip) {
        skipped++;
        continue;
      }
      out.push(record);
      if (out.length >= first) break;
    }
    return out;
  }

  /**
   * The part of a type's sorted entities that a walk must look at, for a `where` already compiled
   * (so valid): with a top-level equality filter on a field, only the entities holding that value
   * (grouped once per order); with top-level comparisons on the sort key (a page cursor such as
   * `timestamp_lt` or `retire_: {timestamp_lt}`), from the first entity that can pass them (binary
   * search). Every entity left out fails the filter: the walk finds the same entities, in the same
   * order, looking at a page's worth instead of everything before the cursor.
   */
  private narrowed(entity: EntityModel, order: Order, where: unknown): { candidates: EntityRecord[]; start: number } {
    let candidates = this.sorted(entity, order);
    if (this.plain || where === null || typeof where !== "object") return { candidates, start: 0 };
    const filters: Array<{ spec: FilterSpec; value: unknown }> = [];
    for (const [key, value] of Object.entries(where)) {
      const spec = entity.filters.get(key);
      if (spec && value !== null && value !== undefined) filters.push({ spec, value });
    }
    const equal = filters.find(({ spec }) => spec.op === "eq" && !spec.field.list && spec.field.derivedFrom === undefined && spec.field.kind !== "decimal");
    if (equal) candidates = this.valueGroups(entity, order, equal.spec.field).get(filterKey(equal.spec.field.kind, equal.value)) ?? [];
    let start = 0;
    for (const bound of orderBounds(this.model, order, filters)) start = Math.max(start, firstInBound(candidates, order, bound, this));
    return { candidates, start };
  }

  /** A type's entities in this order, grouped by the stored value of `field` (nulls left out). */
  private valueGroups(entity: EntityModel, order: Order, field: FieldModel): Map<unknown, EntityRecord[]> {
    const key = `${entity.name}|${order.key}|${order.desc ? "desc" : "asc"}|=${field.name}`;
    let groups = this.valueGroupCache.get(key);
    if (!groups) {
      groups = new Map();
      for (const record of this.sorted(entity, order)) {
        const value = storedKey(field.kind, record[field.name]);
        if (value === null) continue;
        const group = groups.get(value);
        if (group) group.push(record);
        else groups.set(value, [record]);
      }
      this.valueGroupCache.set(key, groups);
    }
    return groups;
  }

  /** The existing entities among `ids`, each once (like `id = any(array)` in SQL). */
  private referenced(entity: EntityModel, ids: unknown): EntityRecord[] {
    if (!Array.isArray(ids)) return [];
    const byId = this.byId(entity.name);
    const found = new Map<string, EntityRecord>();
    for (const id of ids) {
      const record = byId.get(String(id));
      if (record) found.set(String(id), record);
    }
    return [...found.values()];
  }
}

/**
 * graph-node's build_range: first must be 1..max (the message says "between 0", but 0 is refused
 * too), skip 0..max; null means the default.
 */
function rangeArgument(name: "first" | "skip", value: unknown, fallback: number, min: number, max: number): number {
  if (value === null || value === undefined) return fallback;
  const n = value as number;
  if (n < min || n > max) throw new QueryExecutionError(`The \`${name}\` argument must be between 0 and ${max}, but is ${n}`);
  return n;
}

/** Rejects what the fake could not serve faithfully; returns a copy (arrays copied, records shared). */
function checkedStore(model: SubgraphModel, store: Store): Store {
  const out: Store = {};
  for (const [type, records] of Object.entries(store)) {
    const entity = model.entities.get(type);
    if (!entity) throw new Error(`${model.name}: the store has "${type}", which is not an entity type of this subgraph`);
    if (!Array.isArray(records)) throw new Error(`${model.name}: store["${type}"] must be an array of records`);
    const ids = new Set<string>();
    records.forEach((record, index) => {
      const where = `${model.name}: ${type}[${index}]`;
      if (typeof record !== "object" || record === null || Array.isArray(record)) throw new Error(`${where} is not an object`);
      const id = record.id;
      if (typeof id !== "string" || id === "") throw new Error(`${where} needs a string id`);
      if (ids.has(id)) throw new Error(`${where}: duplicate id ${id}`);
      ids.add(id);
      for (const [key, value] of Object.entries(record)) {
        const field = entity.field.get(key);
        if (!field) throw new Error(`${where} (id ${id}) has "${key}", which ${type} does not declare`);
        if (field.derivedFrom !== undefined) throw new Error(`${where} (id ${id}): "${key}" is @derivedFrom and must not be stored`);
        const problem = valueProblem(model, field, value);
        if (problem) throw new Error(`${where} (id ${id}): "${key}" ${problem}, got ${JSON.stringify(value)}`);
      }
    });
    out[type] = records.slice();
  }
  return out;
}

function valueProblem(model: SubgraphModel, field: FieldModel, value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (!field.list) return elementProblem(model, field, value);
  if (!Array.isArray(value)) return "must be an array";
  for (const element of value) {
    const problem = element === null ? "must not hold nulls" : elementProblem(model, field, element);
    if (problem) return `${problem} (in the list)`;
  }
  return undefined;
}

function elementProblem(model: SubgraphModel, field: FieldModel, value: unknown): string | undefined {
  if (field.category === "entity") return typeof value === "string" ? undefined : "must be the referenced entity's id string";
  if (field.category === "enum") {
    return typeof value === "string" && model.enums.get(field.base)!.has(value) ? undefined : `must be a value of enum ${field.base}`;
  }
  switch (field.base) {
    case "ID": case "String":
      return typeof value === "string" ? undefined : "must be a string";
    case "Bytes":
      return typeof value === "string" && BYTES.test(value) ? undefined : "must be lower-case 0x hex (whole bytes)";
    case "BigInt":
      return typeof value === "string" && INTEGER.test(value) ? undefined : "must be a BigInt as a decimal string";
    case "BigDecimal":
      return typeof value === "string" && DECIMAL.test(value) ? undefined : "must be a BigDecimal as a decimal string";
    case "Int":
      return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31 ? undefined : "must be a 32-bit integer number";
    case "Int8": case "Timestamp":
      return Number.isSafeInteger(value) || (typeof value === "string" && INTEGER.test(value)) ? undefined : `must be an ${field.base} (integer or decimal string)`;
    case "Boolean":
      return typeof value === "boolean" ? undefined : "must be a boolean";
  }
  return `has unsupported type ${field.base}`;
}

// ---------------------------------------------------------------------------------------------
// Ordering: Postgres semantics (C collation; nulls last ascending, first descending), ties by id
// in the same direction, as graph-node's SQL "order by <key> <dir>, id <dir>"
// ---------------------------------------------------------------------------------------------

interface Order {
  key: string; // cache key, without the direction
  desc: boolean;
  kind: ValueKind;
  value: (record: EntityRecord, data: EntityData) => unknown; // raw stored value, or null
  /** The filter that compares the same value: `field_<op>`, or `field_: {child_<op>}` (not for derived fields). */
  filter?: { field: string; child?: string };
}

function idOrder(entity: EntityModel, desc: boolean): Order {
  return { key: "id", desc, kind: entity.idKind, value: (r) => r.id, filter: { field: "id" } };
}

function resolveOrder(model: SubgraphModel, entity: EntityModel, orderBy: unknown, direction: unknown): Order {
  // Without orderBy graph-node orders by id ascending, whatever orderDirection says.
  if (orderBy === null || orderBy === undefined) return idOrder(entity, false);
  const desc = direction === "desc";
  const spec = entity.orders.get(String(orderBy));
  switch (spec?.by) {
    case "id":
      return idOrder(entity, desc);
    case "field": {
      const { name } = spec.field;
      return { key: name, desc, kind: spec.field.kind, value: (r) => r[name], filter: { field: name } };
    }
    case "child": {
      const { field, child } = spec;
      const target = model.entities.get(field.base)!;
      const via = field.derivedFrom;
      const parentOf = via === undefined
        ? (r: EntityRecord, data: EntityData) => data.byId(target.name).get(String(r[field.name]))
        : (r: EntityRecord, data: EntityData) => data.groups(target, via, idOrder(target, false)).get(String(r.id))?.[0];
      return {
        key: `${field.name}__${child.name}`,
        desc,
        kind: child.kind,
        value: (r, data) => parentOf(r, data)?.[child.name] ?? null,
        filter: via === undefined ? { field: field.name, child: child.name } : undefined,
      };
    }
    case "unsupported":
      throw new QueryExecutionError(`Ordering by \`${spec.field}\` is not supported for type \`${spec.type}\``);
    default:
      throw new QueryExecutionError(`Entity \`${entity.name}\` has no attribute \`${String(orderBy)}\``);
  }
}

type Bound = { op: "eq" | "gt" | "gte" | "lt" | "lte"; key: unknown };
const BOUND_OPS = new Set<FilterOp>(["eq", "gt", "gte", "lt", "lte"]);

/** The comparisons of a (valid, compiled) `where` on the value the order sorts by, as keys. */
function orderBounds(model: SubgraphModel, order: Order, filters: Array<{ spec: FilterSpec; value: unknown }>): Bound[] {
  const path = order.filter;
  if (!path) return [];
  const bounds: Bound[] = [];
  for (const { spec, value } of filters) {
    if (spec.field.name !== path.field || spec.field.list) continue;
    if (path.child === undefined) {
      if (BOUND_OPS.has(spec.op)) bounds.push({ op: spec.op as Bound["op"], key: filterKey(order.kind, value) });
    } else if (spec.op === "child" && typeof value === "object" && !Array.isArray(value)) {
      const target = model.entities.get(spec.field.base)!;
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        const child = target.filters.get(key);
        if (child && child.field.name === path.child && BOUND_OPS.has(child.op) && inner !== null && inner !== undefined) {
          bounds.push({ op: child.op as Bound["op"], key: filterKey(order.kind, inner) });
        }
      }
    }
  }
  return bounds;
}

/**
 * The index of the first record (in the order's direction) that can pass `bound`: those before it
 * are a prefix, as the records are sorted on that value (ascending: nulls last; descending: first).
 */
function firstInBound(records: EntityRecord[], order: Order, bound: Bound, data: EntityData): number {
  const before = (record: EntityRecord): boolean => {
    const key = storedKey(order.kind, order.value(record, data));
    if (key === null) return order.desc;
    const c = compareKeys(order.kind, key, bound.key);
    if (!order.desc) return bound.op === "gt" ? c <= 0 : bound.op === "gte" || bound.op === "eq" ? c < 0 : false;
    return bound.op === "lt" ? c >= 0 : bound.op === "lte" || bound.op === "eq" ? c > 0 : false;
  };
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(records[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Sorts ascending (null above every value, so last; ties by id ascending); the descending order
 * graph-node produces (nulls first, ties by id descending) is exactly its reverse.
 */
function sortRecords(records: EntityRecord[], order: Order, entity: EntityModel, data: EntityData): EntityRecord[] {
  const [keys, compareKey] = sortKeys(order.kind, records.map((r) => storedKey(order.kind, order.value(r, data))));
  const [ids, compareId] = sortKeys(entity.idKind, records.map((r) => storedKey(entity.idKind, r.id)));
  const positions = new Uint32Array(records.length); // typed-array sort is about twice as fast
  for (let i = 0; i < positions.length; i++) positions[i] = i;
  positions.sort((i, j) => {
    const a = keys[i];
    const b = keys[j];
    const c = a === null ? (b === null ? 0 : 1) : b === null ? -1 : compareKey(a, b);
    return c !== 0 ? c : compareId(ids[i], ids[j]);
  });
  const sorted = Array.from(positions, (i) => records[i]!);
  return order.desc ? sorted.reverse() : sorted;
}

/** Keys and their comparison, in the cheapest exact form: native string or number order if it can. */
function sortKeys(kind: ValueKind, keys: unknown[]): [unknown[], (a: unknown, b: unknown) => number] {
  const strings = (a: unknown, b: unknown) => ((a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0);
  const numbers = (a: unknown, b: unknown) => (a as number) - (b as number);
  switch (kind) {
    case "bytes":
      return [keys, strings];
    case "text": case "enum":
      return [keys, keys.some((k) => typeof k === "string" && HIGH_UNITS.test(k)) ? (a, b) => compareKeys(kind, a, b) : strings];
    case "int": case "bool":
      return [keys.map((k) => (k === null ? null : Number(k))), numbers];
    case "bigint": // canonical strings of up to 15 digits are exact as numbers
      return keys.every((k) => k === null || (k as string).length <= 15)
        ? [keys.map((k) => (k === null ? null : Number(k))), numbers]
        : [keys, (a, b) => compareKeys(kind, a, b)];
    case "decimal":
      return [keys, (a, b) => compareKeys(kind, a, b)];
  }
}

// ---------------------------------------------------------------------------------------------
// Values: comparable keys per kind
// ---------------------------------------------------------------------------------------------

interface Decimal { neg: boolean; int: string; frac: string }

/** A stored value (already checked by checkedStore) as a comparable key; null for null/missing. */
function storedKey(kind: ValueKind, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  switch (kind) {
    case "text": case "enum": case "bytes":
      return raw;
    case "bigint":
      return canonicalIntString(String(raw));
    case "int":
      return raw;
    case "decimal":
      return decimalKey(String(raw));
    case "bool":
      return raw;
  }
}

/** A filter value (already coerced by graphql) as a comparable key; graph-node's decode errors. */
function filterKey(kind: ValueKind, value: unknown): unknown {
  switch (kind) {
    case "bytes":
      return normalizeBytes(String(value), (problem) => new QueryExecutionError(`Failed to decode \`Bytes\` value: \`${problem}\``));
    case "bigint":
      if (!INTEGER.test(String(value))) throw new QueryExecutionError("Failed to decode `BigInt` value: `invalid digit found in string`");
      return canonicalIntString(String(value));
    case "decimal":
      if (!DECIMAL.test(String(value))) throw new QueryExecutionError(`Failed to decode \`BigDecimal\` value: \`${String(value)}\``);
      return decimalKey(String(value));
    default:
      return value;
  }
}

function compareKeys(kind: ValueKind, a: unknown, b: unknown): number {
  switch (kind) {
    case "text": case "enum":
      return compareText(a as string, b as string);
    case "bytes": // lower-case hex of whole bytes: string order is bytea order
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case "bigint":
      return compareIntStrings(a as string, b as string);
    case "int":
      return Math.sign((a as number) - (b as number));
    case "decimal":
      return compareDecimals(a as Decimal, b as Decimal);
    case "bool":
      return Number(a) - Number(b);
  }
}

const HIGH_UNITS = /[\uD800-\uFFFF]/;

/**
 * Postgres text order under the C collation graph-node requires: UTF-8 byte order. That is JS
 * code-unit order except between surrogate pairs and U+E000..U+FFFF, which the remap fixes.
 */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  if (!HIGH_UNITS.test(a) || !HIGH_UNITS.test(b)) return a < b ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/** "+007" → "7", "-0" → "0"; fast when already canonical. */
function canonicalIntString(text: string): string {
  const c = text.charCodeAt(0);
  if ((c >= 49 && c <= 57) || text === "0" || (c === 45 && text.charCodeAt(1) !== 48)) return text;
  const negative = text.startsWith("-");
  const digits = text.replace(/^[+-]/, "").replace(/^0+/, "");
  return digits === "" ? "0" : negative ? `-${digits}` : digits;
}

/** Canonical integer strings compared numerically without parsing. */
function compareIntStrings(a: string, b: string): number {
  const aNeg = a.charCodeAt(0) === 45;
  const bNeg = b.charCodeAt(0) === 45;
  if (aNeg !== bNeg) return aNeg ? -1 : 1;
  const c = a.length !== b.length ? (a.length < b.length ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0;
  return aNeg ? -c : c;
}

/** An exact decimal: sign, integer digits without leading zeros, fraction without trailing zeros. */
function decimalKey(text: string): Decimal {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match) return { neg: false, int: "0", frac: "" }; // unreachable: values are checked first
  let digits = match[2]! + (match[3] ?? "");
  let point = match[2]!.length + Number(match[4] ?? 0);
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length);
  const int = digits.slice(0, point).replace(/^0+/, "") || "0";
  const frac = digits.slice(point).replace(/0+$/, "");
  return { neg: match[1] === "-" && (int !== "0" || frac !== ""), int, frac };
}

function compareDecimals(a: Decimal, b: Decimal): number {
  if (a.neg !== b.neg) return a.neg ? -1 : 1;
  let c = compareIntStrings(a.int, b.int);
  if (c === 0) c = a.frac < b.frac ? -1 : a.frac > b.frac ? 1 : 0;
  return a.neg ? -c : c;
}

// ---------------------------------------------------------------------------------------------
// Filters: `where` compiled once per collection into a predicate, with graph-node's semantics
// (SQL: a comparison with a null column is false, so `_not` and `_not_in` never match nulls)
// ---------------------------------------------------------------------------------------------

const COMPARISON_SQL: Partial<Record<FilterOp, string>> = { gt: ">", lt: "<", gte: ">=", lte: "<=" };

const both = (parts: Predicate[]): Predicate =>
  parts.length === 0 ? ALWAYS : parts.length === 1 ? parts[0]! : (r) => parts.every((p) => p(r));

function compileWhere(data: EntityData, entity: EntityModel, where: unknown, inChild: boolean): Predicate {
  if (where === null || where === undefined) return ALWAYS;
  const object = where as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.includes("or")) {
    const columns = keys.filter((k) => k !== "or" && k !== "and" && k !== "_change_block").map((k) => `'${k}'`);
    if (columns.length > 0) {
      const list = columns.join(", ");
      throw new QueryExecutionError(
        `Cannot mix column filters with 'or' operator at the same level. Found column filter(s) ${list} alongside 'or' operator.\n\n` +
          `Instead of:\nwhere: { ${list}, or: [...] }\n\nUse:\nwhere: { or: [{ ${list}, ... }, { ${list}, ... }] }`,
      );
    }
  }
  const parts: Predicate[] = [];
  for (const key of keys) {
    const value = object[key];
    if (key === "_change_block") {
      // Accepted and ignored: the fake has no block history, so every entity counts as changed.
      if (typeof value !== "object" || value === null) throw new QueryExecutionError("Filter must by an object");
      continue;
    }
    if (key === "and" || key === "or") {
      const branches = booleanBranches(data, entity, object, inChild);
      parts.push(key === "and" ? both(branches) : branches.length === 0 ? NEVER : (r) => branches.some((p) => p(r)));
      continue;
    }
    const spec = entity.filters.get(key);
    if (!spec) throw new QueryExecutionError(`Entity \`${entity.name}\` has no attribute \`${key}\``);
    if (spec.op === "child") parts.push(childFilter(data, spec.field, value, inChild));
    else if (spec.field.list) parts.push(listFilter(spec, value));
    else parts.push(scalarFilter(spec, value));
  }
  return both(parts);
}

/**
 * graph-node builds an `and`/`or` from every value of the object it sits in, each of which must
 * be a list of filters, so `{and: [...], name: "x"}` is refused with "Filter must by an object".
 */
function booleanBranches(data: EntityData, entity: EntityModel, object: Record<string, unknown>, inChild: boolean): Predicate[] {
  const branches: Predicate[] = [];
  for (const value of Object.values(object)) {
    if (!Array.isArray(value)) throw new QueryExecutionError("Filter must by an object");
    for (const item of value) {
      if (typeof item !== "object" || item === null) throw new QueryExecutionError("Filter must by an object");
      branches.push(compileWhere(data, entity, item, inChild));
    }
  }
  return branches;
}

/** `f_: {...}`: the referenced entity (for lists and derived fields: some child) matches. */
function childFilter(data: EntityData, field: FieldModel, value: unknown, inChild: boolean): Predicate {
  if (typeof value !== "object" || value === null) {
    throw new QueryExecutionError(`Query contains value with invalid type \`${field.type}\`: \`${String(value)}\``);
  }
  const attr = field.derivedFrom ?? field.name;
  if (inChild) {
    throw new QueryExecutionError(`Child filter nesting not supported by value \`${attr}\`: \`join on ${attr} with ${field.base}(${JSON.stringify(value)})\``);
  }
  const target = data.model.entities.get(field.base)!;
  const inner = compileWhere(data, target, value, true);
  if (field.derivedFrom !== undefined) {
    const groups = data.groups(target, field.derivedFrom, idOrder(target, false));
    return (r) => groups.get(String(r.id))?.some(inner) ?? false;
  }
  const byId = data.byId(target.name);
  const matchesId = (id: unknown) => {
    const child = typeof id === "string" ? byId.get(id) : undefined;
    return child !== undefined && inner(child);
  };
  return field.list ? (r) => Array.isArray(r[field.name]) && (r[field.name] as string[]).some(matchesId) : (r) => matchesId(r[field.name]);
}

function unsupportedFilter(op: FilterOp, value: unknown): QueryExecutionError {
  return new QueryExecutionError(`Store error: unsupported filter \`${COMPARISON_SQL[op] ?? op}\` for value \`${String(value)}\``);
}

/** `field: null` means "is null" and `field_not: null` "is not null"; no other operator takes null. */
function nullFilter(name: string, op: FilterOp): Predicate {
  if (op === "eq") return (r) => r[name] === null || r[name] === undefined;
  if (op === "not") return (r) => r[name] !== null && r[name] !== undefined;
  throw unsupportedFilter(op, null);
}

function scalarFilter(spec: FilterSpec, value: unknown): Predicate {
  const { field, op } = spec;
  const { name, kind } = field;
  if (value === null || value === undefined) return nullFilter(name, op);
  const key = (r: EntityRecord) => storedKey(kind, r[name]);
  switch (op) {
    case "eq": case "not": case "gt": case "lt": case "gte": case "lte": {
      const wanted = filterKey(kind, value);
      const test = COMPARE_TESTS[op];
      return (r) => {
        const k = key(r);
        return k !== null && test(compareKeys(kind, k, wanted));
      };
    }
    case "in": case "not_in": {
      // graph-node turns an empty list into SQL `false`, for `_not_in` too.
      const list = value as unknown[];
      if (list.length === 0) return NEVER;
      const wanted = list.map((v) => filterKey(kind, v));
      const member = kind === "text" || kind === "enum" || kind === "bytes" || kind === "bigint" || kind === "int" || kind === "bool"
        ? ((set) => (k: unknown) => set.has(k))(new Set(wanted))
        : (k: unknown) => wanted.some((w) => compareKeys(kind, k, w) === 0);
      const negate = op === "not_in";
      return (r) => {
        const k = key(r);
        return k !== null && member(k) !== negate;
      };
    }
    default:
      return patternFilter(field, op, value);
  }
}

const COMPARE_TESTS: Record<"eq" | "not" | "gt" | "lt" | "gte" | "lte", (c: number) => boolean> = {
  eq: (c) => c === 0, not: (c) => c !== 0, gt: (c) => c > 0, lt: (c) => c < 0, gte: (c) => c >= 0, lte: (c) => c <= 0,
};

/** contains / starts_with / ends_with and their not_ and _nocase variants. */
function patternFilter(field: FieldModel, op: FilterOp, value: unknown): Predicate {
  const { name, kind } = field;
  const negate = op.startsWith("not_");
  const nocase = op.endsWith("_nocase");
  const base = op.replace(/^not_/, "").replace(/_nocase$/, "");
  let test: (stored: string) => boolean;
  if (kind === "bytes") {
    // bytea: `position(value in column) > 0` on whole bytes; there is no case to ignore.
    if (nocase) throw unsupportedFilter(op, value);
    const needle = (filterKey("bytes", value) as string).slice(2);
    test = base === "contains" ? (s) => containsBytes(s.slice(2), needle)
      : base === "starts_with" ? (s) => s.slice(2).startsWith(needle)
      : (s) => s.endsWith(needle);
  } else {
    const text = String(value);
    // Like graph-node: no escaping, and a value already starting or ending with % is used as is.
    const pattern = base === "contains" ? (text.startsWith("%") || text.endsWith("%") ? text : `%${text}%`)
      : base === "starts_with" ? `${text}%` : `%${text}`;
    const regex = likeRegExp(pattern, nocase);
    test = nocase ? (s) => regex.test(asciiLower(s)) : (s) => regex.test(s);
  }
  return (r) => {
    const stored = r[name];
    return typeof stored === "string" && test(stored) !== negate;
  };
}

/** Filters on non-derived list fields: equality, containment (SQL `@>`, `&&`, `ilike any`). */
function listFilter(spec: FilterSpec, value: unknown): Predicate {
  const { field, op } = spec;
  const { name, kind } = field;
  if (value === null || value === undefined) return nullFilter(name, op);
  const wanted = (value as unknown[]).map((v) => filterKey(kind, v));
  const stored = (r: EntityRecord) => (Array.isArray(r[name]) ? (r[name] as string[]).map((v) => storedKey(kind, v)) : null);
  const same = (a: unknown, b: unknown) => compareKeys(kind, a, b) === 0;
  const has = (list: unknown[], w: unknown) => list.some((k) => same(k, w));
  let test: (list: unknown[]) => boolean;
  switch (op) {
    case "eq": case "not": {
      const equal = (list: unknown[]) => list.length === wanted.length && list.every((k, i) => same(k, wanted[i]));
      test = op === "eq" ? equal : (list) => !equal(list);
      break;
    }
    case "contains":
      test = (list) => wanted.every((w) => has(list, w));
      break;
    case "not_contains":
      test = (list) => !wanted.some((w) => has(list, w));
      break;
    default: {
      // `exists (select 1 from unnest(column) as elem where elem ilike any(values))`
      const patterns = wanted.map((w) => likeRegExp(String(w), true));
      const any = (list: unknown[]) => list.some((k) => patterns.some((p) => p.test(asciiLower(String(k)))));
      test = op === "contains_nocase" ? any : (list) => !any(list);
    }
  }
  return (r) => {
    const list = stored(r);
    return list !== null && test(list);
  };
}

function containsBytes(hay: string, needle: string): boolean {
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) if (at % 2 === 0) return true;
  return false;
}

/** The C-locale case folding Postgres' ILIKE does: ASCII only. */
const asciiLower = (text: string) => text.replace(/[A-Z]+/g, (s) => s.toLowerCase());

const likeCache = new Map<string, RegExp>();

/** A SQL LIKE pattern (% any run, _ one character, backslash escapes) as an anchored RegExp. */
function likeRegExp(pattern: string, nocase: boolean): RegExp {
  const cacheKey = `${nocase ? "i" : "c"}${pattern}`;
  let regex = likeCache.get(cacheKey);
  if (!regex) {
    const source = nocase ? asciiLower(pattern) : pattern;
    let body = "";
    const chars = [...source];
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      if (c === "\\" && i + 1 < chars.length) body += escapeRegExp(chars[++i]!);
      else if (c === "%") body += "[^]*";
      else if (c === "_") body += "[^]";
      else body += escapeRegExp(c);
    }
    regex = new RegExp(`^${body}$`, "u");
    if (likeCache.size > 1000) likeCache.clear();
    likeCache.set(cacheKey, regex);
  }
  return regex;
}

const escapeRegExp = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
