// Every dataset flow of the product, loaded from the one list of datasets (lib/flows/datasets.ts), in the
// original's order of precedence (raw fetches, then derived). build_all and build_frequent run them
// as a graph from their declared upstreams.
import { DATASET_SLUGS } from "../lib/flows/datasets.ts";
import type { Flow } from "../lib/flows/flow.ts";

export const ALL_FLOWS: Flow[] = await Promise.all(
  DATASET_SLUGS.map(async (slug) => ((await import(`./${slug}.ts`)) as { default: Flow }).default),
);
