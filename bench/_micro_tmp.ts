import { LOG_SEARCH, logRecord } from "./_log_records.ts";
import { validateSearchConfig } from "../src/search/config.ts";
import { analyzeText, extractFields } from "../src/search/extract.ts";
import { buildCompanion } from "../src/search/companion.ts";
const cfg = (validateSearchConfig(LOG_SEARCH) as any).value;
const N = 14500;
const recs = Array.from(
  { length: N },
  (_, i) => JSON.stringify(logRecord(i, 300)),
);
const vals = JSON.parse(`[${recs.join(",")}]`);
for (let k = 0; k < 5; k++) {
  let t = performance.now();
  const docs = vals.map((v: any) => extractFields(cfg, v, 1));
  const te = performance.now() - t;
  t = performance.now();
  let pos = 0;
  const rs = docs.map((doc: any, i: number) => ({
    startPos: pos,
    endPos: pos += recs[i].length + 1,
    doc,
  }));
  buildCompanion(cfg, 1, { startPos: 0, endPos: pos }, rs, 16384);
  const tb = performance.now() - t;
  t = performance.now();
  buildCompanion(cfg, 1, { startPos: 0, endPos: pos }, rs, 16384);
  const tb2 = performance.now() - t;
  t = performance.now();
  const m = new Map<string, number>();
  for (const v of vals) {
    for (const tok of analyzeText(v.message)) {
      m.set(tok, (m.get(tok) ?? 0) + 1);
    }
  }
  const tm = performance.now() - t;
  t = performance.now();
  let c = 0;
  for (const v of vals) c += analyzeText(v.message).length;
  const ta = performance.now() - t;
  console.log(
    `extract ${te.toFixed(0)} build(fresh) ${tb.toFixed(0)} build(again) ${
      tb2.toFixed(0)
    } analyze+map ${tm.toFixed(0)} analyze ${ta.toFixed(0)}`,
  );
}
