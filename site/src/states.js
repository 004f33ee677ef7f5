// The 50 states and DC that rt.live published: postal code -> [FIPS code, name,
// US Census region]. The FIPS code joins a state to its shape in the map (us-atlas
// keys its shapes by FIPS); build.mjs checks this table against the atlas's names.
export const REGIONS = ["Northeast", "Midwest", "South", "West"];

const NE = "Northeast";
const MW = "Midwest";
const S = "South";
const W = "West";

export const STATES = {
  AK: ["02", "Alaska", W],
  AL: ["01", "Alabama", S],
  AR: ["05", "Arkansas", S],
  AZ: ["04", "Arizona", W],
  CA: ["06", "California", W],
  CO: ["08", "Colorado", W],
  CT: ["09", "Connecticut", NE],
  DC: ["11", "District of Columbia", S],
  DE: ["10", "Delaware", S],
  FL: ["12", "Florida", S],
  GA: ["13", "Georgia", S],
  HI: ["15", "Hawaii", W],
  IA: ["19", "Iowa", MW],
  ID: ["16", "Idaho", W],
  IL: ["17", "Illinois", MW],
  IN: ["18", "Indiana", MW],
  KS: ["20", "Kansas", MW],
  KY: ["21", "Kentucky", S],
  LA: ["22", "Louisiana", S],
  MA: ["25", "Massachusetts", NE],
  MD: ["24", "Maryland", S],
  ME: ["23", "Maine", NE],
  MI: ["26", "Michigan", MW],
  MN: ["27", "Minnesota", MW],
  MO: ["29", "Missouri", MW],
  MS: ["28", "Mississippi", S],
  MT: ["30", "Montana", W],
  NC: ["37", "North Carolina", S],
  ND: ["38", "North Dakota", MW],
  NE: ["31", "Nebraska", MW],
  NH: ["33", "New Hampshire", NE],
  NJ: ["34", "New Jersey", NE],
  NM: ["35", "New Mexico", W],
  NV: ["32", "Nevada", W],
  NY: ["36", "New York", NE],
  OH: ["39", "Ohio", MW],
  OK: ["40", "Oklahoma", S],
  OR: ["41", "Oregon", W],
  PA: ["42", "Pennsylvania", NE],
  RI: ["44", "Rhode Island", NE],
  SC: ["45", "South Carolina", S],
  SD: ["46", "South Dakota", MW],
  TN: ["47", "Tennessee", S],
  TX: ["48", "Texas", S],
  UT: ["49", "Utah", W],
  VA: ["51", "Virginia", S],
  VT: ["50", "Vermont", NE],
  WA: ["53", "Washington", W],
  WI: ["55", "Wisconsin", MW],
  WV: ["54", "West Virginia", S],
  WY: ["56", "Wyoming", W],
};

/** Name and region of a code; a code outside the table (a territory) names itself. */
export function stateInfo(code) {
  const row = STATES[code];
  return row ? { code, fips: row[0], name: row[1], region: row[2] } : { code, fips: null, name: code, region: "Other" };
}
