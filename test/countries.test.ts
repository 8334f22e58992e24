import assert from "node:assert/strict";
import { test } from "node:test";
import { countryCode } from "../lib/table/countries.ts";

const EXPECTED: Array<[string, string]> = [
  ["Viet Nam", "VNM"],
  ["Korea, Republic of", "KOR"],
  ["Congo, The Democratic Republic of the", "COD"],
  ["Democratic Republic of the Congo", "COD"],
  ["Congo", "COG"],
  ["Bolivia", "BOL"],
  ["Türkiye", "TUR"],
  ["Turkey", "TUR"],
  ["Lao People's Democratic Republic", "LAO"],
  ["United States", "USA"],
  ["Tanzania, United Republic of", "TZA"],
  ["Côte d'Ivoire", "CIV"],
  ["Cote d'Ivoire", "CIV"],
  ["Niger", "NER"],
  ["Nigeria", "NGA"],
  ["Myanmar", "MMR"],
  ["Burma", "MMR"],
  ["Cape Verde", "CPV"],
  ["Timor-Leste", "TLS"],
  ["Eswatini", "SWZ"],
  ["Swaziland", "SWZ"],
  // Kosovo has no ISO 3166-1 code: XKX, the user-assigned code of the EU, IMF and World Bank, is the documented choice.
  ["Kosovo", "XKX"],
  ["Brazil", "BRA"],
  ["India", "IND"],
  ["Peru", "PER"],
  ["Indonesia", "IDN"],
  ["Papua New Guinea", "PNG"],
];

test("registry spellings map to ISO 3166-1 alpha-3 codes", () => {
  const got = EXPECTED.map(([name]) => [name, countryCode(name)]);
  assert.deepEqual(got, EXPECTED);
});

test("the same name asked twice gives the same code (the cache does not change answers)", () => {
  for (const [name, code] of EXPECTED) assert.equal(countryCode(name), code, name);
});

test("null, empty and unknown names give null", () => {
  assert.equal(countryCode(null), null);
  assert.equal(countryCode(undefined), null);
  assert.equal(countryCode(""), null);
  assert.equal(countryCode("Atlantis"), null);
  assert.equal(countryCode("Atlantis"), null, "also from the cache");
  assert.equal(countryCode("   "), null);
});

test("surrounding whitespace is tolerated", () => {
  assert.equal(countryCode(" Brazil "), "BRA");
  assert.equal(countryCode("\tViet Nam\n"), "VNM");
  assert.equal(countryCode("  Kosovo"), "XKX");
  assert.equal(countryCode("Congo, The Democratic Republic of the  "), "COD");
  assert.equal(countryCode(" Papua New Guinea"), "PNG");
  assert.equal(countryCode("Côte d'Ivoire "), "CIV");
});
