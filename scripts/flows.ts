// Every dataset flow of the product, in the original's order of precedence (raw fetches, then
// derived). build_all and build_frequent run them as a graph from their declared upstreams.
import rawVerraData from "./raw_verra_data.ts";
import rawPolygonRetiredOffsets from "./raw_polygon_retired_offsets.ts";
import rawPolygonPoolsRetiredOffsets from "./raw_polygon_pools_retired_offsets.ts";
import rawPolygonPoolsRedeemedOffsets from "./raw_polygon_pools_redeemed_offsets.ts";
import rawPolygonPoolsDepositedOffsets from "./raw_polygon_pools_deposited_offsets.ts";
import rawPolygonKlimaRetirements from "./raw_polygon_klima_retirements.ts";
import rawPolygonBridgedOffsets from "./raw_polygon_bridged_offsets.ts";
import rawOffsetsHoldersData from "./raw_offsets_holders_data.ts";
import rawEthRetiredOffsets from "./raw_eth_retired_offsets.ts";
import rawEthMossRetiredOffsets from "./raw_eth_moss_retired_offsets.ts";
import rawEthMossBridgedOffsets from "./raw_eth_moss_bridged_offsets.ts";
import rawEthBridgedOffsetsTransactions from "./raw_eth_bridged_offsets_transactions.ts";
import rawEthCarbonMetrics from "./raw_eth_carbon_metrics.ts";
import rawCeloCarbonMetrics from "./raw_celo_carbon_metrics.ts";
import rawPolygonCarbonMetrics from "./raw_polygon_carbon_metrics.ts";
import rawAssetsPrices from "./raw_assets_prices.ts";
import currentAssetsPrices from "./current_assets_prices.ts";
import assetsPrices from "./assets_prices.ts";
import polygonPoolsRetiredOffsets from "./polygon_pools_retired_offsets.ts";
import polygonPoolsRedeemedOffsets from "./polygon_pools_redeemed_offsets.ts";
import polygonPoolsDepositedOffsets from "./polygon_pools_deposited_offsets.ts";
import verraDataV2 from "./verra_data_v2.ts";
import verraRetirements from "./verra_retirements.ts";
import polygonRetiredOffsetsV2 from "./polygon_retired_offsets_v2.ts";
import polygonBridgedOffsetsV2 from "./polygon_bridged_offsets_v2.ts";
import ethMossBridgedOffsetsV2 from "./eth_moss_bridged_offsets_v2.ts";
import ethRetiredOffsetsV2 from "./eth_retired_offsets_v2.ts";
import offsetsHoldersData from "./offsets_holders_data.ts";
import polygonKlimaRetirements from "./polygon_klima_retirements.ts";
import allRetirements from "./all_retirements.ts";
import ethCarbonMetrics from "./eth_carbon_metrics.ts";
import celoCarbonMetrics from "./celo_carbon_metrics.ts";
import polygonCarbonMetrics from "./polygon_carbon_metrics.ts";
import tokensDataV2 from "./tokens_data_v2.ts";
import type { Flow } from "../lib/flow.ts";

export const ALL_FLOWS: Flow[] = [
  rawVerraData,
  rawPolygonRetiredOffsets,
  rawPolygonPoolsRetiredOffsets,
  rawPolygonPoolsRedeemedOffsets,
  rawPolygonPoolsDepositedOffsets,
  rawPolygonKlimaRetirements,
  rawPolygonBridgedOffsets,
  rawOffsetsHoldersData,
  rawEthRetiredOffsets,
  rawEthMossRetiredOffsets,
  rawEthMossBridgedOffsets,
  rawEthBridgedOffsetsTransactions,
  rawEthCarbonMetrics,
  rawCeloCarbonMetrics,
  rawPolygonCarbonMetrics,
  rawAssetsPrices,
  currentAssetsPrices,
  assetsPrices,
  polygonPoolsRetiredOffsets,
  polygonPoolsRedeemedOffsets,
  polygonPoolsDepositedOffsets,
  verraDataV2,
  verraRetirements,
  polygonRetiredOffsetsV2,
  polygonBridgedOffsetsV2,
  ethMossBridgedOffsetsV2,
  ethRetiredOffsetsV2,
  offsetsHoldersData,
  polygonKlimaRetirements,
  allRetirements,
  ethCarbonMetrics,
  celoCarbonMetrics,
  polygonCarbonMetrics,
  tokensDataV2,
];
